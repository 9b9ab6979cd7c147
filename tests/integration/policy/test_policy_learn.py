#!/usr/bin/python3
"""Learn mode of the communication policy, checked end to end on real and synthetic captures.

usage: test_policy_learn.py SENTINEL CORPUS_DIR [--keep DIR]

For each capture in CAPTURES (from CORPUS_DIR/pcaps, each with the vendor side chosen by
inspection) and for a synthetic capture written here, `SENTINEL -r CAPTURE --vendor-net ...
--learn-policy OUT.toml` writes a policy; the test then proves, per capture:

  (a) replaying the same capture with the learned file gives zero policy alerts (gid 2),
      and so does the file learned under narrow limits;
  (b) no learned allow is wider than the configured learn_max_prefix_v4/v6: under the
      defaults (4 hosts, /24, /64) and under narrow limits given to learn mode by
      `-S limits.toml` ([policy] mode = "learn", learn_min_hosts = 2, /28, /120); every
      aggregated destination covers at least learn_min_hosts observed hosts (observations
      = the same capture learned with /32 and /128 limits, i.e. hosts only), every observed
      host stays covered, and aggregation does happen somewhere;
  (c) on top of the learned policy, new flows (the capture with flows appended, written
      here with valid checksums) give exactly one policy alert each, at their first frame,
      when they go to a new destination outside every learned prefix, to a new port (or
      ICMP type) on a learned host, or come from a new source inside the vendor nets;
      replicas of learned services (new ephemeral ports, their replies) and the capture's
      own frames give none; each alert names what was attempted;
  (d) with [policy] default = "drop", the `-w` output holds exactly the input frames minus
      those of the violating flows, compared byte for byte and in order, and the stats
      count exactly those frames as `policy` drops.

The synthetic capture adds what the corpus lacks: TCP, UDP and ICMP echo over IPv4 and
IPv6, flows opened by the core side, aggregated destination prefixes (a never-seen host
inside one is permitted; the narrow limits split them), TCP flows first seen mid-stream
(allowed when either orientation is permitted; a violating one alerts once, saying
"mid-stream"), ICMP errors (port unreachable, fragmentation needed, ICMPv6 port
unreachable and packet too big) quoting allowed flows, which must not alert, and one
quoting a flow that never was, which is a violation of its own. A small policy evaluator
written here from the spec double-checks that every synthetic flow is a violation or not
as the test intends.

Prints the figures per capture, notes, and every difference; exit status 1 on any
difference.
"""

import argparse
import collections
import difflib
import ipaddress
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
import tomllib

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "differential"))
import tcp_reference  # noqa: E402  (its capture reader: pcap, pcapng)

GID_POLICY = 2
DEFAULT_LIMITS = {"learn_min_hosts": 4, "learn_max_prefix_v4": 24, "learn_max_prefix_v6": 64}
NARROW_LIMITS = {"learn_min_hosts": 2, "learn_max_prefix_v4": 28, "learn_max_prefix_v6": 120}
HOSTS_ONLY_LIMITS = {"learn_min_hosts": 1, "learn_max_prefix_v4": 32, "learn_max_prefix_v6": 128}

# (capture under CORPUS_DIR/pcaps, vendor nets). Vendor sides found with
# `tshark -q -z conv,ip` / `conv,ipv6` / `conv,tcp`:
CAPTURES = [
    # Baicells eNodeB (CPE, 10.0.2.243) calling the ACS 192.88.99.142:8443; the first flow
    # starts with the ACS's SYN-ACK.
    ("benign/tr069-cwmp-baicells-enb-acs.pcap", ["10.0.2.243/32"]),
    # An MQTT client 10.0.1.4 publishing to the broker 198.41.30.241:1883.
    ("benign/mqtt.pcap", ["10.0.1.0/24"]),
    # A Linux host 172.16.238.131: DNS to .2, HTTP and SSH out, mDNS; the core host .1
    # opens SSH, FTP and HTTP to it (flows from the core side).
    ("benign/mixed-services-std-ports.pcap", ["172.16.238.128/25"]),
    # Pings from 172.16.133.2 to 172.217.11.78.
    ("benign/icmp-echo.pcap", ["172.16.133.0/24"]),
    # IPv6 FTP client; active-mode data connections are opened by the server (core side).
    ("benign/ftp-ipv6.pcap", ["2001:470:1f11:81f::/64"]),
    # An NTP client polling 16 servers, two of them in one /28, three in one /24.
    ("benign/ntp-client-server.pcap", ["192.168.43.0/24"]),
    # A LAN host 141.142.220.118 browsing Wikipedia (DNS to 141.142.2.2, HTTP to three
    # servers in 208.80.152.0/24); the LAN around it also carries mDNS, NetBIOS and an
    # 802.3 spanning-tree BPDU (a frame with a length, not an ethertype).
    ("benign/mixed-lan-wikipedia.pcap", ["141.142.220.118/32"]),
]

# The synthetic capture's roles.
SYN_VENDOR_NETS = ["192.0.2.0/24", "2001:db8:1::/48"]
# Fallback new sources when a capture's vendor net is a single host.
SPARE_SOURCE = {4: "192.0.2.201", 6: "2001:db8:1::201"}
# New destinations are drawn from documentation blocks no capture uses.
NEW_DST_BLOCK = {4: ipaddress.ip_network("203.0.113.0/24"),
                 6: ipaddress.ip_network("2001:db8:ffff::/64")}

VENDOR_MAC = bytes.fromhex("02000000aa0a")
CORE_MAC = bytes.fromhex("020000001414")


# ---------------------------------------------------------------------------------------
# Packets (RFC 791/8200/793/768/792/4443 layouts; checksums computed)

def _sum16(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _pseudo(src, dst, proto, length):
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    if len(s) == 4:
        return s + d + struct.pack("!BBH", 0, proto, length)
    return s + d + struct.pack("!I3xB", length, proto)


def _with_checksum(seg, at, value):
    return seg[:at] + struct.pack("!H", value) + seg[at + 2:]


def ip_packet(src, dst, proto, payload, ipid):
    s, d = ipaddress.ip_address(src).packed, ipaddress.ip_address(dst).packed
    if len(s) == 4:
        hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ipid & 0xFFFF, 0x4000, 64,
                          proto, 0, s, d)
        return _with_checksum(hdr, 10, _sum16(hdr)) + payload
    return struct.pack("!IHBB16s16s", 0x60000000 | (ipid & 0xFFFFF), len(payload), proto, 64,
                       s, d) + payload


def tcp_segment(src, dst, sport, dport, seq, ack, flags, payload=b""):
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq % 2**32, ack % 2**32, 5 << 4, flags,
                      64240, 0, 0) + payload
    return _with_checksum(seg, 16, _sum16(_pseudo(src, dst, 6, len(seg)) + seg))


