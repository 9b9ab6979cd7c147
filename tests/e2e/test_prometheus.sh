#!/usr/bin/env bash
# End-to-end: the sentinel's Prometheus endpoint, read by a real Prometheus server. Builds a
# private virtual board (board/demo/topology.sh) made quiet (IPv6 off and static ARP entries
# in both namespaces, so nothing but this test's datagrams crosses), runs the sentinel with a
# [metrics] listen address and a Prometheus scraping it every second, then checks through
# Prometheus' HTTP API that the target is up, both ports are up, and that exactly N UDP
# datagrams sent vendor -> core raise sentinel_packets_total{direction="to_core",
# verdict="forwarded"} by exactly N. `promtool check metrics` must accept the endpoint's text
# as it is. TAP output; every wait is bounded; runs as root.
#
# Usage: test_prometheus.sh SENTINEL_BINARY
set -euo pipefail

readonly PLAN=11
readonly DATAGRAMS=1000 SRC_PORT=40000 DST_PORT=40001
readonly FORWARDING_TIMEOUT_S=20 PROM_READY_TIMEOUT_S=20 UP_TIMEOUT_S=15 SETTLE_TIMEOUT_S=15
readonly STOP_TIMEOUT_S=10
readonly VENDOR_V4=198.51.100.2 CORE_V4=198.51.100.1
# Debian's interpreter: the python3 on PATH may be another one (pyenv).
readonly PYTHON=/usr/bin/python3
readonly PROMETHEUS=/usr/bin/prometheus PROMTOOL=/usr/bin/promtool
readonly TO_CORE_FORWARDED='sentinel_packets_total{direction="to_core",verdict="forwarded"}'

echo "1..$PLAN"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/tap_lib.sh
source "$HERE/tap_lib.sh"

