#!/usr/bin/env bash
# Forwarding-path benchmark: the sentinel against `dpdk-testpmd --forward-mode=io`, both
# forwarding minimum-size frames from a pcap vdev replaying in a loop (vendor side) to a
# null vdev that frees them (core side), with the same EAL arguments, lcores, memory mode,
# burst, descriptors, mbuf pool and forwarding time. Prints ONE JSON object on stdout
# (steady-state Mpps of each, cycles per packet, their ratio); progress goes to stderr.
#
# Frames: BENCH_FRAMES Ethernet/IPv4 frames, half UDP half TCP, random 5-tuples in
# 10.0.0.0/8 (make_frames.py, fixed seed): 60 bytes in the pcap and in the mbuf, i.e. the
# usual 64 bytes on the wire counting the 4-byte FCS.
# Rates: one sample per 1–2 s from each program (sentinel `[log] stats_interval = 1`: the
# to_core forwarded rate; testpmd `--stats-period 1`: Tx-pps of the core port). Samples
# whose interval began in the first BENCH_WARMUP_S seconds of forwarding are skipped;
# median/min/max of the rest are reported. cycles_per_packet = TSC Hz / median pps (the
# forwarding lcore busy-polls, so every TSC cycle of it is spent on the packets).
# Rounds alternate the order (sentinel first, then testpmd first, ...) so a load change on
# a shared machine does not fall on one program only; compare the ratio, not absolutes.
# Scrape cost: each round also runs the sentinel a second time, identically, while a scraper
# (scrape.py, pinned to the main lcore's CPU, not the worker's) GETs its Prometheus /metrics
# BENCH_SCRAPE_RATE times per second on an absolute schedule; "sentinel_scraped" holds those
# figures and the achieved scrape rate, "scrape_ratio" = scraped / unscraped Mpps median.
# Every sentinel run serves /metrics (live mode always does) on a free 127.0.0.1 port.
# Figures are printed, never asserted: the exit status is non-zero only when a program
# fails to run (start-up failure, early exit, no samples, no clean stop, scraper failure).
#
# Usage: forward_bench.sh SENTINEL_BINARY
# Environment (all optional):
#   BENCH_DURATION_S  seconds each run forwards, from the moment forwarding starts (10)
#   BENCH_WARMUP_S    seconds of each run left out of the figures (2)
#   BENCH_ROUNDS      runs of each program (2)
#   BENCH_FRAMES      frames in the generated pcap (4096)
#   BENCH_SEED        seed of the frame generator (1)
#   BENCH_HUGEPAGES   auto | on | off (auto: reserve 2 MiB hugepages when root and possible,
#                     else both programs run with --no-huge -m <same>)
#   BENCH_TESTPMD     testpmd binary (dpdk-testpmd from PATH)
#   BENCH_SCRAPE_RATE scrapes per second of the scraped sentinel runs (100)
set -euo pipefail

readonly DURATION_S=${BENCH_DURATION_S:-10}
readonly WARMUP_S=${BENCH_WARMUP_S:-2}
readonly ROUNDS=${BENCH_ROUNDS:-2}
readonly FRAMES=${BENCH_FRAMES:-4096}
readonly SEED=${BENCH_SEED:-1}
readonly HUGEPAGES_MODE=${BENCH_HUGEPAGES:-auto}
readonly TESTPMD=${BENCH_TESTPMD:-dpdk-testpmd}
readonly SCRAPE_RATE=${BENCH_SCRAPE_RATE:-100}
# Settings shared by both programs (the sentinel's are written into its config).
readonly BURST=32 WORKERS=1 RXD=1024 TXD=1024 MBUFS=16383 MBUF_CACHE=256
readonly HUGEPAGES_WANTED=256   # 2 MiB pages: 512 MiB, plenty for either program
readonly STARTUP_TIMEOUT_S=30 STOP_GRACE_S=15
readonly PYTHON=/usr/bin/python3   # Debian's interpreter, which has python3-scapy

