#!/usr/bin/env bash
# End-to-end: the communication policy and anti-spoofing on the live bridge. Builds a private
# virtual board (board/demo/topology.sh) and gives the core namespace a second address per
# family, with an HTTP server on each address: the policy (default drop) lets the vendor side
# reach only the first. Checks that the allowed server answers (IPv4 and IPv6, content
# verified, so ARP and neighbour discovery cross as well), that a connection to the second
# one fails with exactly one policy alert per flow although the SYN is retransmitted, that a
# from = "core" ICMP allow lets core ping the vendor box while the vendor box cannot ping
# core, that a non-IP ethertype outside [policy.l2] is dropped with one alert, that the
# metrics count it all, and that frames sent from the vendor namespace with a source outside
# [network] vendor_nets are dropped as spoofed_source although an allow would let their
# flow through. TAP output; every wait is bounded; runs as root in well under 60 s.
#
# Usage: test_policy.sh SENTINEL_BINARY
set -euo pipefail

readonly PLAN=22
readonly FORWARDING_TIMEOUT_S=20 STOP_TIMEOUT_S=10 ALERT_TIMEOUT_S=5
readonly HTTP_PORT=8080 UDP_PORT=5140
# The board's addresses (topology.sh) and the second pair this test adds to core.
readonly VENDOR_V4=198.51.100.2 VENDOR_V6=2001:db8:51::2
readonly CORE_V4=198.51.100.1 CORE_V6=2001:db8:51::1
readonly OTHER_V4=198.51.100.3 OTHER_V6=2001:db8:51::3
# Sources the vendor box does not own: outside the subnet, and inside it (the subnet is
# shared with core, which is why vendor_nets lists host routes and not the /24).
readonly SPOOF_SOURCES=(203.0.113.66 198.51.100.77 2001:db8:99::66)
readonly SPOOF_FRAMES_EACH=3
# How long curl waits for the unlisted server: long enough for the kernel to retransmit
# the SYN at least once (after 1 s; then after 2 s, or 3 s on kernels before 6.5), so the
# test sees that a flow gets one alert, not one per SYN.
readonly BLOCKED_CONNECT_TIMEOUT_S=4
readonly POLICY_SID=1000042
readonly ALLOWS=3
# Debian's interpreter: the python3 on PATH may be another one (pyenv).
readonly PYTHON=/usr/bin/python3

echo "1..$PLAN"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/tap_lib.sh
source "$HERE/tap_lib.sh"

