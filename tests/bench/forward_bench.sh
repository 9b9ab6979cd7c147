#!/usr/bin/env bash
# Forwarding-path benchmark: the sentinel against `dpdk-testpmd --forward-mode=io`, both
# forwarding minimum-size frames from a pcap vdev replaying in a loop (vendor side) to a
# null vdev that frees them (core side), with the same EAL arguments, lcores, memory mode,
# burst, descriptors, mbuf pool and duration. Reports steady-state Mpps of each, cycles per
# packet and their ratio as ONE JSON object on stdout; progress goes to stderr.
#
# Frames: COUNT Ethernet/IPv4 UDP+TCP frames of 60 bytes as captured (64 bytes on the wire
# with the FCS), random 5-tuples in 10.0.0.0/8 (make_frames.py, fixed seed).
# Rates: each program prints one sample per second (sentinel: `[log] stats_interval = 1`,
# forwarded-frame rate of to_core; testpmd: `--stats-period 1`, Tx-pps of the core port);
# the first BENCH_WARMUP_S samples are skipped, median/min/max of the rest are reported.
# Figures are printed, never asserted: the exit status is non-zero only when a program
# fails to run (or produces no samples).
#
# Usage: forward_bench.sh SENTINEL_BINARY
# Environment (all optional):
#   BENCH_DURATION_S  seconds each program forwards (default 10)
#   BENCH_WARMUP_S    leading one-second samples skipped (default 2)
#   BENCH_FRAMES      frames in the generated pcap (default 4096)
#   BENCH_SEED        seed of the frame generator (default 1)
#   BENCH_HUGEPAGES   auto | on | off (default auto: reserve 2 MiB hugepages when root and
#                     possible, else both programs run with --no-huge -m <same>)
#   BENCH_TESTPMD     testpmd binary (default: dpdk-testpmd from PATH)
set -euo pipefail

readonly DURATION_S=${BENCH_DURATION_S:-10}
readonly WARMUP_S=${BENCH_WARMUP_S:-2}
readonly FRAMES=${BENCH_FRAMES:-4096}
readonly SEED=${BENCH_SEED:-1}
readonly HUGEPAGES_MODE=${BENCH_HUGEPAGES:-auto}
readonly TESTPMD=${BENCH_TESTPMD:-dpdk-testpmd}
# Settings shared by both programs (the sentinel's are written into its config).
readonly BURST=32 WORKERS=1 RXD=1024 TXD=1024 MBUFS=16383 MBUF_CACHE=256
readonly HUGEPAGES_WANTED=256   # 2 MiB pages: 512 MiB, plenty for either program
readonly STOP_GRACE_S=15
readonly PYTHON=/usr/bin/python3   # Debian's interpreter, which has python3-scapy

log() { echo "forward_bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 1 ]] || die "usage: $0 SENTINEL_BINARY"
[[ -x $1 ]] || die "sentinel binary '$1' not found or not executable"
SENTINEL=$(realpath "$1")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $DURATION_S =~ ^[0-9]+$ && $WARMUP_S =~ ^[0-9]+$ && $FRAMES =~ ^[1-9][0-9]*$ &&
   $SEED =~ ^[0-9]+$ ]] ||
    die "BENCH_DURATION_S, BENCH_WARMUP_S, BENCH_FRAMES and BENCH_SEED must be integers"
if (( DURATION_S <= WARMUP_S + 1 )); then
    die "BENCH_DURATION_S ($DURATION_S) must exceed BENCH_WARMUP_S + 1 ($((WARMUP_S + 1)))"
fi
[[ $HUGEPAGES_MODE =~ ^(auto|on|off)$ ]] || die "BENCH_HUGEPAGES must be auto, on or off"
TESTPMD_BIN=$(command -v "$TESTPMD") || die "testpmd '$TESTPMD' not found"
for tool in "$PYTHON" jq timeout awk; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done

prefix=sentinel-fwdbench-$$   # EAL --file-prefix of both runs (they run one after the other)
tmp=$(mktemp -d /tmp/sentinel-fwdbench.XXXXXX)
run_pid=''
hp_orig_total='' hp_set_total='' hp_mounted_by_us=''

hugetlbfs_mounts() { awk '$3 == "hugetlbfs" { print $2 }' /proc/mounts; }
meminfo() { awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo; }

