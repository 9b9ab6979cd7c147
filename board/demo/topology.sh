#!/usr/bin/env bash
# The demo "virtual board": two network namespaces, ${PREFIX}vendor and ${PREFIX}core,
# each holding an eth0 that is one end of a veth pair. The other ends,
# ${PREFIX}sv-vendor and ${PREFIX}sv-core, stay in the root namespace as the sentinel's
# inline ports. Both namespaces share one L2 segment (198.51.100.0/24, 2001:db8:51::/64):
# the sentinel is transparent, so nothing passes between them unless it forwards.
#
# Usage: topology.sh up|down [PREFIX]
#   PREFIX "" (the demo) gives namespaces vendor/core; tests pass a short unique prefix
#   (at most 6 characters: Linux interface names are limited to 15).
set -Eeuo pipefail
# Any command that fails without its own message still says what failed.
trap 'echo "topology: error: line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

readonly VENDOR_V4=198.51.100.2/24 VENDOR_V6=2001:db8:51::2/64
readonly CORE_V4=198.51.100.1/24 CORE_V6=2001:db8:51::1/64
readonly SIDES=(vendor core)

die() { echo "topology: error: $*" >&2; exit 1; }

usage() {
    echo "usage: $0 up|down [PREFIX]" >&2
    exit 2
}

[[ $# -ge 1 && $# -le 2 ]] || usage
action=$1
prefix=${2-}

[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces and veth need CAP_NET_ADMIN)"
# The prefix ends up in namespace and interface names: keep it to safe characters.
[[ $prefix =~ ^[A-Za-z0-9_-]*$ ]] || die "PREFIX '$prefix' may only contain letters, digits, '_' and '-'"
# IFNAMSIZ is 16 including the NUL; the longest name is ${prefix}sv-vendor (9 + prefix).
(( ${#prefix} <= 6 )) || die "PREFIX '$prefix' is longer than 6 characters: '${prefix}sv-vendor' would exceed 15"

ns_name() { echo "${prefix}$1"; }      # namespace of a side
port_name() { echo "${prefix}sv-$1"; } # root-side veth end: the sentinel's port for a side

ns_exists() { ip netns list | awk '{print $1}' | grep -qxF -- "$1"; }
link_exists() { ip link show dev "$1" >/dev/null 2>&1; }

down() {
    local side ns port pids
    for side in "${SIDES[@]}"; do
        ns=$(ns_name "$side")
        port=$(port_name "$side")
        if ns_exists "$ns"; then
            # A process still inside keeps the namespace (and its veth) alive after
            # 'ip netns del': stop the board's own processes first, by pid.
            pids=$(ip netns pids "$ns" 2>/dev/null || true)
            if [[ -n $pids ]]; then
                # shellcheck disable=SC2086 # one pid per word
                kill -TERM $pids 2>/dev/null || true
                sleep 0.3
                pids=$(ip netns pids "$ns" 2>/dev/null || true)
                # shellcheck disable=SC2086
                [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
            fi
            ip netns del "$ns" 2>/dev/null || true
        fi
        # Deleting either end of a veth removes the pair; this also catches a half-built board.
        if link_exists "$port"; then
            ip link del dev "$port" 2>/dev/null || true
        fi
    done
    # Removal is asynchronous in the kernel: wait (bounded) until the names are free.
    local _
    for _ in $(seq 1 50); do
        local busy=0
        for side in "${SIDES[@]}"; do
            if link_exists "$(port_name "$side")" || ns_exists "$(ns_name "$side")"; then busy=1; fi
        done
        (( busy )) || return 0
        sleep 0.1
    done
    die "could not remove the board with prefix '$prefix' (still present after 5 s)"
}

setup_side() {
    local side=$1 v4=$2 v6=$3
    local ns port
    ns=$(ns_name "$side")
    port=$(port_name "$side")

    ip netns add "$ns" || die "cannot create namespace $ns"
    # Create the pair with its inner end directly inside the namespace, named eth0 there.
    ip link add "$port" type veth peer name eth0 netns "$ns" \
        || die "cannot create veth pair $port <-> $ns:eth0"

    # Root side: a bare wire for the sentinel. No address, no IPv6 (no link-local, no
    # router/neighbour solicitations), no ARP: the host kernel must never talk on it.
    if [[ -d /proc/sys/net/ipv6 ]]; then
        sysctl -qw "net.ipv6.conf.${port}.disable_ipv6=1" || die "cannot disable IPv6 on $port"
    fi
    ip link set dev "$port" arp off
    ip link set dev "$port" up

    # Namespace side: the "equipment" with real addresses.
    ip -n "$ns" link set dev lo up
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.eth0.disable_ipv6=0 \
        || die "cannot enable IPv6 in $ns (is IPv6 disabled on this kernel?)"
    # PLATFORM.md trap: with tx checksum offload on, locally generated TCP leaves the veth
    # with partial checksums; the kernel fixes them up only on its own path, so frames
    # relayed by the sentinel (AF_PACKET) arrive with bad checksums and TCP stalls.
    ip netns exec "$ns" ethtool -K eth0 tx off >/dev/null \
        || die "ethtool -K eth0 tx off failed in $ns"
    ip -n "$ns" addr add "$v4" dev eth0
    # nodad: the address is usable at once instead of after duplicate detection (~1-2 s).
    ip -n "$ns" -6 addr add "$v6" dev eth0 nodad
    ip -n "$ns" link set dev eth0 up
}

cleanup_partial() {
    local rc=$?
    if (( rc != 0 )); then
        echo "topology: removing the partial board" >&2
        down || true
    fi
}

up() {
    # Start from a clean slate: a previous run may have been killed half-way.
    down
    # If anything below fails, do not leave half a board behind.
    trap cleanup_partial EXIT
    setup_side vendor "$VENDOR_V4" "$VENDOR_V6"
    setup_side core "$CORE_V4" "$CORE_V6"
    trap - EXIT

    cat <<EOF
board up (prefix '${prefix}'):
  side    namespace          address                          sentinel port (root ns)
  vendor  $(printf '%-18s' "$(ns_name vendor)") $(printf '%-32s' "${VENDOR_V4%/*} ${VENDOR_V6%/*}") $(port_name vendor)
  core    $(printf '%-18s' "$(ns_name core)") $(printf '%-32s' "${CORE_V4%/*} ${CORE_V6%/*}") $(port_name core)
EOF
}

case $action in
    up) up ;;
    down)
        down
        echo "board down (prefix '${prefix}')"
        ;;
    *) usage ;;
esac