log() { echo "forward_bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 SENTINEL_BINARY"
[[ -x $1 ]] || die "sentinel binary '$1' not found or not executable"
SENTINEL=$(realpath "$1")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $DURATION_S =~ ^[0-9]+$ && $WARMUP_S =~ ^[0-9]+$ && $ROUNDS =~ ^[1-9][0-9]*$ &&
   $FRAMES =~ ^[1-9][0-9]*$ && $SEED =~ ^[0-9]+$ && $SCRAPE_RATE =~ ^[1-9][0-9]*$ ]] ||
    die "BENCH_DURATION_S, BENCH_WARMUP_S, BENCH_ROUNDS, BENCH_FRAMES, BENCH_SEED, BENCH_SCRAPE_RATE must be integers"
if (( DURATION_S < WARMUP_S + 2 )); then
    die "BENCH_DURATION_S ($DURATION_S) must be at least BENCH_WARMUP_S + 2 ($((WARMUP_S + 2)))"
fi
[[ $HUGEPAGES_MODE =~ ^(auto|on|off)$ ]] || die "BENCH_HUGEPAGES must be auto, on or off"
TESTPMD_BIN=$(command -v "$TESTPMD") || die "testpmd '$TESTPMD' not found"
for tool in "$PYTHON" jq awk stdbuf ss; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done

prefix=sentinel-fwdbench-$$   # EAL --file-prefix of every run (they run one at a time)
tmp=$(mktemp -d /tmp/sentinel-fwdbench.XXXXXX)
run_pid='' scraper_pid=''
scrape_url='' scrape_result=''   # set around a scraped run (run_program starts the scraper)
hp_orig_total='' hp_set_total='' hp_mounted_by_us=''

hugetlbfs_mounts() { awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts; }
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

cleanup_eal_files() { # runtime directory and hugepage files of this benchmark's prefix only
    rm -rf "/var/run/dpdk/$prefix"
    local dir
    while read -r dir; do
        if [[ -n $dir ]]; then rm -f "$dir/$prefix"map_* 2>/dev/null || true; fi
    done < <(hugetlbfs_mounts)
}

cleanup() {
    local rc=$? i
    trap - EXIT
    trap '' INT TERM
    if [[ -n $scraper_pid ]]; then
        kill -TERM "$scraper_pid" 2>/dev/null || true
        wait "$scraper_pid" 2>/dev/null || true
    fi
    if [[ -n $run_pid ]] && kill -0 "$run_pid" 2>/dev/null; then
        kill -INT "$run_pid" 2>/dev/null || true
        for ((i = 0; i < STOP_GRACE_S * 10; i++)); do
            kill -0 "$run_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$run_pid" 2>/dev/null || true
        wait "$run_pid" 2>/dev/null || true
    fi
    cleanup_eal_files
    # Give back the hugepages this run reserved, unless someone changed the pool meanwhile.
    if [[ -n $hp_set_total && $(meminfo HugePages_Total) == "$hp_set_total" ]]; then
        echo "$hp_orig_total" > /proc/sys/vm/nr_hugepages 2>/dev/null ||
            log "warning: could not restore nr_hugepages to $hp_orig_total"
    fi
    if [[ -n $hp_mounted_by_us && -z $(ls -A "$hp_mounted_by_us" 2>/dev/null) ]]; then
        umount "$hp_mounted_by_us" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

loadavg() { cut -d ' ' -f 1-3 /proc/loadavg; }
load_before=$(loadavg)

# --- 1. frames -----------------------------------------------------------------------------
frames=$tmp/frames.pcap
log "generating $FRAMES frames (seed $SEED)"
frames_json=$("$PYTHON" "$HERE/make_frames.py" "$frames" "$FRAMES" "$SEED") ||
    die "make_frames.py failed"

# --- TSC frequency -------------------------------------------------------------------------
# Measured: rdtsc against CLOCK_MONOTONIC_RAW over 100 ms (what rte_rdtsc counts); else the
# kernel's TSC calibration from dmesg; else "cpu MHz" of /proc/cpuinfo.
tsc_hz='' tsc_src=''
if command -v cc >/dev/null; then
    cat > "$tmp/tsc.c" <<'EOF'
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC_RAW, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}
int main(void) {
  double t0 = now();
  unsigned long long c0 = __rdtsc();
  struct timespec d = {0, 100000000};
  nanosleep(&d, NULL);
  double t1 = now();
  unsigned long long c1 = __rdtsc();
  printf("%.0f\n", (double)(c1 - c0) / (t1 - t0));
  return 0;
}
EOF
    if cc -O2 -o "$tmp/tsc" "$tmp/tsc.c" 2>/dev/null && tsc_hz=$("$tmp/tsc"); then
        tsc_src="measured: rdtsc vs CLOCK_MONOTONIC_RAW over 100 ms"
    else
        tsc_hz=''
    fi
