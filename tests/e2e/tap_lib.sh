# shellcheck shell=bash disable=SC2154  # callers set PYTHON, tmp and the timeouts
# Shared by the e2e tests (sourced, not run): TAP output helpers, the checks and names
# every test starts with, the common sentinel.toml, and the sentinel's start,
# wait-for-forwarding and stop-with-status steps. Callers set PYTHON, tmp,
# FORWARDING_TIMEOUT_S and STOP_TIMEOUT_S, and print their own plan line.

n=0 failures=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); failures=$((failures + 1)); echo "not ok $n - $*"; }
check() { # check DESCRIPTION COMMAND...: one assertion from a command's status
    local what=$1; shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
diag() { sed 's/^/# /'; }   # TAP comment lines
bail() { echo "Bail out! $*"; exit 1; }

# e2e_setup SENTINEL_BINARY STEM TOOL...: bails unless root, the binary, the topology
# script and the tools are there; sets SENTINEL, TOPOLOGY and the board's names. STEM (3
# chars) makes a prefix of at most 6, so '<prefix>sv-vendor' fits an interface name, unique
# per run: the test runs beside the demo and beside another run of itself.
e2e_setup() {
    local binary=$1 stem=$2 tool
    shift 2
    [[ $(id -u) -eq 0 ]] || bail "must run as root (network namespaces, raw sockets)"
    [[ -x $binary ]] || bail "sentinel binary '$binary' not found or not executable"
    SENTINEL=$(realpath "$binary")
    TOPOLOGY=$(dirname "${BASH_SOURCE[0]}")/../../board/demo/topology.sh
    [[ -x $TOPOLOGY ]] || bail "topology script not found at $TOPOLOGY"
    for tool in "$@"; do
        command -v "$tool" >/dev/null || bail "missing tool: $tool"
    done
    prefix=$stem$(printf '%03x' $(($$ % 4096)))
    # shellcheck disable=SC2034  # used by the tests that source this
    vendor_ns=${prefix}vendor core_ns=${prefix}core
    vendor_port=${prefix}sv-vendor core_port=${prefix}sv-core
}

# A TCP port on 127.0.0.1 nobody listens on (the kernel picks it; ss double-checks), other
# than those given as arguments. A tiny race remains until the program binds it.
free_port() {
    local p _
    for _ in $(seq 1 20); do
        p=$("$PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
        [[ " $* " == *" $p "* ]] && continue
        [[ -z $(ss -Htln "sport = :$p") ]] && { echo "$p"; return 0; }
    done
    return 1
}

# write_config METRICS_ADDR: $tmp/sentinel.toml with what every test runs: both board
# ports on af_packet, one worker without hugepages, metrics on METRICS_ADDR, rules from
# $tmp/rules.d (created empty: no signatures unless the test writes some), no cache.
# Callers append [log] (dir "$tmp/log") and whatever else they need.
write_config() {
    mkdir -p "$tmp/rules.d" "$tmp/log"
    cat >"$tmp/sentinel.toml" <<EOF
[ports]
vendor = "net_af_packet0,iface=${vendor_port},framecnt=4096"
core = "net_af_packet1,iface=${core_port},framecnt=4096"

[dataplane]
workers = 1
hugepages = "off"

[metrics]
listen = "$1"

[rules]
dir = "$tmp/rules.d"
cache_dir = ""
EOF
}

stop_pid() { # TERM, up to $2 seconds' grace, then KILL; only processes the test started
    local pid=$1 grace=${2:-5} i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < grace * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# Starts the sentinel on $tmp/sentinel.toml (sets sentinel_pid) and asserts that it logs
# 'forwarding'; sets forwarding=1 when it did. The live mode's EAL --file-prefix is fixed,
# so a run-specific one is passed after '--' (a later option wins): runs stay independent.
start_sentinel() {
    "$SENTINEL" -c "$tmp/sentinel.toml" -- --file-prefix "sentinel-$prefix" \
        >"$tmp/sentinel.stdout" 2>"$tmp/sentinel.stderr" </dev/null &
    sentinel_pid=$!
    forwarding=0
    local deadline=$((SECONDS + FORWARDING_TIMEOUT_S))
    while (( SECONDS < deadline )); do
        if grep -q forwarding "$tmp/sentinel.stdout" "$tmp/sentinel.stderr"; then forwarding=1; break; fi
        kill -0 "$sentinel_pid" 2>/dev/null || break   # died during start-up
        sleep 0.2
    done
    if (( forwarding )); then
        ok "sentinel logs 'forwarding'"
    elif kill -0 "$sentinel_pid" 2>/dev/null; then
        not_ok "sentinel logs 'forwarding' (nothing within ${FORWARDING_TIMEOUT_S} s)"
    else
        not_ok "sentinel logs 'forwarding' (it exited during start-up)"
    fi
}

# SIGTERM to the sentinel; asserts it exits 0 within STOP_TIMEOUT_S (else it is killed).
stop_sentinel() {
    local i killed=0 rc=0
    kill -TERM "$sentinel_pid" 2>/dev/null || true
    for ((i = 0; i < STOP_TIMEOUT_S * 10; i++)); do
        kill -0 "$sentinel_pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$sentinel_pid" 2>/dev/null; then
        kill -KILL "$sentinel_pid" 2>/dev/null || true
        killed=1
    fi
    wait "$sentinel_pid" || rc=$?
    sentinel_pid=''
    if (( killed )); then
        not_ok "sentinel exits 0 on SIGTERM (still running after ${STOP_TIMEOUT_S} s; killed)"
    elif (( rc == 0 )); then
        ok "sentinel exits 0 on SIGTERM"
    else
        not_ok "sentinel exits 0 on SIGTERM (exit status $rc)"
    fi
}
