#!/usr/bin/python3
# Writes the send.pcap of every generated scenario (topic `signatures`). Deterministic:
# fixed addresses, ports, ISNs, IP ids and timestamps (1 ms apart from 2023-11-14
# 22:13:20 UTC), checksums computed by scapy unless a case breaks one on purpose. The
# outputs are checked in next to each scenario.toml; rerun this after changing a case and
# review the frame numbers the scenario.toml names.
#
#   /usr/bin/python3 make_pcaps.py            # (re)write every send.pcap
#   /usr/bin/python3 make_pcaps.py --check    # exit 1 if a checked-in send.pcap differs
#   /usr/bin/python3 make_pcaps.py --list     # print each case's frames (number, summary)
#
# Roles: the vendor box is 192.0.2.10 (vendor_nets = ["192.0.2.0/24"], the runner's
# default), core hosts are in 198.51.100.0/24. Most flows are a core client talking to a
# service of the vendor box, so the client's bytes travel to_vendor and the box's replies
# to_core. Stream offsets ("rel") count from the first byte after the SYN.
import argparse
import struct
import sys
from pathlib import Path

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.inet import IPOption_NOP, IPOption_RR
from scapy.layers.l2 import Dot1AD, Dot1Q, Ether

HERE = Path(__file__).resolve().parent
TOPIC = HERE / "signatures"

VENDOR_BOX = "192.0.2.10"
CORE_HOST = "198.51.100.20"
VENDOR_MAC = "02:00:00:00:0a:0a"
CORE_MAC = "02:00:00:00:14:14"
BASE_TIME_US = 1_700_000_000 * 1_000_000