fi
if [[ -z $tsc_hz ]]; then
    mhz=$(dmesg 2>/dev/null | sed -n -E 's/.*(Refined TSC clocksource calibration|tsc: Detected): ?([0-9.]+) MHz.*/\2/p' | tail -n 1 || true)
    if [[ -n $mhz ]]; then
        tsc_src="dmesg (kernel TSC calibration)"
    else
        mhz=$(awk -F: '/^cpu MHz/ { gsub(/ /, "", $2); print $2; exit }' /proc/cpuinfo)
        tsc_src="/proc/cpuinfo cpu MHz"
    fi
    tsc_hz=$(awk -v m="${mhz:-0}" 'BEGIN { printf "%.0f", m * 1e6 }')
fi
log "TSC ${tsc_hz} Hz ($tsc_src)"

# --- 4. memory mode ------------------------------------------------------------------------
hugepages=false
if [[ $HUGEPAGES_MODE != off ]]; then
    why=''
    if [[ $(id -u) -ne 0 ]]; then
        why="not root"
    else
        if [[ -z $(hugetlbfs_mounts) ]]; then
            mkdir -p /dev/hugepages
            if mount -t hugetlbfs nodev /dev/hugepages 2>/dev/null; then
                hp_mounted_by_us=/dev/hugepages
            else
                why="cannot mount hugetlbfs on /dev/hugepages"
            fi
        fi
        free=$(meminfo HugePages_Free)
        if [[ -z $why ]] && (( free < HUGEPAGES_WANTED )); then
            hp_orig_total=$(meminfo HugePages_Total)
            if echo "$((hp_orig_total + HUGEPAGES_WANTED - free))" > /proc/sys/vm/nr_hugepages 2>/dev/null; then
                hp_set_total=$(meminfo HugePages_Total)
            fi
            free=$(meminfo HugePages_Free)
            (( free >= HUGEPAGES_WANTED )) ||
                why="only $free of $HUGEPAGES_WANTED 2 MiB hugepages could be reserved"
        fi
    fi
    if [[ -z $why ]]; then
        hugepages=true
        log "memory: hugepages ($(meminfo HugePages_Free) free 2 MiB pages, hugetlbfs on $(hugetlbfs_mounts | head -n 1))"
    elif [[ $HUGEPAGES_MODE == on ]]; then
        die "BENCH_HUGEPAGES=on but $why"
    else
        log "memory: --no-huge ($why)"
    fi
else
    log "memory: --no-huge (BENCH_HUGEPAGES=off)"
fi