def udp_datagram(src, dst, sport, dport, payload):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    return _with_checksum(seg, 6, _sum16(_pseudo(src, dst, 17, len(seg)) + seg) or 0xFFFF)


def icmp_message(src, dst, type_, code, rest, payload):
    v6 = ":" in src
    msg = struct.pack("!BBH", type_, code, 0) + rest + payload
    c = _sum16(_pseudo(src, dst, 58, len(msg)) + msg) if v6 else _sum16(msg)
    return _with_checksum(msg, 2, c)


FIN, SYN, PSH, ACK = 0x01, 0x02, 0x08, 0x10


class Flow:
    """A synthetic flow: its frames (indices into Synth.frames), what the test expects."""

    def __init__(self, tag, expect, opener, proto, src, dst, sport, dport, midstream=False):
        self.tag = tag
        self.expect = expect        # "allowed" or "violation"
        self.opener_vendor = opener  # the side that opened it is the vendor side
        self.proto = proto          # "tcp", "udp", "icmp"
        self.src, self.dst = src, dst
        self.sport, self.dport = sport, dport  # dport: the ICMP type for icmp
        self.midstream = midstream
        self.quotes = None          # ICMP errors: the Flow whose packet they quote, if sent
        self.frames = []


class Synth:
    """Frames appended after `t0` (seconds), 1 ms apart; `is_vendor(ip)` picks the MACs."""

    def __init__(self, t0, is_vendor):
        self.t = t0
        self.is_vendor = is_vendor
        self.frames = []  # (ts seconds, bytes)
        self.flows = []
        self.ipid = 0x100

    def emit(self, flow, src, dst, proto, l4):
        self.ipid += 1
        v6 = ":" in src
        smac, dmac = (VENDOR_MAC, CORE_MAC) if self.is_vendor(src) else (CORE_MAC, VENDOR_MAC)
        frame = (dmac + smac + struct.pack("!H", 0x86DD if v6 else 0x0800)
                 + ip_packet(src, dst, proto, l4, self.ipid))
        self.t += 0.001
        self.frames.append((self.t, frame))
        flow.frames.append(len(self.frames) - 1)
        return frame

    def flow(self, *args, **kw):
        f = Flow(*args, **kw)
        self.flows.append(f)
        return f

    def tcp(self, tag, expect, opener, cli, cport, srv, sport, midstream=None):
        """SYN, SYN-ACK, ACK, request, response, FIN, FIN-ACK, ACK. `midstream`: "client" or
        "server" starts the flow with that side's data segment instead (no handshake)."""
        f = self.flow(tag, expect, opener, "tcp", cli, srv, cport, sport, midstream=bool(midstream))
        c, s = 1000 + cport * 7, 500000 + cport * 11  # next sequence numbers
        req, resp = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n"

        def send(from_cli, flags, payload=b""):
            nonlocal c, s
            if from_cli:
                self.emit(f, cli, srv, 6, tcp_segment(cli, srv, cport, sport, c, s, flags, payload))
                c += len(payload) + (1 if flags & (SYN | FIN) else 0)
            else:
                self.emit(f, srv, cli, 6, tcp_segment(srv, cli, sport, cport, s, c, flags, payload))
                s += len(payload) + (1 if flags & (SYN | FIN) else 0)

        if midstream == "server":
            send(False, PSH | ACK, resp)
            send(True, PSH | ACK, req)
        elif midstream == "client":
            send(True, PSH | ACK, req)
            send(False, PSH | ACK, resp)
        else:
            send(True, SYN)
            send(False, SYN | ACK)
            send(True, ACK)
            send(True, PSH | ACK, req)
            send(False, PSH | ACK, resp)
        send(True, FIN | ACK)
        send(False, FIN | ACK)
        send(True, ACK)
        return f

    def udp(self, tag, expect, opener, cli, cport, srv, sport, exchanges=2):
        f = self.flow(tag, expect, opener, "udp", cli, srv, cport, sport)
        for i in range(exchanges):
            self.emit(f, cli, srv, 17, udp_datagram(cli, srv, cport, sport, b"request %d" % i))
            self.emit(f, srv, cli, 17, udp_datagram(srv, cli, sport, cport, b"response %d" % i))
        return f

    def echo(self, tag, expect, opener, cli, srv, ident, type_=None):
        """Echo request/reply twice (ICMP 8/0, ICMPv6 128/129); type_ 13: timestamp 13/14."""
        v6 = ":" in cli
        req, rep = (128, 129) if v6 else (8, 0)
        body = b"sentinel-policy-test-echo"
        if type_ == 13:
            req, rep, body = 13, 14, bytes(12)
        f = self.flow(tag, expect, opener, "icmp", cli, srv, ident, req)
        proto = 58 if v6 else 1
        for seq in (1, 2):
            rest = struct.pack("!HH", ident, seq)
            self.emit(f, cli, srv, proto, icmp_message(cli, srv, req, 0, rest, body))
            self.emit(f, srv, cli, proto, icmp_message(srv, cli, rep, 0, rest, body))
        return f

    def icmp_error(self, tag, expect, quoted, reporter, kind):
        """An ICMP error from `reporter` to the sender of the quoted packet, quoting its IP
        header and the start of its payload. `quoted`: a Flow (its first frame is quoted) or
        the IP packet of a flow never sent."""
        if isinstance(quoted, Flow):
            packet = self.frames[quoted.frames[0]][1][14:]
        else:
            packet = quoted
        v6 = ":" in reporter
        target = str(ipaddress.ip_address(packet[8:24] if v6 else packet[12:16]))
        if v6:
            type_, code, rest = {"port_unreachable": (1, 4, bytes(4)),
                                 "packet_too_big": (2, 0, struct.pack("!I", 1280))}[kind]
        else:
            type_, code, rest = {"port_unreachable": (3, 3, bytes(4)),
                                 "fragmentation_needed": (3, 4, struct.pack("!HH", 0, 1400))}[kind]
        f = self.flow(tag, expect, self.is_vendor(reporter), "icmp", reporter, target, 0, type_)
        f.quotes = quoted if isinstance(quoted, Flow) else None
        self.emit(f, reporter, target, 58 if v6 else 1,
                  icmp_message(reporter, target, type_, code, rest,
                               packet[:1232] if v6 else packet[:20 + 8]))
        return f


