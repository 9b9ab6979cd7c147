#!/usr/bin/python3
"""Writes the seed inputs of the fuzz targets (tests/fuzz/README.md) into OUT/<target>/,
one file per input, named by its SHA-1. Made at test time from the shared corpus and the
source tree, never committed:

  frame_parser       frames of corpus pcaps/{benign,malformed,exploits} (non-Ethernet
                     captures get an Ethernet header), whole and cut short
  tcp_stream         TCP flows of those captures, as segment records; a few made by hand
  rules_toml         config/rules.d/*.toml, the rules.d files of tests/, TOML strings of the
                     rule, policy and filter loader unit tests, classification.toml
  config_toml        config/sentinel.toml, scenario [config] texts, strings of test_config
  filter_expression  the expressions of the differential test and of [[filter]] tables,
                     alone and with a corpus frame after a NUL
  eve                the shipped rules' msg/classtype/metadata with corpus frames

Also, with --dicts, libFuzzer dictionaries (TOML syntax and the key names the loaders
read, taken from their sources; pcap-filter syntax). Capped so that seeding takes a few
seconds. Usage:
  make_seeds.py --corpus-dir DIR --source-root DIR --out DIR [--dicts DIR] [TARGET...]
"""
import argparse
import hashlib
import pathlib
import re
import shutil
import struct
import sys
import tomllib

TARGETS = ["frame_parser", "tcp_stream", "rules_toml", "config_toml", "filter_expression", "eve", "ip_reassembly"]
FRAME_FOLDERS = ["benign", "malformed", "exploits"]
FRAMES_PER_CAPTURE = 6
MAX_FRAME = 9216  # jumbo frames; larger ones only slow the fuzzer down