# --- EAL arguments, as the sentinel builds them (dataplane/eal.cpp, live mode) -------------
mapfile -t cpus < <("$PYTHON" -c 'import os; print(*sorted(os.sched_getaffinity(0)), sep="\n")')
(( ${#cpus[@]} >= WORKERS + 1 )) || die "need $((WORKERS + 1)) CPUs, have ${#cpus[@]}"
# net_pcap 22.11: infinite_rx=1 replays the file forever (read into mbufs at queue set-up,
# copied into a fresh mbuf per rx); with no tx_pcap/tx_iface its tx drops. net_null: no-rx=1.
vendor_port="net_pcap0,rx_pcap=$frames,infinite_rx=1"
core_port="net_null0,no-rx=1"
# Same formula as memory_mib_for() in dataplane/eal.cpp; checked against the sentinel's log.
mem_mib=$(( MBUFS * (2048 + 128 + 128 + 64) / (1024 * 1024) + 96 ))
eal_args=(-l "${cpus[0]},${cpus[1]}" --main-lcore "${cpus[0]}" --file-prefix "$prefix")
$hugepages || eal_args+=(--no-huge -m "$mem_mib")
eal_args+=(--vdev "$vendor_port" --vdev "$core_port" --no-pci)
testpmd_args=(--forward-mode=io --nb-cores=1 --rxq=1 --txq=1 --burst="$BURST"
              --rxd="$RXD" --txd="$TXD" --total-num-mbufs="$MBUFS" --mbcache="$MBUF_CACHE"
              --stats-period=1)

# run_program NAME READY_REGEX CMD...: starts CMD (output in $tmp/NAME.out / .err), waits
# until READY_REGEX shows in either (forwarding has started), lets it forward DURATION_S
# seconds, then SIGINT; SIGKILL after STOP_GRACE_S. Fails the benchmark when CMD exits
# early, never gets ready or does not stop; sets run_rc to CMD's exit status.
run_program() {
    local name=$1 ready=$2 i
    shift 2
    cleanup_eal_files
    "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" < /dev/null &
    run_pid=$!
    for ((i = 0; ; i++)); do
        grep -q -E "$ready" "$tmp/$name.out" "$tmp/$name.err" && break
        if ! kill -0 "$run_pid" 2>/dev/null; then
            finish_run
            fail_run "$name" "exited during start-up (status $run_rc)"
        fi
        (( i < STARTUP_TIMEOUT_S * 10 )) || fail_run "$name" "not forwarding after ${STARTUP_TIMEOUT_S}s"
        sleep 0.1
    done
    log "$name forwarding for ${DURATION_S}s${scrape_url:+, scraped $SCRAPE_RATE/s at $scrape_url}"
    # A deadline, not a count of sleeps: on a loaded machine each `sleep` overshoots.
    local deadline=$(( $(now_us) + DURATION_S * 1000000 ))
    if [[ -n $scrape_url ]]; then
        "$PYTHON" "$tmp/scrape.py" "$scrape_url" "$SCRAPE_RATE" "${cpus[0]}" "$scrape_result" \
            > "$tmp/$name.scraper.log" 2>&1 < /dev/null &
        scraper_pid=$!
    fi
    while (( $(now_us) < deadline )); do
        if ! kill -0 "$run_pid" 2>/dev/null; then
            finish_run
            fail_run "$name" "exited while forwarding (status $run_rc)"
        fi
        if [[ -n $scraper_pid ]] && ! kill -0 "$scraper_pid" 2>/dev/null; then
            cat "$tmp/$name.scraper.log" >&2 || true
            fail_run "$name" "the scraper exited early"
        fi
        sleep 0.2
    done
    if [[ -n $scraper_pid ]]; then   # stopped first: the run's last scrape precedes SIGINT
        kill -TERM "$scraper_pid" 2>/dev/null || true
        local scraper_rc=0
        wait "$scraper_pid" || scraper_rc=$?
        scraper_pid=''
        if (( scraper_rc != 0 )) || [[ ! -s $scrape_result ]]; then
            cat "$tmp/$name.scraper.log" >&2 || true
            fail_run "$name" "the scraper failed (status $scraper_rc)"
        fi
    fi
    kill -INT "$run_pid" 2>/dev/null || true
    for ((i = 0; i < STOP_GRACE_S * 10; i++)); do
        kill -0 "$run_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$run_pid" 2>/dev/null; then
        fail_run "$name" "still running ${STOP_GRACE_S}s after SIGINT"
    fi
    finish_run
}
now_us() { echo "${EPOCHREALTIME//[.,]/}"; }   # bash 5: wall clock in microseconds
finish_run() { # reaps the program, sets run_rc
    run_rc=0
    wait "$run_pid" || run_rc=$?
    run_pid=''
    cleanup_eal_files
}
fail_run() { # fail_run NAME WHY: shows the program's output tail, exits 1 (cleanup kills it)
    log "$1 failed: $2"
    tail -n 30 "$tmp/$1.out" "$tmp/$1.err" >&2 || true
    exit 1
}

# Samples are "START_S MPPS" lines: START_S is when the sample's interval began, in seconds
# since forwarding started, reconstructed from each program's cumulative counter and rate.
# sentinel: `stats: to_core rx=R fwd=F drop=D (P pps) | to_vendor ...` where P is the rx
# rate over the interval the sentinel timed itself: interval = dR / P, Mpps = P * dF / dR.
sentinel_samples() {
    awk '
        /^stats: to_core / {
            match($0, /to_core rx=[0-9]+ fwd=[0-9]+ drop=[0-9]+ \([0-9.]+ pps\)/)
            split(substr($0, RSTART, RLENGTH), f, /[= ()]+/)   # to_core rx R fwd F drop D P pps
            r = f[3]; w = f[5]; p = f[8]
            if (p > 0 && r > pr) { iv = (r - pr) / p; mpps = p * (w - pw) / (r - pr) / 1e6 }
            else { iv = 1; mpps = 0 }
            printf "%.3f %.6f\n", t, mpps
            t += iv; pr = r; pw = w
        }' "$1"
}
# testpmd --stats-period 1: per port a block with the cumulative TX-packets and the Tx-pps
# since the previous block; the core port is port 1 (second vdev). The first block has no
# previous one (0 pps) and only marks t = 1 s (testpmd sleeps 1 s before its first check,
# so later start times are under-estimated: warm-up skipping errs on the safe side). Its
# loop prints every 1 to 2 s; the rate is over the actual interval either way.
testpmd_samples() {
    sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$1" | awk '
        /NIC statistics for port/ { port = $(NF - 1) }
        port == 1 && /TX-packets:/ { tx = $2 }
        port == 1 && /Tx-pps:/ {
            p = $2
            if (n++ == 0) { t = 1; ptx = tx; next }
            iv = (p > 0 && tx > ptx) ? (tx - ptx) / p : 1
            printf "%.3f %.6f\n", t, p / 1e6
            t += iv; ptx = tx
        }'
}
# summarize: "START_S MPPS" lines in; those that began at or after WARMUP_S -> JSON object.
summarize() {
    awk -v skip="$WARMUP_S" -v hz="$tsc_hz" '
        $1 >= skip - 0.05 { v[++n] = $2 }
        END {
            if (n == 0) exit 1
            for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
            med = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            printf "{\"mpps_median\":%.3f,\"mpps_min\":%.3f,\"mpps_max\":%.3f,\"samples\":%d,", med, v[1], v[n], n
            printf "\"cycles_per_packet\":%.1f}\n", (med > 0 ? hz / (med * 1e6) : 0)
        }'
}
json_array() { printf '%s\n' "$@" | jq -R . | jq -s -c .; }
kept_samples_json() { # the Mpps of the samples summarize kept, rounded, as a JSON array
    awk -v skip="$WARMUP_S" '$1 >= skip - 0.05 { printf "%s%.3f", (n++ ? "," : "["), $2 }
                             END { print (n ? "]" : "[]") }'
}

# --- 2. sentinel ---------------------------------------------------------------------------
# A TCP port on 127.0.0.1 nobody listens on: the kernel picks it, ss double-checks. Each
# sentinel run gets a fresh one, so a TIME_WAIT left by the previous run's scrapes can never
# stop the next from binding.
free_port() {
    local p _
    for _ in $(seq 1 20); do
        p=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        [[ -z $(ss -Htln "sport = :$p") ]] && { echo "$p"; return 0; }
    done
    return 1
}
write_sentinel_config() { # write_sentinel_config METRICS_PORT
    cat > "$tmp/sentinel.toml" <<EOF
[ports]
vendor = "$vendor_port"
core = "$core_port"
[dataplane]
workers = $WORKERS
burst_size = $BURST
rx_descriptors = $RXD
tx_descriptors = $TXD
mbufs = $MBUFS
mbuf_cache = $MBUF_CACHE
hugepages = "$($hugepages && echo on || echo off)"
[log]
dir = "$tmp/log"
level = "info"
stats_interval = 1
[metrics]
listen = "127.0.0.1:$1"
[rules]
dir = "$tmp/rules.d"  # none: the forwarding cost alone
cache_dir = ""
EOF
    mkdir -p "$tmp/rules.d"
}

# The scraper: GET URL RATE times a second on an absolute schedule (a late request does not
# shift the next ones; more than one period behind, the schedule restarts instead of
# bursting), pinned to CPU. On SIGTERM it writes a JSON summary to OUT and exits 0.
cat > "$tmp/scrape.py" <<'PY'
import json, os, signal, sys, time, urllib.request

url, rate, cpu, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
os.sched_setaffinity(0, {cpu})
stop = False
def on_term(signum, frame):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
period = 1.0 / rate
ok = errors = late = body_bytes = 0
first_error = ""
start = time.monotonic()
due = start
while not stop:
    try:
        with urllib.request.urlopen(url, timeout=1) as r:
            body = r.read()
        if r.status == 200 and b"sentinel_packets_total" in body:
            ok += 1
            body_bytes += len(body)
        else:
            errors += 1
            first_error = first_error or "status %d, %d bytes" % (r.status, len(body))
    except Exception as e:  # counted and reported, never fatal
        errors += 1
        first_error = first_error or repr(e)
    due += period
    now = time.monotonic()
    if now - due > period:
        late += 1
        due = now
    elif due > now:
        time.sleep(due - now)
elapsed = time.monotonic() - start
with open(out, "w") as f:
    json.dump({"scrapes": ok, "errors": errors, "late": late, "elapsed_s": round(elapsed, 3),
               "scrapes_per_second": round(ok / elapsed, 2) if elapsed > 0 else 0,
               "bytes_per_scrape": body_bytes // ok if ok else 0,
               "first_error": first_error}, f)
    f.write("\n")
PY

sentinel_note=''
run_sentinel() { # run_sentinel ROUND [scraped]: results in $tmp/sentinel.* or $tmp/sentinel_scraped.*
    local round=$1 kind=sentinel note eve port scrape=null
    [[ ${2-} == scraped ]] && kind=sentinel_scraped
    port=$(free_port) || die "no free TCP port for the sentinel's metrics"
    write_sentinel_config "$port"
    if [[ $kind == sentinel_scraped ]]; then
        scrape_url=http://127.0.0.1:$port/metrics
        scrape_result=$tmp/$kind.r$round.scrape.json
    fi
    # The sentinel builds -l/--main-lcore/memory/--vdev/--no-pci itself (dataplane/eal.cpp);
    # the extra --file-prefix comes last and wins over its built-in "sentinel".
    run_program "$kind" 'forwarding: vendor port' \
        "$SENTINEL" -c "$tmp/sentinel.toml" -- --file-prefix "$prefix"
    scrape_url=''
    (( run_rc == 0 )) || fail_run "$kind" "exit status $run_rc after SIGINT"
    note=$(grep -E -o '(hugepages off by config|hugepages unavailable|hugepages: (using|reserved)).*' \
        "$tmp/$kind.err" | head -n 1 || true)
    if $hugepages; then
        [[ $note == hugepages:* ]] || fail_run "$kind" "expected hugepages, its log says: ${note:-nothing}"
    else
        [[ $note == *"--no-huge -m $mem_mib" ]] ||
            fail_run "$kind" "expected --no-huge -m $mem_mib, its log says: ${note:-nothing}"
    fi
    sentinel_note=$note
    eve=$(grep '"event_type":"stats"' "$tmp/log/eve.json" 2>/dev/null | tail -n 1) ||
        fail_run "$kind" "no stats event in its eve.json"
    sentinel_samples "$tmp/$kind.out" > "$tmp/$kind.r$round"
    summarize < "$tmp/$kind.r$round" > "$tmp/$kind.r$round.json" ||
        fail_run "$kind" "no steady-state stats lines on stdout"
    cat "$tmp/$kind.r$round" >> "$tmp/$kind.samples"
    [[ $kind == sentinel_scraped ]] && scrape=$(cat "$scrape_result")
    jq -c --argjson eve "$eve" --argjson round "$round" --argjson scrape "$scrape" '{round: $round, mpps_median,
        forwarded: $eve.stats.to_core.forwarded, dropped: $eve.stats.dropped,
        rx_nombuf: $eve.stats.rx_nombuf, elapsed_s: $eve.stats.elapsed_seconds}
        + (if $scrape then {scrape: $scrape} else {} end)' \
        "$tmp/$kind.r$round.json" >> "$tmp/$kind.runs"
    log "$kind round $round: $(tail -n 1 "$tmp/$kind.runs")"
}

# --- 3. testpmd ----------------------------------------------------------------------------
run_testpmd() { # run_testpmd ROUND
    local round=$1 fwd nombuf
    # stdbuf: line-buffered stdout, so the start marker and the stats appear as printed.
    run_program testpmd 'start packet forwarding' \
        stdbuf -oL "$TESTPMD_BIN" "${eal_args[@]}" -- "${testpmd_args[@]}"
    # testpmd exits 0 on SIGINT (older releases re-raise it: 130).
    (( run_rc == 0 || run_rc == 130 )) || fail_run testpmd "exit status $run_rc after SIGINT"
    grep -q 'Bye\.\.\.' "$tmp/testpmd.out" || fail_run testpmd "did not stop cleanly"
    testpmd_samples "$tmp/testpmd.out" > "$tmp/testpmd.r$round"
    summarize < "$tmp/testpmd.r$round" > "$tmp/testpmd.r$round.json" ||
        fail_run testpmd "no steady-state Tx-pps samples for port 1"
    cat "$tmp/testpmd.r$round" >> "$tmp/testpmd.samples"
    read -r fwd nombuf < <(sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$tmp/testpmd.out" | awk '
        /Forward statistics for port 1/ { p1 = 1 }
        p1 && /TX-packets:/ { tx = $2; p1 = 0 }
        /RX-nombuf:/ { nb = $2 }
        END { print tx + 0, nb + 0 }')
    jq -c --argjson round "$round" --argjson fwd "$fwd" --argjson nombuf "$nombuf" \
        '{round: $round, mpps_median, forwarded: $fwd, rx_nombuf: $nombuf}' \
        "$tmp/testpmd.r$round.json" >> "$tmp/testpmd.runs"
    log "testpmd round $round: $(tail -n 1 "$tmp/testpmd.runs")"
}

: > "$tmp/sentinel.samples"
: > "$tmp/testpmd.samples"
: > "$tmp/sentinel_scraped.samples"
: > "$tmp/sentinel.runs"
: > "$tmp/testpmd.runs"
: > "$tmp/sentinel_scraped.runs"
ratios=() scrape_ratios=()
for ((round = 1; round <= ROUNDS; round++)); do
    # The scraped run sits next to the unscraped one; the order alternates by round.
    if (( round % 2 )); then
        run_sentinel "$round"
        run_sentinel "$round" scraped
        run_testpmd "$round"
    else
        run_testpmd "$round"
        run_sentinel "$round" scraped
        run_sentinel "$round"
    fi
    ratios+=("$(jq -n --slurpfile s "$tmp/sentinel.r$round.json" --slurpfile t "$tmp/testpmd.r$round.json" \
        'if $t[0].mpps_median > 0 then $s[0].mpps_median / $t[0].mpps_median * 1000 | round / 1000 else null end')")
    scrape_ratios+=("$(jq -n --slurpfile c "$tmp/sentinel_scraped.r$round.json" --slurpfile s "$tmp/sentinel.r$round.json" \
        'if $s[0].mpps_median > 0 then $c[0].mpps_median / $s[0].mpps_median * 1000 | round / 1000 else null end')")
done
for program in sentinel testpmd sentinel_scraped; do
    summarize < "$tmp/$program.samples" > "$tmp/$program.json"
    kept_samples_json < "$tmp/$program.samples" > "$tmp/$program.kept.json"
done

# --- 5. report -----------------------------------------------------------------------------
jq -n -c \
    --argjson frames "$frames_json" \
    --slurpfile s "$tmp/sentinel.json" --slurpfile t "$tmp/testpmd.json" \
    --slurpfile s_runs "$tmp/sentinel.runs" --slurpfile t_runs "$tmp/testpmd.runs" \
    --slurpfile s_kept "$tmp/sentinel.kept.json" --slurpfile t_kept "$tmp/testpmd.kept.json" \
    --argjson ratios "$(json_array "${ratios[@]}" | jq -c 'map(tonumber? // null)')" \
    --slurpfile c "$tmp/sentinel_scraped.json" --slurpfile c_runs "$tmp/sentinel_scraped.runs" \
    --slurpfile c_kept "$tmp/sentinel_scraped.kept.json" \
    --argjson scrape_ratios "$(json_array "${scrape_ratios[@]}" | jq -c 'map(tonumber? // null)')" \
    --argjson scrape_rate "$SCRAPE_RATE" --argjson scraper_cpu "${cpus[0]}" \
    --argjson burst "$BURST" --argjson workers "$WORKERS" --argjson hugepages "$hugepages" \
    --argjson duration "$DURATION_S" --argjson warmup "$WARMUP_S" --argjson rounds "$ROUNDS" \
    --argjson rxd "$RXD" --argjson txd "$TXD" --argjson mbufs "$MBUFS" --argjson cache "$MBUF_CACHE" \
    --arg vendor "$vendor_port" --arg core "$core_port" --arg memory_note "$sentinel_note" \
    --argjson tsc_hz "$tsc_hz" --arg tsc_src "$tsc_src" \
    --arg load_before "$load_before" --arg load_after "$(loadavg)" --argjson cpus "${#cpus[@]}" \
    --argjson eal_args "$(json_array "${eal_args[@]}")" \
    --argjson testpmd_args "$(json_array "${testpmd_args[@]}")" \
    '{
    benchmark: "forward",
    frames: {count: $frames.count, size_bytes: 64, captured_bytes: $frames.size_bytes,
             size_note: "64 bytes on the wire counting the 4-byte FCS; 60 bytes in the pcap and the mbuf",
             flows: $frames.flows, udp: $frames.udp, tcp: $frames.tcp},
    settings: {burst: $burst, workers: $workers, hugepages: $hugepages, duration_s: $duration,
               warmup_s: $warmup, rounds: $rounds, rx_descriptors: $rxd, tx_descriptors: $txd,
               mbufs: $mbufs, mbuf_cache: $cache,
               eal_args: $eal_args,
               sentinel_memory_note: $memory_note,
               testpmd_args: $testpmd_args,
               ports: {vendor: $vendor, core: $core},
               rate_source: "sentinel: to_core forwarded rate of its stats lines; testpmd: --stats-period Tx-pps of port 1 (core)"},
    sentinel: ($s[0] + {runs: $s_runs, mpps_samples: $s_kept[0]}),
    testpmd: ($t[0] + {runs: $t_runs, mpps_samples: $t_kept[0]}),
    ratio: (if $t[0].mpps_median > 0 then $s[0].mpps_median / $t[0].mpps_median * 1000 | round / 1000 else null end),
    ratio_per_round: $ratios,
    sentinel_scraped: ($c[0] + {
        scrapes_per_second: (([$c_runs[].scrape.scrapes] | add) / ([$c_runs[].scrape.elapsed_s] | add) * 100 | round / 100),
        scrapes_per_second_target: $scrape_rate,
        scrapes: ([$c_runs[].scrape.scrapes] | add), scrape_errors: ([$c_runs[].scrape.errors] | add),
        scraper: "scrape.py (urllib, absolute schedule) pinned to CPU \($scraper_cpu), the main lcore; the worker polls another",
        runs: $c_runs, mpps_samples: $c_kept[0]}),
    scrape_ratio: (if $s[0].mpps_median > 0 then $c[0].mpps_median / $s[0].mpps_median * 1000 | round / 1000 else null end),
    scrape_ratio_per_round: $scrape_ratios,
    tsc_hz: $tsc_hz, tsc_hz_source: $tsc_src,
    machine: {cpus: $cpus, loadavg_before: $load_before, loadavg_after: $load_after,
              note: "other load on these CPUs lowers both figures; compare the ratio"}
}'