class Capture:
    """Frames in capture order; frame numbers are 1-based, as pcap_cnt."""

    def __init__(self, name):
        self.name = name
        self.frames = []  # (bytes, summary)

    def add(self, pkt, summary):
        self.frames.append((bytes(pkt), summary))
        return len(self.frames)

    def pcap_bytes(self):
        out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (frame, _) in enumerate(self.frames):
            ts = BASE_TIME_US + (i + 1) * 1000
            out += struct.pack("<IIII", ts // 1_000_000, ts % 1_000_000, len(frame), len(frame))
            out += frame
        return bytes(out)


VENDOR_BOX6 = "2001:db8:1::10"   # in vendor_nets 2001:db8:1::/48 (ipv6 case)
CORE_HOST6 = "2001:db8:2::20"


def mac_of(ip):
    return VENDOR_MAC if ip.startswith(("192.0.2.", "2001:db8:1:")) else CORE_MAC


def l2(src_ip, dst_ip, tags=()):
    eth = Ether(src=mac_of(src_ip), dst=mac_of(dst_ip))
    if len(tags) == 1:
        return eth / Dot1Q(vlan=tags[0])
    if len(tags) == 2:
        return eth / Dot1AD(vlan=tags[0]) / Dot1Q(vlan=tags[1])
    return eth


def ip_layer(src, dst, ipid):
    if ":" in src:
        return IPv6(src=src, dst=dst, hlim=64, fl=ipid & 0xFFFFF)
    return IP(src=src, dst=dst, id=ipid, ttl=64)


class Tcp:
    """One TCP connection between a client (side 'c') and a server (side 's')."""

    def __init__(self, cap, cli, srv, cli_isn=1_000_000, srv_isn=5_000_000, tags=()):
        self.cap = cap
        self.tags = tags  # VLAN ids, outermost first: one is 802.1Q, two are 802.1ad + 802.1Q
        self.ip_extra = None  # set by a case: "options" (IPv4) or "ext" (IPv6) for the next data segment
        self.ep = {"c": cli, "s": srv}  # (ip, port)
        self.isn = {"c": cli_isn, "s": srv_isn}
        self.nxt = {"c": 0, "s": 0}  # highest stream offset sent + 1
        self.fin = {"c": 0, "s": 0}  # 1 once the side sent its FIN (it takes a sequence number)
        self.ipid = {"c": 0x1000 + cli[1] % 256 * 16, "s": 0x8000 + cli[1] % 256 * 16}

    @staticmethod
    def peer(side):
        return "s" if side == "c" else "c"

    def seq_of(self, side, rel):
        return (self.isn[side] + 1 + rel) % 2**32

    def ack_for(self, side):
        other = self.peer(side)
        return self.seq_of(other, self.nxt[other] + self.fin[other])

    def packet(self, side, flags, seq, ack, payload=b"", options=None, bad_checksum=False, bad_ip_checksum=False):
        src, dst = self.ep[side], self.ep[self.peer(side)]
        self.ipid[side] += 1
        tcp = TCP(sport=src[1], dport=dst[1], seq=seq, ack=ack if "A" in flags else 0, flags=flags,
                  window=64240, options=options or [])
        l3 = ip_layer(src[0], dst[0], self.ipid[side])
        if self.ip_extra == "options":
            l3.options = [IPOption_NOP(), IPOption_RR(routers=["10.9.9.9"]), IPOption_NOP()]
        elif self.ip_extra == "ext":
            l3 = l3 / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
        pkt = l2(src[0], dst[0], self.tags) / l3 / tcp
        if payload:
            pkt = pkt / payload
        if bad_checksum:
            pkt = Ether(bytes(pkt))
            pkt[TCP].chksum ^= 0x5A5A
        if bad_ip_checksum:
            pkt = Ether(bytes(pkt))
            pkt[IP].chksum ^= 0x5A5A
        return pkt

    def handshake(self, syn_payload=b"", syn_options=None):
        c, s = self.ep["c"], self.ep["s"]
        n1 = self.cap.add(self.packet("c", "S", self.isn["c"], 0, syn_payload, syn_options),
                          f"SYN {c} > {s}" + (f" +{len(syn_payload)}B TFO data" if syn_payload else ""))
        self.nxt["c"] += len(syn_payload)
        self.cap.add(self.packet("s", "SA", self.isn["s"], self.ack_for("s")), "SYN-ACK")
        self.cap.add(self.packet("c", "A", self.seq_of("c", self.nxt["c"]), self.ack_for("c")), "ACK")
        return n1

    def data(self, side, payload, rel=None, flags="PA", bad_checksum=False, bad_ip_checksum=False, note=""):
        if rel is None:
            rel = self.nxt[side]
        pkt = self.packet(side, flags, self.seq_of(side, rel), self.ack_for(side), payload,
                          bad_checksum=bad_checksum, bad_ip_checksum=bad_ip_checksum)
        self.nxt[side] = max(self.nxt[side], rel + len(payload))
        arrow = "to_server" if side == "c" else "to_client"
        return self.cap.add(pkt, f"{arrow} rel {rel} len {len(payload)} {payload[:40]!r} {note}".rstrip())

    def rst(self, side, rel, note=""):
        return self.cap.add(self.packet(side, "R", self.seq_of(side, rel), 0), f"RST from {side} at rel {rel} {note}".rstrip())

    def ack(self, side):
        return self.cap.add(self.packet(side, "A", self.seq_of(side, self.nxt[side] + self.fin[side]),
                                        self.ack_for(side)), f"ACK from {side}")

    def close(self):
        """FIN from the client, FIN-ACK from the server, last ACK: three frames."""
        first = self.cap.add(self.packet("c", "FA", self.seq_of("c", self.nxt["c"]), self.ack_for("c")),
                             "FIN from c")
        self.fin["c"] = 1
        self.cap.add(self.packet("s", "FA", self.seq_of("s", self.nxt["s"]), self.ack_for("s")), "FIN from s")
        self.fin["s"] = 1
        self.cap.add(self.packet("c", "A", self.seq_of("c", self.nxt["c"] + 1), self.ack_for("c")), "last ACK")
        return first


def udp(cap, src, dst, payload, ipid, tags=()):
    pkt = (l2(src[0], dst[0], tags) / ip_layer(src[0], dst[0], ipid)
           / UDP(sport=src[1], dport=dst[1]) / payload)
    return cap.add(pkt, f"UDP {src} > {dst} {payload[:40]!r}")


def icmp_echo(cap, src, dst, type_, ident, seqno, payload, ipid):
    pkt = (Ether(src=mac_of(src), dst=mac_of(dst)) / IP(src=src, dst=dst, id=ipid, ttl=64)
           / ICMP(type=type_, code=0, id=ident, seq=seqno) / payload)
    return cap.add(pkt, f"ICMP type {type_} {src} > {dst} {payload[:40]!r}")


def web(port):
    """A core client (198.51.100.20:port) and the vendor box's web server (192.0.2.10:80)."""
    return (CORE_HOST, port), (VENDOR_BOX, 80)


# ----------------------------------------------------------------------------- cases
CASES = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


@case
def one_segment(cap):
    t = Tcp(cap, *web(40000))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /cgi-bin/luci/;stok=/locale?form=country&operation=write&country=$(EVIL_MARKER) "
                b"HTTP/1.1\r\nHost: 192.0.2.10\r\n\r\n")                              # 4
    t.ack("s")                                                                     # 5
    t.data("s", RESPONSE)                                                          # 6
    t.ack("c")                                                                     # 7
    t.close()                                                                      # 8-10


