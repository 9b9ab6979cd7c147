"""An independent reference for Sentinel's TCP signature matching: its own capture reader
(pcap, pcapng), frame parser and per-direction TCP reassembler, written from the contract
rather than from Sentinel's code.

Contract modelled (docs: ../../../README.md, ARCHITECTURE.md, the signature issue):
  - a flow direction is the 5-tuple src -> dst of the bytes' sender; the stream is its TCP
    payload in sequence order starting at ISN+1 (the SYN's own payload included);
  - the first bytes seen for a sequence number win; later, different bytes are ignored;
  - a segment beyond the next expected byte is held in an out-of-order buffer of
    `reassembly_buffer` bytes after that byte (at most 8 separate held ranges); a segment
    that does not fit overflows the buffer and the direction's stream ends at the next
    expected byte of that moment; a gap that never fills ends the stream too;
  - data past the direction's FIN is not part of the stream; an RST at exactly the next
    expected byte ends the stream;
  - an overflow stops inspection of the whole flow: from the overflowing frame on, neither
    direction's bytes are scanned.

Flow directions whose outcome depends on behaviour the contract leaves open are not
modelled but excluded, each with a reason (see Direction.exclusions and Flow.exclusions):
no SYN for the direction (mid-stream pickup), several ISNs (port reuse), a segment cut by
the capture's snaplen or with IP lengths that disagree with the frame, IP fragments,
retransmissions whose bytes differ from what was seen first (overlap conflicts), payload
after an RST or after an idle time longer than `idle_limit` (flow timeouts), data past a
FIN, and FINs that disagree.
"""

import bisect
import struct

# ---------------------------------------------------------------------------------------
# Capture reading

LINKTYPE_NULL = 0
LINKTYPE_EN10MB = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229


class CaptureError(Exception):
    pass