cleanup_eal_files() { # runtime directory and hugepage files of this run's prefix only
    rm -rf "/var/run/dpdk/$prefix"
    local dir
    while read -r dir; do
        if [[ -n $dir ]]; then rm -f "$dir/$prefix"map_* 2>/dev/null || true; fi
    done < <(hugetlbfs_mounts)
}

cleanup() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM
    if [[ -n $run_pid ]] && kill -0 "$run_pid" 2>/dev/null; then
        kill -INT "$run_pid" 2>/dev/null || true   # timeout(1) passes it on
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
    if [[ -n $hp_mounted_by_us ]] && [[ -z $(ls -A "$hp_mounted_by_us" 2>/dev/null) ]]; then
        umount "$hp_mounted_by_us" 2>/dev/null || true
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. frames ---------------------------------------------------------------------------
frames=$tmp/frames.pcap
log "generating $FRAMES frames (seed $SEED)"
frames_json=$("$PYTHON" "$HERE/make_frames.py" "$frames" "$FRAMES" "$SEED") ||
    die "make_frames.py failed"

# --- TSC frequency ---------------------------------------------------------------------
# Measured: rdtsc against CLOCK_MONOTONIC_RAW over 100 ms (what rte_rdtsc counts); else the
# kernel's calibration from dmesg; else "cpu MHz" of /proc/cpuinfo.
tsc_hz='' tsc_src=''
if command -v cc >/dev/null; then
    cat > "$tmp/tsc.c" <<'EOF'
#include <stdio.h>
#include <time.h>
#include <x86intrin.h>
static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC_RAW, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
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
        tsc_hz=$(awk -v m="$mhz" 'BEGIN { printf "%.0f", m * 1e6 }'); tsc_src="dmesg (kernel TSC calibration)"
    else
        mhz=$(awk -F: '/^cpu MHz/ { gsub(/ /, "", $2); print $2; exit }' /proc/cpuinfo)
        tsc_hz=$(awk -v m="${mhz:-0}" 'BEGIN { printf "%.0f", m * 1e6 }'); tsc_src="/proc/cpuinfo cpu MHz"
    fi
fi
log "TSC ${tsc_hz} Hz ($tsc_src)"

# --- 4. memory mode ----------------------------------------------------------------------
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
            want=$((hp_orig_total + HUGEPAGES_WANTED - free))
            if echo "$want" > /proc/sys/vm/nr_hugepages 2>/dev/null; then
                hp_set_total=$(meminfo HugePages_Total)
            fi
            free=$(meminfo HugePages_Free)
            (( free >= HUGEPAGES_WANTED )) ||
                why="only $free of $HUGEPAGES_WANTED 2 MiB hugepages could be reserved"
        fi
    fi
    if [[ -z $why ]]; then
        hugepages=true
        log "memory: hugepages ($(meminfo HugePages_Free) free 2 MiB pages on $(hugetlbfs_mounts | head -n 1))"
    elif [[ $HUGEPAGES_MODE == on ]]; then
        die "BENCH_HUGEPAGES=on but $why"
    else
        log "memory: --no-huge ($why)"
    fi
else
    log "memory: --no-huge (BENCH_HUGEPAGES=off)"
fi