@case
def split_two_segments(cap):
    t = Tcp(cap, *web(40001))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /cgi-bin/EVIL_MA")                                           # 4
    t.data("c", b"RKER HTTP/1.0\r\n\r\n")                                          # 5
    t.ack("s")                                                                     # 6
    t.data("s", RESPONSE)                                                          # 7
    t.ack("c")                                                                     # 8
    t.close()                                                                      # 9-11


@case
def split_one_byte_segments(cap):
    t = Tcp(cap, *web(40002))
    t.handshake()                                                                  # 1-3
    for b in b"GET /EVIL_MARKER HTTP/1.0\r\n\r\n":                                  # 4-32
        t.data("c", bytes([b]))
    t.ack("s")                                                                     # 33
    t.close()                                                                      # 34-36


@case
def out_of_order(cap):
    t = Tcp(cap, *web(40003))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /index.html?q=")                                             # 4: rel 0..17
    t.data("c", b"MARKER HTTP/1.0\r\n\r\n", rel=23, note="(after a gap)")          # 5: rel 23..41
    t.data("c", b"EVIL_", rel=18, note="(fills the gap)")                          # 6: rel 18..22
    t.ack("s")                                                                     # 7
    t.data("s", RESPONSE)                                                          # 8
    t.ack("c")                                                                     # 9
    t.close()                                                                      # 10-12


@case
def overlap_conflict(cap):
    t = Tcp(cap, *web(40004))
    t.handshake()                                                                  # 1-3
    t.data("c", b"USER GOODGUY\r\n")                                               # 4: rel 0..13
    t.data("c", b"USER GOODGUY\r\n", rel=0, note="(identical retransmission)")    # 5
    t.data("c", b"USER EVILGUY\r\n", rel=0, note="(conflicting retransmission)")  # 6
    t.data("c", b"PASS ABCDEFGH")                                                  # 7: rel 14..26
    t.data("c", b"XXXXXXXX\r\nQUIT\r\n", rel=19, note="(conflicts on 19..26, new from 27)")  # 8
    t.ack("s")                                                                     # 9
    t.close()                                                                      # 10-12


@case
def multi_item(cap):
    t = Tcp(cap, *web(40005))
    t.handshake()                                                                  # 1-3
    t.data("c", b"HELLO AAA_ONE yy\r\n")                                           # 4
    t.ack("s")                                                                     # 5
    t.data("s", b"SRV_ONE BBB_TWO\r\n")                                            # 6 (to_core)
    t.ack("c")                                                                     # 7
    t.data("c", b"xx BBB_TWO xx\r\n")                                              # 8
    t.ack("s")                                                                     # 9
    t.close()                                                                      # 10-12


@case
def nocase(cap):
    t = Tcp(cap, *web(40006))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /ADMIN/EviL_MaRkEr?x=X{1} HTTP/1.0\r\n\r\n")                 # 4
    t.ack("s")                                                                     # 5
    t.close()                                                                      # 6-8


@case
def offset_depth(cap):
    t = Tcp(cap, *web(40007))
    t.handshake()                                                                  # 1-3
    t.data("c", b"012345")                                                         # 4: rel 0..5
    t.data("c", b"6789MARK0123456789")                                             # 5: MARK at rel 10..13
    t.ack("s")                                                                     # 6
    t.close()                                                                      # 7-9


@case
def constraints(cap):
    t = Tcp(cap, *web(40008))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /EVIL_MARKER HTTP/1.0\r\n\r\n")                              # 4
    t.ack("s")                                                                     # 5
    t.close()                                                                      # 6-8