# ----------------------------------------------------------------------------- captures
def read_capture(path):
    """[(linktype, bytes, wire_len)] of a pcap or pcapng file; [] when unreadable."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    if len(data) < 24:
        return []
    magic = data[:4]
    if magic == b"\x0a\x0d\x0d\x0a":
        return _read_pcapng(data)
    for endian, m in (("<", 0xA1B2C3D4), (">", 0xA1B2C3D4), ("<", 0xA1B23C4D), (">", 0xA1B23C4D)):
        if struct.unpack(endian + "I", magic)[0] == m:
            linktype = struct.unpack(endian + "I", data[20:24])[0] & 0x0FFFFFFF
            out, off = [], 24
            while off + 16 <= len(data):
                _, _, caplen, wire = struct.unpack(endian + "IIII", data[off:off + 16])
                off += 16
                if caplen > len(data) - off:
                    break
                out.append((linktype, data[off:off + caplen], wire))
                off += caplen
            return out
    return []


def _read_pcapng(data):
    out, links, off, endian = [], [], 0, "<"
    while off + 12 <= len(data):
        btype = struct.unpack(endian + "I", data[off:off + 4])[0]
        if btype == 0x0A0D0D0A:
            endian = "<" if data[off + 8:off + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            links = []
        blen = struct.unpack(endian + "I", data[off + 4:off + 8])[0]
        if blen < 12 or off + blen > len(data):
            break
        body = data[off + 8:off + blen - 4]
        if btype == 1 and len(body) >= 2:  # interface description
            links.append(struct.unpack(endian + "H", body[:2])[0])
        elif btype == 6 and len(body) >= 20:  # enhanced packet
            iface, _, _, caplen, wire = struct.unpack(endian + "IIIII", body[:20])
            if iface < len(links):
                out.append((links[iface], body[20:20 + caplen], wire))
        elif btype == 3 and len(body) >= 4 and links:  # simple packet
            wire = struct.unpack(endian + "I", body[:4])[0]
            out.append((links[0], body[4:4 + wire], wire))
        off += blen
    return out


ETH_SRC_DST = bytes.fromhex("020000000001" "020000000002")


def as_ethernet(linktype, frame, wire):
    """(frame, wire_len) as an Ethernet frame, or None for a link type we cannot map."""
    if linktype == 1:
        return frame, wire
    if linktype in (101, 12, 14, 228, 229) and frame:  # raw IP (v4 or v6 by its version)
        etype = b"\x86\xdd" if frame[0] >> 4 == 6 else b"\x08\x00"
        return ETH_SRC_DST + etype + frame, wire + 14
    if linktype == 113 and len(frame) >= 16:  # Linux cooked: protocol at 14
        return ETH_SRC_DST + frame[14:16] + frame[16:], wire - 2
    if linktype == 276 and len(frame) >= 20:  # Linux cooked v2: protocol at 0
        return ETH_SRC_DST + frame[0:2] + frame[20:], wire - 6
    return None


def corpus_frames(corpus, folders, per_capture=FRAMES_PER_CAPTURE):
    """[(name, frame, wire_len)] of Ethernet frames, at most per_capture per capture."""
    out = []
    for folder in folders:
        d = corpus / "pcaps" / folder
        if not d.is_dir():
            continue
        for path in sorted(d.iterdir()):
            frames = [f for f in (as_ethernet(*p) for p in read_capture(path)) if f and len(f[0]) <= MAX_FRAME]
            step = max(1, len(frames) // per_capture)
            for frame, wire in frames[::step][:per_capture]:
                out.append((f"{folder}/{path.name}", frame, wire))
    return out


# ----------------------------------------------------------------------------- targets
def seeds_frame_parser(corpus, root):
    seeds = []
    for i, (_, frame, wire) in enumerate(corpus_frames(corpus, FRAME_FOLDERS)):
        if len(frame) < wire:  # cut by the capture: the "wire only" mode
            seeds.append(bytes([0xF0 | min(15, (wire - len(frame)) // 512)]) + frame)
            continue
        seeds.append(b"\x00" + frame)
        if i % 3 == 0 and len(frame) > 20:  # also cut inside the headers, and just short of the end
            seeds.append(bytes([min(0x7F, 14 + i % 60)]) + frame)
            seeds.append(bytes([0x80 + i % 8]) + frame)
    return seeds


def _ip_tcp(frame):
    """(src, dst, sport, dport, seq, flags, payload) of an Ethernet IPv4/IPv6 TCP frame."""
    off = 12
    etype = struct.unpack(">H", frame[off:off + 2])[0]
    while etype in (0x8100, 0x88A8) and len(frame) >= off + 6:
        off += 4
        etype = struct.unpack(">H", frame[off:off + 2])[0]
    l3 = off + 2
    if etype == 0x0800 and len(frame) >= l3 + 20:
        ihl = (frame[l3] & 15) * 4
        total = struct.unpack(">H", frame[l3 + 2:l3 + 4])[0]
        if frame[l3 + 9] != 6 or struct.unpack(">H", frame[l3 + 6:l3 + 8])[0] & 0x3FFF:
            return None
        src, dst, l4, end = frame[l3 + 12:l3 + 16], frame[l3 + 16:l3 + 20], l3 + ihl, l3 + total
    elif etype == 0x86DD and len(frame) >= l3 + 40:
        if frame[l3 + 6] != 6:
            return None
        src, dst, l4 = frame[l3 + 8:l3 + 24], frame[l3 + 24:l3 + 40], l3 + 40
        end = l4 + struct.unpack(">H", frame[l3 + 4:l3 + 6])[0]
    else:
        return None
    if len(frame) < l4 + 20:
        return None
    sport, dport, seq = struct.unpack(">HHI", frame[l4:l4 + 8])
    hlen = (frame[l4 + 12] >> 4) * 4
    return src, dst, sport, dport, seq, frame[l4 + 13], frame[l4 + hlen:min(end, len(frame))]


def _segment(direction, kind, flags, where, payload=b"", length=None):
    """One tcp_stream segment record (see fuzz_tcp_stream.cpp)."""
    n = len(payload) if length is None else length
    ctl = direction | kind << 1 | flags << 3 | (0x80 if n > 255 else 0)
    rec = bytes([ctl]) + (struct.pack("<I", where) if kind == 3 else struct.pack("<H", where))
    rec += struct.pack("<H", n) if n > 255 else bytes([n])
    return rec + (payload if kind == 2 else b"")


def _flags(tcp_flags):  # TCP header flags -> the record's SYN/FIN/RST/ACK bits
    return (1 if tcp_flags & 2 else 0) | (2 if tcp_flags & 1 else 0) | (4 if tcp_flags & 4 else 0) | \
        (8 if tcp_flags & 0x10 else 0)


def seeds_tcp_stream(corpus, root):
    seeds = []
    flows = {}
    for name, frame, _ in corpus_frames(corpus, ["benign", "exploits"], per_capture=400):
        t = _ip_tcp(frame)
        if t is None:
            continue
        src, dst, sport, dport, seq, flags, payload = t
        key = (name,) + tuple(sorted([(src, sport), (dst, dport)]))
        flows.setdefault(key, []).append(((src, sport), seq, flags, payload))
    per_capture = {}
    for key, segs in flows.items():
        if per_capture.get(key[0], 0) >= 3 or not any(s[3] for s in segs):
            continue
        per_capture[key[0]] = per_capture.get(key[0], 0) + 1
        first = segs[0][0]
        isn = {}
        for end, seq, flags, payload in segs:
            d = 0 if end == first else 1
            if d not in isn:
                isn[d] = seq if flags & 2 else (seq - 1) & 0xFFFFFFFF
        body = b""
        for end, seq, flags, payload in segs[:64]:
            d = 0 if end == first else 1
            syn = bool(flags & 2)
            rel = (seq - isn[d] - (0 if syn else 1)) & 0xFFFFFFFF
            if rel > 0xFFFF:
                continue
            body += _segment(d, 2, _flags(flags), rel, payload[:1024])
            if len(body) > 4096:  # small inputs run fast; the fuzzer grows them as it needs
                break
        header = bytes([6, 0, 0]) + struct.pack("<II", isn.get(0, 0), isn.get(1, 0))
        seeds.append(header + body)
    # By hand (the sender's own bytes): in order; reordered; overlapping retransmissions;
    # a conflicting one; across 2^32; FIN and RST; a ring too small; the depth limit.
    syn, fin, rst = 1, 2, 4
    hand = [
        (6, 0, 0, 1000, [_segment(0, 0, syn, 0, length=0), _segment(1, 0, syn, 0, length=0),
                         _segment(0, 0, 0, 0, length=100), _segment(1, 0, 0, 0, length=300),
                         _segment(0, 0, fin, 100, length=50)]),
        (3, 0, 0, 7, [_segment(0, 0, syn, 0, length=0), _segment(0, 0, 0, 40, length=20),
                      _segment(0, 1, 0, 20, length=20), _segment(0, 0, 0, 0, length=20),
                      _segment(0, 0, 0, 10, length=40)]),
        (6, 0, 0, 0xFFFFFFF0, [_segment(0, 0, syn, 0, length=0), _segment(0, 0, 0, 0, length=8),
                               _segment(0, 0, 0, 30, length=30), _segment(0, 0, 0, 8, length=22)]),
        (6, 0, 0, 500, [_segment(0, 0, 0, 0, length=10), _segment(0, 2, 0, 5, b"XXXXXXXXXX"),
                        _segment(0, 0, rst, 15, length=0)]),
        (2, 2, 0, 99, [_segment(0, 0, syn, 0, length=0), _segment(0, 0, 0, 10, length=200),
                       _segment(0, 0, 0, 0, length=100), _segment(0, 0, 0, 100, length=300)]),
        (6, 0, 1, 1234, [_segment(1, 3, syn, 1234, length=10), _segment(1, 3, 0, 1300, length=50),
                         _segment(1, 3, 0, 1245, length=55)]),
    ]
    for ring, depth, window, isn, segs in hand:
        seeds.append(bytes([ring, depth, window]) + struct.pack("<II", isn, isn ^ 0x5A5A5A5A) + b"".join(segs))
    return seeds


_STRING = re.compile(r'R"(\w*)\((.*?)\)\1"|((?:"(?:[^"\\\n]|\\.)*"\s*)+)', re.S)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "'": "'", "0": "\0"}


def cpp_strings(path):
    """The string literals of a C++ file (raw ones, and adjacent ordinary ones joined)."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for m in _STRING.finditer(text):
        if m.group(2) is not None:
            out.append(m.group(2))
            continue
        joined = "".join(re.findall(r'"((?:[^"\\\n]|\\.)*)"', m.group(3)))
        out.append(re.sub(r"\\x([0-9a-fA-F]{2})|\\(.)",
                          lambda e: chr(int(e.group(1), 16)) if e.group(1) else _ESCAPES.get(e.group(2), e.group(2)),
                          joined))
    return out


