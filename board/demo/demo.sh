#!/usr/bin/env bash
# The Sentinel demo (`make demo`): builds the virtual board (namespaces "vendor" and
# "core" joined only through the sentinel), runs real traffic across it, then stops the
# sentinel to show that it is inline: with it gone, the two sides cannot talk at all.
#
# Usage: demo.sh SENTINEL_BINARY        (as root; ends by itself in well under a minute)
set -euo pipefail

die() { echo "demo: error: $*" >&2; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 SENTINEL_BINARY" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces, raw sockets)"
[[ -x $1 ]] || die "sentinel binary '$1' not found or not executable (build it first)"
SENTINEL=$(realpath "$1")
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TOPOLOGY=$HERE/topology.sh
# Debian's interpreter: the python3 on PATH may be another one (pyenv).
PYTHON=/usr/bin/python3
for tool in ip ethtool ping curl sha256sum realpath "$PYTHON"; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done

# The demo board: PREFIX "" gives these names (see topology.sh).
readonly VENDOR_NS=vendor CORE_NS=core VENDOR_PORT=sv-vendor CORE_PORT=sv-core
readonly CORE_V4=198.51.100.1 CORE_V6=2001:db8:51::1
readonly HTTP_PORT=8080 FILE_MIB=20
readonly FORWARDING_TIMEOUT_S=30
readonly METRICS_LISTEN=127.0.0.1:9752

# Headings in bold when a human is watching.
if [[ -t 1 ]]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'; else B='' G='' R='' N=''; fi
step_no=0
step() { step_no=$((step_no + 1)); printf '\n%s[%d] %s%s\n' "$B" "$step_no" "$*" "$N"; }
say() { printf '    %s\n' "$*"; }
indent() { sed -u 's/^/    | /'; }               # quote a program's output
cmd() { printf '    $ %s\n' "$*"; }              # show a command before running it
# Show a command, run it, quote its output; the status is the command's (pipefail).
run_quoted() { cmd "$@"; "$@" 2>&1 | indent; }
failures=0
pass() { printf '    %sPASS%s %s\n' "$G" "$N" "$*"; }
fail() { printf '    %sFAIL%s %s\n' "$R" "$N" "$*"; failures=$((failures + 1)); }

tmp=$(mktemp -d /tmp/sentinel-demo.XXXXXX)
out=$tmp/sentinel.out
sentinel_pid=''
http_pid=''
curl_pid=''

# Stop a background process we started: TERM, up to $2 seconds' grace, then KILL.
stop_pid() {
    local pid=$1 grace=${2:-5} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# Runs on every exit (normal end, failure, Ctrl-C): leave the machine as we found it.
cleanup() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM    # a second Ctrl-C must not interrupt the teardown
    [[ -z $sentinel_pid ]] || stop_pid "$sentinel_pid" 5
    [[ -z $http_pid ]] || stop_pid "$http_pid" 2
    [[ -z $curl_pid ]] || stop_pid "$curl_pid" 2
    printf '\n%s[teardown]%s removing the virtual board\n' "$B" "$N"
    "$TOPOLOGY" down "" 2>&1 | indent || true
    rm -rf "$tmp/www" "$tmp/download.bin"
    if (( rc == 0 )); then
        rm -rf "$tmp"
    else
        say "logs kept in $tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'printf "\ninterrupted\n"; exit 130' INT TERM

step "Build the virtual board: namespaces '$VENDOR_NS' and '$CORE_NS', veth ends '$VENDOR_PORT' and '$CORE_PORT' for the sentinel"
"$TOPOLOGY" up "" | indent
say "The two sides share one subnet but no wire: only the sentinel can carry frames between them."

step "Write a demo config"
mkdir -p "$tmp/log"
cat >"$tmp/sentinel.toml" <<EOF
# Sentinel demo: inline between the vendor and core namespaces, on AF_PACKET ports.
[ports]
vendor = "net_af_packet0,iface=${VENDOR_PORT},framecnt=4096"
core = "net_af_packet1,iface=${CORE_PORT},framecnt=4096"

[dataplane]
workers = 1
hugepages = "off"

[log]
dir = "$tmp/log"
level = "info"
stats_interval = 1

[metrics]
listen = "$METRICS_LISTEN"
EOF
say "$tmp/sentinel.toml:"
indent <"$tmp/sentinel.toml"

step "Start the sentinel in the background"
cmd "$SENTINEL" -c "$tmp/sentinel.toml"
"$SENTINEL" -c "$tmp/sentinel.toml" >"$out" 2>&1 </dev/null &
sentinel_pid=$!
say "output goes to $out; waiting (up to ${FORWARDING_TIMEOUT_S} s) for it to log 'forwarding'"
deadline=$((SECONDS + FORWARDING_TIMEOUT_S))
until grep -q forwarding "$out"; do
    if ! kill -0 "$sentinel_pid" 2>/dev/null; then
        rc=0; wait "$sentinel_pid" || rc=$?
        sentinel_pid=''
        echo "demo: error: the sentinel exited (status $rc) before forwarding; its output:" >&2
        indent <"$out" >&2
        exit 1
    fi
    if (( SECONDS >= deadline )); then
        echo "demo: error: the sentinel did not log 'forwarding' within ${FORWARDING_TIMEOUT_S} s; its output:" >&2
        indent <"$out" >&2
        exit 1
    fi
    sleep 0.2
done
say "sentinel output so far:"
grep -v '^stats:' "$out" | indent || true

step "Ping core from vendor through the sentinel (IPv4, then IPv6)"
# -w: wait up to 10 s for all replies, so a slow first ARP/ND exchange is not a failure.
if run_quoted ip netns exec "$VENDOR_NS" ping -c 5 -i 0.5 -w 10 "$CORE_V4"; then
    pass "IPv4 ping vendor -> core"
else
    fail "IPv4 ping vendor -> core"
fi
if run_quoted ip netns exec "$VENDOR_NS" ping -6 -c 3 -i 0.5 -w 10 "$CORE_V6"; then
    pass "IPv6 ping vendor -> core"
else
    fail "IPv6 ping vendor -> core"
fi

step "Serve a fresh ${FILE_MIB} MiB random file over HTTP from core; download it from vendor"
mkdir -p "$tmp/www"
head -c "$((FILE_MIB * 1024 * 1024))" /dev/urandom >"$tmp/www/random.bin"
want=$(sha256sum <"$tmp/www/random.bin" | cut -d' ' -f1)
say "sha256 of the file on core: $want"
cmd ip netns exec "$CORE_NS" "$PYTHON" -m http.server "$HTTP_PORT" --bind "$CORE_V4" --directory www
ip netns exec "$CORE_NS" "$PYTHON" -m http.server "$HTTP_PORT" --bind "$CORE_V4" \
    --directory "$tmp/www" >"$tmp/http.log" 2>&1 </dev/null &
http_pid=$!
# Ready when it answers inside its own namespace (this does not cross the sentinel).
for _ in $(seq 1 50); do
    ip netns exec "$CORE_NS" curl -s -o /dev/null --max-time 1 "http://$CORE_V4:$HTTP_PORT/" && break
    kill -0 "$http_pid" 2>/dev/null || { indent <"$tmp/http.log"; die "the HTTP server did not start"; }
    sleep 0.2
done
url="http://$CORE_V4:$HTTP_PORT/random.bin"
say "downloading (rate-limited to 5 MB/s so the live counters have time to move):"
cmd ip netns exec "$VENDOR_NS" curl --limit-rate 5M -o download.bin "$url"
ip netns exec "$VENDOR_NS" curl -sS --max-time 40 --limit-rate 5M -o "$tmp/download.bin" "$url" \
    2>"$tmp/curl.err" &
curl_pid=$!
say "the sentinel's live stats lines meanwhile:"
# Follow the sentinel's output until curl ends; stats lines only.
tail -n 0 -s 0.2 --pid="$curl_pid" -f "$out" | grep --line-buffered 'stats:' | indent || true
rc=0; wait "$curl_pid" || rc=$?
curl_pid=''
if (( rc != 0 )); then
    indent <"$tmp/curl.err"
    fail "HTTP download vendor <- core (curl exit $rc)"
else
    got=$(sha256sum <"$tmp/download.bin" | cut -d' ' -f1)
    say "sha256 of the download on vendor: $got"
    if [[ $got == "$want" ]]; then
        pass "${FILE_MIB} MiB over TCP, sha256 matches"
    else
        fail "${FILE_MIB} MiB over TCP, sha256 differs"
    fi
fi
stop_pid "$http_pid" 2; http_pid=''

step "What Prometheus sees: the sentinel's /metrics (management address $METRICS_LISTEN)"
cmd curl -s "http://$METRICS_LISTEN/metrics"
if metrics=$(curl -sf --max-time 5 "http://$METRICS_LISTEN/metrics"); then
    grep -E '^sentinel_(packets_total|port_up|drops_total\{reason="tx_full")' <<<"$metrics" | indent
    forwarded=$(awk '/^sentinel_packets_total\{direction="to_core",verdict="forwarded"\}/ {print $2}' <<<"$metrics")
    if [[ -n $forwarded && $forwarded != 0 ]]; then
        pass "the metrics count the frames that crossed ($forwarded to_core)"
    else
        fail "the metrics show no forwarded frames"
    fi
else
    fail "no /metrics at $METRICS_LISTEN"
fi

step "Stop the sentinel (SIGTERM)"
lines_before=$(wc -l <"$out")
cmd kill -TERM "$sentinel_pid"
kill -TERM "$sentinel_pid" 2>/dev/null || fail "the sentinel had already exited before SIGTERM"
rc=0
for _ in $(seq 1 100); do
    kill -0 "$sentinel_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$sentinel_pid" 2>/dev/null; then
    fail "the sentinel did not exit within 10 s of SIGTERM; killing it"
    kill -KILL "$sentinel_pid" 2>/dev/null || true
fi
wait "$sentinel_pid" || rc=$?
sentinel_pid=''
if (( rc == 0 )); then pass "the sentinel exited with status 0"; else fail "the sentinel exited with status $rc"; fi

step "Ping again: with the sentinel gone, nothing crosses (it is inline, not beside the wire)"
if run_quoted ip netns exec "$VENDOR_NS" ping -c 2 -W 1 "$CORE_V4"; then
    fail "ping still works without the sentinel: something else bridges the two sides"
else
    pass "traffic stopped: as expected"
fi

step "The sentinel's final summary"
tail -n "+$((lines_before + 1))" "$out" | indent

if (( failures == 0 )); then
    printf '\n%sdemo: all checks passed%s\n' "$G" "$N"
else
    printf '\n%sdemo: %d check(s) failed%s\n' "$R" "$failures" "$N"
    exit 1
fi