@case
def udp_payload(cap):
    cli, srv = (CORE_HOST, 50000), (VENDOR_BOX, 161)
    udp(cap, cli, srv, b"public EVIL_MARKER one", 0x2001)                          # 1
    udp(cap, srv, cli, b"reply", 0x9001)                                           # 2 (to_core)
    udp(cap, cli, srv, b"public EVIL_MARKER EVIL_MARKER two", 0x2002)              # 3
    udp(cap, cli, srv, b"split EVIL_", 0x2003)                                     # 4
    udp(cap, cli, srv, b"MARKER split", 0x2004)                                    # 5
    udp(cap, cli, srv, b"xxMARK", 0x2005)                                          # 6


@case
def icmp_payload(cap):
    icmp_echo(cap, CORE_HOST, VENDOR_BOX, 8, 0x77, 1, b"ping EVIL_MARKER", 0x3001)  # 1 echo request
    icmp_echo(cap, VENDOR_BOX, CORE_HOST, 0, 0x77, 1, b"ping EVIL_MARKER", 0xA001)  # 2 echo reply


@case
def drop_flow(cap):
    a = Tcp(cap, *web(40010))
    b = Tcp(cap, *web(40011), cli_isn=2_000_000, srv_isn=6_000_000)
    a.handshake()                                                                  # 1-3
    b.handshake()                                                                  # 4-6
    a.data("c", b"GET /EVIL_MARKER HTTP/1.0\r\n\r\n")                              # 7  trigger
    b.data("c", b"GET /benign HTTP/1.0\r\n\r\n")                                   # 8
    a.ack("s")                                                                     # 9
    a.data("s", b"HTTP/1.0 200 OK\r\n\r\n")                                         # 10
    b.data("s", b"HTTP/1.0 200 OK\r\n\r\n")                                         # 11
    a.data("c", b"GET /EVIL_MARKER HTTP/1.0\r\n\r\n", rel=0, note="(retransmission)")  # 12
    a.close()                                                                      # 13-15
    b.close()                                                                      # 16-18


@case
def reject_tcp(cap):
    t = Tcp(cap, *web(40012))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /EVIL_MARKER HTTP/1.0\r\n\r\n")                              # 4 trigger
    t.ack("s")                                                                     # 5
    t.data("s", b"HTTP/1.0 200 OK\r\n\r\n")                                         # 6
    udp(cap, (CORE_HOST, 50003), (VENDOR_BOX, 514), b"unrelated", 0x2101)          # 7
    t.cap.add(t.packet("c", "FA", t.seq_of("c", t.nxt["c"]), t.ack_for("c")), "FIN from c")  # 8


@case
def reject_udp(cap):
    cli, srv = (CORE_HOST, 50001), (VENDOR_BOX, 161)
    udp(cap, cli, srv, b"hello", 0x2201)                                           # 1
    udp(cap, srv, cli, b"reply", 0x9201)                                           # 2
    udp(cap, cli, srv, b"get EVIL_MARKER", 0x2202)                                 # 3 trigger
    udp(cap, srv, cli, b"late reply", 0x9202)                                      # 4
    udp(cap, cli, srv, b"again", 0x2203)                                           # 5
    udp(cap, (CORE_HOST, 50002), srv, b"other flow", 0x2301)                      # 6


@case
def pass_suppresses(cap):
    a = Tcp(cap, *web(40013))
    b = Tcp(cap, *web(40014), cli_isn=2_000_000, srv_isn=6_000_000)
    a.handshake()                                                                  # 1-3
    a.data("c", b"GET /PASS_TOKEN/EVIL_MARKER/DROP_TOKEN/REJECT_TOKEN HTTP/1.0\r\n\r\n")  # 4
    a.ack("s")                                                                     # 5
    a.data("c", b"GET /EVIL_MARKER/DROP_TOKEN again\r\n")                          # 6
    a.data("s", b"HTTP/1.0 200 OK\r\n\r\nEVIL_MARKER")                              # 7
    a.close()                                                                      # 8-10
    b.handshake()                                                                  # 11-13
    b.data("c", b"GET /EVIL_MARKER HTTP/1.0\r\n\r\n")                              # 14
    b.close()                                                                      # 15-17


