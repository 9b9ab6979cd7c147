#!/usr/bin/env bash
# End-to-end: hot reload of the rules under traffic. Builds a private virtual board
# (board/demo/topology.sh) with IPv6 off and static ARP entries in both namespaces, so that
# the only frames crossing it are the test's own. A TCP connection opened before a reload
# keeps being forwarded and is scanned by the new rules from its next segment on. Then a
# paced sender in the vendor namespace sends UDP to core the whole time while the test
# rewrites the rule file 100 times, alternating valid files and invalid ones (TOML syntax,
# unknown key, bad pcre, duplicate sid, bad value, missing key), each written elsewhere and
# moved into place. After each rewrite it waits, by polling the metrics, for the generation
# (valid) or the failure count (invalid) to move, and proves with marker frames which rule
# set is in force. At the end every frame the sender counted is accounted for: received on
# the far side, or dropped by the sentinel (by reason), or missed by its port. TAP output;
# every wait is bounded; runs as root, in about 20 s on an idle machine (the rewrites take
# some 10 s of it) and about a minute on a loaded one.
#
# Usage: test_reload.sh SENTINEL_BINARY
set -euo pipefail

readonly PLAN=24
readonly FORWARDING_TIMEOUT_S=20 STOP_TIMEOUT_S=10
# Bounds on the polls: a reload (debounce + build + publish), a verdict on a marker frame
# (or an alert reaching eve.json), the drain of the board once the sender stops.
readonly RELOAD_TIMEOUT_S=10 VERDICT_TIMEOUT_S=5 DRAIN_TIMEOUT_S=10
readonly REWRITES=100 DEBOUNCE_MS=20
# Failed steps after which the rewrites stop (each can cost a timeout: the test stays bounded).
readonly MAX_FAILED=5
# The paced background: frames per second, UDP from vendor to core.
readonly RATE=3000
# A drop blocks the rest of its flow (README: reasons signature, then flow_blocked), so each
# marker frame comes from a source port of its own: MARK_SPORT + its number.
readonly BG_PORT=5201 BG_SPORT=40000 MARK_SPORT=41000 TCP_PORT=5301
readonly VENDOR_V4=198.51.100.2 CORE_V4=198.51.100.1
# Signature ids: marker k (RELOAD-MARK-kkkk) has sid SID_BASE + k; the TCP rule its own.
readonly SID_BASE=1000000 TCP_SID=1900001
readonly TCP_MARKER=TCP-RELOAD-MARKER-5e1f
# Debian's interpreter: the python3 on PATH may be another one (pyenv).
readonly PYTHON=/usr/bin/python3

echo "1..$PLAN"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=tests/e2e/tap_lib.sh
source "$HERE/tap_lib.sh"

[[ $# -eq 1 ]] || bail "usage: $0 SENTINEL_BINARY"
e2e_setup "$1" rld ip ethtool awk ss sort "$PYTHON"

tmp=$(mktemp -d /tmp/sentinel-e2e-reload.XXXXXX)
sentinel_pid=''
bg_pids=()   # the sink, the TCP server and client, the sender

cleanup() {
    local rc=$? pid
    trap - EXIT
    trap '' INT TERM
    exec 4>&- 5>&- 6>&- 8<&- 2>/dev/null || true
    [[ -z $sentinel_pid ]] || stop_pid "$sentinel_pid" 5
    for pid in "${bg_pids[@]}"; do stop_pid "$pid" 2; done
    "$TOPOLOGY" down "$prefix" >/dev/null 2>&1 || echo "# warning: topology down $prefix failed"
    rm -rf "/var/run/dpdk/sentinel-$prefix"
    if (( failures > 0 )) || (( rc != 0 )); then
        for f in sentinel.stdout sentinel.stderr log/eve.json sender.err tcp_client.log tcp_server.err; do
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

# --- the board: IPv6 off, static ARP, so the namespaces' kernels say nothing unasked -----
quiet_board() {
    local ns
    for ns in "$vendor_ns" "$core_ns"; do
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 \
            net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.eth0.disable_ipv6=1 || return 1
    done
    vendor_mac=$(ip netns exec "$vendor_ns" cat /sys/class/net/eth0/address)
    core_mac=$(ip netns exec "$core_ns" cat /sys/class/net/eth0/address)
    ip -n "$vendor_ns" neigh replace "$CORE_V4" lladdr "$core_mac" dev eth0 nud permanent &&
        ip -n "$core_ns" neigh replace "$VENDOR_V4" lladdr "$vendor_mac" dev eth0 nud permanent
}
if "$TOPOLOGY" up "$prefix" >"$tmp/topology.log" 2>&1 && quiet_board; then
    diag <"$tmp/topology.log"
    ok "virtual board up (prefix $prefix), IPv6 off and static ARP in both namespaces"
else
    not_ok "virtual board up (prefix $prefix), IPv6 off and static ARP in both namespaces"
    diag <"$tmp/topology.log"
    bail "cannot build the virtual board"
fi

# --- core: a UDP sink for the paced frames, a TCP server that records what it receives --
cat >"$tmp/udp_sink.py" <<'EOF'
import socket
import sys

s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    s.recv(2048)
EOF
cat >"$tmp/tcp_server.py" <<'EOF'
# tcp_server.py ADDR PORT OUT: accepts one connection, appends what it receives to OUT.
import socket
import sys

srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], int(sys.argv[2])))
srv.listen(1)
conn, _ = srv.accept()
with open(sys.argv[3], "ab") as out:
    while True:
        data = conn.recv(65536)
        if not data:
            break
        out.write(data)
        out.flush()