def write_pcap(path, frames):
    """Microsecond pcap, Ethernet. frames: (ts seconds, bytes[, wire length])."""
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        for fr in frames:
            ts, data = fr[0], fr[1]
            wire = fr[2] if len(fr) > 2 else len(data)
            us = int(round(ts * 1e6))
            out.write(struct.pack("<IIII", us // 1000000, us % 1000000, len(data), wire) + data)


def read_frames(path):
    """[(ts, data, wire length)] of a capture, and its link type."""
    frames, linktype = [], None
    for _, ts, lt, data, wire in tcp_reference.read_capture(path):
        linktype = lt
        frames.append((ts, data, wire))
    return frames, linktype


def frame_source(frame):
    return frame_addresses(frame[1])[0]


def frame_addresses(data):
    """(src, dst) IP address strings of an Ethernet frame (VLAN tags skipped), or None."""
    pos = 12
    etype = struct.unpack("!H", data[pos:pos + 2])[0]
    while etype in (0x8100, 0x88A8) and len(data) >= pos + 6:
        pos += 4
        etype = struct.unpack("!H", data[pos:pos + 2])[0]
    pos += 2
    if etype == 0x0800 and len(data) >= pos + 20:
        return (str(ipaddress.ip_address(data[pos + 12:pos + 16])),
                str(ipaddress.ip_address(data[pos + 16:pos + 20])))
    if etype == 0x86DD and len(data) >= pos + 40:
        return (str(ipaddress.ip_address(data[pos + 8:pos + 24])),
                str(ipaddress.ip_address(data[pos + 24:pos + 40])))
    return None


# ---------------------------------------------------------------------------------------
# The policy as the spec states it (a second opinion on the synthetic flows)

def _nets(entries):
    inc, exc = [], []
    for e in entries or []:
        (exc if e.startswith("!") else inc).append(ipaddress.ip_network(e.lstrip("!")))
    return inc, exc


def _in_netset(addr, nets):
    inc, exc = nets
    a = ipaddress.ip_address(addr)
    inside = not inc or any(a.version == n.version and a in n for n in inc)
    return inside and not any(a.version == n.version and a in n for n in exc)


def _in_ports(port, ports):
    if not ports:
        return True
    for p in ports:
        if isinstance(p, int):
            if p == port:
                return True
        else:
            lo, hi = (int(x) for x in re.split(r"[-:]", str(p)))
            if lo <= port <= hi:
                return True
    return False


class Policy:
    def __init__(self, path):
        self.path = path
        with open(path, "rb") as f:
            self.doc = tomllib.load(f)
        with open(path) as f:
            self.text = f.read()
        self.settings = self.doc.get("policy", {})
        self.allows = self.doc.get("allow", [])

    def permits(self, from_vendor, proto, src, dst, sport, dport):
        """The first allow permitting this opener's orientation (its name), or None.
        proto: "tcp" | "udp" | "icmp"; dport is the ICMP type for icmp."""
        for a in self.allows:
            if (a.get("from", "vendor") == "vendor") != from_vendor:
                continue
            if a.get("proto", "ip") not in ("ip", proto):
                continue
            if not _in_netset(src, _nets(a.get("src_nets"))):
                continue
            if not _in_netset(dst, _nets(a.get("dst_nets"))):
                continue
            if proto in ("tcp", "udp") and not (_in_ports(sport, a.get("src_ports"))
                                                and _in_ports(dport, a.get("dst_ports"))):
                continue
            if proto == "icmp" and a.get("icmp_types") and dport not in a["icmp_types"]:
                continue
            return a["name"]
        return None

    def header_figures(self):
        """(flows, observations, allows) from the header comment the learner writes."""
        m = re.search(r"^# (\d+) flows in (\d+) distinct .* observations, (\d+) allows", self.text,
                      re.M)
        return tuple(int(x) for x in m.groups()) if m else None

    def dst_entries(self):
        """[(allow name, network)] of every dst_nets entry."""
        return [(a["name"], ipaddress.ip_network(n.lstrip("!")))
                for a in self.allows for n in a.get("dst_nets", [])]

    def aggregated(self):
        return [(name, n) for name, n in self.dst_entries() if n.prefixlen < n.max_prefixlen]


def expected_verdict(policy, flow, is_vendor):
    """What the spec makes of a synthetic flow: "allowed" or "violation"."""
    if flow.quotes is not None:
        return expected_verdict(policy, flow.quotes, is_vendor)  # follows the quoted flow
    if policy.permits(flow.opener_vendor, flow.proto, flow.src, flow.dst, flow.sport,
                      flow.dport):
        return "allowed"
    if flow.midstream:
        reverse = policy.permits(is_vendor(flow.dst), flow.proto, flow.dst, flow.src, flow.dport,
                                 flow.sport)
        if reverse:
            return "allowed"
    return "violation"


def expected_signature(flow, frames, is_vendor):
    """The alert's signature: 'policy: SIDE → DST:PORT/PROTO not allowed' (IPv6 addresses
    in brackets before a port; ICMP: 'DST/icmp type N', ICMPv6: 'DST/ipv6-icmp type N').
    A flow picked up mid-stream has no known opener: the alert names its first packet's
    sender and destination and says so."""
    src, dst, dport = flow.src, flow.dst, flow.dport
    if flow.midstream and frame_source(frames[flow.frames[0]]) != flow.src:
        src, dst, dport = flow.dst, flow.src, flow.sport
    side = "vendor" if is_vendor(src) else "core"
    if flow.proto == "icmp":
        target = "%s/%s type %d" % (dst, "ipv6-icmp" if ":" in dst else "icmp", dport)
    else:
        target = "%s:%d/%s" % ("[%s]" % dst if ":" in dst else dst, dport, flow.proto)
    return "policy: %s → %s not allowed%s" % (side, target,
                                                 " (mid-stream)" if flow.midstream else "")


# ---------------------------------------------------------------------------------------
# Running Sentinel

class Runner:
    def __init__(self, binary, work):
        self.binary = binary
        self.work = work
        self.count = 0
        self.seconds = 0.0

    def run(self, pcap, vendor_nets, rule_files, learn_to=None, write_to=None):
        """Replays; returns (events, stats event or {}, problems)."""
        self.count += 1
        log_dir = os.path.join(self.work, "logs-%03d" % self.count)
        os.makedirs(log_dir)
        cmd = [self.binary, "-r", pcap, "-l", log_dir]
        for net in vendor_nets:
            cmd += ["--vendor-net", net]
        for f in rule_files:
            cmd += ["-S", f]
        if learn_to:
            cmd += ["--learn-policy", learn_to]
        if write_to:
            cmd += ["-w", write_to]
        cmd += ["--", "--no-huge"]
        t0 = time.time()
        try:
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  errors="replace", timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            return [], {}, ["cannot run %s: %s" % (" ".join(cmd), e)]
        finally:
            self.seconds += time.time() - t0
        problems = []
        if proc.returncode != 0:
            problems.append("exit status %d: %s\n    command: %s" % (
                proc.returncode, (proc.stderr.strip() or proc.stdout.strip())[-1500:],
                " ".join(cmd)))
        events = []
        eve = os.path.join(log_dir, "eve.json")
        if os.path.exists(eve):
            with open(eve) as f:
                for number, line in enumerate(f, 1):
                    try:
                        events.append(json.loads(line))
                    except ValueError as e:
                        problems.append("eve.json line %d does not parse: %s" % (number, e))
        elif proc.returncode == 0:
            problems.append("no eve.json")
        stats = events[-1].get("stats", {}) if events and events[-1].get("event_type") == "stats" \
            else {}
        if proc.returncode == 0 and not stats:
            problems.append("eve.json does not end with a stats event")
        return events, stats, problems


def policy_alerts(events):
    return [e for e in events if e.get("event_type") == "alert"
            and e.get("alert", {}).get("gid") == GID_POLICY]


def limits_file(work, limits):
    path = os.path.join(work, "limits-%d-%d-%d.toml" % (limits["learn_min_hosts"],
                                                         limits["learn_max_prefix_v4"],
                                                         limits["learn_max_prefix_v6"]))
    with open(path, "w") as f:
        f.write('[policy]\nmode = "learn"\n')
        for k, v in limits.items():
            f.write("%s = %d\n" % (k, v))
    return path


def with_default(policy_path, action, out_path):
    """A copy of the policy file with [policy] default = `action`."""
    with open(policy_path) as f:
        text = f.read()
    new, n = re.subn(r'^default = "[a-z]+"$', 'default = "%s"' % action, text, count=1, flags=re.M)
    if n != 1:
        raise RuntimeError("%s: no default = line" % policy_path)
    with open(out_path, "w") as f:
        f.write(new)
    return out_path


# ---------------------------------------------------------------------------------------
# The properties

class Case:
    """One capture under test: its path, vendor nets and failures."""

    def __init__(self, name, path, vendor_nets, runner, work):
        self.name = name
        self.path = path
        self.vendor_nets = vendor_nets
        self.nets = [ipaddress.ip_network(n) for n in vendor_nets]
        self.runner = runner
        self.work = os.path.join(work, re.sub(r"[^A-Za-z0-9]+", "_", name))
        os.makedirs(self.work)
        self.failures = []
        self.notes = []  # oddities outside the properties: printed, not failed
        self.figures = collections.OrderedDict()
        self.aggregated = {}  # limits label -> aggregated destination entries
        self.extra_nets = []  # vendor nets added for the enforce replays (a spare new source)
        self.enforce_nets = vendor_nets

    def fail(self, text):
        self.failures.append("%s: %s" % (self.name, text))

    def note(self, text):
        if text not in self.notes:
            self.notes.append(text)

    def is_vendor(self, addr, extra=()):
        a = ipaddress.ip_address(addr)
        return any(a.version == n.version and a in n for n in list(self.nets) + list(extra))

    def learn(self, limits, label):
        out = os.path.join(self.work, "learned-%s.toml" % label)
        rules = [limits_file(self.work, limits)] if limits else ["/dev/null"]
        _, _, problems = self.runner.run(self.path, self.vendor_nets, rules, learn_to=out)
        for p in problems:
            self.fail("learn (%s): %s" % (label, p))
        if not os.path.exists(out):
            self.fail("learn (%s): no policy file written" % label)
            return None
        try:
            return Policy(out)
        except (tomllib.TOMLDecodeError, OSError) as e:
            self.fail("learn (%s): the learned file does not parse: %s" % (label, e))
            return None


def check_learned_file(case, policy, limits, label):
    """The file is a complete enforce policy and carries the limits. An allow whose sources
    sit outside the side it names is only noted: the learner guesses the opener of a flow
    picked up mid-stream, and between two hosts of one side the guess can land there."""
    s = policy.settings
    for key, want in (("mode", "enforce"), ("default", "alert")):
        if s.get(key) != want:
            case.fail("%s: [policy] %s = %r, expected %r" % (label, key, s.get(key), want))
    for key, want in limits.items():
        if s.get(key) != want:
            case.fail("%s: [policy] %s = %r, expected the configured %r" % (label, key, s.get(key),
                                                                           want))
    names = [a.get("name") for a in policy.allows]
    if len(set(names)) != len(names):
        case.fail("%s: duplicate allow names" % label)
    figures = policy.header_figures()
    if figures is None:
        case.fail("%s: no '# N flows in M distinct ... observations, K allows' header" % label)
    elif figures[2] != len(policy.allows):
        case.fail("%s: header says %d allows, the file has %d" % (label, figures[2],
                                                                 len(policy.allows)))
    if not policy.allows:
        case.fail("%s: nothing learned" % label)
    for a in policy.allows:
        vendor = a.get("from") == "vendor"
        for n in a.get("src_nets", []):
            host = ipaddress.ip_network(n).network_address
            if case.is_vendor(str(host)) != vendor:
                case.note("allow %r (from %s) lists source %s, which --vendor-net puts on the "
                          "%s side" % (a["name"], a.get("from"), n,
                                       "vendor" if not vendor else "core"))


def property_replay_clean(case, policy, label):
    """(a) The capture replayed with its own learned policy: no policy alert, no drop."""
    events, stats, problems = case.runner.run(case.path, case.vendor_nets, [policy.path])
    for p in problems:
        case.fail("(a) %s replay: %s" % (label, p))
    alerts = policy_alerts(events)
    for e in alerts:
        if "src_ip" in e:
            what = "%s %s:%s -> %s:%s" % (e.get("proto"), e.get("src_ip"), e.get("src_port", "-"),
                                          e.get("dest_ip"), e.get("dest_port", "-"))
        else:
            what = "%s %s" % (e.get("proto"), json.dumps(e.get("ether")))
        case.fail("(a) %s: policy alert replaying the learned capture: pcap_cnt %s (%s): %s"
                  % (label, e.get("pcap_cnt"), what, e["alert"].get("signature")))
    if stats.get("drops", {}).get("policy", 0):
        case.fail("(a) %s: %d frames dropped for policy" % (label, stats["drops"]["policy"]))
    return len(alerts)


def property_prefix_limits(case, policy, limits, label):
    """(b) No entry of any allow is wider than the prefix limits."""
    wide = 0
    for a in policy.allows:
        for key in ("src_nets", "dst_nets"):
            for n in a.get(key, []):
                net = ipaddress.ip_network(n.lstrip("!"))
                limit = limits["learn_max_prefix_v%d" % net.version]
                if net.prefixlen < limit:
                    wide += 1
                    case.fail("(b) %s: allow %r %s entry %s is wider than learn_max_prefix_v%d = %d"
                              % (label, a["name"], key, n, net.version, limit))
    return wide


def property_aggregation(case, policy, hosts, limits, label):
    """(b) Against the observations (`hosts`: learned with host-only limits): the same
    allows and sources; every observed destination covered by its allow; every aggregate
    made of at least learn_min_hosts observed hosts."""
    by_name = {a["name"]: a for a in hosts.allows}
    names = {a["name"] for a in policy.allows}
    if names != set(by_name):
        case.fail("(b) %s: allows differ from the host-only learn: only here %s, only there %s"
                  % (label, sorted(names - set(by_name)), sorted(set(by_name) - names)))
    for a in policy.allows:
        h = by_name.get(a["name"])
        if h is None:
            continue
        if sorted(a.get("src_nets", [])) != sorted(h.get("src_nets", [])):
            case.fail("(b) %s: allow %r sources %s differ from the observed %s"
                      % (label, a["name"], a.get("src_nets"), h.get("src_nets")))
        observed = [ipaddress.ip_network(n).network_address for n in h.get("dst_nets", [])]
        entries = [ipaddress.ip_network(n) for n in a.get("dst_nets", [])]
        for addr in observed:
            if not any(addr.version == e.version and addr in e for e in entries):
                case.fail("(b) %s: allow %r: observed destination %s not covered"
                          % (label, a["name"], addr))
        for e in entries:
            if e.prefixlen == e.max_prefixlen:
                if e.network_address not in observed:
                    case.fail("(b) %s: allow %r: host %s was never observed"
                              % (label, a["name"], e))
                continue
            inside = sum(1 for addr in observed if addr.version == e.version and addr in e)
            if inside < limits["learn_min_hosts"]:
                case.fail("(b) %s: allow %r: %s aggregates %d observed host(s), fewer than "
                          "learn_min_hosts = %d" % (label, a["name"], e, inside,
                                                    limits["learn_min_hosts"]))


def count_by_flow(case, label, alerts, frame_tag, flows_by_tag, frames):
    """Policy alerts per flow tag (via pcap_cnt); checks that each flow's alert comes at its
    first frame and names what was attempted."""
    per_tag = collections.defaultdict(list)
    for e in alerts:
        cnt = e.get("pcap_cnt")
        tag = frame_tag.get(cnt - 1) if isinstance(cnt, int) and cnt >= 1 else None
        if tag is None:
            case.fail("%s: policy alert at pcap_cnt %r, outside the input: %s"
                      % (label, cnt, json.dumps(e)))
            continue
        per_tag[tag].append(e)
    for tag, events in per_tag.items():
        flow = flows_by_tag.get(tag)
        if flow is None or len(events) != 1:
            continue
        e = events[0]
        sig = e["alert"].get("signature", "")
        first = flow.frames[0] + 1
        if e.get("pcap_cnt") != first:
            case.fail("%s: flow %s alerted at pcap_cnt %s, not at its first frame %d"
                      % (label, tag, e.get("pcap_cnt"), first))
        want = expected_signature(flow, frames, lambda a: case.is_vendor(a, case.extra_nets))
        if sig != want:
            case.fail("%s: flow %s: signature %r, expected %r" % (label, tag, sig, want))
    return per_tag


def property_new_flows(case, policy, pcap, frames, synth, frame_tag):
    """(c) Exactly one policy alert per violating flow, none anywhere else."""
    flows_by_tag = {f.tag: f for f in synth.flows}
    events, stats, problems = case.runner.run(pcap, case.enforce_nets, [policy.path])
    for p in problems:
        case.fail("(c) replay: %s" % p)
    per_tag = count_by_flow(case, "(c)", policy_alerts(events), frame_tag, flows_by_tag, frames)
    flow_ids = {}
    for f in synth.flows:
        got = per_tag.get(f.tag, [])
        want = 1 if f.expect == "violation" else 0
        if len(got) != want:
            case.fail("(c) %s flow %s (%s %s:%s -> %s:%s, frames %d-%d): %d policy alerts, "
                      "expected %d%s" % (f.expect, f.tag, f.proto, f.src, f.sport, f.dst, f.dport,
                                         f.frames[0] + 1, f.frames[-1] + 1, len(got), want,
                                         "".join("\n      pcap_cnt %s: %s" % (
                                             e.get("pcap_cnt"), e["alert"].get("signature"))
                                             for e in got)))
        for e in got:
            if e.get("flow_id") in flow_ids and flow_ids[e.get("flow_id")] != f.tag:
                case.fail("(c) flows %s and %s alerted with the same flow_id %s"
                          % (flow_ids[e.get("flow_id")], f.tag, e.get("flow_id")))
            flow_ids[e.get("flow_id")] = f.tag
    for e in per_tag.get("capture", []):
        case.fail("(c) policy alert on a frame of the original capture: pcap_cnt %s: %s"
                  % (e.get("pcap_cnt"), e["alert"].get("signature")))
    if stats.get("drops", {}).get("policy", 0):
        case.fail("(c) default alert, yet %d frames dropped for policy" % stats["drops"]["policy"])
    return sum(len(v) for v in per_tag.values())


def property_drop_exact(case, policy, pcap, frames, synth, frame_tag):
    """(d) default = "drop": -w holds the input minus the violating flows' frames."""
    drop_policy = with_default(policy.path, "drop", os.path.join(case.work, "learned-drop.toml"))
    out = os.path.join(case.work, "forwarded.pcap")
    events, stats, problems = case.runner.run(pcap, case.enforce_nets, [drop_policy], write_to=out)
    for p in problems:
        case.fail("(d) replay: %s" % p)
    violating = {f.tag for f in synth.flows if f.expect == "violation"}
    expected = [(i, fr) for i, fr in enumerate(frames) if frame_tag[i] not in violating]
    try:
        got, linktype = read_frames(out)
    except (OSError, tcp_reference.CaptureError) as e:
        case.fail("(d) cannot read the -w output: %s" % e)
        return 0, 0
    if linktype not in (None, 1):
        case.fail("(d) -w output link type %s, expected Ethernet" % linktype)
    # Aligned as sequences, so one missing or extra frame reads as just that.
    matcher = difflib.SequenceMatcher(None, [fr[1] for _, fr in expected], [fr[1] for fr in got],
                                      autojunk=False)
    diffs = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op in ("delete", "replace"):
            for i, fr in expected[i1:i2]:
                diffs.append("input frame %d (%s, %d bytes) missing from the -w output"
                             % (i + 1, frame_tag[i], len(fr[1])))
        if op in ("insert", "replace"):
            for j in range(j1, j2):
                data = got[j][1]
                inputs = [i + 1 for i, fr in enumerate(frames) if fr[1] == data]
                diffs.append("-w output frame %d (%d bytes) not expected there: %s" % (
                    j + 1, len(data), "input frame(s) %s (%s)" % (
                        inputs[:3], frame_tag[inputs[0] - 1]) if inputs else
                    "in no input frame: " + data[:48].hex()))
    for d in diffs[:20]:
        case.fail("(d) " + d)
    if len(diffs) > 20:
        case.fail("(d) ... %d differences in all" % len(diffs))
    dropped_frames = len(frames) - len(expected)
    policy_drops = stats.get("drops", {}).get("policy")
    if policy_drops != dropped_frames:
        case.fail("(d) stats drops.policy = %s, expected %d (the violating flows' frames)"
                  % (policy_drops, dropped_frames))
    alerts = policy_alerts(events)
    per_tag = collections.Counter(frame_tag.get(e.get("pcap_cnt", 0) - 1) for e in alerts)
    for tag in violating:
        if per_tag.get(tag) != 1:
            case.fail("(d) violating flow %s: %d policy alerts with default drop, expected 1"
                      % (tag, per_tag.get(tag, 0)))
    for tag, n in per_tag.items():
        if tag not in violating:
            case.fail("(d) %d policy alerts on %s, which is permitted" % (n, tag))
    return len(got), dropped_frames


# ---------------------------------------------------------------------------------------
# New flows on top of a learned policy

def _host_entries(allow):
    return [ipaddress.ip_network(n) for n in allow.get("dst_nets", [])
            if ipaddress.ip_network(n).prefixlen == ipaddress.ip_network(n).max_prefixlen]


def choose_template(policy):
    """The vendor allow the appended flows vary: TCP first, then UDP, then ICMP echo."""
    order = {"tcp": 0, "udp": 1, "icmp": 2}
    candidates = []
    for i, a in enumerate(policy.allows):
        if a.get("from") != "vendor" or a.get("proto") not in order:
            continue
        if not _host_entries(a) or not a.get("src_nets"):
            continue
        if a.get("proto") == "icmp" and a.get("icmp_types") not in ([8], [128]):
            continue
        candidates.append((order[a["proto"]], i, a))
    return min(candidates, key=lambda c: c[:2])[2] if candidates else None


def extend_capture(case, policy, frames, used_addrs):
    """The capture's frames followed by new flows varying one learned vendor service.
    Returns (synth, note) or (None, reason)."""
    tmpl = choose_template(policy)
    if tmpl is None:
        return None, "no vendor TCP/UDP/ICMP-echo allow with a host destination to vary"
    proto = tmpl["proto"]
    src = str(ipaddress.ip_network(tmpl["src_nets"][0]).network_address)
    dst = str(_host_entries(tmpl)[0].network_address)
    version = ipaddress.ip_address(src).version
    port = tmpl["icmp_types"][0] if proto == "icmp" else tmpl["dst_ports"][0]

    # A new source in the vendor nets: the next free address after the learned one, or a
    # spare documentation address added to the vendor nets for the enforce replays.
    learned_srcs = {ipaddress.ip_network(n).network_address for a in policy.allows
                    for n in a.get("src_nets", [])}
    new_srcs = []
    addr = ipaddress.ip_address(src)
    for step in range(1, 64):
        cand = addr + step
        if case.is_vendor(str(cand)) and str(cand) not in used_addrs and cand not in learned_srcs:
            new_srcs.append(str(cand))
        if len(new_srcs) == 2:
            break
    case.extra_nets = []
    if len(new_srcs) < 2:
        spare = ipaddress.ip_address(SPARE_SOURCE[version])
        new_srcs = [str(spare), str(spare + 1)]
        case.extra_nets = [ipaddress.ip_network(a) for a in new_srcs]
    case.enforce_nets = case.vendor_nets + [str(n) for n in case.extra_nets]

    def vendor(a):
        return case.is_vendor(a, case.extra_nets)

    # New destinations: outside every learned prefix.
    new_dsts = []
    block = NEW_DST_BLOCK[version]
    for k in range(10, 250):
        a = block.network_address + k
        if not any(a.version == n.version and a in n for _, n in policy.dst_entries()) \
                and str(a) not in used_addrs:
            new_dsts.append(str(a))
        if len(new_dsts) == 2:
            break
    t0 = max(f[0] for f in frames) + 1.0
    synth = Synth(t0, vendor)
    if proto == "icmp":
        synth.echo("replica-1", "allowed", True, src, dst, 0x5101)
        synth.echo("replica-2", "allowed", True, src, dst, 0x5102)
        for k, d in enumerate(new_dsts):
            synth.echo("new-destination-%d" % (k + 1), "violation", True, src, d, 0x5201 + k)
        synth.echo("new-port-1", "violation", True, src, dst, 0x5301, type_=13)
        for k, s in enumerate(new_srcs):
            synth.echo("new-source-%d" % (k + 1), "violation", True, s, dst, 0x5401 + k)
        return synth, "varying %s (%s -> %s); new ICMP type 13, destinations %s, sources %s%s" % (
            tmpl["name"], src, dst, new_dsts, new_srcs,
            " (added to the vendor nets)" if case.extra_nets else "")
    # New ports: free for this host under every allow.
    new_ports = []
    for p in list(range(port + 1, 65536)) + list(range(1, port)):
        if not policy.permits(True, proto, src, dst, 61000, p):
            new_ports.append(p)
        if len(new_ports) == 2:
            break
    make = synth.tcp if proto == "tcp" else synth.udp
    make("replica-1", "allowed", True, src, 61001, dst, port)
    make("replica-2", "allowed", True, src, 61002, dst, port)
    for k, d in enumerate(new_dsts):
        make("new-destination-%d" % (k + 1), "violation", True, src, 61011 + k, d, port)
    for k, p in enumerate(new_ports):
        make("new-port-%d" % (k + 1), "violation", True, src, 61021 + k, dst, p)
    for k, s in enumerate(new_srcs):
        make("new-source-%d" % (k + 1), "violation", True, s, 61031 + k, dst, port)
    return synth, "varying %s (%s -> %s:%d); new ports %s, destinations %s, sources %s%s" % (
        tmpl["name"], src, dst, port, new_ports, new_dsts, new_srcs,
        " (added to the vendor nets)" if case.extra_nets else "")


def check_intent(case, policy, synth):
    """The evaluator written from the spec must agree with what each flow is meant to be."""
    ok = True
    for f in synth.flows:
        if f.opener_vendor != case.is_vendor(f.src, case.extra_nets):
            ok = False
            case.fail("test construction: flow %s is meant to be opened by the %s side, but "
                      "%s is not there" % (f.tag, "vendor" if f.opener_vendor else "core", f.src))
        verdict = expected_verdict(policy, f, lambda a: case.is_vendor(a, case.extra_nets))
        if verdict != f.expect:
            ok = False
            case.fail("test construction: flow %s is meant to be %s, the learned policy makes it "
                      "%s (%s %s:%s -> %s:%s)" % (f.tag, f.expect, verdict, f.proto, f.src,
                                                   f.sport, f.dst, f.dport))
    return ok


def run_new_flow_properties(case, policy, frames, synth, note):
    """(c) and (d) on the capture extended with `synth`."""
    all_frames = [(ts, data, wire) for ts, data, wire in frames] + \
        [(ts, data, len(data)) for ts, data in synth.frames]
    base = len(frames)
    for f in synth.flows:
        f.frames = [base + i for i in f.frames]
    frame_tag = {i: "capture" for i in range(base)}
    for f in synth.flows:
        for i in f.frames:
            frame_tag[i] = f.tag
    pcap = os.path.join(case.work, "extended.pcap")
    write_pcap(pcap, all_frames)
    violating = [f for f in synth.flows if f.expect == "violation"]
    case.figures["new flows"] = "%d (%d violating, %d frames appended); %s" % (
        len(synth.flows), len(violating), len(synth.frames), note)
    if not check_intent(case, policy, synth):
        return
    alerts = property_new_flows(case, policy, pcap, all_frames, synth, frame_tag)
    forwarded, dropped = property_drop_exact(case, policy, pcap, all_frames, synth, frame_tag)
    case.figures["(c) policy alerts"] = "%d for %d violating flows" % (alerts, len(violating))
    case.figures["(d) drop default"] = "%d of %d frames forwarded, %d dropped" % (
        forwarded, len(all_frames), dropped)


def learn_and_check(case):
    """Learn under the default, narrow and host-only limits; (a) and (b) on each file that
    enforces. Returns the default-limits policy."""
    learned = {}
    for label, limits in (("default", None), ("narrow", NARROW_LIMITS),
                          ("hosts", HOSTS_ONLY_LIMITS)):
        policy = case.learn(limits, label)
        if policy is None:
            return None
        check_learned_file(case, policy, limits or DEFAULT_LIMITS, label)
        learned[label] = policy
    for label, limits in (("default", DEFAULT_LIMITS), ("narrow", NARROW_LIMITS)):
        policy = learned[label]
        alerts = property_replay_clean(case, policy, label)
        property_prefix_limits(case, policy, limits, label)
        property_aggregation(case, policy, learned["hosts"], limits, label)
        fl = policy.header_figures() or (None, None, None)
        case.aggregated[label] = len(policy.aggregated())
        case.figures["learned (%s limits)" % label] = (
            "%s flows, %s observations, %s allows, %d aggregated entries %s; replay: %d policy "
            "alerts" % (fl[0], fl[1], fl[2], len(policy.aggregated()),
                        [str(n) for _, n in policy.aggregated()], alerts))
    return learned


# ---------------------------------------------------------------------------------------
# The synthetic capture

def synthetic_learn_capture(is_vendor):
    """What the vendor box (192.0.2.10, 2001:db8:1::10) and a core host do normally. The DNS
    and NTP servers sit in pairs, each pair in its own block of the narrow limits (/28,
    /120) and all four in one block of the default ones (/24, /64): the default limits
    aggregate them into one wide prefix (/25, /111), the narrow ones into two (/31, /125)."""
    s = Synth(1700000000.0, is_vendor)
    v4, v6 = "192.0.2.10", "2001:db8:1::10"
    s.tcp("l-https", "allowed", True, v4, 50000, "198.51.100.10", 443)
    s.tcp("l-https-2", "allowed", True, v4, 50001, "198.51.100.10", 443)
    for k, host in enumerate(("198.51.100.50", "198.51.100.51", "198.51.100.66", "198.51.100.67")):
        s.udp("l-dns-%d" % k, "allowed", True, v4, 50010 + k, host, 53, exchanges=1)
    s.udp("l-dns-second-source", "allowed", True, "192.0.2.11", 50020, "198.51.100.51", 53)
    s.echo("l-ping", "allowed", True, v4, "198.51.100.1", 0x0101)
    s.tcp("l-ssh-from-core", "allowed", False, "198.51.100.20", 50030, v4, 22)
    s.tcp("l-https-v6", "allowed", True, v6, 50040, "2001:db8:2::10", 443)
    for k, host in enumerate(("2001:db8:2::123", "2001:db8:2::124", "2001:db8:2::1:123",
                              "2001:db8:2::1:124")):
        s.udp("l-ntp-v6-%d" % k, "allowed", True, v6, 50041 + k, host, 123, exchanges=1)
    s.echo("l-ping-v6", "allowed", True, v6, "2001:db8:2::1", 0x0102)
    return s


# Aggregates the default limits must make of synthetic_learn_capture, and the narrow ones.
SYNTHETIC_AGGREGATES = {
    "default": {"198.51.100.0/25", "2001:db8:2::/111"},
    "narrow": {"198.51.100.50/31", "198.51.100.66/31", "2001:db8:2::120/125",
               "2001:db8:2::1:120/125"},
}


def synthetic_test_flows(t0, is_vendor):
    """Flows replayed against what synthetic_learn_capture taught (default limits)."""
    s = Synth(t0, is_vendor)
    v4, v6 = "192.0.2.10", "2001:db8:1::10"
    # Learned services again, new ephemeral ports or ICMP ids; replies included; ICMP errors
    # quoting them, from their peer or from a router on the way.
    https = s.tcp("replica-https", "allowed", True, v4, 51000, "198.51.100.10", 443)
    s.icmp_error("icmp-error-frag-needed-router", "allowed", https, "198.51.100.254",
                 "fragmentation_needed")
    dns = s.udp("replica-dns", "allowed", True, v4, 51001, "198.51.100.66", 53)
    s.icmp_error("icmp-error-port-unreachable", "allowed", dns, "198.51.100.66",
                 "port_unreachable")
    s.udp("unseen-host-inside-aggregate-dns", "allowed", True, v4, 51002, "198.51.100.100", 53)
    s.echo("replica-ping", "allowed", True, v4, "198.51.100.1", 0x0201)
    s.tcp("replica-ssh-from-core", "allowed", False, "198.51.100.20", 51003, v4, 22)
    https6 = s.tcp("replica-https-v6", "allowed", True, v6, 51004, "2001:db8:2::10", 443)
    s.icmp_error("icmp-error-v6-packet-too-big-router", "allowed", https6, "2001:db8:2::fffe",
                 "packet_too_big")
    ntp6 = s.udp("replica-ntp-v6", "allowed", True, v6, 51005, "2001:db8:2::124", 123)
    s.icmp_error("icmp-error-v6-port-unreachable", "allowed", ntp6, "2001:db8:2::124",
                 "port_unreachable")
    s.udp("unseen-host-inside-aggregate-ntp-v6", "allowed", True, v6, 51006, "2001:db8:2::1:1",
          123)
    s.echo("replica-ping-v6", "allowed", True, v6, "2001:db8:2::1", 0x0202)
    # Mid-stream pickups of permitted flows: the server speaks first (only the reverse
    # orientation is permitted), the client speaks first.
    s.tcp("midstream-server-first", "allowed", True, v4, 51010, "198.51.100.10", 443,
          midstream="server")
    s.tcp("midstream-client-first", "allowed", True, v4, 51011, "198.51.100.10", 443,
          midstream="client")
    s.tcp("midstream-v6-server-first", "allowed", True, v6, 51012, "2001:db8:2::10", 443,
          midstream="server")
    s.tcp("midstream-core-ssh-vendor-first", "allowed", False, "198.51.100.20", 51013, v4, 22,
          midstream="server")
    # New destinations outside every learned prefix.
    s.tcp("new-destination-tcp", "violation", True, v4, 52000, "203.0.113.10", 443)
    s.tcp("new-destination-tcp-2", "violation", True, v4, 52001, "203.0.113.11", 443)
    s.udp("new-destination-dns-past-aggregate", "violation", True, v4, 52002, "198.51.100.200",
          53)
    s.echo("new-destination-ping", "violation", True, v4, "203.0.113.12", 0x0301)
    s.udp("new-destination-ntp-v6", "violation", True, v6, 52003, "2001:db8:2::2:123", 123)
    s.echo("new-destination-ping-v6", "violation", True, v6, "2001:db8:3::1", 0x0302)
    # New ports (and ICMP types) on learned hosts.
    s.tcp("new-port-tcp", "violation", True, v4, 52010, "198.51.100.10", 8443)
    s.tcp("new-port-tcp-2", "violation", True, v4, 52011, "198.51.100.10", 80)
    s.udp("new-port-udp", "violation", True, v4, 52012, "198.51.100.50", 54)
    s.echo("new-port-icmp-timestamp", "violation", True, v4, "198.51.100.1", 0x0303, type_=13)
    s.tcp("new-port-tcp-v6", "violation", True, v6, 52013, "2001:db8:2::10", 80)
    s.udp("new-port-udp-v6", "violation", True, v6, 52014, "2001:db8:2::123", 124)
    s.tcp("new-port-from-core", "violation", False, "198.51.100.20", 52015, v4, 23)
    # New sources in the vendor nets.
    s.tcp("new-source-tcp", "violation", True, "192.0.2.77", 52020, "198.51.100.10", 443)
    s.udp("new-source-udp", "violation", True, "192.0.2.78", 52021, "198.51.100.50", 53)
    s.echo("new-source-ping", "violation", True, "192.0.2.79", "198.51.100.1", 0x0304)
    s.tcp("new-source-tcp-v6", "violation", True, "2001:db8:1::77", 52022, "2001:db8:2::10", 443)
    s.echo("new-source-ping-v6", "violation", True, "2001:db8:1::78", "2001:db8:2::1", 0x0305)
    # A mid-stream flow neither orientation of which is permitted.
    s.tcp("midstream-violation", "violation", True, v4, 52030, "203.0.113.20", 25,
          midstream="client")
    s.tcp("midstream-violation-v6", "violation", True, v6, 52031, "2001:db8:3::25", 25,
          midstream="server")
    # An ICMP error quoting a flow that never was (to a destination no allow names): it is
    # a flow of its own, opened by the core side, and permitted by nothing.
    ghost = ip_packet(v4, "203.0.113.53", 17,
                      udp_datagram(v4, "203.0.113.53", 52040, 53, b"never sent"), 0x777)
    s.icmp_error("icmp-error-quoting-unknown-flow", "violation", ghost, "198.51.100.99",
                 "port_unreachable")
    return s


# ---------------------------------------------------------------------------------------

def check_capture(case):
    try:
        frames, linktype = read_frames(case.path)
    except (OSError, tcp_reference.CaptureError) as e:
        case.fail("cannot read: %s" % e)
        return
    if linktype != 1:
        case.fail("link type %s: the appended flows are Ethernet" % linktype)
        return
    case.figures["capture"] = "%d frames, vendor nets %s" % (len(frames), case.vendor_nets)
    learned = learn_and_check(case)
    if learned is None:
        return
    used = set()
    for _, data, _ in frames:
        addrs = frame_addresses(data)
        if addrs:
            used.update(addrs)
    synth, note = extend_capture(case, learned["default"], frames, used)
    if synth is None:
        case.fail(note)
        return
    run_new_flow_properties(case, learned["default"], frames, synth, note)


def check_synthetic(case):
    learn_synth = synthetic_learn_capture(case.is_vendor)
    write_pcap(case.path, learn_synth.frames)
    case.figures["capture"] = "%d frames in %d flows (written here), vendor nets %s" % (
        len(learn_synth.frames), len(learn_synth.flows), case.vendor_nets)
    learned = learn_and_check(case)
    if learned is None:
        return
    for label, want in SYNTHETIC_AGGREGATES.items():
        got = {str(n) for _, n in learned[label].aggregated()}
        if got != want:
            case.fail("(b) %s limits: aggregated destinations %s, expected %s"
                      % (label, sorted(got), sorted(want)))
    policy = learned["default"]
    synth = synthetic_test_flows(learn_synth.frames[-1][0] + 1.0, case.is_vendor)
    frames = [(ts, data, len(data)) for ts, data in learn_synth.frames]
    run_new_flow_properties(case, policy, frames, synth,
                            "replicas, mid-stream, ICMP errors, new destinations/ports/sources")


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sentinel")
    parser.add_argument("corpus")
    parser.add_argument("--keep", help="keep the work directory here")
    args = parser.parse_args()
    t0 = time.time()
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        holder, work = None, args.keep
    else:
        holder = tempfile.TemporaryDirectory(prefix="sentinel-policy-learn-")
        work = holder.name
    runner = Runner(args.sentinel, work)
    cases = []
    try:
        for name, nets in CAPTURES:
            path = os.path.join(args.corpus, "pcaps", name)
            case = Case(name, path, nets, runner, work)
            cases.append(case)
            if not os.path.isfile(path):
                case.fail("corpus file missing: %s" % path)
                continue
            check_capture(case)
        synthetic = Case("synthetic", os.path.join(work, "synthetic-learn.pcap"),
                         SYN_VENDOR_NETS, runner, work)
        cases.append(synthetic)
        check_synthetic(synthetic)
    finally:
        if holder is not None:
            holder.cleanup()
        else:
            print("work directory kept: %s" % work)

    failures = []
    for case in cases:
        print("%s:" % case.name)
        for k, v in case.figures.items():
            print("  %-26s %s" % (k, v))
        for n in case.notes:
            print("  note: " + n)
        print("  %-26s %s" % ("result", "FAIL (%d)" % len(case.failures) if case.failures
                              else "pass"))
        failures += case.failures
    narrow_aggregates = sum(c.aggregated.get("narrow", 0) for c in cases)
    if narrow_aggregates == 0:
        failures.append("no capture aggregated destinations under the narrow limits: (b) "
                        "untested there")
    print("time: %.1f s in all, %d sentinel runs (%.1f s)" % (time.time() - t0, runner.count,
                                                             runner.seconds))
    for f in failures:
        print("FAIL: " + f)
    print("RESULT: %s" % ("FAIL (%d problems)" % len(failures) if failures else "PASS"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