@case
def precedence_drop_over_reject(cap):
    t = Tcp(cap, *web(40015))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /REJECT_TOKEN/DROP_TOKEN/EVIL_MARKER HTTP/1.0\r\n\r\n")      # 4 trigger
    t.ack("s")                                                                     # 5
    t.data("s", b"HTTP/1.0 200 OK\r\n\r\n")                                         # 6
    t.close()                                                                      # 7-9


@case
def tcp_fast_open(cap):
    t = Tcp(cap, *web(40016))
    syn_data = b"GET /EVIL_MARKER HTTP/1.1\r\n"                                    # 27 bytes, rel 0..26
    t.handshake(syn_payload=syn_data,
                syn_options=[("MSS", 1460), ("TFO", b"\x8a\x17\x3c\x41\x55\x02\x9e\xd1")])  # 1-3
    t.data("c", b"SECOND_PART\r\n\r\n")                                            # 4: rel 27..
    t.ack("s")                                                                     # 5
    t.close()                                                                      # 6-8


@case
def seq_wraparound(cap):
    # Client ISN 2^32-16: rel 0 is sequence 0xFFFFFFF1, rel 15 is sequence 0.
    # Server ISN 2^32-6: its rel 5 is sequence 0.
    t = Tcp(cap, *web(40017), cli_isn=0xFFFFFFF0, srv_isn=0xFFFFFFFA)
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /aaaaa")                                                     # 4: rel 0..9
    t.data("c", b"MARKER bbbb\r\n\r\n", rel=15, note="(seq 0, after the wrap, early)")  # 5
    t.data("c", b"EVIL_", rel=10, note="(seq 0xFFFFFFFB, fills the gap up to the wrap)")  # 6
    t.ack("s")                                                                     # 7
    t.data("s", b"xxxWRAP_MARKxx\r\n")                                             # 8: WRAP_MARK at rel 3..11 (wrap at 5)
    t.ack("c")                                                                     # 9
    t.close()                                                                      # 10-12


@case
def bad_checksum_drop(cap):
    t = Tcp(cap, *web(40018))
    t.handshake()                                                                  # 1-3
    t.data("c", b"USER EVILGUY\r\n", bad_checksum=True, note="(bad TCP checksum)") # 4
    t.data("c", b"USER GOODGUY\r\n", rel=0, note="(good retransmission)")         # 5
    t.ack("s")                                                                     # 6
    t.close()                                                                      # 7-9


@case
def reassembly_overflow(cap):
    # Run with reassembly_buffer = 16: after frame 4 the window is offsets 5..20, after
    # frame 6 it is 16..31.
    t = Tcp(cap, *web(40019))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /")                                                          # 4: 0..4
    t.data("c", b"VIL_ONE xx", rel=6, note="(out of order, fits the window)")      # 5: 6..15
    t.data("c", b"E", rel=5, note="(fills the gap)")                               # 6: 5
    t.data("c", b"xxxx EVIL_TWO " + b"y" * 26, rel=20, note="(out of order, beyond the window)")  # 7: 20..59
    t.data("c", b"abcd", rel=16, note="(fills the gap)")                           # 8: 16..19
    t.data("c", b" EVIL_THREE\r\n\r\n")                                           # 9: 60..74
    t.ack("s")                                                                     # 10
    t.close()                                                                      # 11-13


@case
def inspect_depth(cap):
    # Run with inspect_depth = 32: offsets 0..31 of each direction are scanned.
    t = Tcp(cap, *web(40020))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /0123456789abcdefEDGE_MARK1")                                # 4: 0..30 (EDGE_MARK1 at 21..30)
    t.data("c", b"Z")                                                              # 5: 31
    t.data("c", b"EDGE_MARK2 HTTP/1.0\r\n\r\n")                                   # 6: 32..
    t.ack("s")                                                                     # 7
    t.data("s", b"HTTP/1.0 200 OK\r\nX-Pad: 12STRADDLE_MARK\r\n\r\n")            # 8: STRADDLE_MARK at 28..40
    t.ack("c")                                                                     # 9
    t.close()                                                                      # 10-12