# --- EAL arguments, as the sentinel builds them (dataplane/eal.cpp, live mode) ----------
mapfile -t cpus < <("$PYTHON" -c 'import os; print(*sorted(os.sched_getaffinity(0)), sep="\n")')
(( ${#cpus[@]} >= WORKERS + 1 )) || die "need $((WORKERS + 1)) CPUs, have ${#cpus[@]}"
vendor_port="net_pcap0,rx_pcap=$frames,infinite_rx=1"   # no tx_pcap/tx_iface: tx drops
core_port="net_null0,no-rx=1"
# Same formula as memory_mib_for() in dataplane/eal.cpp; checked against the sentinel's log.
mem_mib=$(( MBUFS * (2048 + 128 + 128 + 64) / (1024 * 1024) + 96 ))
eal_args=(-l "${cpus[0]},${cpus[1]}" --main-lcore "${cpus[0]}" --file-prefix "$prefix")
$hugepages || eal_args+=(--no-huge -m "$mem_mib")
eal_args+=(--vdev "$vendor_port" --vdev "$core_port" --no-pci)
testpmd_args=(--forward-mode=io --nb-cores=1 --rxq=1 --txq=1 --burst="$BURST"
              --rxd="$RXD" --txd="$TXD" --total-num-mbufs="$MBUFS" --mbcache="$MBUF_CACHE"
              --stats-period=1)

# run_for NAME CMD...: runs CMD for DURATION_S seconds, then SIGINT (SIGKILL after a grace).
# Output in $tmp/NAME.out / .err; sets run_rc.
run_for() {
    local name=$1; shift
    cleanup_eal_files
    log "running $name for ${DURATION_S}s"
    timeout --preserve-status -s INT -k "$STOP_GRACE_S" "$DURATION_S" "$@" \
        > "$tmp/$name.out" 2> "$tmp/$name.err" < /dev/null &
    run_pid=$!
    run_rc=0
    wait "$run_pid" || run_rc=$?
    run_pid=''
    cleanup_eal_files
}
fail_run() { # fail_run NAME WHY: shows the program's output tail, exits 1
    log "$1 failed: $2"
    tail -n 30 "$tmp/$1.out" "$tmp/$1.err" >&2 || true
    exit 1
}
# summarize: reads one sample (Mpps) per line, skips WARMUP_S, prints a JSON object.
summarize() {
    awk -v skip="$WARMUP_S" -v hz="$tsc_hz" '
        NR > skip { v[++n] = $1 }
        END {
            if (n == 0) exit 1
            for (i = 2; i <= n; i++) { x = v[i]; for (j = i - 1; j >= 1 && v[j] > x; j--) v[j + 1] = v[j]; v[j + 1] = x }
            med = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
            printf "{\"mpps_median\":%.3f,\"mpps_min\":%.3f,\"mpps_max\":%.3f,\"samples\":%d,", med, v[1], v[n], n
            printf "\"cycles_per_packet\":%.1f}\n", (med > 0 ? hz / (med * 1e6) : 0)
        }'
}

# --- 2. sentinel ---------------------------------------------------------------------------
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
EOF
# The sentinel builds -l/--main-lcore/memory/--vdev/--no-pci itself; the extra
# --file-prefix comes last and wins over its built-in "sentinel".
run_for sentinel "$SENTINEL" -c "$tmp/sentinel.toml" -- --file-prefix "$prefix"
(( run_rc == 0 )) || fail_run sentinel "exit status $run_rc"
note=$(grep -E -o '(hugepages off by config|hugepages unavailable|hugepages: (using|reserved)).*' "$tmp/sentinel.err" | head -n 1 || true)
if $hugepages; then
    [[ $note == hugepages:* ]] || fail_run sentinel "expected hugepages, its log says: ${note:-nothing}"
else
    [[ $note == *"--no-huge -m $mem_mib" ]] ||
        fail_run sentinel "expected --no-huge -m $mem_mib, its log says: ${note:-nothing}"
fi
# stats: to_core rx=R fwd=F drop=D (P pps) | to_vendor ...: forwarded rate of the interval
# = P * dF / dR (P is the rx rate over the interval the sentinel timed itself).
sentinel_samples=$(awk '
    /^stats: to_core / {
        match($0, /to_core rx=[0-9]+ fwd=[0-9]+ drop=[0-9]+ \([0-9.]+ pps\)/)
        split(substr($0, RSTART, RLENGTH), f, /[= ()]+/)   # to_core rx R fwd F drop D P pps
        r = f[3]; w = f[5]; p = f[8]
        if (r > pr) printf "%.6f\n", p * (w - pw) / (r - pr) / 1e6
        pr = r; pw = w
    }' "$tmp/sentinel.out")
sentinel_json=$(summarize <<< "$sentinel_samples") ||
    fail_run sentinel "no steady-state samples on stdout"
eve=$(grep '"event_type":"stats"' "$tmp/log/eve.json" | tail -n 1) ||
    fail_run sentinel "no stats event in $tmp/log/eve.json"
sentinel_json=$(jq -c --argjson eve "$eve" --arg samples "$sentinel_samples" '. + {
    forwarded: $eve.stats.to_core.forwarded, dropped: $eve.stats.dropped,
    rx_nombuf: $eve.stats.rx_nombuf, elapsed_s: $eve.stats.elapsed_seconds,
    mpps_all_samples: ($samples | split("\n") | map(select(. != "") | tonumber * 1000 | round / 1000))
}' <<< "$sentinel_json")
log "sentinel: $sentinel_json"

# --- 3. testpmd ----------------------------------------------------------------------------
run_for testpmd "$TESTPMD_BIN" "${eal_args[@]}" -- "${testpmd_args[@]}"
# testpmd exits 0 on SIGINT (older releases re-raise it: 130).
(( run_rc == 0 || run_rc == 130 )) || fail_run testpmd "exit status $run_rc"
grep -q 'Bye\.\.\.' "$tmp/testpmd.out" || fail_run testpmd "did not stop cleanly"
# The core port is port 1 (second vdev); its Tx-pps is the forwarded rate.
sed 's/\x1b\[[0-9;]*[A-Za-z]//g' "$tmp/testpmd.out" > "$tmp/testpmd.txt"
testpmd_samples=$(awk '
    /NIC statistics for port/ { port = $(NF - 1) }
    /Tx-pps:/ && port == 1 { printf "%.6f\n", $2 / 1e6 }' "$tmp/testpmd.txt")
# testpmd's first sample has no previous reading (0 pps): never a steady-state figure.
testpmd_samples=$(tail -n +2 <<< "$testpmd_samples")
testpmd_json=$(summarize <<< "$testpmd_samples") ||
    fail_run testpmd "no steady-state Tx-pps samples for port 1"
read -r tp_fwd tp_nombuf < <(awk '
    /Forward statistics for port 1/ { p1 = 1 }
    p1 && /TX-packets:/ { tx = $2; p1 = 0 }
    /RX-nombuf:/ { nb = $2 }
    END { print tx + 0, nb + 0 }' "$tmp/testpmd.txt")
testpmd_json=$(jq -c --argjson fwd "$tp_fwd" --argjson nombuf "$tp_nombuf" \
    --arg samples "$testpmd_samples" '. + {
    forwarded: $fwd, rx_nombuf: $nombuf,
    mpps_all_samples: ($samples | split("\n") | map(select(. != "") | tonumber * 1000 | round / 1000))
}' <<< "$testpmd_json")
log "testpmd: $testpmd_json"

json_array() { printf '%s\n' "$@" | jq -R . | jq -s -c .; }

# --- 5. report -----------------------------------------------------------------------------
jq -n -c \
    --argjson frames "$frames_json" \
    --argjson sentinel "$sentinel_json" --argjson testpmd "$testpmd_json" \
    --argjson burst "$BURST" --argjson workers "$WORKERS" --argjson hugepages "$hugepages" \
    --argjson duration "$DURATION_S" --argjson warmup "$WARMUP_S" \
    --argjson rxd "$RXD" --argjson txd "$TXD" --argjson mbufs "$MBUFS" --argjson cache "$MBUF_CACHE" \
    --arg vendor "$vendor_port" --arg core "$core_port" --arg memory_note "$note" \
    --argjson tsc_hz "$tsc_hz" --arg tsc_src "$tsc_src" \
    --argjson eal_args "$(json_array "${eal_args[@]}")" \
    --argjson testpmd_args "$(json_array "${testpmd_args[@]}")" \
    '{
    benchmark: "forward",
    frames: {count: $frames.count, size_bytes: 64, captured_bytes: $frames.size_bytes,
             size_note: "64 bytes on the wire including the 4-byte FCS; 60 bytes in the pcap and in the mbuf",
             flows: $frames.flows, udp: $frames.udp, tcp: $frames.tcp},
    settings: {burst: $burst, workers: $workers, hugepages: $hugepages, duration_s: $duration,
               warmup_samples_skipped: $warmup, rx_descriptors: $rxd, tx_descriptors: $txd,
               mbufs: $mbufs, mbuf_cache: $cache,
               eal_args: $eal_args,
               sentinel_memory_note: $memory_note,
               testpmd_args: $testpmd_args,
               ports: {vendor: $vendor, core: $core},
               rate_source: "per-second samples: sentinel stats lines (to_core forwarded), testpmd --stats-period 1 (port 1 Tx-pps)"},
    sentinel: $sentinel,
    testpmd: $testpmd,
    ratio: (if $testpmd.mpps_median > 0 then ($sentinel.mpps_median / $testpmd.mpps_median * 1000 | round / 1000) else null end),
    tsc_hz: $tsc_hz, tsc_hz_source: $tsc_src
}'
