#!/usr/bin/env bash
# End-to-end: the sentinel as a transparent inline bridge. Builds a private virtual board
# (namespaces <prefix>vendor / <prefix>core, see board/demo/topology.sh), runs the sentinel
# on the two root-side veth ends, and checks that real ICMP (v4, v6) and TCP cross it, that
# it stops cleanly on SIGTERM with a summary, and that nothing crosses once it is gone
# (inline, not beside the wire). TAP output; every wait is bounded; runs as root.
#
# Usage: test_bridge.sh SENTINEL_BINARY
set -euo pipefail

readonly PLAN=9
readonly FORWARDING_TIMEOUT_S=20 STOP_TIMEOUT_S=10 FILE_MIB=5 HTTP_PORT=8080
readonly CORE_V4=198.51.100.1 CORE_V6=2001:db8:51::1
# Debian's interpreter: the python3 on PATH may be another one (pyenv).
readonly PYTHON=/usr/bin/python3

echo "1..$PLAN"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/tap_lib.sh
source "$HERE/tap_lib.sh"

[[ $# -eq 1 ]] || bail "usage: $0 SENTINEL_BINARY"
e2e_setup "$1" e2e ip ethtool ping curl sha256sum ss "$PYTHON"


tmp=$(mktemp -d /tmp/sentinel-e2e.XXXXXX)
sentinel_pid='' http_pid='' curl_pid=''

cleanup() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM
    [[ -z $sentinel_pid ]] || stop_pid "$sentinel_pid" 5
    [[ -z $http_pid ]] || stop_pid "$http_pid" 2
    [[ -z $curl_pid ]] || stop_pid "$curl_pid" 2
    "$TOPOLOGY" down "$prefix" >/dev/null 2>&1 || echo "# warning: topology down $prefix failed"
    # EAL leaves its runtime files (~2 MB on tmpfs) behind; this run's prefix is ours alone.
    rm -rf "/var/run/dpdk/sentinel-$prefix"
    if (( failures > 0 )) || (( rc != 0 )); then
        for f in stdout stderr; do
            if [[ -s $tmp/sentinel.$f ]]; then
                echo "# sentinel $f (last 40 lines):"
                tail -n 40 "$tmp/sentinel.$f" | diag
            fi
        done
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "# interrupted"; exit 130' INT TERM

# --- the board -----------------------------------------------------------------------
if "$TOPOLOGY" up "$prefix" >"$tmp/topology.log" 2>&1; then
    diag <"$tmp/topology.log"
    ok "virtual board up (prefix $prefix)"
else
    not_ok "virtual board up (prefix $prefix)"
    diag <"$tmp/topology.log"
    bail "cannot build the virtual board"
fi

# --- the sentinel (no signatures: this test is about forwarding) ------------------------
# Its own metrics port, so the test runs beside the demo or another sentinel.
metrics_port=$(free_port) || bail "no free TCP port for the sentinel's metrics"
write_config "127.0.0.1:${metrics_port}"
cat >>"$tmp/sentinel.toml" <<EOF

[log]
dir = "$tmp/log"
level = "info"
stats_interval = 1
EOF

start_sentinel

# --- traffic through it ----------------------------------------------------------------
# -w: wait up to 5 s for all 3 replies, so a slow first ARP/ND exchange is not a failure.
ping_ok() { ip netns exec "$vendor_ns" ping "$@" >"$tmp/ping.log" 2>&1 || { diag <"$tmp/ping.log"; return 1; }; }

http_download() {
    mkdir -p "$tmp/www"
    head -c "$((FILE_MIB * 1024 * 1024))" /dev/urandom >"$tmp/www/random.bin"
    ip netns exec "$core_ns" "$PYTHON" -m http.server "$HTTP_PORT" --bind "$CORE_V4" \
        --directory "$tmp/www" >"$tmp/http.log" 2>&1 </dev/null &
    http_pid=$!
    # Ready when it answers inside its own namespace (this does not cross the sentinel).
    local ready=0
    for _ in $(seq 1 25); do
        if ip netns exec "$core_ns" curl -s -o /dev/null --max-time 1 "http://$CORE_V4:$HTTP_PORT/"; then
            ready=1; break
        fi
        kill -0 "$http_pid" 2>/dev/null || break
        sleep 0.2
    done
    if (( ! ready )); then echo "# HTTP server did not start:"; diag <"$tmp/http.log"; return 1; fi

    local rc=0
    ip netns exec "$vendor_ns" curl -sS --connect-timeout 5 --max-time 20 \
        -o "$tmp/download.bin" "http://$CORE_V4:$HTTP_PORT/random.bin" 2>"$tmp/curl.err" &
    curl_pid=$!
    wait "$curl_pid" || rc=$?
    curl_pid=''
    stop_pid "$http_pid" 2; http_pid=''
    if (( rc != 0 )); then echo "# curl exit $rc:"; diag <"$tmp/curl.err"; return 1; fi
    local want got
    want=$(sha256sum <"$tmp/www/random.bin" | cut -d' ' -f1)
    got=$(sha256sum <"$tmp/download.bin" | cut -d' ' -f1)
    echo "# sha256 sent $want"
    echo "# sha256 got  $got"
    [[ $want == "$got" ]]
}

stats_seen() { # a line by now, or within 3 more intervals
    local _
    for _ in $(seq 1 30); do
        grep -q '^stats:' "$tmp/sentinel.stdout" && return 0
        sleep 0.1
    done
    return 1
}

if (( forwarding )); then
    check "IPv4 ping vendor -> core" ping_ok -c 3 -i 0.2 -w 5 "$CORE_V4"
    check "IPv6 ping vendor -> core" ping_ok -6 -c 3 -i 0.2 -w 5 "$CORE_V6"
    check "TCP: ${FILE_MIB} MiB HTTP download core -> vendor, sha256 equal" http_download
    check "live 'stats:' lines on stdout (stats_interval = 1)" stats_seen
else
    for what in "IPv4 ping vendor -> core" "IPv6 ping vendor -> core" \
        "TCP: ${FILE_MIB} MiB HTTP download core -> vendor, sha256 equal" \
        "live 'stats:' lines on stdout (stats_interval = 1)"; do
        not_ok "$what (sentinel not forwarding)"
    done
fi

# --- stop it ---------------------------------------------------------------------------
stop_sentinel

if grep -qi summary "$tmp/sentinel.stdout"; then
    ok "final summary on stdout"
    grep -v '^stats:' "$tmp/sentinel.stdout" | tail -n 20 | diag
elif grep -qi summary "$tmp/sentinel.stderr"; then
    not_ok "final summary on stdout (found on stderr only)"
else
    not_ok "final summary on stdout (no line contains 'summary')"
fi

# --- inline: without the sentinel nothing crosses ----------------------------------------
if ip netns exec "$vendor_ns" ping -c 2 -W 1 "$CORE_V4" >"$tmp/ping.log" 2>&1; then
    not_ok "ping vendor -> core fails once the sentinel is gone"
    diag <"$tmp/ping.log"
else
    ok "ping vendor -> core fails once the sentinel is gone"
fi

(( n == PLAN )) || { echo "# internal error: ran $n assertions, planned $PLAN"; failures=$((failures + 1)); }
(( failures == 0 )) || exit 1