@case
def ipv6(cap):
    t = Tcp(cap, (CORE_HOST6, 40021), (VENDOR_BOX6, 80))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /EVIL_")                                                     # 4
    t.data("c", b"MARKER HTTP/1.0\r\n\r\n")                                       # 5
    t.ack("s")                                                                     # 6
    t.close()                                                                      # 7-9
    cap.add(Ether(src=CORE_MAC, dst=VENDOR_MAC) / IPv6(src=CORE_HOST6, dst=VENDOR_BOX6, hlim=64)
            / ICMPv6EchoRequest(id=0x66, seq=1, data=b"ping6 EVIL_MARKER"),
            "ICMPv6 echo request with EVIL_MARKER")                               # 10
    udp(cap, (CORE_HOST6, 50006), (VENDOR_BOX6, 161), b"get REJECT_ME", 0x2401)   # 11 trigger
    udp(cap, (VENDOR_BOX6, 161), (CORE_HOST6, 50006), b"late reply", 0x9401)      # 12


@case
def reject_tcp_call_home(cap):
    # The vendor box opens the connection: a beacon to a core-side host.
    t = Tcp(cap, (VENDOR_BOX, 45000), ("198.51.100.50", 443), cli_isn=7_000_000, srv_isn=9_000_000)
    t.handshake()                                                                  # 1-3
    t.data("c", b"BEACON id=42 CALL_HOME_MARKER\n")                               # 4 trigger
    t.ack("s")                                                                     # 5
    t.close()                                                                      # 6-8
    dns = ("198.51.100.53", 53)
    udp(cap, (VENDOR_BOX, 45001), dns, b"\x12\x34 CALL_HOME_MARKER query", 0x8801)  # 9 trigger
    udp(cap, dns, (VENDOR_BOX, 45001), b"\x12\x34 answer", 0x3801)                  # 10


@case
def overlap_buffered(cap):
    t = Tcp(cap, *web(40022))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /")                                                          # 4: 0..4
    t.data("c", b"FIRST_SEEN\r\n", rel=10, note="(out of order)")               # 5: 10..21
    t.data("c", b"LATER_BYTE\r\n", rel=10, note="(conflicts with buffered bytes)")  # 6: 10..21
    t.data("c", b"abcde", rel=5, note="(fills the gap)")                           # 7: 5..9
    t.ack("s")                                                                     # 8
    t.close()                                                                      # 9-11


@case
def pass_udp(cap):
    cli, srv = (CORE_HOST, 50010), (VENDOR_BOX, 161)
    udp(cap, cli, srv, b"PASS_TOKEN EVIL_MARKER", 0x2501)                          # 1
    udp(cap, cli, srv, b"EVIL_MARKER again", 0x2502)                               # 2
    udp(cap, srv, cli, b"EVIL_MARKER reply", 0x9501)                               # 3
    udp(cap, (CORE_HOST, 50011), srv, b"EVIL_MARKER other flow", 0x2601)          # 4


@case
def once_per_direction(cap):
    a = Tcp(cap, *web(40023))
    b = Tcp(cap, *web(40024), cli_isn=2_000_000, srv_isn=6_000_000)
    a.handshake()                                                                  # 1-3
    a.data("c", b"EVIL_MARKER one\r\n")                                           # 4
    a.ack("s")                                                                     # 5
    a.data("c", b"EVIL_MARKER two\r\n")                                           # 6
    a.data("s", b"EVIL_MARKER reply\r\n")                                         # 7
    a.ack("c")                                                                     # 8
    a.data("s", b"EVIL_MARKER again\r\n")                                         # 9
    a.close()                                                                      # 10-12
    b.handshake()                                                                  # 13-15
    b.data("c", b"EVIL_MARKER three\r\n")                                         # 16
    b.close()                                                                      # 17-19


@case
def rst_in_window_ignored(cap):
    t = Tcp(cap, *web(40025))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /")                                                          # 4: 0..4
    t.rst("c", 105, note="(in window, not at the next sequence number)")           # 5
    t.data("c", b"EVIL_MARKER HTTP/1.0\r\n\r\n")                                  # 6: 5..
    t.ack("s")                                                                     # 7
    t.rst("s", 50, note="(in window, not at the next sequence number)")            # 8
    t.data("s", b"HTTP/1.0 200 OK EVIL_REPLY\r\n\r\n")                            # 9
    t.ack("c")                                                                     # 10
    t.close()                                                                      # 11-13