conn.close()
EOF
: >"$tmp/tcp_received"
ip netns exec "$core_ns" "$PYTHON" "$tmp/udp_sink.py" "$CORE_V4" "$BG_PORT" \
    >"$tmp/udp_sink.err" 2>&1 </dev/null &
bg_pids+=($!)
ip netns exec "$core_ns" "$PYTHON" "$tmp/tcp_server.py" "$CORE_V4" "$TCP_PORT" "$tmp/tcp_received" \
    >"$tmp/tcp_server.err" 2>&1 </dev/null &
tcp_server_pid=$!
bg_pids+=("$tcp_server_pid")
servers_ready() {
    local _
    for _ in $(seq 1 50); do
        if [[ -n $(ip netns exec "$core_ns" ss -Htln "sport = :$TCP_PORT") &&
            -n $(ip netns exec "$core_ns" ss -Huln "sport = :$BG_PORT") ]]; then
            return 0
        fi
        sleep 0.1
    done
    diag <"$tmp/udp_sink.err"; diag <"$tmp/tcp_server.err"
    return 1
}
check "core: UDP sink on $CORE_V4:$BG_PORT and TCP server on $CORE_V4:$TCP_PORT listen" servers_ready

# --- rule files ----------------------------------------------------------------------------
rules_file=$tmp/rules.d/reload.toml
mkdir -p "$tmp/staging" "$tmp/rules.d"
# The files are made with printf alone: 100 of them under a busy CPU, no fork to spare.
# valid_rules K: a rule set only marker K's frame matches (a drop), with a varying tail of
# rules nothing in this test matches, so that no two files hash the same.
valid_rules() {
    local k=$1 j protos=(udp tcp)
    printf '# valid rule set, marker %d\n[[rule]]\nsid = %d\nmsg = "reload marker %d"\naction = "drop"\nproto = "udp"\nmatch = [{ content = "RELOAD-MARK-%04d" }]\n' \
        "$k" $((SID_BASE + k)) "$k" "$k"
    for ((j = 0; j < k % 4; j++)); do
        printf '\n[[rule]]\nsid = %d\nmsg = "never sent %d.%d"\naction = "alert"\nproto = "%s"\n' \
            $((SID_BASE + 500000 + k * 10 + j)) "$k" "$j" "${protos[j % 2]}"
        printf "match = [{ content = \"never-sent-%d-%d\", nocase = true }, { pcre = 'unmatched-%d-[0-9]{%d}' }]\n" \
            "$k" "$j" "$k" $((j + 2))
    done
}
# invalid_rules K VARIANT: marker K's drop rule (7 lines) plus, after a blank line, a rule
# with one defect, at the line BAD_LINE[VARIANT] says.
invalid_rules() {
    local k=$1 variant=$2 sid
    sid=$((SID_BASE + k))
    printf '# invalid rule set (%s), marker %d\n[[rule]]\nsid = %d\nmsg = "reload marker %d"\naction = "drop"\nproto = "udp"\nmatch = [{ content = "RELOAD-MARK-%04d" }]\n' \
        "$variant" "$k" "$sid" "$k" "$k"
    case $variant in
        toml_syntax)   # an unterminated string
            printf '\n[[rule]]\nsid = %d\nmsg = "unterminated\n' $((sid + 500000)) ;;
        unknown_key)
            printf '\n[[rule]]\nsid = %d\nmsg = "unknown key"\ncolour = "red"\nproto = "udp"\nmatch = [{ content = "x%d" }]\n' \
                $((sid + 500000)) "$k" ;;
        bad_pcre)
            printf "\n[[rule]]\nsid = %d\nmsg = \"bad pcre\"\nproto = \"udp\"\nmatch = [{ pcre = 'RELOAD-(unclosed-%d' }]\n" \
                $((sid + 500000)) "$k" ;;
        duplicate_sid)
            printf '\n[[rule]]\nsid = %d\nmsg = "duplicate sid"\nproto = "udp"\nmatch = [{ content = "dup-%d" }]\n' \
                "$sid" "$k" ;;
        bad_action)
            printf '\n[[rule]]\nsid = %d\nmsg = "bad action"\naction = "explode"\nproto = "udp"\nmatch = [{ content = "act-%d" }]\n' \
                $((sid + 500000)) "$k" ;;
        missing_msg)
            printf '\n[[rule]]\nsid = %d\nproto = "udp"\nmatch = [{ content = "nomsg-%d" }]\n' \
                $((sid + 500000)) "$k" ;;
    esac
}
readonly VARIANTS=(toml_syntax unknown_key bad_pcre duplicate_sid bad_action missing_msg)
# The line each variant's error must be reported at (the head is 7 lines, then a blank one).
declare -A BAD_LINE=([toml_syntax]=11 [unknown_key]=12 [bad_pcre]=13 [duplicate_sid]=10
    [bad_action]=12 [missing_msg]=9)
# install FILE_CONTENT_COMMAND...: writes the file outside rules.d, then moves it into place
# (one rename: inotify reports a single IN_MOVED_TO, never a half-written file).
install_rules() {
    "$@" >"$tmp/staging/reload.toml"
    mv -f "$tmp/staging/reload.toml" "$rules_file"
}

# --- the sentinel -------------------------------------------------------------------------
valid_rules 0 >"$rules_file"
metrics_port=$(free_port) || bail "no free TCP port for the sentinel's metrics"
write_config "127.0.0.1:${metrics_port}"
cat >>"$tmp/sentinel.toml" <<EOF
watch = true
reload_debounce_ms = $DEBOUNCE_MS