[[ $# -eq 1 ]] || bail "usage: $0 SENTINEL_BINARY"
e2e_setup "$1" prm ip curl jq awk ss "$PYTHON" "$PROMETHEUS" "$PROMTOOL"


tmp=$(mktemp -d /tmp/sentinel-e2e-prom.XXXXXX)
sentinel_pid='' prom_pid=''

cleanup() {
    local rc=$?
    trap - EXIT
    trap '' INT TERM
    [[ -z $prom_pid ]] || stop_pid "$prom_pid" 5
    [[ -z $sentinel_pid ]] || stop_pid "$sentinel_pid" 5
    "$TOPOLOGY" down "$prefix" >/dev/null 2>&1 || echo "# warning: topology down $prefix failed"
    rm -rf "/var/run/dpdk/sentinel-$prefix"
    if (( failures > 0 )) || (( rc != 0 )); then
        for f in sentinel.stdout sentinel.stderr prometheus.log; do
            if [[ -s $tmp/$f ]]; then
                echo "# $f (last 30 lines):"
                tail -n 30 "$tmp/$f" | diag
            fi
        done
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "# interrupted"; exit 130' INT TERM

now_s() { date +%s.%N; }

# --- the board, made quiet ---------------------------------------------------------------
if "$TOPOLOGY" up "$prefix" >"$tmp/topology.log" 2>&1; then
    diag <"$tmp/topology.log"
    ok "virtual board up (prefix $prefix)"
else
    not_ok "virtual board up (prefix $prefix)"
    diag <"$tmp/topology.log"
    bail "cannot build the virtual board"
fi

ns_mac() { ip netns exec "$1" cat /sys/class/net/eth0/address; }
quiet_board() {
    local ns
    for ns in "$vendor_ns" "$core_ns"; do
        # No IPv6 at all: no router/neighbour solicitations, no MLD reports.
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.eth0.disable_ipv6=1 \
            net.ipv6.conf.lo.disable_ipv6=1 || return 1
    done
    local vmac cmac
    vmac=$(ns_mac "$vendor_ns") && cmac=$(ns_mac "$core_ns") || return 1
    # Static neighbours: no ARP request or reply ever crosses.
    ip -n "$vendor_ns" neigh replace "$CORE_V4" lladdr "$cmac" dev eth0 nud permanent || return 1
    ip -n "$core_ns" neigh replace "$VENDOR_V4" lladdr "$vmac" dev eth0 nud permanent || return 1
    echo "# vendor eth0 $vmac, core eth0 $cmac"
    ip -n "$vendor_ns" neigh show dev eth0 | diag
    ip -n "$core_ns" neigh show dev eth0 | diag
}
check "both namespaces quiet: IPv6 disabled, static ARP entries" quiet_board

# --- the sentinel ------------------------------------------------------------------------
metrics_port=$(free_port) || bail "no free TCP port for the sentinel's metrics"
prom_port=$(free_port "$metrics_port") || bail "no free TCP port for prometheus"
metrics_addr=127.0.0.1:$metrics_port
echo "# sentinel metrics on $metrics_addr, prometheus on 127.0.0.1:$prom_port"

write_config "$metrics_addr"  # no signatures: this test is about metrics
cat >>"$tmp/sentinel.toml" <<EOF

[log]
dir = "$tmp/log"
level = "info"
EOF

start_sentinel

# --- prometheus --------------------------------------------------------------------------
cat >"$tmp/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: sentinel
    scrape_interval: 1s
    scrape_timeout: 1s
    static_configs:
      - targets: ['$metrics_addr']
EOF
mkdir -p "$tmp/tsdb"
"$PROMETHEUS" --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" \
    --web.listen-address="127.0.0.1:$prom_port" >"$tmp/prometheus.log" 2>&1 </dev/null &
prom_pid=$!
prom_url=http://127.0.0.1:$prom_port

# prom_query EXPR: "TIMESTAMP VALUE" of the first series of an instant query, or nothing.
prom_query() {
    curl -sS --max-time 2 "$prom_url/api/v1/query" --data-urlencode "query=$1" 2>>"$tmp/curl.err" |
        jq -r 'select(.status == "success") | .data.result[0].value // empty | "\(.[0]) \(.[1])"' 2>/dev/null
}
# prom_value EXPR: the value only.
prom_value() { prom_query "$1" | awk '{ print $2 }'; }
# wait_value EXPR WANT TIMEOUT_S: until EXPR's value is WANT.
wait_value() {
    local deadline=$((SECONDS + $3))
    while (( SECONDS < deadline )); do
        [[ $(prom_value "$1") == "$2" ]] && return 0
        kill -0 "$prom_pid" 2>/dev/null || return 1
        sleep 0.2
    done
    return 1
}
# settled EXPR AFTER TIMEOUT_S: prints the value once two successive scrapes, both begun
# after the epoch time AFTER, agree (nothing still in flight); fails after TIMEOUT_S.
# An instant query's own timestamp is the evaluation time, not the scrape's: timestamp()
# gives the sample's scrape time, read before and after the value so both belong to the
# same scrape.
settled() {
    local expr=$1 after=$2 deadline=$((SECONDS + $3)) ts ts_again v last_ts='' last_v=''
    while (( SECONDS < deadline )); do
        ts=$(prom_value "timestamp($expr)")
        v=$(prom_value "$expr")
        ts_again=$(prom_value "timestamp($expr)")
        if [[ -n ${ts-} && $ts == "$ts_again" ]] && awk -v t="$ts" -v a="$after" 'BEGIN { exit !(t > a) }'; then
            if [[ -n $last_ts && $ts != "$last_ts" ]]; then
                [[ $v == "$last_v" ]] && { echo "$v"; return 0; }
            fi
            if [[ $ts != "$last_ts" ]]; then last_ts=$ts; last_v=$v; fi
        fi
        sleep 0.2
    done
    return 1
}

prom_ready=0
deadline=$((SECONDS + PROM_READY_TIMEOUT_S))
while (( SECONDS < deadline )); do
    if curl -sf --max-time 1 -o /dev/null "$prom_url/-/ready"; then prom_ready=1; break; fi
    kill -0 "$prom_pid" 2>/dev/null || break
    sleep 0.2
done
if (( prom_ready )) && wait_value 'up{job="sentinel"}' 1 "$UP_TIMEOUT_S"; then
    ok "prometheus scrapes the sentinel: up{job=\"sentinel\"} == 1"
    prom_up=1
else
    not_ok "prometheus scrapes the sentinel: up{job=\"sentinel\"} == 1 (ready=$prom_ready, up=$(prom_value 'up{job="sentinel"}'))"
    curl -sS --max-time 2 "$prom_url/api/v1/targets" 2>&1 | jq -c '.data.activeTargets[]? | {health, lastError}' 2>&1 | diag || true
    prom_up=0
fi

# --- the exposition text as it is --------------------------------------------------------
promtool_check() {
    curl -sS --max-time 5 -o "$tmp/metrics.txt" "http://$metrics_addr/metrics" || return 1
    echo "# /metrics: $(wc -l <"$tmp/metrics.txt") lines, $(wc -c <"$tmp/metrics.txt") bytes"
    local rc=0
    "$PROMTOOL" check metrics <"$tmp/metrics.txt" >"$tmp/promtool.log" 2>&1 || rc=$?
    [[ -s $tmp/promtool.log ]] && diag <"$tmp/promtool.log"
    return "$rc"
}
check "promtool check metrics accepts the sentinel's /metrics" promtool_check

# --- exactly N datagrams vendor -> core --------------------------------------------------
send_datagrams() {
    # One 5-tuple; paced (a pause every 10 datagrams) so no queue on the way can overflow.
    ip netns exec "$vendor_ns" "$PYTHON" - "$VENDOR_V4" "$SRC_PORT" "$CORE_V4" "$DST_PORT" "$DATAGRAMS" <<'PY'
import socket, sys, time
src, sport, dst, dport, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((src, sport))
sent = 0
for i in range(count):
    if s.sendto(b"sentinel-prometheus-%06d" % i, (dst, dport)) > 0:
        sent += 1
    if i % 10 == 9:
        time.sleep(0.001)
print(sent)
sys.exit(0 if sent == count else 1)
PY
}

if (( forwarding && prom_up )); then
    # Baseline: two scrapes begun after now agree (the counter is at rest).
    before=$(settled "$TO_CORE_FORWARDED" "$(now_s)" "$SETTLE_TIMEOUT_S") || before=''
    echo "# to_core forwarded before: ${before:-none}"
    sent=$(send_datagrams 2>"$tmp/send.err") || sent="failed (${sent:-0} sent): $(tr '\n' ' ' <"$tmp/send.err")"
    sent_at=$(now_s)
    if [[ $sent == "$DATAGRAMS" ]]; then
        ok "sent $DATAGRAMS UDP datagrams $VENDOR_V4:$SRC_PORT -> $CORE_V4:$DST_PORT"
    else
        not_ok "sent $DATAGRAMS UDP datagrams $VENDOR_V4:$SRC_PORT -> $CORE_V4:$DST_PORT ($sent)"
    fi
    after=$(settled "$TO_CORE_FORWARDED" "$sent_at" "$SETTLE_TIMEOUT_S") || after=''
    echo "# to_core forwarded after: ${after:-none}"
    if [[ -n $before && -n $after ]] && (( after - before == DATAGRAMS )); then
        ok "through prometheus: to_core forwarded rose by exactly $DATAGRAMS"
    else
        not_ok "through prometheus: to_core forwarded rose by exactly $DATAGRAMS (before ${before:-none}, after ${after:-none})"
    fi
    for q in 'sentinel_packets_total{direction="to_core",verdict="dropped"}' \
        'sentinel_packets_total{direction="to_vendor",verdict="forwarded"}' \
        'sentinel_packets_total{direction="to_vendor",verdict="dropped"}' \
        'sentinel_port_receive_packets_total{port="vendor"}' \
        'sentinel_port_transmit_packets_total{port="core"}'; do
        echo "# $q = $(prom_value "$q")"
    done
    check 'through prometheus: up{job="sentinel"} == 1' wait_value 'up{job="sentinel"}' 1 3
    for side in vendor core; do
        check "through prometheus: sentinel_port_up{port=\"$side\"} == 1" \
            wait_value "sentinel_port_up{job=\"sentinel\",port=\"$side\"}" 1 3
    done
else
    for what in "sent $DATAGRAMS UDP datagrams" "through prometheus: to_core forwarded rose by exactly $DATAGRAMS" \
        'through prometheus: up{job="sentinel"} == 1' \
        'through prometheus: sentinel_port_up{port="vendor"} == 1' \
        'through prometheus: sentinel_port_up{port="core"} == 1'; do
        not_ok "$what (sentinel not forwarding or not scraped)"
    done
fi

# --- stop ----------------------------------------------------------------------------------
stop_pid "$prom_pid" 5
prom_pid=''

stop_sentinel

(( n == PLAN )) || { echo "# internal error: ran $n assertions, planned $PLAN"; failures=$((failures + 1)); }
(( failures == 0 )) || exit 1