@case
def bad_ip_checksum_drop(cap):
    t = Tcp(cap, *web(40026))
    t.handshake()                                                                  # 1-3
    t.data("c", b"USER EVILGUY\r\n", bad_ip_checksum=True, note="(bad IPv4 header checksum)")  # 4
    t.data("c", b"USER GOODGUY\r\n", rel=0, note="(good retransmission)")       # 5
    t.ack("s")                                                                     # 6
    t.close()                                                                      # 7-9


@case
def ip_options_ext_headers(cap):
    a = Tcp(cap, *web(40027))
    a.handshake()                                                                  # 1-3
    a.ip_extra = "options"
    a.data("c", b"GET /EVIL_")                                                     # 4: IPv4 options
    a.data("c", b"MARKER HTTP/1.0\r\n\r\n")                                       # 5: IPv4 options
    a.ip_extra = None
    a.ack("s")                                                                     # 6
    b = Tcp(cap, (CORE_HOST6, 40028), (VENDOR_BOX6, 80))
    b.handshake()                                                                  # 7-9
    b.ip_extra = "ext"
    b.data("c", b"GET /EVIL_")                                                     # 10: hop-by-hop + dest opts
    b.data("c", b"MARKER HTTP/1.0\r\n\r\n")                                       # 11: hop-by-hop + dest opts
    b.ip_extra = None
    b.ack("s")                                                                     # 12


@case
def vlan_reject(cap):
    t = Tcp(cap, *web(40029), tags=(100,))
    t.handshake()                                                                  # 1-3
    t.data("c", b"GET /EVIL_MARKER HTTP/1.0\r\n\r\n")                              # 4 trigger (802.1Q 100)
    t.ack("s")                                                                     # 5
    udp(cap, (CORE_HOST, 50012), (VENDOR_BOX, 161), b"get EVIL_MARKER", 0x2701, tags=(200, 300))  # 6 trigger (QinQ)
    udp(cap, (VENDOR_BOX, 161), (CORE_HOST, 50012), b"late reply", 0x9701, tags=(200, 300))       # 7


@case
def overlap_both_directions(cap):
    t = Tcp(cap, *web(40030))
    t.handshake()                                                                  # 1-3
    t.data("c", b"USER GOODGUY\r\n")                                               # 4
    t.data("c", b"USER EVILGUY\r\n", rel=0, note="(conflict, to_vendor)")        # 5
    t.data("s", b"331 GOODPASS\r\n")                                               # 6
    t.data("s", b"331 EVILPASS\r\n", rel=0, note="(conflict, to_core)")          # 7
    t.data("c", b"USER EVILGUY\r\n", rel=0, note="(conflict again, to_vendor)")  # 8
    t.close()                                                                      # 9-11


@case
def other_proto(cap):
    # IP protocols 253 and 254 (RFC 3692 experimentation): "other" payload, the IP payload.
    for i, proto in enumerate((253, 254)):
        pkt = (Ether(src=CORE_MAC, dst=VENDOR_MAC) / IP(src=CORE_HOST, dst=VENDOR_BOX, id=0x2800 + i, ttl=64, proto=proto)
               / (b"payload EVIL_MARKER " + bytes([0x30 + i]) * 8))
        cap.add(pkt, f"IP proto {proto} with EVIL_MARKER")                        # 1, 2


def filler(n, seed):
    """n bytes of lower-case text, deterministic, without upper-case markers."""
    return bytes(0x61 + (i * 7 + seed) % 26 for i in range(n))


@case
def jumbo_segments(cap):
    # Frames larger than one packet buffer (2 KiB): jumbo frames and GRO/TSO-sized captures.
    t = Tcp(cap, *web(40031))
    t.handshake()                                                                  # 1-3
    t.data("c", filler(1990, 1) + b"SPAN_MARK" + filler(6987, 2) + b"JUMBO_MARK_END")  # 4: 9000 bytes
    t.ack("s")                                                                     # 5
    t.data("s", filler(63986, 3) + b"GRO_MARK_END")                                # 6: 63998 bytes
    t.ack("c")                                                                     # 7
    udp(cap, (CORE_HOST, 50013), (VENDOR_BOX, 9999), filler(8000, 4) + b"UDP_JUMBO_END", 0x2901)  # 8
    t.data("c", filler(5000, 5) + b"REJECT_JUMBO")                                 # 9: 5012 bytes, trigger
    t.ack("s")                                                                     # 10