[log]
dir = "$tmp/log"
level = "info"
EOF

start_sentinel
(( forwarding )) || bail "the sentinel is not forwarding"

# --- metrics and eve.json helpers -----------------------------------------------------------
# The polls run hundreds of times on a machine whose second core the worker leaves to
# everything else, where a fork costs tens of milliseconds: they fork nothing. A resident
# helper (a coprocess) fetches /metrics into a file on request; bash reads that file (a
# buffered read) and picks samples with its regex builtin.
# nap SECONDS: sleep without a fork (a read that times out on a FIFO nobody writes).
mkfifo "$tmp/nap.fifo"
exec 6<>"$tmp/nap.fifo"
nap() { read -rt "$1" -u 6 || true; }
cat >"$tmp/scraper.py" <<'EOF'
# scraper.py URL: per stdin line FILE, writes the body of GET URL to FILE (empty when the
# request fails) and answers with a line.
import sys
import urllib.request

for line in sys.stdin:
    path = line.strip()
    try:
        with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
            body = response.read()
    except OSError:
        body = b""
    with open(path, "wb") as f:
        f.write(body)
    print("done", flush=True)
EOF
coproc SCRAPER { exec "$PYTHON" "$tmp/scraper.py" "http://127.0.0.1:${metrics_port}/metrics" 2>"$tmp/scraper.err"; }
bg_pids+=("$SCRAPER_PID")
# scrape: GET /metrics into $snap (empty when the sentinel does not answer).
scrape() {
    local reply=''
    snap=''
    echo "$tmp/metrics.txt" >&"${SCRAPER[1]}"
    read -r -t 10 reply <&"${SCRAPER[0]}" || true
    [[ $reply == "done" ]] || return 0
    IFS= read -r -d '' snap <"$tmp/metrics.txt" || true
    snap=$'\n'$snap
}
# mget 'NAME{LABELS}' VAR: VAR = the sample's value in the last scrape, as an integer
# (empty when absent).
mget() {
    local -n out=$2
    out=''
    if [[ $snap =~ $'\n'"$1 "([0-9.e+]+)$'\n' ]]; then
        out=${BASH_REMATCH[1]}
        [[ $out =~ ^[0-9]+$ ]] || printf -v out "%.0f" "$out"
    fi
}
vint() { local v; mget "$1" v; echo "$v"; }
# Every drops_total series as 'reason value' lines.
drops_by_reason() {
    sed -n 's/^sentinel_drops_total{reason="\([a-z0-9_]*\)"} \(.*\)$/\1 \2/p' <<<"$snap" |
        awk '{ printf "%s %d\n", $1, $2 + 0 }'
}
gen='' n_ok='' n_fail='' last_ok='' hash='' ts=''
read_state() { # gen n_ok n_fail last_ok hash ts (as printed) from one scrape
    scrape
    mget sentinel_ruleset_generation gen
    mget 'sentinel_ruleset_reloads_total{result="success"}' n_ok
    mget 'sentinel_ruleset_reloads_total{result="failure"}' n_fail
    mget sentinel_ruleset_last_reload_success last_ok
    hash='' ts=''
    if [[ $snap =~ $'\n''sentinel_ruleset_info{hash="'([0-9a-f]*)'"} 1' ]]; then hash=${BASH_REMATCH[1]}; fi
    if [[ $snap =~ $'\n''sentinel_ruleset_last_reload_timestamp_seconds '([0-9.e+]+)$'\n' ]]; then
        ts=${BASH_REMATCH[1]}
    fi
}
# ts_fresh PREVIOUS: the last-reload timestamp changed and lies within the last 30 s.
ts_fresh() {
    local now=${EPOCHREALTIME%.*} t=${ts%.*}
    [[ $ts != "$1" && $t =~ ^[0-9]+$ ]] && (( t >= now - 30 && t <= now + 2 ))
}
# eve_poll: reads the lines eve.json gained since the last call (fd 8 keeps the offset; a
# line still being written waits in eve_partial) and counts the alerts by signature_id.
declare -A eve_sids=()
eve_partial='' eve_open=0
eve_poll() {
    local line
    if (( ! eve_open )); then
        [[ -f $tmp/log/eve.json ]] || return 0
        exec 8<"$tmp/log/eve.json"
        eve_open=1
    fi
    while IFS= read -r line <&8 || { eve_partial+=$line; false; }; do
        line=$eve_partial$line
        eve_partial=''
        if [[ $line =~ \"signature_id\":\ ?([0-9]+)[,}] ]]; then
            eve_sids[${BASH_REMATCH[1]}]=$(( ${eve_sids[${BASH_REMATCH[1]}]:-0} + 1 ))
        fi
    done
}
eve_more() { eve_poll; (( ${eve_sids[$1]:-0} > $2 )); }   # eve_more SID N: more than N such alerts

initial_state() {
    read_state
    echo "# generation ${gen:-absent}, reloads success ${n_ok:-absent} failure ${n_fail:-absent}, hash ${hash:-absent}, last reload at ${ts:-absent}"
    [[ $gen == 1 && $n_ok == 0 && $n_fail == 0 && ${#hash} == 64 && $last_ok == 1 && $ts == 0 ]]
}
check "metrics at start: generation 1, no reload yet (timestamp 0, last_success 1), ruleset_info carries a sha256" initial_state
gen0=$gen

# --- a TCP flow open across a reload --------------------------------------------------------
cat >"$tmp/tcp_client.py" <<'EOF'
# tcp_client.py ADDR PORT: connects, then per stdin line 'send TEXT' sends TEXT, 'close'
# half-closes and waits for the server to close. Logs each step on stdout.
import socket
import sys

c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
print(f"connected {c.getsockname()[1]}", flush=True)
for line in sys.stdin:
    cmd, _, text = line.rstrip("\n").partition(" ")
    if cmd == "send":
        c.sendall(text.encode())
        print(f"sent {text}", flush=True)
    elif cmd == "close":
        c.shutdown(socket.SHUT_WR)
        while c.recv(4096):
            pass
        print("closed", flush=True)
        break
EOF
mkfifo "$tmp/tcp_client.fifo"
exec 5<>"$tmp/tcp_client.fifo"
ip netns exec "$vendor_ns" "$PYTHON" "$tmp/tcp_client.py" "$CORE_V4" "$TCP_PORT" \
    <"$tmp/tcp_client.fifo" >"$tmp/tcp_client.log" 2>&1 &
tcp_client_pid=$!
bg_pids+=("$tcp_client_pid")

wait_for() { # wait_for TIMEOUT_S COMMAND...: polls COMMAND every 20 ms until it succeeds
    local deadline=$((SECONDS + $1)); shift
    until "$@"; do
        (( SECONDS < deadline )) || return 1
        nap 0.02
    done
}
received_is() { [[ $(cat "$tmp/tcp_received") == "$1" ]]; }
client_logged() { grep -qx "$1" "$tmp/tcp_client.log"; }

pre_data="before-the-reload:$(printf '%.0sx' $(seq 1 300))"
tcp_before() {
    wait_for 10 grep -q '^connected ' "$tmp/tcp_client.log" || { echo "# the client did not connect"; return 1; }
    tcp_sport=$(awk '/^connected /{ print $2 }' "$tmp/tcp_client.log")
    echo "send $pre_data" >&5
    wait_for "$VERDICT_TIMEOUT_S" received_is "$pre_data" ||
        { echo "# the server did not receive the data sent before the reload"; return 1; }
    echo "# connection $VENDOR_V4:$tcp_sport -> $CORE_V4:$TCP_PORT, $((${#pre_data})) bytes received by core"
}
check "TCP: connection through the sentinel, data sent before the reload reaches core" tcp_before

scrape
migrated_before=$(vint sentinel_flows_migrated_total)
cat >"$tmp/staging/tcp.toml" <<EOF
[[rule]]
sid = $TCP_SID
msg = "tcp marker after a reload"
action = "alert"
proto = "tcp"
match = [{ content = "$TCP_MARKER" }]
EOF
mv -f "$tmp/staging/tcp.toml" "$tmp/rules.d/tcp.toml"
tcp_reloaded() {
    local want=$((gen0 + 1))
    read_state
    [[ $gen == "$want" && $n_ok == 1 ]]
}
if wait_for "$RELOAD_TIMEOUT_S" tcp_reloaded; then
    ok "TCP: a rule set with a tcp rule for '$TCP_MARKER' published (generation $gen) while the connection is open"
else
    not_ok "TCP: a rule set with a tcp rule published within ${RELOAD_TIMEOUT_S} s (generation ${gen:-absent}, success ${n_ok:-absent}, failure ${n_fail:-absent})"
fi
gen_tcp=$gen

mid_data="after-the-reload,-no-marker-yet."
post_data="-and-this-follows-it."
tcp_alerted() {
    echo "send $mid_data" >&5
    wait_for "$VERDICT_TIMEOUT_S" received_is "$pre_data$mid_data" ||
        { echo "# the data sent after the reload (before the marker) did not reach core"; return 1; }
    echo "send $TCP_MARKER$post_data" >&5
    wait_for "$VERDICT_TIMEOUT_S" eve_more "$TCP_SID" 0 ||
        { echo "# no alert with sid $TCP_SID in eve.json within ${VERDICT_TIMEOUT_S} s"; return 1; }
    grep -E "\"signature_id\": ?${TCP_SID}[,}]" "$tmp/log/eve.json" >"$tmp/tcp_alert.json"
    diag <"$tmp/tcp_alert.json"
    "$PYTHON" - "$tmp/tcp_alert.json" "$tcp_sport" "$TCP_PORT" <<'EOF'
import json, sys
lines = open(sys.argv[1]).read().splitlines()
e = json.loads(lines[0])
ports = {e.get("src_port"), e.get("dest_port")}
sys.exit(0 if len(lines) == 1 and ports == {int(sys.argv[2]), int(sys.argv[3])} else 1)
EOF
}
check "TCP: the marker sent after the reload in the same connection raises one alert sid $TCP_SID for that flow" tcp_alerted
tcp_forwarded() {
    echo "close" >&5
    wait_for "$VERDICT_TIMEOUT_S" client_logged closed ||
        { echo "# the connection did not close cleanly"; return 1; }
    wait_for "$VERDICT_TIMEOUT_S" received_is "$pre_data$mid_data$TCP_MARKER$post_data" ||
        { echo "# core received: $(head -c 200 "$tmp/tcp_received")"; return 1; }
}
check "TCP: everything sent before and after the reload reached core, in order, and the connection closed" tcp_forwarded
exec 5>&-
wait "$tcp_client_pid" 2>/dev/null || true
wait "$tcp_server_pid" 2>/dev/null || true   # it exits once the connection is closed
scrape
migrated_after=$(vint sentinel_flows_migrated_total)
if (( ${migrated_after:-0} > ${migrated_before:-0} )); then
    ok "TCP: flows_migrated_total rose (${migrated_before:-absent} -> $migrated_after)"
else
    not_ok "TCP: flows_migrated_total rose (${migrated_before:-absent} -> ${migrated_after:-absent})"
fi

# --- the paced sender -----------------------------------------------------------------------
cat >"$tmp/sender.py" <<'EOF'
# sender.py DST_MAC SRC DST DPORT BG_SPORT RATE RESULT: sends UDP frames out of eth0 at
# RATE per second from BG_SPORT, paced on the clock; per stdin line 'mark SPORT TEXT' also
# sends one frame carrying TEXT from SPORT; 'quit' stops. Writes its counts to RESULT.
import os
import select
import socket
import struct
import sys
import time


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def frame(sport, payload):
    length = 8 + len(payload)
    pseudo = src + dst + struct.pack("!BBH", 0, 17, length)
    udp = struct.pack("!HHHH", sport, dport, length, 0) + payload
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + length, 0, 0x4000, 64, 17, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    out = dst_mac + src_mac + b"\x08\x00" + ip + udp
    return out + b"\0" * max(0, 60 - len(out))


dst_mac = bytes.fromhex(sys.argv[1].replace(":", ""))
src, dst = socket.inet_aton(sys.argv[2]), socket.inet_aton(sys.argv[3])
dport, bg_sport, rate, result = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), sys.argv[7]
src_mac = bytes.fromhex(open("/sys/class/net/eth0/address").read().strip().replace(":", ""))
background = frame(bg_sport, b"paced background frame, no rule matches this payload")

s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
os.set_blocking(0, False)
bg = marks = send_errors = 0
pending = b""
start = time.monotonic()
print("started", flush=True)
running = True
while running:
    now = time.monotonic()
    due = min(int((now - start) * rate) - bg, 64)  # bursts stay small if the CPU was busy
    for _ in range(due):
        try:
            s.send(background)
            bg += 1
        except OSError:
            send_errors += 1
    ready, _, _ = select.select([0], [], [], 0.002)
    if ready:
        chunk = os.read(0, 4096)
        if not chunk:
            break
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            cmd, _, args = line.decode().partition(" ")
            if cmd == "mark":
                sport, _, text = args.partition(" ")
                s.send(frame(int(sport), text.encode()))
                marks += 1
            elif cmd == "quit":
                running = False
elapsed = time.monotonic() - start
with open(result + ".part", "w") as f:
    print(bg + marks, bg, marks, send_errors, f"{elapsed:.3f}", file=f)
os.rename(result + ".part", result)
EOF

# The accounting's terms. counters: one scrape, then far_rx (core eth0 rx_packets), near_tx
# (vendor eth0 tx_packets), drops (the sum of drops_total over its reasons) and misses (the
# vendor port's receive_dropped, i.e. imissed, + receive_nombuf + receive_errors).
sysfs() { ip netns exec "$1" cat "/sys/class/net/eth0/statistics/$2"; }
counters() {
    local p=port=\"vendor\" a b c
    scrape
    far_rx=$(sysfs "$core_ns" rx_packets)
    near_tx=$(sysfs "$vendor_ns" tx_packets)
    drops=$(drops_by_reason | awk '{ s += $2 } END { print s + 0 }')
    mget "sentinel_port_receive_dropped_total{$p}" a
    mget "sentinel_port_receive_nombuf_total{$p}" b
    mget "sentinel_port_receive_errors_total{$p}" c
    misses=$(( ${a:-0} + ${b:-0} + ${c:-0} ))
}
# settled_board: the counters did not move in the last 0.2 s (nothing left in flight).
settled_board() {
    local before="$far_rx $near_tx $drops $misses"
    nap 0.2   # the interval between two looks at the counters, not a wait for an event
    counters
    [[ "$far_rx $near_tx $drops $misses" == "$before" ]]
}
# Baselines, taken once the TCP test's last frames have crossed.
counters
wait_for "$DRAIN_TIMEOUT_S" settled_board || echo "# the counters were still moving after ${DRAIN_TIMEOUT_S} s"
drops_by_reason >"$tmp/drops.before"
far_rx_before=$far_rx near_tx_before=$near_tx drops_before=$drops misses_before=$misses
dropped_to_vendor_before=$(vint 'sentinel_packets_total{direction="to_vendor",verdict="dropped"}')
sig_before=$(vint 'sentinel_drops_total{reason="signature"}')

mkfifo "$tmp/sender.fifo"
exec 4<>"$tmp/sender.fifo"
ip netns exec "$vendor_ns" "$PYTHON" "$tmp/sender.py" "$core_mac" "$VENDOR_V4" "$CORE_V4" "$BG_PORT" \
    "$BG_SPORT" "$RATE" "$tmp/sender.result" \
    <"$tmp/sender.fifo" >"$tmp/sender.out" 2>"$tmp/sender.err" &
sender_pid=$!
bg_pids+=("$sender_pid")
sender_started() {
    wait_for 10 grep -qx started "$tmp/sender.out" && kill -0 "$sender_pid" 2>/dev/null
}
check "paced sender in $vendor_ns: UDP $VENDOR_V4:$BG_SPORT -> $CORE_V4:$BG_PORT at $RATE frames/s" sender_started
loop_start=$SECONDS

# --- 100 rewrites under traffic ---------------------------------------------------------------
# verdict NEG POS: sends marker NEG's frame (which no rule in force may match) and then
# marker POS's (which the rule set in force drops); waits for POS's alert in eve.json (the
# worker has then judged both, in order) and requires exactly one more signature drop.
expected_sig=0 marks=0
verdict() {
    local neg=$1 pos=$2 before got sig
    eve_poll
    before=${eve_sids[$((SID_BASE + pos))]:-0}
    sig=$(( sig_before + expected_sig ))
    printf 'mark %d RELOAD-MARK-%04d\nmark %d RELOAD-MARK-%04d\n' \
        $((MARK_SPORT + marks)) "$neg" $((MARK_SPORT + marks + 1)) "$pos" >&4
    marks=$((marks + 2))
    expected_sig=$((expected_sig + 1))
    wait_for "$VERDICT_TIMEOUT_S" eve_more $((SID_BASE + pos)) "$before" || {
        echo "# marker $pos: no alert with sid $((SID_BASE + pos)) within ${VERDICT_TIMEOUT_S} s"
        return 1
    }
    scrape
    mget 'sentinel_drops_total{reason="signature"}' got
    if (( got != sig + 1 )); then
        echo "# marker $neg then $pos: drops{reason=\"signature\"} went $sig -> $got, expected +1"
        return 1
    fi
}
# A valid file: the generation moves, and the success count with it (the status is
# updated just after the publication). An invalid file: the failure count moves.
valid_settled() { read_state; [[ $gen != "$gen_expect" && $n_ok != "$ok_expect" ]] || [[ $n_fail != "$fail_expect" ]]; }
invalid_settled() { read_state; [[ $n_fail != "$fail_expect" || $gen != "$gen_expect" || $n_ok != "$ok_expect" ]]; }
valid_ok=0 invalid_ok=0 verdict_ok=0 failed_iter=() want_logged=() seen_ms=()
last_valid=0 gen_expect=$gen_tcp ok_expect=1 fail_expect=0
read_state
prev_hash=$hash prev_ts=$ts
for ((i = 1; i <= REWRITES; i++)); do
    if (( i % 2 == 1 )); then
        t_moved=$EPOCHREALTIME
        install_rules valid_rules "$i"
        if ! wait_for "$RELOAD_TIMEOUT_S" valid_settled; then
            echo "# rewrite $i (valid): no new generation within ${RELOAD_TIMEOUT_S} s (generation $gen, success $n_ok, failure $n_fail)"
            failed_iter+=("$i:reload-timeout")
            break
        fi
        seen_ms+=("valid $(( (${EPOCHREALTIME/./} - ${t_moved/./}) / 1000 ))")
        gen_expect=$((gen_expect + 1)) ok_expect=$((ok_expect + 1))
        if [[ $gen == "$gen_expect" && $n_ok == "$ok_expect" && $n_fail == "$fail_expect" && $last_ok == 1 &&
            ${#hash} == 64 && $hash != "$prev_hash" ]] && ts_fresh "$prev_ts"; then
            valid_ok=$((valid_ok + 1))
        else
            echo "# rewrite $i (valid): generation $gen (want $gen_expect), success $n_ok (want $ok_expect), failure $n_fail (want $fail_expect), last_success $last_ok, hash $hash (was $prev_hash), last reload at $ts (was $prev_ts)"
            failed_iter+=("$i:valid-metrics")
            gen_expect=$gen ok_expect=$n_ok fail_expect=$n_fail
        fi
        prev_hash=$hash prev_ts=$ts
        if verdict "$last_valid" "$i"; then verdict_ok=$((verdict_ok + 1)); else failed_iter+=("$i:verdict"); fi
        last_valid=$i
    else
        variant=${VARIANTS[$(( (i / 2) % ${#VARIANTS[@]} ))]}
        t_moved=$EPOCHREALTIME
        install_rules invalid_rules "$i" "$variant"
        if ! wait_for "$RELOAD_TIMEOUT_S" invalid_settled; then
            echo "# rewrite $i (invalid, $variant): no failure counted within ${RELOAD_TIMEOUT_S} s (generation $gen, success $n_ok, failure $n_fail)"
            failed_iter+=("$i:reload-timeout")
            break
        fi
        seen_ms+=("invalid $(( (${EPOCHREALTIME/./} - ${t_moved/./}) / 1000 ))")
        fail_expect=$((fail_expect + 1))
        if [[ $gen == "$gen_expect" && $n_ok == "$ok_expect" && $n_fail == "$fail_expect" && $last_ok == 0 &&
            $hash == "$prev_hash" ]] && ts_fresh "$prev_ts"; then
            invalid_ok=$((invalid_ok + 1))
        else
            echo "# rewrite $i (invalid, $variant): generation $gen (want $gen_expect), success $n_ok (want $ok_expect), failure $n_fail (want $fail_expect), last_success $last_ok, hash $hash (want $prev_hash), last reload at $ts (was $prev_ts)"
            failed_iter+=("$i:invalid-metrics")
            gen_expect=$gen ok_expect=$n_ok fail_expect=$n_fail prev_hash=$hash
        fi
        prev_ts=$ts
        # Its log line (checked after the loop) names the file, line and column of the defect.
        want_logged+=("$i $variant|failed, generation $gen_expect stays in force: $rules_file:${BAD_LINE[$variant]}:")
        if verdict "$i" "$last_valid"; then verdict_ok=$((verdict_ok + 1)); else failed_iter+=("$i:verdict"); fi
    fi
    if (( ${#failed_iter[@]} >= MAX_FAILED )); then
        echo "# $MAX_FAILED failed steps: the rewrites stop here"
        break
    fi
done
loop_s=$((SECONDS - loop_start))
done_iter=$(( i > REWRITES ? REWRITES : i ))
echo "# $done_iter rewrites in ${loop_s} s; failures: ${failed_iter[*]:-none}"
# How long after the rename the metrics showed the outcome (debounce, build, publication
# and the test's own 20 ms polling included).
printf '%s\n' "${seen_ms[@]}" | sort -k1,1 -k2n | awk '
    { v[$1, ++c[$1]] = $2; s[$1] += $2 }
    END { for (k in c) printf "rename -> metrics show the %s file: min %d, median %d, max %d ms (mean %.1f, %d files)\n",
                           k, v[k, 1], v[k, int((c[k] + 1) / 2)], v[k, c[k]], s[k] / c[k], c[k] }' | sort | diag
n_valid=$(( (REWRITES + 1) / 2 )) n_invalid=$(( REWRITES / 2 ))
if (( valid_ok == n_valid )); then
    ok "each of the $n_valid valid files was published: generation +1, success +1, new hash, last_success 1, timestamp updated"
else
    not_ok "each of the $n_valid valid files was published ($valid_ok were)"
fi
if (( invalid_ok == n_invalid )); then
    ok "each of the $n_invalid invalid files (${VARIANTS[*]}) changed nothing: failure +1, same generation and hash, last_success 0, timestamp updated"
else
    not_ok "each of the $n_invalid invalid files changed nothing ($invalid_ok did)"
fi
# The k-th 'failed' line of the log is the k-th invalid file's, and carries the file, the
# line of its defect and a column (the line is logged before the failure is counted).
failures_logged() {
    local lines k bad=0
    mapfile -t lines < <(grep -hF 'failed, generation' "$tmp/sentinel.stdout" "$tmp/sentinel.stderr")
    for ((k = 0; k < ${#want_logged[@]}; k++)); do
        if [[ ${lines[k]:-} != *"${want_logged[k]#*|}"[0-9]*': '* ]]; then
            echo "# rewrite ${want_logged[k]%%|*}: failure line $((k + 1)) lacks '${want_logged[k]#*|}<col>: ':"
            echo "${lines[k]:-(none)}" | diag
            bad=1
        fi
    done
    echo "# ${#lines[@]} failure line(s) logged; the last: ${lines[-1]:-none}"
    (( bad == 0 && ${#lines[@]} == ${#want_logged[@]} && ${#lines[@]} == n_invalid ))
}
check "each failure was logged with the file, line and column of its defect" failures_logged
if (( verdict_ok == REWRITES )); then
    ok "after each rewrite only the rule set in force matched: the new marker after a valid file, the last valid one after an invalid file"
else
    not_ok "after each rewrite only the rule set in force matched ($verdict_ok of $REWRITES)"
fi

final_counts() {
    read_state
    echo "# generation $gen, reloads success $n_ok failure $n_fail"
    [[ $gen == $((gen_tcp + n_valid)) && $n_ok == $((1 + n_valid)) && $n_fail == "$n_invalid" ]]
}
check "metrics: generation $((gen_tcp + n_valid)), reloads success $((1 + n_valid)) and failure $n_invalid" final_counts
eve_sids_ok() { # each valid marker alerted twice (its own rewrite, the invalid one after it), no invalid one ever
    local k want bad=0 c
    eve_poll
    for ((k = 1; k <= REWRITES; k++)); do
        c=${eve_sids[$((SID_BASE + k))]:-0}
        if (( k % 2 == 1 )); then want=$(( k < REWRITES ? 2 : 1 )); else want=0; fi
        if (( c != want )); then echo "# sid $((SID_BASE + k)): $c alert(s) in eve.json, expected $want"; bad=1; fi
    done
    (( bad == 0 ))
}
check "eve.json: every valid marker alerted exactly as often as sent while in force, no invalid file's marker ever" eve_sids_ok

# --- stop the sender, let the board drain, account for every frame ----------------------------
echo "quit" >&4
if wait_for 10 test -s "$tmp/sender.result"; then
    read -r sent bg_sent marks_sent send_errors sender_s <"$tmp/sender.result"
else
    sent='' bg_sent='' marks_sent='' send_errors='' sender_s=''
fi
exec 4>&-
wait "$sender_pid" 2>/dev/null || true
sender_paced() {
    [[ -n $sent ]] || { echo "# the sender wrote no counts"; diag <"$tmp/sender.err"; return 1; }
    local want
    want=$(awk -v r="$RATE" -v t="$sender_s" 'BEGIN { printf "%d", r * t }')
    echo "# sender: $sent frames in $sender_s s ($bg_sent background, $marks_sent markers, $send_errors send errors); $want background due at $RATE/s"
    (( send_errors == 0 && marks_sent == marks && bg_sent * 100 >= want * 95 ))
}
check "the sender kept its pace the whole time (>= 95% of $RATE/s, no send error) and sent the $marks marker frames" sender_paced

# Drained when the counters stop moving; then the deltas over the window.
counters
wait_for "$DRAIN_TIMEOUT_S" settled_board || echo "# the counters were still moving after ${DRAIN_TIMEOUT_S} s"
far_rx=$((far_rx - far_rx_before)) near_tx=$((near_tx - near_tx_before))
drops=$((drops - drops_before)) misses=$((misses - misses_before))
drops_by_reason >"$tmp/drops.after"
awk 'NR == FNR { before[$1] = $2; next } $2 != before[$1] { printf "%s %d\n", $1, $2 - before[$1] }' \
    "$tmp/drops.before" "$tmp/drops.after" >"$tmp/drops.delta"
{
    echo "accounting window: from before the sender started until the board drained after it stopped"
    echo "sent      $sent frames: counted by the sender (each successful send() on its AF_PACKET socket)"
    echo "          vendor eth0 tx_packets delta $near_tx (/sys/class/net/eth0/statistics in $vendor_ns)"
    echo "received  $far_rx frames: core eth0 rx_packets delta (/sys/class/net/eth0/statistics in $core_ns)"
    echo "dropped   $drops frames: sum of the sentinel_drops_total{reason} deltas (/metrics), by reason:"
    if [[ -s $tmp/drops.delta ]]; then sed 's/^/            /' "$tmp/drops.delta"; else echo "            (none)"; fi
    echo "missed    $misses frames: vendor port receive_dropped (imissed) + receive_nombuf + receive_errors deltas (/metrics)"
    echo "unaccounted $(( ${sent:-0} - far_rx - drops - misses ))"
} | diag
if [[ -n $sent ]] && (( sent == far_rx + drops + misses )); then
    ok "accounting: sent $sent = received $far_rx + dropped $drops + missed $misses, nothing unaccounted"
else
    not_ok "accounting: sent ${sent:-?} = received $far_rx + dropped $drops + missed $misses ($(( ${sent:-0} - far_rx - drops - misses )) unaccounted)"
fi
only_board_frames() {
    # Nothing but the sender's frames left the vendor box, and nothing the other way was dropped.
    local dv
    dv=$(( $(vint 'sentinel_packets_total{direction="to_vendor",verdict="dropped"}') - dropped_to_vendor_before ))
    echo "# vendor eth0 sent $near_tx frames, the sender counted ${sent:-?}; frames to vendor dropped: $dv"
    [[ $near_tx == "${sent:-}" ]] && (( dv == 0 ))
}
check "the window held only the test's frames (vendor eth0 tx delta = frames the sender counted)" only_board_frames
no_loss() {
    local sig
    sig=$(( $(vint 'sentinel_drops_total{reason="signature"}') - sig_before ))
    echo "# signature drops $sig (expected $expected_sig marker frames); all drops $drops; port misses $misses"
    (( sig == expected_sig && drops == expected_sig && misses == 0 ))
}
check "no frame lost to the reloads: the only drops are the $expected_sig marker frames (reason signature)" no_loss

retired() { scrape; [[ $(vint sentinel_ruleset_retired_pending) == 0 ]]; }
if wait_for "$RELOAD_TIMEOUT_S" retired; then
    ok "every replaced rule set was freed (ruleset_retired_pending 0)"
else
    not_ok "every replaced rule set was freed (ruleset_retired_pending $(vint sentinel_ruleset_retired_pending))"
fi

# Reload times from the log: 'generation N published ... X ms from trigger (build Y ms)'.
cat "$tmp/sentinel.stdout" "$tmp/sentinel.stderr" |
    sed -n 's/.*published.*; \([0-9.]*\) ms from trigger (build \([0-9.]*\) ms).*/\1 \2/p' >"$tmp/reload_ms"
sort -n "$tmp/reload_ms" | awk '
    { t[NR] = $1; b += $2; s += $1 }
    END { if (NR) printf "published reloads: %d; from trigger min %.1f, median %.1f, max %.1f ms (mean %.1f); build mean %.1f ms\n",
                  NR, t[1], t[int((NR + 1) / 2)], t[NR], s / NR, b / NR }' | diag
scrape
echo "flows_migrated_total $(vint sentinel_flows_migrated_total), flows_swept_total $(vint sentinel_flows_swept_total), port rx vendor $(vint 'sentinel_port_receive_packets_total{port="vendor"}')" | diag

# --- the telemetry command agrees with the metrics ---------------------------------------------
telemetry_agrees() {
    read_state
    local answer
    answer=$("$PYTHON" - "/var/run/dpdk/sentinel-$prefix/dpdk_telemetry.v2" <<'PYEOF'
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
s.connect(sys.argv[1])
s.recv(1024)  # the greeting
s.send(b"/sentinel/ruleset")
r = json.loads(s.recv(65536))["/sentinel/ruleset"]
print(r["generation"], r["hash"], r["reloads_success"], r["reloads_failure"], r["last_reload_error"][:60])
PYEOF
) || { echo "# /sentinel/ruleset did not answer"; return 1; }
    echo "# /sentinel/ruleset: $answer"
    [[ $answer == "$gen $hash $n_ok $n_fail "* && $answer == *"reload.toml:"* ]]
}
check "/sentinel/ruleset (DPDK telemetry) gives the metrics' generation, hash and reload counts, and the last error" telemetry_agrees

# --- SIGHUP (systemctl reload): the last file written (an invalid one) is read again -------
sighup_rereads() {
    read_state
    local gen0=$gen fail0=$n_fail hash0=$hash
    kill -HUP "$sentinel_pid"
    sighup_done() { read_state; [[ -n $n_fail && $n_fail != "$fail0" ]]; }
    if ! wait_for "$RELOAD_TIMEOUT_S" sighup_done; then
        echo "# no reload counted after SIGHUP (failures ${n_fail:-absent}); the sentinel logged:"
        grep -h 'SIGHUP' "$tmp/sentinel.stdout" "$tmp/sentinel.stderr" | diag
        return 1
    fi
    echo "# SIGHUP: reloads failure $fail0 -> $n_fail, generation $gen0 -> $gen"
    [[ $gen == "$gen0" && $hash == "$hash0" && $last_ok == 0 ]]
}
check "SIGHUP reloads the files: the invalid one in place fails again, the generation stays" sighup_rereads

# --- stop it ---------------------------------------------------------------------------------
stop_sentinel
diag_summary() { grep -v '^stats:' "$tmp/sentinel.stdout" | grep -iA20 summary | head -n 20 | diag; }
diag_summary || true

(( n == PLAN )) || { echo "# internal error: ran $n assertions, planned $PLAN"; failures=$((failures + 1)); }
(( failures == 0 )) || exit 1