def read_capture(path):
    """Yields (frame_number (1-based), ts_seconds (float), linktype, data, wire_len)."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 4:
        raise CaptureError("too short")
    magic = blob[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        yield from _read_pcapng(blob)
    else:
        yield from _read_pcap(blob)


def _read_pcap(blob):
    magic = struct.unpack("<I", blob[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
        magic = struct.unpack(">I", blob[:4])[0]
    else:
        raise CaptureError("not a pcap file")
    nano = magic == 0xA1B23C4D
    if len(blob) < 24:
        raise CaptureError("truncated header")
    linktype = struct.unpack(endian + "I", blob[20:24])[0] & 0x0FFFFFFF
    pos, number = 24, 0
    while pos < len(blob):
        if pos + 16 > len(blob):
            raise CaptureError("truncated record header")
        sec, frac, caplen, wirelen = struct.unpack(endian + "IIII", blob[pos:pos + 16])
        pos += 16
        if pos + caplen > len(blob):
            raise CaptureError("truncated record")
        number += 1
        ts = sec + frac / (1e9 if nano else 1e6)
        yield number, ts, linktype, blob[pos:pos + caplen], wirelen
        pos += caplen


def _read_pcapng(blob):
    pos, number = 0, 0
    endian = "<"
    interfaces = []
    while pos < len(blob):
        if pos + 12 > len(blob):
            raise CaptureError("truncated block")
        btype_raw = blob[pos:pos + 4]
        if btype_raw == b"\x0a\x0d\x0d\x0a":
            bom = blob[pos + 8:pos + 12]
            endian = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
            interfaces = []
        btype, blen = struct.unpack(endian + "II", blob[pos:pos + 8])
        if blen < 12 or pos + blen > len(blob):
            raise CaptureError("truncated block")
        body = blob[pos + 8:pos + blen - 4]
        if btype == 1:  # interface description
            linktype = struct.unpack(endian + "H", body[:2])[0]
            resol = 1e-6
            opts = body[8:]
            o = 0
            while o + 4 <= len(opts):
                code, olen = struct.unpack(endian + "HH", opts[o:o + 4])
                if code == 0:
                    break
                if code == 9 and olen >= 1:  # if_tsresol
                    v = opts[o + 4]
                    resol = 2.0 ** -(v & 0x7F) if v & 0x80 else 10.0 ** -v
                o += 4 + ((olen + 3) & ~3)
            interfaces.append((linktype, resol))
        elif btype == 6:  # enhanced packet
            iface, hi, lo, caplen, wirelen = struct.unpack(endian + "IIIII", body[:20])
            linktype, resol = interfaces[iface]
            number += 1
            yield number, ((hi << 32) | lo) * resol, linktype, body[20:20 + caplen], wirelen
        elif btype == 3:  # simple packet
            wirelen = struct.unpack(endian + "I", body[:4])[0]
            linktype, _ = interfaces[0]
            number += 1
            yield number, 0.0, linktype, body[4:4 + wirelen], wirelen
        elif btype == 2:  # obsolete packet block
            iface, _drops, hi, lo, caplen, wirelen = struct.unpack(endian + "HHIIII", body[:20])
            linktype, resol = interfaces[iface]
            number += 1
            yield number, ((hi << 32) | lo) * resol, linktype, body[20:20 + caplen], wirelen
        pos += blen


# ---------------------------------------------------------------------------------------
# Frame parsing (only what a TCP flow direction needs)

class Segment:
    __slots__ = ("frame", "ts", "src", "dst", "sport", "dport", "seq", "flags", "payload",
                 "cut", "fragment", "v6")


def _l3_start(linktype, data):
    """-> (ethertype, offset of the IP header) or None."""
    if linktype == LINKTYPE_EN10MB:
        if len(data) < 14:
            return None
        etype = struct.unpack("!H", data[12:14])[0]
        off = 14
        tags = 0
        while etype in (0x8100, 0x88A8, 0x9100) and tags < 4:
            if len(data) < off + 4:
                return None
            etype = struct.unpack("!H", data[off + 2:off + 4])[0]
            off += 4
            tags += 1
        return etype, off
    if linktype == LINKTYPE_LINUX_SLL:
        if len(data) < 16:
            return None
        return struct.unpack("!H", data[14:16])[0], 16
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(data) < 4:
            return None
        fam_le = struct.unpack("<I", data[:4])[0]
        fam_be = struct.unpack(">I", data[:4])[0]
        fam = fam_le if fam_le < 256 else fam_be
        if fam == 2:
            return 0x0800, 4
        if fam in (24, 28, 30):
            return 0x86DD, 4
        return None
    if linktype in (LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6):
        if not data:
            return None
        return (0x0800 if data[0] >> 4 == 4 else 0x86DD), 0
    return None


def parse_tcp(frame, ts, linktype, data, wirelen):
    """A TCP segment directly over IPv4/IPv6, or None. `cut` tells that the capture or the
    frame holds fewer bytes than the IP header declares."""
    start = _l3_start(linktype, data)
    if start is None:
        return None
    etype, off = start
    seg = Segment()
    seg.frame, seg.ts, seg.cut, seg.fragment = frame, ts, False, False
    if etype == 0x0800:
        if len(data) < off + 20 or data[off] >> 4 != 4:
            return None
        ihl = (data[off] & 0x0F) * 4
        total = struct.unpack("!H", data[off + 2:off + 4])[0]
        frag = struct.unpack("!H", data[off + 6:off + 8])[0]
        if data[off + 9] != 6 or ihl < 20:
            return None
        seg.fragment = (frag & 0x3FFF) != 0
        seg.src, seg.dst = data[off + 12:off + 16], data[off + 16:off + 20]
        seg.v6 = False
        end = off + total
        l4 = off + ihl
    elif etype == 0x86DD:
        if len(data) < off + 40 or data[off] >> 4 != 6:
            return None
        plen = struct.unpack("!H", data[off + 4:off + 6])[0]
        nxt = data[off + 6]
        seg.src, seg.dst = data[off + 8:off + 24], data[off + 24:off + 40]
        seg.v6 = True
        l4 = off + 40
        end = l4 + plen
        hops = 0
        while nxt in (0, 43, 60, 44) and hops < 8:
            if len(data) < l4 + 8:
                return None
            if nxt == 44:
                seg.fragment = True
                nxt, l4 = data[l4], l4 + 8
            else:
                nxt, l4 = data[l4], l4 + (data[l4 + 1] + 1) * 8
            hops += 1
        if nxt != 6:
            return None
    else:
        return None
    if end > len(data) or len(data) < wirelen:
        seg.cut = True
        end = min(end, len(data))
    if len(data) < l4 + 20:
        seg.cut = True
        return seg if l4 + 4 <= len(data) else None
    seg.sport, seg.dport = struct.unpack("!HH", data[l4:l4 + 4])
    seg.seq = struct.unpack("!I", data[l4 + 4:l4 + 8])[0]
    doff = (data[l4 + 12] >> 4) * 4
    seg.flags = data[l4 + 13]
    if doff < 20 or l4 + doff > end:
        seg.cut = True
        seg.payload = b""
        return seg
    seg.payload = bytes(data[l4 + doff:end])
    return seg


# ---------------------------------------------------------------------------------------
# Reassembly

FIN, SYN, RST = 0x01, 0x02, 0x04
MAX_RANGES = 8


def _rel(a, b):
    """Signed distance a - b in sequence space."""
    d = (a - b) & 0xFFFFFFFF
    return d - (1 << 32) if d >= 1 << 31 else d


class Direction:
    """One direction of one flow: its segments in capture order, reassembled."""

    def __init__(self, key):
        self.key = key            # (src, sport, dst, dport) as printable strings
        self.segments = []
        self.exclusions = []
        self.stream = b""
        self.boundaries = []      # stream offsets where a frame's new bytes begin
        self.deliveries = []      # (stream offset where a delivery begins, frame number)
        self.ended_by = "end of capture"
        self.overflow_frame = None  # the frame whose segment overflowed the buffer

    def exclude(self, why):
        if why not in self.exclusions:
            self.exclusions.append(why)

    def reassemble(self, buffer_size):
        syns = [s for s in self.segments if s.flags & SYN]
        if not syns:
            self.exclude("no SYN (mid-stream pickup)")
            return
        if len({s.seq for s in syns}) > 1:
            self.exclude("several ISNs (port reuse)")
            return
        isn = syns[0].seq
        # Segments before the SYN in capture order would be judged by mid-stream rules.
        first_syn = self.segments.index(syns[0])
        if first_syn:
            self.exclude("segments before the SYN (handshake out of order)")
            return
        if any(s.cut for s in self.segments):
            self.exclude("segment cut by the capture")
            return
        if any(s.fragment for s in self.segments):
            self.exclude("IP fragments")
            return
        fins = {(s.seq + len(s.payload) + (1 if s.flags & SYN else 0)) & 0xFFFFFFFF
                for s in self.segments if s.flags & FIN}
        if len(fins) > 1:
            self.exclude("FINs disagree")
            return
        fin_seq = next(iter(fins)) if fins else None

        base = (isn + 1) & 0xFFFFFFFF   # stream offset 0
        first = bytearray()              # bytes [0, len(first)) delivered in order
        held = {}                        # offset -> byte, beyond the in-order end
        ranges = []                      # held ranges [a, b), sorted, merged if touching
        ended = False
        stream_end = None                # FIN offset
        if fin_seq is not None:
            stream_end = _rel(fin_seq, base)
            if stream_end < 0:
                self.exclude("FIN before the stream")
                return
        for s in self.segments[first_syn:]:
            if s.flags & RST:
                if _rel(s.seq, base) == len(first) and not ended:
                    ended = True
                    self.ended_by = "RST at frame %d" % s.frame
                if s.payload:
                    self.exclude("RST with payload")
                    return
                continue
            if not s.payload:
                continue
            off = _rel(s.seq + (1 if s.flags & SYN else 0), base)
            data = s.payload
            if off < -(1 << 30) or off > (1 << 30):
                self.exclude("segment far outside the window")
                return
            if stream_end is not None and off + len(data) > stream_end:
                self.exclude("data past the FIN")
                return
            if ended:
                # After the end nothing is inspected; but differing bytes would still be
                # a conflict in Sentinel's eyes: keep it simple and only check sameness.
                continue
            # Conflicts with bytes seen before (delivered or held).
            for i, b in enumerate(data):
                o = off + i
                prev = first[o] if 0 <= o < len(first) else held.get(o)
                if prev is not None and prev != b:
                    self.exclude("retransmission with different bytes")
                    return
            if off < 0:
                data = data[-off:]
                off = 0
            if not data:
                continue
            if off <= len(first):
                new = data[len(first) - off:]
                if new:
                    self.boundaries.append(len(first))
                    self.deliveries.append((len(first), s.frame))
                    first += new
                # Held ranges now reached.
                while ranges and ranges[0][0] <= len(first):
                    a, b = ranges.pop(0)
                    if b > len(first):
                        self.deliveries.append((len(first), s.frame))
                        for o in range(len(first), b):
                            first.append(held[o])
                    for o in range(a, b):
                        held.pop(o, None)
                continue
            # Out of order: must fit in the buffer after the next expected byte.
            end = off + len(data)
            if end - len(first) > buffer_size:
                ended = True
                self.ended_by = "reassembly buffer overflow at frame %d" % s.frame
                self.overflow_frame = s.frame
                continue
            merged = [(off, end)]
            for a, b in ranges:
                merged.append((a, b))
            merged.sort()
            out = []
            for a, b in merged:
                if out and a <= out[-1][1]:
                    out[-1] = (out[-1][0], max(out[-1][1], b))
                else:
                    out.append((a, b))
            if len(out) > MAX_RANGES:
                ended = True
                self.ended_by = "reassembly buffer overflow (more than %d held ranges) at frame %d" % (
                    MAX_RANGES, s.frame)
                self.overflow_frame = s.frame
                continue
            ranges = out
            for i, b in enumerate(data):
                held.setdefault(off + i, b)
            self.boundaries.append(off)  # where this frame's bytes begin, once delivered
        if ranges and not ended:
            self.ended_by = "gap at stream offset %d never filled" % len(first)
        self.stream = bytes(first)
        self.boundaries = sorted({b for b in self.boundaries if 0 < b < len(self.stream)})

    def frame_at(self, offset):
        """The frame whose processing delivered stream byte `offset`."""
        i = bisect.bisect_right([d[0] for d in self.deliveries], offset) - 1
        return self.deliveries[i][1]


class Flow:
    def __init__(self, capture, canonical):
        self.capture = capture
        self.canonical = canonical
        self.directions = {}
        self.exclusions = []
        self.times = []


def fmt_ip(raw):
    if len(raw) == 4:
        return ".".join(str(b) for b in raw)
    import ipaddress
    return str(ipaddress.IPv6Address(bytes(raw)))


def build_flows(path, capture_name, buffer_size=4096, idle_limit=3600.0):
    """-> list of Flow, with every direction reassembled or excluded."""
    flows = {}
    order = []
    cut_pairs = set()  # address pairs of TCP headers cut short: their ports are unknown
    for frame, ts, linktype, data, wirelen in read_capture(path):
        seg = parse_tcp(frame, ts, linktype, data, wirelen)
        if seg is None:
            continue
        if not hasattr(seg, "sport"):
            cut_pairs.add(frozenset((fmt_ip(seg.src), fmt_ip(seg.dst))))
            continue
        a = (fmt_ip(seg.src), seg.sport)
        b = (fmt_ip(seg.dst), seg.dport)
        canonical = (min(a, b), max(a, b))
        flow = flows.get(canonical)
        if flow is None:
            flow = flows[canonical] = Flow(capture_name, canonical)
            order.append(flow)
        dkey = (a[0], a[1], b[0], b[1])
        d = flow.directions.get(dkey)
        if d is None:
            d = flow.directions[dkey] = Direction(dkey)
        d.segments.append(seg)
        flow.times.append((ts, seg))
    for flow in order:
        if frozenset((flow.canonical[0][0], flow.canonical[1][0])) in cut_pairs:
            flow.exclusions.append("a TCP header between these addresses is cut")
        times = flow.times
        rst_at = None
        for i, (ts, seg) in enumerate(times):
            if i and abs(ts - times[i - 1][0]) > idle_limit:
                flow.exclusions.append("idle for more than %g s (flow timeout)" % idle_limit)
                break
            if seg.flags & RST and rst_at is None:
                rst_at = i
            elif rst_at is not None and seg.payload:
                flow.exclusions.append("payload after an RST")
                break
        for d in flow.directions.values():
            d.reassemble(buffer_size)
            for why in flow.exclusions:
                d.exclude(why)
        stop_flow_at_overflow(flow)
    return order


def stop_flow_at_overflow(flow):
    """A reassembly overflow in one direction stops inspection of the whole flow ([failure]
    reassembly_overflow = "pass"): the other direction keeps only the bytes delivered by
    frames before the overflowing one."""
    overflows = [d.overflow_frame for d in flow.directions.values() if d.overflow_frame is not None]
    if not overflows:
        return
    stop = min(overflows)
    for d in flow.directions.values():
        if d.overflow_frame == stop:
            continue
        keep = [(off, frame) for off, frame in d.deliveries if frame < stop]
        if len(keep) == len(d.deliveries):
            continue
        end = d.deliveries[len(keep)][0]
        d.deliveries = keep
        d.stream = d.stream[:end]
        d.boundaries = [b for b in d.boundaries if b < end]
        d.ended_by = "flow no longer inspected after the overflow at frame %d" % stop


def direction_key_of_alert(alert):
    return (alert["src_ip"], alert["src_port"], alert["dest_ip"], alert["dest_port"])
