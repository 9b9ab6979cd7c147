#!/usr/bin/python3
"""Writes the forwarding benchmark's input: COUNT minimum-size Ethernet/IPv4 frames.

Each frame is 60 bytes in the pcap (64 bytes on the wire with the 4-byte FCS, which
captures and DPDK mbufs do not carry). The IP total length covers the whole 46-byte IP
packet (no Ethernet padding): UDP frames carry an 18-byte payload, TCP frames a valid
20-byte header (ACK|PSH, checksummed) and a 6-byte payload. Addresses are random in
10.0.0.0/8, ports random in 1024..65535, UDP and TCP alternate at random (about half each),
the seed is fixed so every run replays the same frames.

Usage: make_frames.py OUT.pcap [COUNT] [SEED]
Prints one JSON object on stdout: {"count":…, "size_bytes":60, "wire_bytes":64, "flows":…,
"udp":…, "tcp":…}. Runs under Debian's /usr/bin/python3 (python3-scapy).
"""
import json
import random
import sys

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.utils import PcapWriter

FRAME_BYTES = 60  # without FCS


def main() -> int:
    if not 2 <= len(sys.argv) <= 4:
        print(__doc__, file=sys.stderr)
        return 2
    out = sys.argv[1]
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 4096
    seed = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    if count < 1:
        print("COUNT must be >= 1", file=sys.stderr)
        return 2
    rng = random.Random(seed)

    def addr() -> str:
        return "10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255))

    flows = set()
    udp = tcp = 0
    writer = PcapWriter(out, linktype=1, sync=False)  # DLT_EN10MB
    try:
        for i in range(count):
            src, dst = addr(), addr()
            sport, dport = rng.randrange(1024, 65536), rng.randrange(1024, 65536)
            eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
            ip = IP(src=src, dst=dst, ttl=64, id=i & 0xFFFF)
            if rng.random() < 0.5:
                pkt = eth / ip / UDP(sport=sport, dport=dport) / (b"u" * 18)
                proto = 17
                udp += 1
            else:
                seq, ack = rng.getrandbits(32), rng.getrandbits(32)
                pkt = eth / ip / TCP(sport=sport, dport=dport, seq=seq, ack=ack, flags="PA",
                                     window=65535) / (b"t" * 6)
                proto = 6
                tcp += 1
            raw = bytes(pkt)  # builds lengths and checksums
            if len(raw) != FRAME_BYTES:
                raise AssertionError(f"frame {i} is {len(raw)} bytes, expected {FRAME_BYTES}")
            flows.add((src, dst, proto, sport, dport))
            writer.write(raw)
    finally:
        writer.close()
    print(json.dumps({"count": count, "size_bytes": FRAME_BYTES, "wire_bytes": FRAME_BYTES + 4,
                      "flows": len(flows), "udp": udp, "tcp": tcp}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