def _toml_files(root, pattern):
    return sorted(p for p in root.glob(pattern) if p.is_file())


def seeds_rules_toml(corpus, root):
    files = _toml_files(root, "config/rules.d/*.toml") + _toml_files(root, "tests/**/rules.d/*.toml")
    seeds = [p.read_bytes() for p in files]
    seeds.append((root / "config" / "classification.toml").read_bytes())
    for test in ["test_rules_loader.cpp", "test_policy_loader.cpp", "test_filter_loader.cpp"]:
        for s in cpp_strings(root / "tests" / "unit" / test):
            if "=" in s and ("[" in s or "\n" in s):
                seeds.append(s.encode("utf-8", "surrogateescape"))
    # Several files at once (a form feed separates them): cross-file checks.
    for a, b in zip(files, files[1:]):
        seeds.append(a.read_bytes() + b"\f" + b.read_bytes())
    return seeds


def seeds_config_toml(corpus, root):
    seeds = [(root / "config" / "sentinel.toml").read_bytes()]
    for scenario in _toml_files(root, "tests/integration/**/scenario.toml"):
        try:
            config = tomllib.loads(scenario.read_text()).get("config")
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
        if isinstance(config, str):
            seeds.append(config.encode())
    for s in cpp_strings(root / "tests" / "unit" / "test_config.cpp"):
        if "=" in s and "[" in s:
            seeds.append(s.encode("utf-8", "surrogateescape"))
    return seeds