[[ $# -eq 1 ]] || bail "usage: $0 SENTINEL_BINARY"
e2e_setup "$1" pol ip ethtool ping curl awk ss "$PYTHON"

tmp=$(mktemp -d /tmp/sentinel-e2e-policy.XXXXXX)
sentinel_pid=''
bg_pids=()   # servers, listeners and clients in the namespaces

cleanup() {
    local rc=$? pid
    trap - EXIT
    trap '' INT TERM
    [[ -z $sentinel_pid ]] || stop_pid "$sentinel_pid" 5
    for pid in "${bg_pids[@]}"; do stop_pid "$pid" 2; done
    "$TOPOLOGY" down "$prefix" >/dev/null 2>&1 || echo "# warning: topology down $prefix failed"
    rm -rf "/var/run/dpdk/sentinel-$prefix"
    if (( failures > 0 )) || (( rc != 0 )); then
        for f in sentinel.stdout sentinel.stderr log/eve.json; do
            if [[ -s $tmp/$f ]]; then
                echo "# $f (last 40 lines):"
                tail -n 40 "$tmp/$f" | diag
            fi
        done
    fi
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'echo "# interrupted"; exit 130' INT TERM

# --- the board -----------------------------------------------------------------------
if "$TOPOLOGY" up "$prefix" >"$tmp/topology.log" 2>&1 &&
    ip -n "$core_ns" addr add "$OTHER_V4/24" dev eth0 &&
    ip -n "$core_ns" -6 addr add "$OTHER_V6/64" dev eth0 nodad; then
    diag <"$tmp/topology.log"
    ok "virtual board up (prefix $prefix), core also at $OTHER_V4 and $OTHER_V6"
else
    not_ok "virtual board up (prefix $prefix)"
    diag <"$tmp/topology.log"
    bail "cannot build the virtual board"
fi

# --- servers in core: one page per address, so a response names the server that sent it --
for addr in "$CORE_V4" "$CORE_V6" "$OTHER_V4" "$OTHER_V6"; do
    mkdir -p "$tmp/www-$addr"
    echo "served by $addr" >"$tmp/www-$addr/index.html"
    ip netns exec "$core_ns" "$PYTHON" -m http.server "$HTTP_PORT" --bind "$addr" \
        --directory "$tmp/www-$addr" >"$tmp/http-$addr.log" 2>&1 </dev/null &
    bg_pids+=($!)
done
# A UDP listener on both families: every datagram it receives, with its source.
cat >"$tmp/udp_listen.py" <<'EOF'
import socket
import sys

s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
s.bind(("::", int(sys.argv[1])))
with open(sys.argv[2], "a", encoding="utf-8") as log:
    while True:
        data, peer = s.recvfrom(2048)
        source = peer[0].removeprefix("::ffff:")
        print(f"{source} {data.decode(errors='replace')}", file=log, flush=True)
EOF
ip netns exec "$core_ns" "$PYTHON" "$tmp/udp_listen.py" "$UDP_PORT" "$tmp/udp.log" \
    >"$tmp/udp_listen.err" 2>&1 </dev/null &
bg_pids+=($!)
: >"$tmp/udp.log"

url() { if [[ $1 == *:* ]]; then echo "http://[$1]:$HTTP_PORT/"; else echo "http://$1:$HTTP_PORT/"; fi; }
servers_ready() { # each answers inside its own namespace (this does not cross the sentinel)
    local addr _
    for addr in "$CORE_V4" "$CORE_V6" "$OTHER_V4" "$OTHER_V6"; do
        for _ in $(seq 1 25); do
            ip netns exec "$core_ns" curl -s -o /dev/null --max-time 1 "$(url "$addr")" && continue 2
            sleep 0.2
        done
        echo "# the HTTP server on $addr did not start:"
        diag <"$tmp/http-$addr.log"
        return 1
    done
}
check "HTTP servers on $CORE_V4, $CORE_V6, $OTHER_V4, $OTHER_V6 answer inside core" servers_ready

# --- the policy and the sentinel -------------------------------------------------------
mkdir -p "$tmp/log" "$tmp/rules.d"
cat >"$tmp/rules.d/policy.toml" <<EOF
[policy]
mode = "enforce"
default = "drop"
default_sid = $POLICY_SID

[[allow]]
name = "vendor to the first core web server"
from = "vendor"
proto = "tcp"
dst_nets = ["$CORE_V4/32", "$CORE_V6/128"]
dst_ports = [$HTTP_PORT]

[[allow]]
# Any source: only anti-spoofing keeps a forged one out (the spoofing checks rely on it).
name = "vendor syslog to core"
from = "vendor"
proto = "udp"
dst_nets = ["$CORE_V4/32", "$CORE_V6/128"]
dst_ports = [$UDP_PORT]

[[allow]]
name = "core pings the vendor box"
from = "core"
proto = "icmp"
dst_nets = ["$VENDOR_V4/32"]

[policy.l2]
allow_ethertypes = ["arp"]
EOF
metrics_port=$(free_port) || bail "no free TCP port for the sentinel's metrics"
write_config "127.0.0.1:${metrics_port}"
cat >>"$tmp/sentinel.toml" <<EOF

[log]
dir = "$tmp/log"
level = "info"

[network]
# The vendor box's own addresses: the board's subnet is shared with core.
vendor_nets = ["$VENDOR_V4/32", "$VENDOR_V6/128"]
EOF

start_sentinel
(( forwarding )) || bail "the sentinel is not forwarding"

# --- helpers ---------------------------------------------------------------------------
metrics() { curl -sf --max-time 5 "http://127.0.0.1:${metrics_port}/metrics"; }
# metric_value 'NAME{LABELS}': the sample's value, or nothing when it is absent.
metric_value() { { metrics || true; } | awk -v key="$1" '$1 == key { print $2 }'; }

# Policy alerts (gid 2) in eve.json whose signature contains every argument, one compact
# JSON object per line.
cat >"$tmp/policy_alerts.py" <<'EOF'
import json
import sys

path, words = sys.argv[1], sys.argv[2:]
try:
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line still being written
            alert = event.get("alert", {})
            if event.get("event_type") == "alert" and alert.get("gid") == 2 \
                    and all(w in alert.get("signature", "") for w in words):
                print(json.dumps(event, ensure_ascii=False))
except FileNotFoundError:
    pass
EOF
policy_alerts() { "$PYTHON" "$tmp/policy_alerts.py" "$tmp/log/eve.json" "$@"; }
# exactly_one_alert WORDS...: waits (bounded) for a matching alert, then lets the writer
# settle and requires exactly one.
exactly_one_alert() {
    local deadline=$((SECONDS + ALERT_TIMEOUT_S)) count
    until [[ -n $(policy_alerts "$@") ]] || (( SECONDS >= deadline )); do sleep 0.2; done
    sleep 0.5
    policy_alerts "$@" >"$tmp/alerts.txt"
    count=$(wc -l <"$tmp/alerts.txt")
    diag <"$tmp/alerts.txt"
    if (( count != 1 )); then echo "# $count matching policy alert(s), expected 1"; return 1; fi
}

get_page() { # get_page ADDR: vendor fetches the page of the server on ADDR
    local addr=$1 rc=0 body
    body=$(ip netns exec "$vendor_ns" curl -sS --connect-timeout 5 --max-time 10 "$(url "$addr")" \
        2>"$tmp/curl.err") || rc=$?
    if (( rc != 0 )); then echo "# curl exit $rc:"; diag <"$tmp/curl.err"; return 1; fi
    echo "# got: $body"
    [[ $body == "served by $addr" ]]
}

# --- allowed and unlisted servers --------------------------------------------------------
check "vendor -> allowed server $CORE_V4:$HTTP_PORT: HTTP GET, content verified" get_page "$CORE_V4"
check "vendor -> allowed server [$CORE_V6]:$HTTP_PORT: HTTP GET, content verified" get_page "$CORE_V6"

# Both unlisted servers at once (each waits out its connect timeout).
blocked_pids=()
for addr in "$OTHER_V4" "$OTHER_V6"; do
    ip netns exec "$vendor_ns" curl -sS --connect-timeout "$BLOCKED_CONNECT_TIMEOUT_S" \
        --max-time $((BLOCKED_CONNECT_TIMEOUT_S + 2)) -o /dev/null "$(url "$addr")" \
        2>"$tmp/curl-$addr.err" &
    blocked_pids+=($!)
    bg_pids+=($!)
done
blocked_rc=()
for pid in "${blocked_pids[@]}"; do
    rc=0; wait "$pid" || rc=$?
    blocked_rc+=("$rc")
done
blocked() { # blocked ADDR RC: curl timed out connecting (28), and the server saw nobody
    local addr=$1 rc=$2
    diag <"$tmp/curl-$addr.err"
    if (( rc != 28 )); then echo "# curl exit $rc, expected 28 (connect timeout)"; return 1; fi
    # Its log has one line per request, opening with the client's address.
    if grep -E "^($VENDOR_V4|$VENDOR_V6) " "$tmp/http-$addr.log" >"$tmp/leaked.log"; then
        echo "# the server on $addr logged requests from the vendor box:"
        diag <"$tmp/leaked.log"
        return 1
    fi
}
check "vendor -> unlisted server $OTHER_V4:$HTTP_PORT: connection fails (curl exit ${blocked_rc[0]})" \
    blocked "$OTHER_V4" "${blocked_rc[0]}"
check "vendor -> unlisted server [$OTHER_V6]:$HTTP_PORT: connection fails (curl exit ${blocked_rc[1]})" \
    blocked "$OTHER_V6" "${blocked_rc[1]}"

# One alert per flow: each curl's SYN was retransmitted (at least 2 drops per flow).
policy_drops=$(metric_value 'sentinel_drops_total{reason="policy"}')
if (( ${policy_drops:-0} >= 4 )); then
    ok "the retransmitted SYNs were dropped too (drops{reason=\"policy\"} = $policy_drops, >= 4)"
else
    not_ok "the retransmitted SYNs were dropped too (drops{reason=\"policy\"} = ${policy_drops:-absent}, expected >= 4)"
fi
v4_alert="policy: vendor → $OTHER_V4:$HTTP_PORT/tcp not allowed"
v6_alert="policy: vendor → [$OTHER_V6]:$HTTP_PORT/tcp not allowed"
alert_is_blocked() { # the single alert in $tmp/alerts.txt: our sid, blocked, dropped
    "$PYTHON" -c '
import json, sys
e = json.loads(open(sys.argv[1]).readline())
ok = e["alert"]["signature_id"] == int(sys.argv[2]) and e["alert"]["action"] == "blocked" \
    and e["sentinel"]["verdict"] == "dropped" and e["in_iface"] == "vendor"
sys.exit(0 if ok else 1)' "$tmp/alerts.txt" "$POLICY_SID"
}
one_blocked_alert() { exactly_one_alert "$@" && alert_is_blocked; }
check "exactly one alert '$v4_alert' (gid 2, sid $POLICY_SID, blocked)" one_blocked_alert "$v4_alert"
check "exactly one alert '$v6_alert' (gid 2, sid $POLICY_SID, blocked)" one_blocked_alert "$v6_alert"
no_alert_for_allowed() {
    policy_alerts "$CORE_V4:$HTTP_PORT/" >"$tmp/alerts.txt"
    policy_alerts "[$CORE_V6]:$HTTP_PORT/" >>"$tmp/alerts.txt"
    [[ ! -s $tmp/alerts.txt ]] || { diag <"$tmp/alerts.txt"; return 1; }
}
check "no policy alert for the allowed server" no_alert_for_allowed

# --- direction: core may ping the vendor box, the vendor box may not ping core -----------
# Two address pairs, so that each order is tried on a pair with no ICMP flow yet: an ICMP
# echo is its own flow (its identifier), not the pair of addresses. Otherwise core's allowed
# ping would open the way for any ICMP from the vendor box to that address (the "reply
# direction"), and a refused ping from the vendor box would block core's allowed one.
ping_from() { # ping_from NS ARGS...
    local ns=$1; shift
    ip netns exec "$ns" ping "$@" >"$tmp/ping.log" 2>&1 || { diag <"$tmp/ping.log"; return 1; }
}
vendor_ping_refused() { # vendor_ping_refused ADDR: no reply, and one alert for the flow
    if ip netns exec "$vendor_ns" ping -c 2 -i 0.2 -W 1 "$1" >"$tmp/ping.log" 2>&1; then
        echo "# the vendor box got replies from $1:"
        diag <"$tmp/ping.log"
        return 1
    fi
    exactly_one_alert "policy: vendor → $1/icmp type 8 not allowed"
}
check "core ($OTHER_V4) -> vendor ping (from = \"core\" icmp allow)" \
    ping_from "$core_ns" -I "$OTHER_V4" -c 3 -i 0.2 -w 5 "$VENDOR_V4"
check "vendor -> $OTHER_V4 ping fails right after core's ping from it, one alert" \
    vendor_ping_refused "$OTHER_V4"
check "vendor -> $CORE_V4 ping fails (no allow for that direction), one alert" \
    vendor_ping_refused "$CORE_V4"
check "core ($CORE_V4) -> vendor ping still works right after the vendor's refused one" \
    ping_from "$core_ns" -I "$CORE_V4" -c 3 -i 0.2 -w 5 "$VENDOR_V4"

# --- ARP crossed: the vendor box learned core's MAC through the sentinel ------------------
arp_learned() {
    local want got
    want=$(ip netns exec "$core_ns" cat /sys/class/net/eth0/address)
    got=$(ip -n "$vendor_ns" neigh show "$CORE_V4" dev eth0 | awk '{ for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1) }')
    echo "# core's eth0 $want; vendor's neighbour entry for $CORE_V4: ${got:-none}"
    [[ -n $want && $got == "$want" ]]
}
check "ARP crossed: the vendor box resolved $CORE_V4 to core's MAC" arp_learned

# --- raw frames from the vendor namespace: a non-IP ethertype, forged and genuine sources -
cat >"$tmp/send_frames.py" <<'EOF'
# send_frames.py DST_MAC COUNT lldp | udp SRC DST PORT TAG: COUNT raw frames out of eth0.
import ipaddress
import socket
import struct
import sys


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def udp_frame(src, dst, port, payload):
    src, dst = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    length = 8 + len(payload)
    pseudo = src.packed + dst.packed
    pseudo += struct.pack("!BBH", 0, 17, length) if src.version == 4 else struct.pack("!IxxxB", length, 17)
    udp = struct.pack("!HHHH", 40000, port, length, 0) + payload
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    if src.version == 4:
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 1, 0, 64, 17, 0, src.packed, dst.packed)
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        return 0x0800, ip + udp
    ip = struct.pack("!IHBB16s16s", 6 << 28, length, 17, 64, src.packed, dst.packed)
    return 0x86DD, ip + udp


dst_mac, count, kind = bytes.fromhex(sys.argv[1].replace(":", "")), int(sys.argv[2]), sys.argv[3]
src_mac = bytes.fromhex(open("/sys/class/net/eth0/address").read().strip().replace(":", ""))
if kind == "lldp":
    # Chassis id (MAC), port id, TTL, end: a minimal LLDPDU.
    ethertype, payload = 0x88CC, bytes([0x02, 0x07, 0x04]) + src_mac + bytes([0x04, 0x02, 0x07, 0x31, 0x06, 0x02, 0, 120, 0, 0])
    dst_mac = bytes.fromhex("0180c200000e")
else:
    ethertype, payload = udp_frame(sys.argv[4], sys.argv[5], int(sys.argv[6]), sys.argv[7].encode())
frame = dst_mac + src_mac + struct.pack("!H", ethertype) + payload
frame += b"\0" * max(0, 60 - len(frame))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for _ in range(count):
    s.send(frame)
EOF
core_mac=$(ip netns exec "$core_ns" cat /sys/class/net/eth0/address)
send_frames() { ip netns exec "$vendor_ns" "$PYTHON" "$tmp/send_frames.py" "$core_mac" "$@"; }

send_frames 3 lldp || echo "# sending the LLDP frames failed"
check "LLDP (not in [policy.l2] allow_ethertypes): one alert for 3 frames" \
    exactly_one_alert "policy: vendor → ethertype 0x88cc (lldp) not allowed"

# Anti-spoofing. Genuine sources first: the UDP allow lets them through, so the listener
# and the raw path are proven, and nothing so far counted as spoofed (ND's fe80::/:: exempt).
spoofed_before=$(metric_value 'sentinel_drops_total{reason="spoofed_source"}')
if [[ $spoofed_before == 0 ]]; then
    ok "no spoofed_source drop from genuine traffic (ARP, ND, HTTP, ping)"
else
    not_ok "no spoofed_source drop from genuine traffic (drops{reason=\"spoofed_source\"} = ${spoofed_before:-absent})"
fi
send_frames 1 udp "$VENDOR_V4" "$CORE_V4" "$UDP_PORT" genuine-v4 || echo "# sending failed"
send_frames 1 udp "$VENDOR_V6" "$CORE_V6" "$UDP_PORT" genuine-v6 || echo "# sending failed"
for src in "${SPOOF_SOURCES[@]}"; do
    if [[ $src == *:* ]]; then dst=$CORE_V6; else dst=$CORE_V4; fi
    send_frames "$SPOOF_FRAMES_EACH" udp "$src" "$dst" "$UDP_PORT" "spoofed-from-$src" ||
        echo "# sending from $src failed"
done
want_spoofed=$(( ${#SPOOF_SOURCES[@]} * SPOOF_FRAMES_EACH ))
spoof_counted() {
    local got _
    for _ in $(seq 1 20); do   # the counter is read at scrape time; allow the worker a moment
        got=$(metric_value 'sentinel_drops_total{reason="spoofed_source"}')
        [[ $got == "$want_spoofed" ]] && break
        sleep 0.1
    done
    echo "# drops{reason=\"spoofed_source\"} = ${got:-absent} (expected $want_spoofed)"
    [[ $got == "$want_spoofed" ]]
}
check "spoofed sources ${SPOOF_SOURCES[*]}: all $want_spoofed frames dropped as spoofed_source" spoof_counted
udp_received() {
    local _
    for _ in $(seq 1 20); do
        [[ $(grep -c genuine "$tmp/udp.log") -ge 2 ]] && break
        sleep 0.1
    done
    sleep 0.2
    diag <"$tmp/udp.log"
    grep -qx "$VENDOR_V4 genuine-v4" "$tmp/udp.log" && grep -qx "$VENDOR_V6 genuine-v6" "$tmp/udp.log" &&
        ! grep -q spoofed "$tmp/udp.log"
}
check "core received the genuine datagrams (v4, v6) and none of the spoofed ones" udp_received

# --- metrics -----------------------------------------------------------------------------
metrics_ok() {
    local loaded violations allowed
    loaded=$(metric_value 'sentinel_rules_loaded{kind="allow"}')
    violations=$(metric_value 'sentinel_policy_flows_total{decision="violation"}')
    allowed=$(metric_value 'sentinel_policy_flows_total{decision="allowed"}')
    echo "# rules_loaded{kind=\"allow\"} = ${loaded:-absent}, policy_flows_total violation ${violations:-absent}, allowed ${allowed:-absent}"
    # Violations: the two TCP flows, the ping flow to $CORE_V4 and the LLDP source at least (IPv6 multicast
    # listener reports, which are not neighbour discovery, may add more).
    [[ $loaded == "$ALLOWS" ]] && (( ${violations:-0} >= 4 )) && (( ${allowed:-0} >= 4 ))
}
check "metrics: rules_loaded{kind=\"allow\"} = $ALLOWS, violations >= 4, allowed >= 4" metrics_ok

# --- stop it -----------------------------------------------------------------------------
stop_sentinel

(( n == PLAN )) || { echo "# internal error: ran $n assertions, planned $PLAN"; failures=$((failures + 1)); }
(( failures == 0 )) || exit 1