# Cases that replay the frames of another case under other rules or another config.
def udp_fragments(cap, src, dst, payload, ident, pieces, order=None, rewrite=None):
    """One UDP datagram cut into IP fragments: pieces = [(offset, length)] of the IP payload
    (UDP header included; length None = the rest), sent in `order` (indexes; default as given). `rewrite` maps a
    piece index to bytes that replace its data (an overlap that says something else)."""
    v6 = ":" in src[0]
    whole = bytes((IPv6(src=src[0], dst=dst[0]) if v6 else IP(src=src[0], dst=dst[0]))
                  / UDP(sport=src[1], dport=dst[1]) / payload)
    body = whole[40:] if v6 else whole[20:]
    first = None
    for i in order or range(len(pieces)):
        off, length = pieces[i]
        length = len(body) - off if length is None else length
        data = rewrite[i] if rewrite and i in rewrite else body[off:off + length]
        more = off + length < len(body)
        if v6:
            ip = (IPv6(src=src[0], dst=dst[0], hlim=64)
                  / IPv6ExtHdrFragment(nh=17, offset=off // 8, m=int(more), id=ident))
        else:
            ip = IP(src=src[0], dst=dst[0], id=ident, ttl=64, proto=17, flags="MF" if more else 0,
                    frag=off // 8)
        n = cap.add(l2(src[0], dst[0]) / ip / data, f"fragment {off}+{length} of {ident:#x}{' MF' if more else ''}")
        first = first or n
    return first


@case
def ip_fragments(cap):
    cli, srv = (CORE_HOST, 50000), (VENDOR_BOX, 161)
    # The UDP header is 8 bytes: the markers start at IP payload offset 12, across the cut at 16.
    udp_fragments(cap, cli, srv, b"....EVIL_MARKER.........................end", 0x3001,
                  [(0, 16), (16, 16), (32, None)])                                 # 1-3 in order
    cli6, srv6 = (CORE_HOST6, 50006), (VENDOR_BOX6, 161)
    udp_fragments(cap, cli6, srv6, b"....DROP_ME...............................end", 0x3002,
                  [(0, 16), (16, 16), (32, None)], order=[2, 0, 1])                # 4-6 last first
    benign = b"....................harmless......"
    udp_fragments(cap, cli, srv, benign, 0x3003, [(0, 24), (16, None)],
                  rewrite={1: b"DROP_ME!" + benign[8 + 8:]})                       # 7-8 overlap
    udp(cap, cli, srv, b"an ordinary datagram", 0x3004)                            # 9


CASES["out_of_order_drop"] = out_of_order
CASES["bad_checksum_ignored"] = bad_checksum_drop
CASES["reassembly_overflow_drop"] = reassembly_overflow
CASES["gid_namespaces"] = constraints
CASES["bad_checksum_pass"] = bad_checksum_drop
CASES["ip_fragments_overlap_pass"] = ip_fragments


def build(name):
    cap = Capture(name)
    CASES[name](cap)
    return cap


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--list", action="store_true", help="print the frames of each case")
    parser.add_argument("cases", nargs="*", help="only these cases")
    args = parser.parse_args()
    names = args.cases or sorted(CASES)
    status = 0
    for name in names:
        if name not in CASES:
            sys.exit(f"unknown case {name}; known: {' '.join(sorted(CASES))}")
        cap = build(name)
        path = TOPIC / name / "send.pcap"
        data = cap.pcap_bytes()
        if args.list:
            print(f"== signatures/{name}")
            for i, (_, summary) in enumerate(cap.frames, 1):
                print(f"  {i:3d} {summary}")
        if args.check:
            if not path.exists() or path.read_bytes() != data:
                print(f"DIFFERS: {path}")
                status = 1
        elif not args.list:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            print(f"wrote {path.relative_to(HERE)} ({len(cap.frames)} frames)")
    return status


if __name__ == "__main__":
    sys.exit(main())