EXTRA_EXPRESSIONS = [
    "", "tcp", "udp or icmp", "not arp", "ip host 10.1.1.1 and tcp port 80", "ip6 host 2001:db8::1",
    "ether src 02:00:00:00:00:02", "ether proto 0x88cc", "tcp[tcpflags] & tcp-rst != 0", "icmp6 and ip6[40] = 135",
    "ip[9] = 47", "ip[2:2] > 60", "udp[8:4] = 0xabababab", "ip and ip[6:2] & 0x2000 != 0", "len <= 20", "len = 1",
    "vlan 7", "vlan and vlan 7", "ip broadcast", "gateway foo", "host localhost", "net 10", "port domain",
    "tcp port http", "ip proto \\tcp", "ether[0] & 1 = 1", "ip[0] & 0xf > 5", "tcp[20:4] = 0x47455420",
]


def filter_expressions(root):
    exprs = list(EXTRA_EXPRESSIONS)
    diff = root / "tests" / "integration" / "filters" / "test_expression_differential.cpp"
    try:
        block = re.search(r"kExpressions = \{(.*?)\};", diff.read_text(), re.S)
    except OSError:
        block = None
    if block:
        exprs += [s for s in cpp_strings_text(block.group(1))]
    for p in _toml_files(root, "config/rules.d/*.toml") + _toml_files(root, "tests/**/rules.d/*.toml"):
        try:
            doc = tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
        exprs += [f["expr"] for f in doc.get("filter", []) if isinstance(f, dict) and isinstance(f.get("expr"), str)]
    return list(dict.fromkeys(exprs))


def cpp_strings_text(text):
    return [bytes(s, "utf-8").decode("unicode_escape") for s in re.findall(r'"((?:[^"\\\n]|\\.)*)"', text)]


def seeds_filter_expression(corpus, root):
    frames = [f for _, f, _ in corpus_frames(corpus, ["benign", "malformed"], per_capture=2) if len(f) <= 2048]
    seeds = []
    for i, e in enumerate(filter_expressions(root)):
        seeds.append(e.encode())
        if frames:
            seeds.append(e.encode() + b"\0" + frames[(i * 7) % len(frames)])
    return seeds


def _str(s):
    b = s if isinstance(s, bytes) else s.encode()
    return struct.pack("<H", len(b)) + b


def seeds_eve(corpus, root):
    classes = tomllib.loads((root / "config" / "classification.toml").read_text())
    rules = []
    for p in _toml_files(root, "config/rules.d/*.toml") + _toml_files(root, "tests/**/rules.d/*.toml"):
        try:
            rules += [r for r in tomllib.loads(p.read_text()).get("rule", []) if isinstance(r, dict)]
        except (tomllib.TOMLDecodeError, UnicodeDecodeError):
            continue
    rules += [
        {"msg": "caf\u00e9 \u2192 \U0001F600 \"quoted\" \\ back\tslash\n", "classtype": "x", "sid": 1},
        {"msg": b"bad utf-8: \xff\xfe \xc3\x28 \xe2\x82 \xf0\x9f\x98", "sid": 2,
         "metadata": {b"k\xc0": [b"v\xed\xa0\x80"]}},
        {"msg": "", "sid": 3, "metadata": {"a": [], "": [""]}},
    ]
    frames = [f for _, f, _ in corpus_frames(corpus, ["benign", "exploits"], per_capture=3)]
    seeds = []
    for i, r in enumerate(rules):
        cls = classes.get(r.get("classtype", ""), {}) if isinstance(r.get("classtype"), str) else {}
        mode = (i * 0x25) & 0x7D | (1 if i % 8 == 0 else 0) | (2 if i % 11 == 5 else 0)
        head = bytes([mode, i & 3]) + struct.pack("<QQQIIIIB", 1_700_000_000_000_000_000 + i * 1_234_567_891,
                                                   i * 977, i, 1, r.get("sid", i) & 0xFFFFFFFF, r.get("rev", 1),
                                                   i % 3, cls.get("severity", 3) if isinstance(cls, dict) else 3)
        meta = r.get("metadata", {}) if isinstance(r.get("metadata"), dict) else {}
        body = _str(r.get("msg", "")) + _str(cls.get("description", "") if isinstance(cls, dict) else "")
        body += bytes([len(meta) % 8])
        for k, vs in list(meta.items())[:7]:
            vs = vs if isinstance(vs, list) else [vs]
            body += _str(k) + bytes([len(vs) % 4]) + b"".join(_str(v) for v in vs[:3])
        seeds.append(head + body + (frames[i % len(frames)] if frames else b""))
    return seeds


# ----------------------------------------------------------------------------- dictionaries
TOML_TOKENS = ["[", "]", "[[", "]]", "=", '"', "'", '"""', "'''", "{", "}", ",", ".", "#", "\n", "true", "false",
               "0x", "0o", "0b", "1e3", "inf", "nan", "-", "+", "_", "1979-05-27T07:32:00Z", "\\u00e9", "\\x"]
PCAP_KEYWORDS = [
    "host", "net", "port", "portrange", "src", "dst", "ether", "ip", "ip6", "arp", "rarp", "tcp", "udp", "icmp",
    "icmp6", "sctp", "igmp", "pim", "vrrp", "ah", "esp", "gre", "vlan", "mpls", "pppoed", "pppoes", "geneve",
    "gateway", "broadcast", "multicast", "less", "greater", "len", "proto", "protochain", "and", "or", "not",
    "mask", "inbound", "outbound", "llc", "stp", "iso", "isis", "clnp", "atalk", "decnet", "link", "ifname",
    "tcp[", "udp[", "ip[", "ip6[", "ether[", "icmp[", "icmp6[", "arp[", "vlan[", ":1]", ":2]", ":4]", "tcpflags",
    "tcp-fin", "tcp-syn", "tcp-rst", "tcp-push", "tcp-ack", "tcp-urg", "icmptype", "icmpcode", "icmp-echo",
    "icmp-echoreply", "icmp6type", "&", "|", "^", "<<", ">>", "!=", ">=", "<=", "=", "%", "*", "/", "-", "+",
    "(", ")", "0x", "::", "ff02::1", "10.0.0.0/8", "192.168.1.1", "02:00:00:00:00:01", "\\",
]


def dict_entry(token):
    out = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else f"\\x{ord(c):02x}" for c in token)
    return f'"{out}"'


def dictionary(target, root):
    """Tokens for libFuzzer's -dict, or None: TOML syntax and every key and value name the
    loaders know (read from their sources, so they never go stale); pcap-filter syntax."""
    if target == "filter_expression":
        return PCAP_KEYWORDS
    if target not in ("rules_toml", "config_toml"):
        return None
    sources = ["config/config.cpp"] if target == "config_toml" else \
        ["rules/loader.cpp", "rules/policy_loader.cpp", "rules/filter_loader.cpp", "config/classification.toml"]
    words = set()
    for src in sources:
        try:
            text = (root / src).read_text()
        except OSError:
            continue
        words |= set(re.findall(r'"([a-z][a-z0-9_.-]{1,40})"', text))
        words |= {f"[{w}]" for w in re.findall(r'Section section\(root, "([a-z_]+)"', text)}
        words |= {f"[{w}]" for w in re.findall(r"^\[([a-z0-9_.-]+)\]", text, re.M)}
    if target == "rules_toml":
        words |= {"[[rule]]", "[[allow]]", "[[filter]]", "[policy]", "[policy.l2]", "10.0.0.0/8", "::/0", "!",
                  "|3c 3E|", "2001:db8::/32"}
    return TOML_TOKENS + sorted(words)


def write_dict(target, path, root):
    """Writes the target's dictionary to path; False when it has none."""
    tokens = dictionary(target, pathlib.Path(root))
    if not tokens:
        return False
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(dict_entry(t) + "\n" for t in dict.fromkeys(tokens)))
    return True


def _fragment_record(frame):
    """The fuzz_ip_reassembly record of an Ethernet frame's IP fragment, or None."""
    off = 14
    ethertype = struct.unpack("!H", frame[12:14])[0]
    while ethertype in (0x8100, 0x88A8) and len(frame) >= off + 4:
        ethertype = struct.unpack("!H", frame[off + 2:off + 4])[0]
        off += 4
    if ethertype == 0x0800 and len(frame) >= off + 20:
        ihl = (frame[off] & 0x0F) * 4
        total, ident, fo = struct.unpack("!HHH", frame[off + 2:off + 8])
        if fo & 0x3FFF == 0:
            return None
        shape = (ident & 3) << 2 | (0x10 if frame[off + 9] == 6 else 0)
        return struct.pack("<BHBHB", shape, fo & 0x1FFF, (fo >> 13) & 1, max(0, total - ihl), frame[-1])
    if ethertype == 0x86DD and len(frame) >= off + 48:
        nxt, at, ext_before = frame[off + 6], off + 40, 0
        while nxt in (0, 43, 60) and len(frame) >= at + 8:
            nxt, at, ext_before = frame[at], at + (frame[at + 1] + 1) * 8, 2
        if nxt != 44 or len(frame) < at + 8:
            return None
        plen = struct.unpack("!H", frame[off + 4:off + 6])[0]
        fo = struct.unpack("!H", frame[at + 2:at + 4])[0]
        ident = struct.unpack("!I", frame[at + 4:at + 8])[0]
        shape = 1 | ext_before | (ident & 3) << 2 | (0x10 if frame[at] == 6 else 0)
        length = max(0, off + 40 + plen - (at + 8))
        return struct.pack("<BHBHB", shape, fo >> 3, fo & 1, length, frame[-1])
    return None


def seeds_ip_reassembly(corpus, root):
    """Per capture with fragments, its fragments in order as add operations (direction 0,
    no clock step), then one expire."""
    seeds = []
    for folder in ("benign", "malformed"):
        for path in sorted((corpus / "pcaps" / folder).iterdir()):
            ops = []
            for packet in read_capture(path):
                eth = as_ethernet(*packet)
                record = _fragment_record(eth[0]) if eth and len(eth[0]) >= 14 else None
                if record:
                    ops.append(b"\x00" + record)
            if ops:
                seeds.append(b"".join(ops[:256]) + b"\xc0")  # the target runs 256 operations at most
    return seeds


MAKERS = {
    "frame_parser": seeds_frame_parser,
    "tcp_stream": seeds_tcp_stream,
    "rules_toml": seeds_rules_toml,
    "config_toml": seeds_config_toml,
    "filter_expression": seeds_filter_expression,
    "eve": seeds_eve,
    "ip_reassembly": seeds_ip_reassembly,
}


def sync_dir(files, out_dir):
    """Makes out_dir hold exactly `files` ({name: bytes}). Names are content hashes, so an
    unchanged file is left alone: deleting and rewriting thousands of files is what costs."""
    out_dir = pathlib.Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for p in out_dir.iterdir():
        if p.name in files:
            continue
        if p.is_dir():
            shutil.rmtree(p)
        else:
            p.unlink()
    for name, data in files.items():
        if not (out_dir / name).exists():
            (out_dir / name).write_bytes(data)


def write_seeds(target, out_dir, corpus, root):
    """Makes out_dir hold exactly the target's seeds; returns how many there are (0 for a
    target without a maker here: libFuzzer then starts from nothing)."""
    maker = MAKERS.get(target, lambda corpus, root: [])
    seeds = {hashlib.sha1(s).hexdigest(): s for s in maker(pathlib.Path(corpus), pathlib.Path(root))}
    sync_dir(seeds, out_dir)
    return len(seeds)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus-dir", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dicts", help="also write TARGET.dict files (libFuzzer -dict) here")
    ap.add_argument("targets", nargs="*", default=TARGETS)
    args = ap.parse_args()
    for t in args.targets:
        if t not in MAKERS:
            sys.exit(f"make_seeds: unknown target {t} (known: {', '.join(TARGETS)})")
        n = write_seeds(t, pathlib.Path(args.out) / t, args.corpus_dir, args.source_root)
        print(f"{t}: {n} seeds")
        if args.dicts and write_dict(t, pathlib.Path(args.dicts) / f"{t}.dict", args.source_root):
            print(f"{t}: dictionary {pathlib.Path(args.dicts) / f'{t}.dict'}")


if __name__ == "__main__":
    main()
