#!/usr/bin/python3
"""rules2toml: translate Snort 2, Snort 3 and Suricata rule files into Sentinel rule TOML.

usage: rules2toml.py [options] RULES_FILE... (-o OUT.toml | --out-dir DIR)

Every active rule line (commented-out rules are ignored) becomes one [[rule]] table, or is
skipped with a counted reason. A summary goes to stderr: rules read, translated (exactly /
broadened), skipped by reason, and the broadenings applied. Exit status: 0 success, 1 an
input file could not be read or an output not written, 2 usage error.

WHAT IS TRANSLATED
  header     action (alert|drop|reject|pass; Snort 3 block -> drop, sdrop -> drop, reject*
             -> reject), proto, addresses, ports. tcp/udp/icmp/ip as themselves; tcp-pkt and
             tcp-stream -> tcp; application protocols (http, tls, smtp, ftp, ssh, smb, ...)
             -> their transport (tcp, or udp for dns, snmp, tftp, ntp, dhcp, sip, quic, ...),
             a broadening: the app-layer protocol detection is dropped, the header's ports
             stay.
  addresses  literal IPs/CIDRs (lists, nesting, "!" negation) -> src_nets/dst_nets
             ("!x" -> an exclude entry). Variables ($HOME_NET, $EXTERNAL_NET, ...) and "any"
             mean any (empty list), unless given with --var NAME=VALUE. A negated variable
             (!$HOME_NET) is dropped (broader).
  ports      numbers, ranges a:b, :b, a:, lists, negation (turned into the complementary
             ranges, which Sentinel can express) -> src_ports/dst_ports. Port variables
             ($HTTP_PORTS, ...) mean any unless given with --var.
  <>         bidirectional rules keep their addresses and ports only when both sides are
             the same; otherwise the address/port constraints are dropped (broader).
  msg, sid, rev, gid (2, 3, 4 are reserved in Sentinel: skipped), classtype (kept when it is
             in Sentinel's classification table, else dropped and counted), priority 1..4
             -> severity.
  content    -> { content = "...", nocase, offset, depth }. The bytes are decoded (Snort
             |hex| and \\-escapes) and re-encoded in Sentinel's syntax. startswith -> offset
             0 + depth = length.
  pcre       /expr/flags -> { pcre = '...', nocase } with i -> nocase, s -> (?s), m -> (?m),
             x -> (?x); A -> a leading ^; R (relative), O, G, E, B dropped; Suricata's buffer
             flags (U, I, P, Q, H, D, M, C, S, Y, V, W, Z) act like the sticky buffer they
             name (below).
  metadata   the rule's metadata pairs -> metadata.<key> = [values]; reference:cve,X ->
             metadata.cve = ["CVE-X"]; other references -> metadata.reference. Provenance:
             metadata.sentinel_source = ["file:line"]; for broadened rules
             metadata.sentinel_broadened = [what was dropped].

WHAT IS BROADENED (the translated rule matches a superset of what the original matches)
  Sentinel matches a rule when ALL its match items occur in the payload (UDP/ICMP: one
  packet; TCP: the reassembled stream of one flow direction), each within its absolute
  [offset, offset+depth) window. Dropping a constraint therefore only ever adds matches.
  Two kinds of constraint are told apart:

  Context (dropped by default, --broaden context): where and when the bytes may match.
  - flow (to_server, established, ...): Sentinel's direction key is about the vendor and
    core sides, not client and server; "flow";
  - app-layer protocols (alert http ...): the transport instead, the ports kept;
    "app-proto:<name>";
  - relative positions (distance, within, pcre /R): the item may match anywhere;
    "relative";
  - sticky buffers whose bytes normally appear verbatim in the TCP stream (http.uri,
    http.header, http.method, http.user_agent, http.host, http.cookie, http request and
    response bodies, file_data, http.stat_code, tls.sni, tls.certs, ... and their Snort 2
    / Suricata legacy modifiers and Snort 3 names): the content is matched anywhere in the
    stream; offset/depth/startswith/endswith inside the buffer are dropped; pcre anchors
    (^, $, \\A, \\Z, \\z) are removed; http.host gets nocase (that buffer is lowercased).
    "buffer:<name>". Limits: bytes that the original engine normalises first (percent-
    encoded URIs, chunked or compressed bodies) do not match; no stream signature engine
    sees through those encodings;
  - dns.query: the name is written with dots, the wire carries length-prefixed labels; the
    content becomes a pcre with every "." (and a dotprefix) replaced by [\\x00-\\x3f]
    (a label length byte), endswith by \\x00 (the root label); "buffer:dns.query";
  - header and rate checks: flags, itype, icode, icmp_id, icmp_seq, ttl, tos, id, ipopts,
    fragbits, seq, ack, window, ip_proto, ssl_state, ssl_version, tls.version,
    app-layer-event, threshold, detection_filter, sip_method, ... (each named);
  - payload endswith; a "<>" rule whose two sides differ loses its address and port
    constraints ("bidirectional"); a negated variable (!$HOME_NET) is left out.

  Detection (by default the rule is SKIPPED, "needs:<what>"; --broaden all drops them
  too): constraints that usually carry the detection itself, without which a rule shrinks
  to its benign protocol prefix and fires on ordinary traffic: isdataat, byte_test,
  byte_jump, byte_extract (and offsets taken from its variables), byte_math, dsize,
  urilen, bsize, bufferlen, stream_size, negated content or pcre ("negated"), and a pcre
  Hyperscan cannot compile (backreferences, lookarounds, ...: "pcre-unsupported") or
  cannot combine with the rule's other items in a udp/icmp/ip rule
  ("pcre-unordered-in-combination").

  A broadened rule left with nothing but contents shorter than 3 bytes is skipped
  ("too-weak-after-broadening"). --strict skips every rule that would need any
  broadening. Every broadened rule names its broadenings in
  metadata.sentinel_broadened, so they can be reviewed or filtered.

WHAT IS SKIPPED (counted by reason)
  flowbits isset/isnotset, xbits, flowint (the rule depends on state other rules set; it
  would fire on every occurrence of its weaker content), noalert / flowbits:noalert rules,
  buffers whose bytes do not appear verbatim (http.header_names, tls.cert_subject,
  tls.cert_issuer, ja3, base64_data, dce_stub_data, js_data, ...), transforms other than
  to_lowercase (-> nocase) and dotprefix, rules left without any positive content or
  pcre, content with depth shorter than itself, offset/depth on tcp-pkt rules (per-packet
  positions cannot be kept in a stream), unknown keywords, bad syntax, duplicate
  (gid, sid) across everything translated in one run (the first wins), pcres Hyperscan
  rejects when nothing else is left to match, and the "needs:" and weak rules above.

HYPERSCAN CHECK
  With --validate auto (default) the translator loads libhs (ctypes) and compiles every
  pcre (and every content with offset/depth) exactly as Sentinel will — same flags,
  same extended parameters, stream mode for tcp, block mode for udp/icmp, both for ip —
  so the output loads. --validate none skips that; --check-with SENTINEL additionally
  runs `SENTINEL -c CONF -T -S OUT` and removes any rule it still rejects (by the
  file:line:col it names), reporting how many.

EXAMPLES
  rules2toml.py -o et.toml /path/to/emerging-*.rules
  rules2toml.py --out-dir rules.d --var HOME_NET=10.0.0.0/8 community.rules
  rules2toml.py --strict --action alert -o strict.toml snort3-community.rules
"""

import argparse
import collections
import ctypes
import ctypes.util
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile

# ---------------------------------------------------------------------------------------
# Tables

ACTIONS = {"alert": "alert", "drop": "drop", "reject": "reject", "pass": "pass",
           "block": "drop", "sdrop": "drop", "rejectsrc": "reject", "rejectdst": "reject",
           "rejectboth": "reject"}

TRANSPORT_PROTOS = {"tcp": "tcp", "udp": "udp", "icmp": "icmp", "ip": "ip"}
# Rule protocols that name a way of matching TCP rather than an app-layer protocol.
TCP_VARIANTS = {"tcp-pkt": "tcp", "tcp-stream": "tcp"}
APP_PROTOS = {
    "http": "tcp", "http1": "tcp", "http2": "tcp", "tls": "tcp", "ssl": "tcp", "smtp": "tcp",
    "ftp": "tcp", "ftp-data": "tcp", "ssh": "tcp", "smb": "tcp", "dcerpc": "tcp",
    "imap": "tcp", "pop3": "tcp", "krb5": "tcp", "nfs": "tcp", "rdp": "tcp", "rfb": "tcp",
    "telnet": "tcp", "mqtt": "tcp", "modbus": "tcp", "dnp3": "tcp", "enip": "tcp",
    "irc": "tcp", "ldap": "tcp", "pgsql": "tcp", "websocket": "tcp", "bittorrent-dht": "udp",
    "dns": "udp", "snmp": "udp", "tftp": "udp", "ntp": "udp", "dhcp": "udp", "sip": "udp",
    "quic": "udp", "ikev2": "udp", "ike": "udp", "syslog": "udp",
}

# Sticky buffers (Suricata dotted names, Snort 3 names, Suricata/Snort 2 legacy content
# modifiers) whose bytes appear verbatim in the TCP stream in the common case.
RAW_BUFFERS = {
    "http.uri", "http.uri.raw", "http_uri", "http_raw_uri",
    "http.method", "http_method",
    "http.header", "http.header.raw", "http_header", "http_raw_header",
    "http.cookie", "http_cookie", "http_raw_cookie",
    "http.user_agent", "http_user_agent",
    "http.host", "http.host.raw", "http_host", "http_raw_host",
    "http.request_body", "http_client_body", "http_raw_body", "http_raw_request",
    "http.response_body", "http_server_body",
    "file.data", "file_data",
    "http.stat_code", "http_stat_code", "http.stat_msg", "http_stat_msg",
    "http.request_line", "http_request_line", "http.response_line", "http_response_line",
    "http.protocol", "http_protocol", "http_version", "http.start", "http_start",
    "http.accept", "http_accept", "http.accept_enc", "http_accept_enc",
    "http.accept_lang", "http_accept_lang", "http.content_type", "http_content_type",
    "http.content_len", "http_content_len", "http.referer", "http_referer",
    "http.connection", "http_connection", "http.location", "http.server",
    "http_raw_status", "http_trailer", "http_raw_trailer", "http_true_ip",
    "tls.sni", "tls_sni", "tls.certs", "tls_cert",
    "ssh.proto", "ssh_proto", "ssh.software", "ssh_software",
    "sip_header", "sip_body", "sip.method", "sip.uri", "sip.request_line",
    "smtp.helo", "smtp.mail_from", "smtp.rcpt_to", "ftp.command", "ftp.command_data",
    "raw_data", "pkt_data",
}
# Buffers that lowercase what they hold: the raw bytes may differ in case.
LOWERCASED_BUFFERS = {"http.host", "http_host"}
DNS_NAME_BUFFERS = {"dns.query", "dns_query"}
# Every name that selects a buffer (sticky), so unknown ones can be told apart.
UNSUPPORTED_BUFFERS = {
    "http.header_names", "http_header_names", "tls.cert_subject", "tls_cert_subject",
    "tls.cert_issuer", "tls_cert_issuer", "tls.cert_serial", "tls_cert_serial",
    "tls.cert_fingerprint", "tls_cert_fingerprint", "ja3.hash", "ja3_hash", "ja3.string",
    "ja3_string", "ja3s.hash", "ja3s_hash", "ja3s.string", "ja4.hash", "base64_data",
    "dce_stub_data", "js_data", "vba_data", "dns.opcode", "dns.answer.name",
    "dns.queries.rrname", "dns.answers.rrname", "tls.random", "krb5_cname", "krb5_sname",
    "smb.named_pipe", "smb.share", "http2.header", "http2.header_name", "file.name",
    "filename", "http.request_header", "http.response_header",
}
# Snort 3 writes some buffers with arguments (http_header:field user-agent).
# Legacy content modifiers (Snort 2, Suricata before the dotted names) that put the
# preceding content into a buffer.
LEGACY_MODIFIERS = {
    "http_uri", "http_raw_uri", "http_method", "http_header", "http_raw_header",
    "http_cookie", "http_raw_cookie", "http_user_agent", "http_host", "http_raw_host",
    "http_client_body", "http_server_body", "http_stat_code", "http_stat_msg",
    "http_header_names", "http_accept", "http_accept_enc", "http_accept_lang",
    "http_content_type", "http_content_len", "http_referer", "http_connection",
    "http_request_line", "http_response_line", "http_protocol", "http_start",
}
# Suricata pcre buffer flags.
PCRE_BUFFER_FLAGS = {"U": "http.uri", "I": "http.uri.raw", "P": "http.request_body",
                     "Q": "file.data", "H": "http.header", "D": "http.header.raw",
                     "M": "http.method", "C": "http.cookie", "S": "http.stat_code",
                     "Y": "http.stat_msg", "V": "http.user_agent", "W": "http.host",
                     "Z": "http.host.raw"}

# Keywords without effect on which bytes match (or whose effect is alert throttling).
HOUSEKEEPING = {"msg", "sid", "rev", "gid", "classtype", "reference", "metadata", "priority",
                "fast_pattern", "rawbytes", "tag", "target", "service", "prefilter",
                "fast_pattern_offset", "fast_pattern_length", "nocase", "offset", "depth",
                "distance", "within", "startswith", "endswith", "content", "uricontent",
                "pcre", "flowbits", "xbits", "flowint", "noalert", "pkt_data", "rem",
                "config", "requires", "sticky_buffer", "bypass", "replace", "filestore",
                "appid", "file_type", "file_id", "reference_url"}
# Keywords whose constraint Sentinel cannot express: dropped, the rule gets broader.
BROADENED = {"flow", "isdataat", "byte_test", "byte_jump", "byte_extract", "byte_math",
             "dsize", "urilen", "bsize", "bufferlen", "stream_size", "flags", "itype",
             "icode", "icmp_id", "icmp_seq", "ttl", "tos", "id", "ipopts", "fragbits",
             "fragoffset", "seq", "ack", "window", "ip_proto", "sameip", "ssl_state",
             "ssl_version", "tls.version", "tls_version", "app-layer-event",
             "app-layer-protocol", "threshold", "detection_filter", "dce_iface", "dce_opnum",
             "asn1", "ftpbounce", "cvs", "sip_method", "sip_stat_code", "stream_event",
             "decode-event", "engine-event", "http.uri.len", "tls.cert_expired",
             "tls.cert_chain_len", "dns.opcode", "tls.store", "ja3s", "luajit", "lua",
             "base64_decode", "ip.dst", "ip.src",
             "tcp.mss", "tcp.hdr", "ipv4.hdr", "ipv6.hdr", "icmpv4.hdr", "icmpv6.hdr",
             "udp.hdr", "entropy", "flow.age", "flow.pkts", "flow.bytes", "iprep",
             "datarep", "dataset", "geoip", "http2.frametype", "ssh.hassh", "tls.cert_notbefore",
             "tls.cert_notafter", "icmpv6.mtu", "tcp.flags", "file.size", "filesize",
             "filemagic", "filemd5", "filesha1", "filesha256", "fileext", "filename",
             "content_len"}
# Broadenings that drop what usually carries the detection itself (a length field's value,
# an overflow's size, an exclusion): by default (--broaden context) a rule that needs one
# is skipped rather than reduced to its benign protocol prefix; --broaden all keeps it.
DETECTION_BROADENINGS = {"isdataat", "byte_test", "byte_jump", "byte_extract", "byte_math",
                         "byte_extract-position", "dsize", "urilen", "bsize", "bufferlen",
                         "stream_size", "negated", "pcre-unsupported",
                         "pcre-unordered-in-combination", "asn1", "sameip", "ftpbounce",
                         "cvs", "entropy", "http.uri.len", "content_len", "file.size",
                         "filesize"}
# A broadened rule whose items are all contents shorter than this is skipped as too weak.
MIN_BROADENED_CONTENT = 3
# Transforms that change a buffer's bytes: the raw stream holds something else.
SKIPPED_TRANSFORMS = {"pcrexform", "xor", "to_md5", "to_sha1", "to_sha256", "url_decode",
                      "url_decode_uni", "compress_whitespace", "strip_whitespace",
                      "header_lowercase", "strip_pseudo_headers", "from_base64",
                      "to_uppercase", "casechange", "luaxform"}
# Broadenings that leave the matched bytes alone (who may send them, how often to alert).
MINOR_BROADENINGS = {"flow", "threshold", "detection_filter"}
# Keywords that make the rule depend on state other rules set: the rule is skipped.
STATEFUL = {"flowbits", "xbits", "flowint", "hostbits"}

HS_FLAG_CASELESS = 1
HS_FLAG_SINGLEMATCH = 8
HS_FLAG_COMBINATION = 512
HS_FLAG_QUIET = 1024
HS_EXT_FLAG_MIN_OFFSET = 1
HS_EXT_FLAG_MAX_OFFSET = 2
HS_MODE_BLOCK = 1
HS_MODE_STREAM = 2
U32_MAX = 0xFFFFFFFF


class Skip(Exception):
    """The rule cannot be translated; args[0] is the counted reason."""


# ---------------------------------------------------------------------------------------
# Rule text parsing

def split_options(body, track_quotes):
    """Splits the option list on ';' outside backslash escapes (and, for Snort 3, outside
    quotes; Suricata and Snort 2 need a ';' in a value escaped, and their pcres may hold
    unbalanced quotes)."""
    opts, cur, quoted, i = [], [], False, 0
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            cur.append(body[i:i + 2])
            i += 2
            continue
        if ch == '"' and track_quotes:
            quoted = not quoted
        if ch == ";" and not quoted:
            text = "".join(cur).strip()
            if text:
                opts.append(text)
            cur = []
        else:
            cur.append(ch)
        i += 1
    if quoted:
        raise Skip("syntax:unbalanced-quotes")
    text = "".join(cur).strip()
    if text:
        opts.append(text)
    out = []
    for text in opts:
        name, sep, value = text.partition(":")
        out.append((name.strip().lower(), value.strip() if sep else None))
    return out


def split_header_list(text):
    """Splits "a,[b,c],d" on top-level commas."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


def header_tokens(header):
    """The header's whitespace-separated fields; brackets may hold spaces."""
    tokens, depth, cur = [], 0, []
    for ch in header:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        if ch.isspace() and depth == 0:
            if cur:
                tokens.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        tokens.append("".join(cur))
    return tokens


def unquote(value):
    """A quoted option value without its quotes and with \\-escapes resolved."""
    value = value.strip()
    if len(value) < 2 or value[0] != '"' or value[-1] != '"':
        raise Skip("syntax:unquoted-string")
    inner, out, i = value[1:-1], [], 0
    while i < len(inner):
        if inner[i] == "\\" and i + 1 < len(inner):
            out.append(inner[i + 1])
            i += 2
        else:
            out.append(inner[i])
            i += 1
    return "".join(out)


def split_quoted(value):
    """'!"abc",depth 4' -> (negated, '"abc"', ['depth 4'])."""
    value = value.strip()
    negated = value.startswith("!")
    if negated:
        value = value[1:].lstrip()
    if not value.startswith('"'):
        raise Skip("syntax:unquoted-string")
    i = 1
    while i < len(value):
        if value[i] == "\\":
            i += 2
            continue
        if value[i] == '"':
            break
        i += 1
    if i >= len(value):
        raise Skip("syntax:unbalanced-quotes")
    quoted, rest = value[:i + 1], value[i + 1:].strip()
    mods = []
    if rest:
        if not rest.startswith(","):
            raise Skip("syntax:after-string")
        mods = [m.strip() for m in rest[1:].split(",") if m.strip()]
    return negated, quoted, mods


def content_bytes(text):
    """Snort content text (quotes and \\-escapes already removed) -> bytes."""
    out = bytearray()
    i = 0
    raw = text.encode("utf-8", "surrogateescape")
    while i < len(raw):
        c = raw[i]
        if c != 0x7C:  # '|'
            out.append(c)
            i += 1
            continue
        close = raw.find(b"|", i + 1)
        if close < 0:
            raise Skip("content:unterminated-hex")
        digits = raw[i + 1:close].decode("latin-1").replace(" ", "").replace("\t", "")
        if len(digits) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", digits):
            raise Skip("content:bad-hex")
        out += bytes.fromhex(digits)
        i = close + 1
    return bytes(out)


def content_text(data):
    """bytes -> Sentinel content syntax (printable ASCII as is, the rest as |HH ...|)."""
    out, hexrun = [], []
    for b in data:
        if 0x20 <= b < 0x7F and b not in (0x7C, 0x22, 0x5C):
            if hexrun:
                out.append("|" + " ".join(hexrun) + "|")
                hexrun = []
            out.append(chr(b))
        else:
            hexrun.append("%02x" % b)
    if hexrun:
        out.append("|" + " ".join(hexrun) + "|")
    return "".join(out)


def int_value(text):
    text = text.strip()
    if not re.fullmatch(r"-?\d+", text):
        return None  # a byte_extract variable or garbage
    return int(text)


# ---------------------------------------------------------------------------------------
# Addresses and ports

def parse_nets(text, variables, depth=0):
    """-> (include, exclude, dropped): lists of CIDR strings; include [] = any; dropped
    names what had to be left out (broader)."""
    if depth > 8:
        raise Skip("nets:too-deep")
    text = text.strip()
    if text.startswith("!"):
        inc, exc, dropped = parse_nets(text[1:], variables, depth + 1)
        if exc or not inc:  # !any, !$VAR, ![a,!b]: nothing Sentinel can say
            return [], [], dropped + ["negated-nets"]
        return [], inc, dropped
    if text.startswith("["):
        if not text.endswith("]"):
            raise Skip("nets:syntax")
        include, exclude, dropped, any_positive = [], [], [], False
        for part in split_header_list(text[1:-1]):
            inc, exc, d = parse_nets(part, variables, depth + 1)
            dropped += d
            if part.lstrip().startswith("!"):
                exclude += exc
                continue
            if not inc and not exc:
                any_positive = True
            include += inc
            exclude += exc
        if any_positive:
            include = []
        return include, exclude, dropped
    if text == "any":
        return [], [], []
    if text.startswith("$"):
        name = text[1:]
        if name in variables:
            return parse_nets(variables[name], variables, depth + 1)
        return [], [], []
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise Skip("nets:bad-address")
    return [str(net)], [], []


FULL = [(0, 65535)]


def ranges_union(ranges):
    out = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def ranges_minus(a, b):
    out = []
    for lo, hi in a:
        pieces = [(lo, hi)]
        for blo, bhi in b:
            nxt = []
            for plo, phi in pieces:
                if bhi < plo or blo > phi:
                    nxt.append((plo, phi))
                    continue
                if plo < blo:
                    nxt.append((plo, blo - 1))
                if bhi < phi:
                    nxt.append((bhi + 1, phi))
            pieces = nxt
        out += pieces
    return ranges_union(out)


def parse_ports(text, variables, depth=0):
    """-> list of (lo, hi) ranges (FULL = any), or None for "unknown" (an undefined
    variable, or the negation of one): taken as any, i.e. broader."""
    if depth > 8:
        raise Skip("ports:too-deep")
    text = text.strip()
    if text.startswith("!"):
        inner = parse_ports(text[1:], variables, depth + 1)
        return None if inner is None else ranges_minus(FULL, inner)
    if text.startswith("["):
        if not text.endswith("]"):
            raise Skip("ports:syntax")
        pos, neg, any_pos = [], [], False
        for part in split_header_list(text[1:-1]):
            negated = part.startswith("!")
            ranges = parse_ports(part[1:] if negated else part, variables, depth + 1)
            if ranges is None:
                if not negated:
                    any_pos = True
                continue  # an unknown exclusion is left out (broader)
            (neg if negated else pos).extend(ranges)
        if any_pos:
            pos = FULL
        return ranges_minus(ranges_union(pos) if pos else FULL, ranges_union(neg))
    if text == "any":
        return FULL
    if text.startswith("$"):
        name = text[1:]
        if name in variables:
            return parse_ports(variables[name], variables, depth + 1)
        return None
    m = re.fullmatch(r"(\d*)\s*:\s*(\d*)", text)
    if m:
        lo = int(m.group(1)) if m.group(1) else 0
        hi = int(m.group(2)) if m.group(2) else 65535
    elif re.fullmatch(r"\d+", text):
        lo = hi = int(text)
    else:
        raise Skip("ports:syntax")
    if lo > 65535 or hi > 65535 or lo > hi:
        raise Skip("ports:out-of-range")
    return [(lo, hi)]


def ports_value(ranges):
    if ranges is None or ranges == FULL:
        return None
    if not ranges:
        raise Skip("ports:empty-set")
    return [lo if lo == hi else "%d-%d" % (lo, hi) for lo, hi in ranges]


# ---------------------------------------------------------------------------------------
# pcre

def split_pcre(value):
    """'"/abc/smi"' (already unquoted: '/abc/smi') -> (pattern, flags)."""
    if not value.startswith("/"):
        # Snort allows m{...}-style delimiters rarely; not seen in practice.
        raise Skip("pcre:syntax")
    end = value.rfind("/")
    if end <= 0:
        raise Skip("pcre:syntax")
    return value[1:end], value[end + 1:]


def strip_anchors(pattern):
    """Removes ^, $, \\A, \\Z, \\z, \\G outside character classes (each removal widens the
    language: an anchor only ever restricts where a match may be)."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            if not in_class and nxt in "AZzG":
                i += 2
                continue
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if ch == "]":
                in_class = False
            out.append(ch)
            i += 1
            continue
        if ch == "[":
            in_class = True
            out.append(ch)
            i += 1
            # A ']' (or '^]') right after '[' is a literal member.
            if i < len(pattern) and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < len(pattern) and pattern[i] == "]":
                out.append("]")
                i += 1
            continue
        if ch in "^$":
            i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def escape_non_ascii(pattern):
    """Non-ASCII characters and control bytes as \\xHH (Hyperscan reads bytes)."""
    out = []
    for ch in pattern:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # surrogateescape'd byte
            out.append("\\x%02x" % (code - 0xDC00))
        elif code > 0x7E or code < 0x20:
            out.extend("\\x%02x" % b for b in ch.encode("utf-8"))
        else:
            out.append(ch)
    return "".join(out)


# ---------------------------------------------------------------------------------------
# One rule

class Item:
    def __init__(self, kind, buffer):
        self.kind = kind          # "content" | "pcre"
        self.buffer = buffer      # None = payload / stream
        self.negated = False
        self.data = b""           # content bytes
        self.pattern = ""         # pcre text
        self.flags = ""           # pcre flags
        self.nocase = False
        self.offset = None
        self.depth = None
        self.relative = False
        self.startswith = False
        self.endswith = False
        self.transforms = set()
        self.var_position = False  # offset/depth given by a byte_extract variable


class Translator:
    def __init__(self, args, classtypes):
        self.args = args
        self.classtypes = classtypes
        self.variables = dict(args.var)

    def translate(self, line, dialect, source):
        """One rule line -> (dict for the TOML writer, broadened list)."""
        m = re.match(r"^\s*(\S+)\s+(.*?)\(\s*(.*)\)\s*$", line, re.S)
        if not m:
            raise Skip("syntax:no-options")
        action_word = m.group(1).lower()
        header = header_tokens(m.group(2).strip())
        options = split_options(m.group(3), dialect == "snort3")
        broadened = []

        action = ACTIONS.get(action_word)
        if action is None:
            raise Skip("action:" + action_word)
        if not header:
            raise Skip("syntax:header")
        proto_word = header[0].lower()
        if proto_word in TRANSPORT_PROTOS:
            proto = TRANSPORT_PROTOS[proto_word]
        elif proto_word in TCP_VARIANTS:
            proto = TCP_VARIANTS[proto_word]
        elif proto_word in APP_PROTOS:
            proto = APP_PROTOS[proto_word]
            broadened.append("app-proto:" + proto_word)
        else:
            raise Skip("proto:" + proto_word)

        rule = {"action": action, "proto": proto}
        if len(header) == 6:
            src, sport, direction, dst, dport = header[1:6]
        elif len(header) == 1:  # Snort 3 service rule: "alert http ( ... )"
            src, sport, direction, dst, dport = "any", "any", "->", "any", "any"
        else:
            raise Skip("syntax:header")
        if direction not in ("->", "<>"):
            raise Skip("syntax:direction")
        src_inc, src_exc, d1 = parse_nets(src, self.variables)
        dst_inc, dst_exc, d2 = parse_nets(dst, self.variables)
        sports = parse_ports(sport, self.variables)
        dports = parse_ports(dport, self.variables)
        if d1 or d2:
            broadened.append("negated-variable-nets")
        if (sports is None and "!" in sport) or (dports is None and "!" in dport):
            broadened.append("negated-variable-ports")
        sports = FULL if sports is None else sports
        dports = FULL if dports is None else dports
        if direction == "<>" and (src_inc, src_exc, sports) != (dst_inc, dst_exc, dports):
            broadened.append("bidirectional")
            src_inc = src_exc = dst_inc = dst_exc = []
            sports = dports = FULL
        if proto == "icmp":
            sports = dports = FULL
        for key, inc, exc in (("src_nets", src_inc, src_exc), ("dst_nets", dst_inc, dst_exc)):
            if inc or exc:
                rule[key] = inc + ["!" + e for e in exc]
        for key, ranges in (("src_ports", sports), ("dst_ports", dports)):
            value = ports_value(ranges)
            if value is not None:
                rule[key] = value

        items = self.read_options(options, dialect, rule, broadened, proto_word)
        self.finish_items(items, rule, broadened, proto_word)
        rule["_items"] = items
        return rule, broadened

    # -- options ------------------------------------------------------------------------

    def read_options(self, options, dialect, rule, broadened, proto_word):
        items = []
        buffer = None          # the current sticky buffer
        transforms = set()     # transforms given after it
        metadata = collections.OrderedDict()
        seen_noalert = False
        for name, value in options:
            if name == "msg":
                rule["msg"] = unquote(value) if value else ""
            elif name == "sid":
                v = int_value(value or "")
                if v is None or v < 1 or v > U32_MAX:
                    raise Skip("sid:invalid")
                rule["sid"] = v
            elif name == "rev":
                v = int_value(value or "")
                if v is None or v < 0 or v > U32_MAX:
                    raise Skip("rev:invalid")
                rule["rev"] = max(v, 1)
            elif name == "gid":
                v = int_value(value or "")
                if v is None or v < 1 or v > U32_MAX:
                    raise Skip("gid:invalid")
                if v in (2, 3, 4):
                    raise Skip("gid:reserved")
                rule["gid"] = v
            elif name == "classtype":
                ct = (value or "").strip()
                if ct in self.classtypes:
                    rule["classtype"] = ct
                else:
                    self.args.stats["classtype dropped (not in Sentinel's table)"] += 1
            elif name == "priority":
                v = int_value(value or "")
                if v is not None and v >= 1:
                    rule["severity"] = min(v, 4)
            elif name == "metadata":
                for pair in (value or "").split(","):
                    pair = pair.strip()
                    if not pair:
                        continue
                    key, _, val = pair.partition(" ")
                    key, val = key.strip(), val.strip() or key.strip()
                    if key.lower() == "cve":
                        key, val = "cve", normalize_cve(val)
                    if val not in metadata.setdefault(key, []):
                        metadata[key].append(val)
            elif name == "reference":
                kind, _, ref = (value or "").partition(",")
                kind, ref = kind.strip().lower(), ref.strip()
                if not ref:
                    continue
                key, val = ("cve", normalize_cve(ref)) if kind == "cve" else (
                    "reference", kind + "," + ref)
                if val not in metadata.setdefault(key, []):
                    metadata[key].append(val)
            elif name in ("content", "uricontent"):
                if value is None:
                    raise Skip("syntax:content")
                negated, quoted, mods = split_quoted(value)
                item = Item("content", "http_uri" if name == "uricontent" else buffer)
                item.negated = negated
                item.transforms = set(transforms) if item.buffer == buffer else set()
                item.data = content_bytes(unquote(quoted))
                if not item.data:
                    raise Skip("content:empty")
                if dialect == "snort3":
                    for mod in mods:
                        self.content_modifier(item, *(mod.split(None, 1) + [None])[:2],
                                              broadened=broadened)
                elif mods:
                    raise Skip("syntax:content-modifiers-in-" + dialect)
                items.append(item)
            elif name in ("pcre", "regex"):
                if value is None:
                    raise Skip("syntax:pcre")
                negated, quoted, mods = split_pcre_value(value)
                pattern, flags = split_pcre(unquote_pcre(quoted))
                item = Item("pcre", buffer)
                item.negated = negated
                item.pattern, item.flags = pattern, flags
                for mod in mods:  # Snort 3 regex: nocase, relative, fast_pattern, ...
                    word = mod.split()[0]
                    if word == "nocase":
                        item.nocase = True
                    elif word == "relative":
                        item.relative = True
                items.append(item)
            elif name in ("nocase", "offset", "depth", "distance", "within", "startswith",
                          "endswith", "fast_pattern", "rawbytes"):
                if dialect == "snort3" and name not in ("fast_pattern", "rawbytes"):
                    raise Skip("syntax:snort2-modifier-in-snort3")
                if not items or items[-1].kind != "content":
                    if name in ("fast_pattern", "rawbytes"):
                        continue
                    raise Skip("syntax:modifier-without-content")
                self.content_modifier(items[-1], name, value, broadened=broadened)
            elif name in LEGACY_MODIFIERS and dialect != "snort3" and value is None:
                if not items or items[-1].kind != "content":
                    raise Skip("syntax:modifier-without-content")
                items[-1].buffer = name
            elif name in ("to_lowercase", "dotprefix"):
                transforms.add(name)  # applies to the sticky buffer's later items
            elif name in SKIPPED_TRANSFORMS:
                raise Skip("transform:" + name)
            elif self.is_buffer(name) and (value is None or dialect == "snort3"):
                if value is not None and name not in ("http_header", "http_raw_header"):
                    raise Skip("buffer-args:" + name)
                buffer = None if name == "pkt_data" else name
                transforms = set()
            elif name in STATEFUL:
                words = (value or "").replace(" ", "").lower().split(",")
                if name == "flowbits" and words and words[0] in ("set", "unset", "toggle",
                                                                 "setx"):
                    continue  # setting state without checking it: no effect on matching
                if name == "flowbits" and words and words[0] == "noalert":
                    seen_noalert = True
                    continue
                if name == "xbits" and words and words[0] in ("set", "unset", "toggle"):
                    continue
                raise Skip("stateful:" + name)
            elif name == "noalert":
                seen_noalert = True
            elif name in HOUSEKEEPING:
                continue
            elif name in BROADENED:
                broadened.append(name)
            elif name in UNSUPPORTED_BUFFERS:
                raise Skip("buffer:" + name)
            else:
                raise Skip("keyword:" + name)
        if seen_noalert:
            raise Skip("noalert")
        if "sid" not in rule:
            raise Skip("sid:missing")
        if not rule.get("msg"):
            rule["msg"] = "sid %d" % rule["sid"]
        rule["_metadata"] = metadata
        return items

    def is_buffer(self, name):
        return (name in RAW_BUFFERS or name in DNS_NAME_BUFFERS or name in UNSUPPORTED_BUFFERS
                or name == "pkt_data")

    def content_modifier(self, item, name, value, broadened):
        name = name.strip().lower()
        if name == "nocase":
            item.nocase = True
        elif name in ("offset", "depth"):
            v = int_value(value or "")
            if v is None:
                item.var_position = True
            else:
                setattr(item, name, v)
        elif name in ("distance", "within"):
            item.relative = True
        elif name == "startswith":
            item.startswith = True
        elif name == "endswith":
            item.endswith = True
        elif name in ("fast_pattern", "rawbytes", "fast_pattern_offset",
                      "fast_pattern_length"):
            pass
        elif name in LEGACY_MODIFIERS:
            item.buffer = name
        else:
            raise Skip("content-modifier:" + name)

    # -- items -> match -----------------------------------------------------------------

    def finish_items(self, items, rule, broadened, proto_word):
        match = []
        for item in items:
            if item.negated:
                broadened.append("negated")
                continue
            buf = item.buffer
            if buf is not None and buf not in RAW_BUFFERS and buf not in DNS_NAME_BUFFERS:
                raise Skip("buffer:" + buf)
            if item.kind == "pcre":
                entry = self.pcre_entry(item, broadened, proto_word)
            else:
                entry = self.content_entry(item, broadened, proto_word)
            if entry is not None:
                match.append(entry)
        if not match:
            raise Skip("no-positive-match")
        rule["match"] = match

    def content_entry(self, item, broadened, proto_word):
        buf = item.buffer
        transforms = item.transforms
        data = item.data
        if buf in DNS_NAME_BUFFERS:
            broadened.append("buffer:dns.query")
            # A dotted name -> the wire's length-prefixed labels: each '.' a length byte.
            parts = [re.escape(p.decode("latin-1")) for p in data.split(b".")]
            pattern = "[\\x00-\\x3f]".join(parts)
            if item.endswith:
                pattern += "\\x00"  # the root label ends every name on the wire
            pattern = escape_non_ascii(pattern)
            if not pattern.replace("[\\x00-\\x3f]", ""):
                raise Skip("content:dns-name-only-dots")
            return {"pcre": pattern, "nocase": True if item.nocase else None,
                    "_kind": "pcre"}
        entry = {"content": content_text(data), "_kind": "content", "_len": len(data)}
        nocase = item.nocase
        if buf is not None:
            broadened.append("buffer:" + buf)
            if buf in LOWERCASED_BUFFERS:
                nocase = True
            if "to_lowercase" in transforms:
                nocase = True
            if "dotprefix" in transforms and data.startswith(b"."):
                data = data[1:]
                if not data:
                    return None
                entry["content"] = content_text(data)
                entry["_len"] = len(data)
            if nocase:
                entry["nocase"] = True
            return entry  # positions inside a buffer mean nothing in the stream
        if nocase:
            entry["nocase"] = True
        if item.var_position:
            broadened.append("byte_extract-position")
            return entry
        if item.relative:
            broadened.append("relative")
            return entry
        offset, depth = item.offset, item.depth
        if item.startswith:
            offset, depth = 0, len(data)
        if item.endswith:
            broadened.append("endswith")
        if offset is not None and offset < 0:
            broadened.append("negative-offset")
            offset = None
        if offset is not None and depth is None and offset == 0:
            offset = None
        if offset is not None or depth is not None:
            if proto_word == "tcp-pkt":
                raise Skip("tcp-pkt-position")
            if depth is not None and depth < len(data):
                raise Skip("content:depth-shorter-than-content")
            if depth is not None and depth < 1:
                raise Skip("content:depth-shorter-than-content")
            if (offset or 0) + (depth or 0) > U32_MAX:
                raise Skip("content:offset-depth-range")
            if offset:
                entry["offset"] = offset
            if depth is not None:
                entry["depth"] = depth
        return entry

    def pcre_entry(self, item, broadened, proto_word):
        pattern, flags = item.pattern, item.flags
        nocase = item.nocase
        inline = ""
        buf = item.buffer
        anchored = False
        for f in flags:
            if f == "i":
                nocase = True
            elif f in "smx":
                inline += f
            elif f == "A":
                anchored = True
            elif f == "R":
                item.relative = True
            elif f in "OGEB":
                pass
            elif f in PCRE_BUFFER_FLAGS:
                buf = PCRE_BUFFER_FLAGS[f]
            else:
                raise Skip("pcre:flag-" + f)
        if buf in DNS_NAME_BUFFERS:
            raise Skip("buffer:dns.query-pcre")
        if buf is not None and buf not in RAW_BUFFERS:
            raise Skip("buffer:" + buf)
        if buf is not None:
            broadened.append("buffer:" + buf)
            pattern = strip_anchors(pattern)
            anchored = False
            if buf in LOWERCASED_BUFFERS:
                nocase = True
        elif item.relative:
            broadened.append("relative")
            if anchored or re.match(r"\^", pattern):
                # ^ after a relative pcre means "right after the previous match".
                pattern = strip_anchors(pattern)
                anchored = False
        elif proto_word == "tcp-pkt" and re.search(r"(?<!\\)[\^$]", pattern):
            raise Skip("tcp-pkt-position")
        if anchored:
            pattern = "^(?:" + pattern + ")"
        if inline:
            pattern = "(?" + "".join(sorted(set(inline))) + ")" + pattern
        pattern = escape_non_ascii(pattern)
        if not pattern:
            raise Skip("pcre:empty")
        entry = {"pcre": pattern, "_kind": "pcre"}
        if nocase:
            entry["nocase"] = True
        return entry


def split_pcre_value(value):
    """Like split_quoted, but a pcre may hold unescaped quotes: it runs to the last quote
    (as Suricata and Snort 2 read it); a Snort 3 regex may have ",modifiers" after it."""
    value = value.strip()
    negated = value.startswith("!")
    if negated:
        value = value[1:].lstrip()
    end = value.rfind('"')
    if not value.startswith('"') or end <= 0:
        raise Skip("syntax:unquoted-string")
    rest = value[end + 1:].strip()
    mods = []
    if rest:
        if not rest.startswith(","):
            raise Skip("syntax:after-string")
        mods = [m.strip() for m in rest[1:].split(",") if m.strip()]
    return negated, value[:end + 1], mods


def normalize_cve(text):
    """2014-0160, CVE_2014_0160, cve-2014-0160 -> CVE-2014-0160."""
    text = text.strip().upper().replace("_", "-")
    return text if text.startswith("CVE-") else "CVE-" + text


def unquote_pcre(quoted):
    """pcre values keep their backslashes (they are the regex's escapes); only \\" and
    \\; (escapes of the rule syntax) are resolved."""
    inner = quoted.strip()[1:-1]
    return inner.replace('\\"', '"').replace("\\;", ";")


# ---------------------------------------------------------------------------------------
# Hyperscan (ctypes): compile each pcre the way Sentinel will

class HsCompileError(ctypes.Structure):
    _fields_ = [("message", ctypes.c_char_p), ("expression", ctypes.c_int)]


class HsExprExt(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_ulonglong), ("min_offset", ctypes.c_ulonglong),
                ("max_offset", ctypes.c_ulonglong), ("min_length", ctypes.c_ulonglong),
                ("edit_distance", ctypes.c_uint), ("hamming_distance", ctypes.c_uint)]


class HsExprInfo(ctypes.Structure):
    _fields_ = [("min_width", ctypes.c_uint), ("max_width", ctypes.c_uint),
                ("unordered_matches", ctypes.c_char), ("matches_at_eod", ctypes.c_char),
                ("matches_only_at_eod", ctypes.c_char)]


class Hyperscan:
    def __init__(self):
        name = ctypes.util.find_library("hs") or "libhs.so.5"
        self.lib = ctypes.CDLL(name)
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"))
        self.libc.free.argtypes = [ctypes.c_void_p]
        lib = self.lib
        lib.hs_compile_ext_multi.argtypes = [
            ctypes.POINTER(ctypes.c_char_p), ctypes.POINTER(ctypes.c_uint),
            ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.POINTER(HsExprExt)),
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
            ctypes.POINTER(ctypes.POINTER(HsCompileError))]
        lib.hs_compile_ext_multi.restype = ctypes.c_int
        lib.hs_expression_info.argtypes = [
            ctypes.c_char_p, ctypes.c_uint, ctypes.POINTER(ctypes.POINTER(HsExprInfo)),
            ctypes.POINTER(ctypes.POINTER(HsCompileError))]
        lib.hs_expression_info.restype = ctypes.c_int
        lib.hs_free_database.argtypes = [ctypes.c_void_p]
        lib.hs_free_compile_error.argtypes = [ctypes.POINTER(HsCompileError)]
        self.cache = {}

    def min_width(self, expr, flags):
        info = ctypes.POINTER(HsExprInfo)()
        err = ctypes.POINTER(HsCompileError)()
        rc = self.lib.hs_expression_info(expr, flags, ctypes.byref(info), ctypes.byref(err))
        if rc != 0:
            msg = err.contents.message.decode("utf-8", "replace") if err else "rc %d" % rc
            if err:
                self.lib.hs_free_compile_error(err)
            return None, msg
        width = info.contents.min_width
        self.libc.free(ctypes.cast(info, ctypes.c_void_p))
        return width, None

    def unordered(self, expr, flags):
        """Whether Hyperscan says `expr` may report matches out of order (such an
        expression cannot be a sub-expression of a logical combination)."""
        info = ctypes.POINTER(HsExprInfo)()
        err = ctypes.POINTER(HsCompileError)()
        rc = self.lib.hs_expression_info(expr, flags, ctypes.byref(info), ctypes.byref(err))
        if rc != 0:
            if err:
                self.lib.hs_free_compile_error(err)
            return True
        result = info.contents.unordered_matches != b"\x00"
        self.libc.free(ctypes.cast(info, ctypes.c_void_p))
        return result

    def check_combination(self, items):
        """Compiles a multi-item rule the way Sentinel's BLOCK database holds it: the items
        as HS_FLAG_QUIET sub-expressions and one HS_FLAG_COMBINATION "0 & 1 & ...".
        `items`: [(expr, flags, min_offset, max_offset)]. None, or Hyperscan's message."""
        n = len(items)
        texts = [e for e, _, _, _ in items] + [" & ".join(str(i) for i in range(n)).encode()]
        flags = [f | HS_FLAG_QUIET for _, f, _, _ in items] + [
            HS_FLAG_COMBINATION | HS_FLAG_SINGLEMATCH]
        key = ("combination", tuple(items))
        if key in self.cache:
            return self.cache[key]
        exts = []
        for _, _, lo, hi in items:
            ext = HsExprExt()
            if lo:
                ext.flags |= HS_EXT_FLAG_MIN_OFFSET
                ext.min_offset = lo
            if hi is not None:
                ext.flags |= HS_EXT_FLAG_MAX_OFFSET
                ext.max_offset = hi
            exts.append(ctypes.pointer(ext) if ext.flags else None)
        exts.append(None)
        arr_t = (ctypes.c_char_p * (n + 1))(*texts)
        arr_f = (ctypes.c_uint * (n + 1))(*flags)
        arr_i = (ctypes.c_uint * (n + 1))(*range(n + 1))
        arr_e = (ctypes.POINTER(HsExprExt) * (n + 1))(*exts)
        db = ctypes.c_void_p()
        err = ctypes.POINTER(HsCompileError)()
        rc = self.lib.hs_compile_ext_multi(arr_t, arr_f, arr_i, arr_e, n + 1, HS_MODE_BLOCK,
                                           None, ctypes.byref(db), ctypes.byref(err))
        result = None
        if rc == 0:
            self.lib.hs_free_database(db)
        else:
            result = err.contents.message.decode("utf-8", "replace") if err else "rc %d" % rc
            if err:
                self.lib.hs_free_compile_error(err)
        self.cache[key] = result
        return result

    def check(self, expr, flags, min_offset, max_offset, modes):
        """None if `expr` compiles in every mode of `modes`, else Hyperscan's message."""
        key = (expr, flags, min_offset, max_offset, modes)
        if key in self.cache:
            return self.cache[key]
        ext = HsExprExt()
        if min_offset:
            ext.flags |= HS_EXT_FLAG_MIN_OFFSET
            ext.min_offset = min_offset
        if max_offset is not None:
            ext.flags |= HS_EXT_FLAG_MAX_OFFSET
            ext.max_offset = max_offset
        exprs = (ctypes.c_char_p * 1)(expr)
        flag_arr = (ctypes.c_uint * 1)(flags | HS_FLAG_SINGLEMATCH)
        ids = (ctypes.c_uint * 1)(0)
        exts = (ctypes.POINTER(HsExprExt) * 1)(ctypes.pointer(ext) if ext.flags else None)
        result = None
        for mode in modes:
            db = ctypes.c_void_p()
            err = ctypes.POINTER(HsCompileError)()
            rc = self.lib.hs_compile_ext_multi(exprs, flag_arr, ids, exts, 1, mode, None,
                                               ctypes.byref(db), ctypes.byref(err))
            if rc == 0:
                self.lib.hs_free_database(db)
                continue
            result = err.contents.message.decode("utf-8", "replace") if err else "rc %d" % rc
            if err:
                self.lib.hs_free_compile_error(err)
            break
        self.cache[key] = result
        return result


def literal_regex(data):
    out = []
    for b in data:
        if 0x30 <= b <= 0x39 or 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A:
            out.append(chr(b))
        else:
            out.append("\\x{%02x}" % b)
    return "".join(out)


def decode_sentinel_content(text):
    return content_bytes(text)


def validate_rule(hs, rule, broadened, strict):
    """Compiles the rule's items as Sentinel would; drops or rejects failing pcres."""
    proto = rule["proto"]
    modes = {"tcp": (HS_MODE_STREAM,), "udp": (HS_MODE_BLOCK,), "icmp": (HS_MODE_BLOCK,),
             "ip": (HS_MODE_STREAM, HS_MODE_BLOCK)}[proto]
    kept, failures = [], []
    for entry in rule["match"]:
        flags = HS_FLAG_CASELESS if entry.get("nocase") else 0
        offset = entry.get("offset", 0)
        depth = entry.get("depth")
        if entry["_kind"] == "content":
            if not offset and depth is None:
                kept.append(entry)
                continue
            expr = literal_regex(decode_sentinel_content(entry["content"])).encode()
            min_off = offset + entry["_len"] if offset else 0
        else:
            expr = entry["pcre"].encode("latin-1", "replace")
            min_off = 0
            if offset:
                width, msg = hs.min_width(expr, flags)
                if msg:
                    failures.append(msg)
                    continue
                min_off = offset + width
        max_off = offset + depth if depth is not None else None
        msg = hs.check(expr, flags, min_off, max_off, modes)
        if msg is None:
            kept.append(entry)
        elif entry["_kind"] == "content":
            raise Skip("hyperscan:content")
        else:
            failures.append(msg)
    if failures:
        if strict or not kept:
            raise Skip("hyperscan:" + classify_hs_error(failures[0]))
        broadened.append("pcre-unsupported")
        rule["match"] = kept
    # Several items in a BLOCK database (udp, icmp, ip) form a logical combination, which
    # Hyperscan refuses when an item may report matches out of order (e.g. a pcre ending
    # in $ under (?m)): such pcres are dropped like unsupported ones.
    if HS_MODE_BLOCK in modes and len(rule["match"]) > 1:
        compiled = [(item_expr(e), e) for e in rule["match"]]
        if hs.check_combination([c for c, _ in compiled]) is not None:
            keep = [e for (c, e) in compiled
                    if e["_kind"] != "pcre" or not hs.unordered(c[0], c[1])]
            if len(keep) == len(compiled) or not keep or strict:
                raise Skip("hyperscan:combination")
            broadened.append("pcre-unordered-in-combination")
            rule["match"] = keep
            if len(keep) > 1 and hs.check_combination([item_expr(e) for e in keep]) is not None:
                raise Skip("hyperscan:combination")
    return failures


def item_expr(entry):
    """(expression bytes, flags, min_offset, max_offset) of a match entry, as Sentinel
    compiles it (min_offset of a pcre with an offset needs its minimum width: left out
    here; only combinations use this, where it does not change what compiles)."""
    flags = HS_FLAG_CASELESS if entry.get("nocase") else 0
    offset = entry.get("offset", 0)
    depth = entry.get("depth")
    if entry["_kind"] == "content":
        expr = literal_regex(decode_sentinel_content(entry["content"])).encode()
        lo = offset + entry["_len"] if offset else 0
    else:
        expr = entry["pcre"].encode("latin-1", "replace")
        lo = 0
    return expr, flags, lo, (offset + depth if depth is not None else None)


def classify_hs_error(msg):
    """A short, countable name for a Hyperscan compile error."""
    m = msg.lower()
    for key, name in (("backreference", "backreference"), ("lookaround", "lookaround"),
                      ("assertion", "assertion"), ("empty buffer", "matches-empty"),
                      ("too large", "too-large"), ("resource", "resource-limit"),
                      ("atomic", "atomic-group"), ("possessive", "possessive"),
                      ("unsupported", "unsupported"), ("never match", "never-matches")):
        if key in m:
            return name
    return re.sub(r"[^a-z]+", "-", m.split(" at index")[0])[:40].strip("-")


# ---------------------------------------------------------------------------------------
# TOML output

def toml_string(s, prefer_literal=False):
    if prefer_literal and "'" not in s and "\n" not in s and all(
            0x20 <= ord(c) < 0x7F or c == "\t" for c in s):
        return "'" + s + "'"
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20 or code == 0x7F:
            out.append("\\u%04x" % code)
        elif 0xD800 <= code <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def toml_key(k):
    if re.fullmatch(r"[A-Za-z0-9_-]+", k):
        return k
    return toml_string(k)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return toml_string(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    raise TypeError(v)


def rule_toml(rule):
    lines = ["[[rule]]"]
    for key in ("sid", "rev", "gid", "msg", "action", "severity", "classtype", "proto",
                "src_nets", "dst_nets", "src_ports", "dst_ports"):
        if key in rule:
            lines.append("%s = %s" % (key, toml_value(rule[key])))
    items = []
    for entry in rule["match"]:
        parts = []
        if entry["_kind"] == "content":
            parts.append("content = " + toml_string(entry["content"]))
        else:
            parts.append("pcre = " + toml_string(entry["pcre"], prefer_literal=True))
        for key in ("nocase", "offset", "depth"):
            if entry.get(key) is not None and entry.get(key) is not False:
                parts.append("%s = %s" % (key, toml_value(entry[key])))
        items.append("{ " + ", ".join(parts) + " }")
    lines.append("match = [" + ", ".join(items) + "]")
    meta = rule.get("metadata")
    if meta:
        lines.append("metadata = { " + ", ".join(
            "%s = %s" % (toml_key(k), toml_value(v)) for k, v in meta.items()) + " }")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------
# Driver

def detect_dialect(lines):
    snort3 = re.compile(r'content:\s*!?"(?:[^"\\]|\\.)*"\s*,|(?:^|;)\s*service\s*:')
    for line in lines:
        if snort3.search(line):
            return "snort3"
    return "suricata"


def load_classtypes(path):
    try:
        with open(path, "rb") as f:
            text = f.read().decode()
    except OSError:
        return None
    return set(re.findall(r"^\[([^\]]+)\]", text, re.M))


def rule_lines(path):
    """(line number, text) of every active rule; continuation lines (\\) joined."""
    with open(path, "rb") as f:
        raw = f.read().decode("utf-8", "surrogateescape")
    out, pending, start = [], "", 0
    for number, line in enumerate(raw.splitlines(), 1):
        if pending:
            line = pending + line.lstrip()
        else:
            start = number
        if line.rstrip().endswith("\\"):
            pending = line.rstrip()[:-1]
            continue
        pending = ""
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        out.append((start, text))
    return out


def parse_var(text):
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError("expected NAME=VALUE, got %r" % text)
    return name.lstrip("$"), value


def sentinel_check(binary, out_files, work, max_rounds, conf=None):
    """Runs `sentinel -c CONF -T -S ...` and removes rules it rejects; returns (removed,
    ok). Without `conf`, a configuration with no cache and the largest stream state is
    used: the check is about the rules, not about sizing the box."""
    if conf is None:
        conf = os.path.join(work, "check.toml")
        rules_dir = os.path.join(work, "empty-rules.d")
        os.makedirs(rules_dir, exist_ok=True)
        with open(conf, "w") as f:
            f.write('[rules]\ndir = %s\ncache_dir = ""\n\n[flows]\nstream_state_max = 65536\n'
                    % toml_string(rules_dir))
    removed = []
    for _ in range(max_rounds):
        cmd = [binary, "-c", conf, "-T"]
        for path in out_files:
            cmd += ["-S", path]
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              errors="replace")
        if proc.returncode == 0:
            return removed, True
        text = proc.stderr + proc.stdout
        m = None
        for path in out_files:
            m = re.search(re.escape(path) + r":(\d+):(\d+): (.*)", text)
            if m:
                break
        if not m:
            sys.stderr.write("rules2toml: sentinel -T failed without naming a rule:\n" + text)
            return removed, False
        line = int(m.group(1))
        if not drop_rule_at(path, line):
            sys.stderr.write("rules2toml: cannot find the rule at %s:%d\n" % (path, line))
            return removed, False
        removed.append("%s:%d: %s" % (os.path.basename(path), line, m.group(3)))
    return removed, False


def drop_rule_at(path, line):
    """Removes the [[rule]] table containing `line` (1-based) from a generated file."""
    with open(path) as f:
        lines = f.readlines()
    start = line - 1
    while start >= 0 and lines[start].strip() != "[[rule]]":
        start -= 1
    if start < 0:
        return False
    end = start + 1
    while end < len(lines) and lines[end].strip() != "[[rule]]":
        end += 1
    # Keep the line count stable is not needed; but keep a comment for the reader.
    lines[start:end] = ["# rule removed: sentinel -T rejected it\n"]
    with open(path, "w") as f:
        f.writelines(lines)
    return True


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(
        prog="rules2toml.py", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", metavar="RULES_FILE")
    out = parser.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", help="write every translated rule to this TOML file")
    out.add_argument("--out-dir", help="write one TOML file per input (same stem) here")
    parser.add_argument("--dialect", choices=("auto", "snort2", "snort3", "suricata"),
                        default="auto", help="rule syntax (auto: per file; Snort 3 when "
                        "contents carry comma modifiers or rules use service:)")
    parser.add_argument("--var", action="append", default=[], type=parse_var,
                        metavar="NAME=VALUE", help="define a rule variable, e.g. "
                        "HOME_NET=[10.0.0.0/8,192.168.0.0/16] or HTTP_PORTS=[80,8080]; "
                        "undefined variables mean any")
    parser.add_argument("--strict", action="store_true",
                        help="skip rules that would need broadening instead of broadening them")
    parser.add_argument("--broaden", choices=("context", "all"), default="context",
                        help="context (default): drop only constraints on where and when "
                        "bytes match (flow, app-layer protocol, sticky buffers, relative "
                        "positions, thresholds, header fields) and skip rules that need "
                        "isdataat, byte_test/jump/extract/math, dsize/bsize/urilen, negated "
                        "contents or an unsupported pcre; all: drop those too")
    parser.add_argument("--action", choices=sorted(set(ACTIONS.values())),
                        help="override every rule's action (e.g. alert for a trial run)")
    parser.add_argument("--classification",
                        default=os.path.join(here, "..", "config", "classification.toml"),
                        help="Sentinel's classification table (classtypes not in it are "
                        "dropped); default: ../config/classification.toml")
    parser.add_argument("--validate", choices=("auto", "hyperscan", "none"), default="auto",
                        help="compile pcres with libhs as Sentinel will (auto: when libhs "
                        "loads)")
    parser.add_argument("--check-with", metavar="SENTINEL",
                        help="finally run SENTINEL -T -S on the output and remove rules it "
                        "still rejects")
    parser.add_argument("--check-config", metavar="CONF",
                        help="the sentinel configuration for --check-with (default: one "
                        "without cache, with the largest stream_state_max)")
    parser.add_argument("--check-rounds", type=int, default=200,
                        help="at most this many rules removed by --check-with (default 200)")
    parser.add_argument("--report", metavar="FILE.json",
                        help="write every skipped/broadened rule with its reason as JSON")
    parser.add_argument("--quiet", action="store_true", help="no summary on stderr")
    args = parser.parse_args(argv)

    classtypes = load_classtypes(args.classification)
    if classtypes is None:
        sys.stderr.write("rules2toml: cannot read the classification table %s\n"
                         % args.classification)
        return 1
    args.stats = collections.Counter()
    hs = None
    if args.validate != "none":
        try:
            hs = Hyperscan()
        except OSError as e:
            if args.validate == "hyperscan":
                sys.stderr.write("rules2toml: cannot load libhs: %s\n" % e)
                return 1

    translator = Translator(args, classtypes)
    skipped = collections.Counter()
    broadenings = collections.Counter()
    seen = {}
    outputs = collections.OrderedDict()  # output path -> [rule text]
    report = []
    total = translated = exact = minor = 0
    for path in args.inputs:
        try:
            lines = rule_lines(path)
        except OSError as e:
            sys.stderr.write("rules2toml: %s: %s\n" % (path, e.strerror))
            return 1
        dialect = args.dialect if args.dialect != "auto" else detect_dialect(
            t for _, t in lines)
        if dialect == "snort2":
            dialect = "suricata"  # same option syntax
        if args.output:
            target = args.output
        else:
            stem = os.path.splitext(os.path.basename(path))[0]
            target = os.path.join(args.out_dir, stem + ".toml")
        texts = outputs.setdefault(target, [])
        for number, text in lines:
            total += 1
            where = "%s:%d" % (os.path.basename(path), number)
            try:
                rule, broadened = translator.translate(text, dialect, where)
                if hs is not None:
                    validate_rule(hs, rule, broadened, args.strict)
                if broadened and args.strict:
                    raise Skip("strict:" + sorted(set(broadened))[0])
                if args.broaden == "context":
                    needs = sorted(set(broadened) & DETECTION_BROADENINGS)
                    if needs:
                        raise Skip("needs:" + needs[0])
                if broadened and all(e["_kind"] == "content" and e["_len"] < MIN_BROADENED_CONTENT
                                     for e in rule["match"]):
                    raise Skip("too-weak-after-broadening")
                key = (rule.get("gid", 1), rule["sid"])
                if key in seen:
                    raise Skip("duplicate-sid")
                seen[key] = where
            except Skip as e:
                reason = e.args[0]
                skipped[reason] += 1
                if args.report:
                    report.append({"where": where, "skipped": reason})
                continue
            if args.action:
                rule["action"] = args.action
            meta = collections.OrderedDict(rule.pop("_metadata"))
            meta["sentinel_source"] = [where]
            uniq = sorted(set(broadened))
            if uniq:
                meta["sentinel_broadened"] = uniq
                for b in uniq:
                    broadenings[b] += 1
                if args.report:
                    report.append({"where": where, "sid": rule["sid"], "broadened": uniq})
            else:
                exact += 1
            if all(b in MINOR_BROADENINGS or b.startswith("app-proto:") for b in uniq):
                minor += 1
            rule["metadata"] = meta
            texts.append(rule_toml(rule))
            translated += 1

    written = []
    for target, texts in outputs.items():
        try:
            if os.path.dirname(target):
                os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "w", encoding="utf-8", errors="surrogateescape") as f:
                f.write("# Generated by tools/rules2toml.py from %s; do not edit.\n\n"
                        % ", ".join(os.path.basename(p) for p in args.inputs
                                    if args.output or os.path.splitext(
                                        os.path.basename(p))[0] == os.path.splitext(
                                        os.path.basename(target))[0]))
                f.write("\n".join(texts))
        except OSError as e:
            sys.stderr.write("rules2toml: %s: %s\n" % (target, e.strerror))
            return 1
        written.append(target)

    check_removed, check_ok = [], True
    if args.check_with:
        with tempfile.TemporaryDirectory(prefix="rules2toml-") as work:
            check_removed, check_ok = sentinel_check(args.check_with, written, work,
                                                     args.check_rounds, args.check_config)
        translated -= len(check_removed)
        if check_removed:
            skipped["sentinel -T rejected"] += len(check_removed)

    if args.report:
        with open(args.report, "w") as f:
            json.dump({"skipped": dict(skipped), "broadened": dict(broadenings),
                       "sentinel_check_removed": check_removed, "rules": report}, f,
                      indent=1)

    if not args.quiet:
        err = sys.stderr
        err.write("rules2toml: %d rules read, %d translated, %d skipped\n"
                  % (total, translated, sum(skipped.values())))
        err.write("  translated: %d exact; %d exact in what they match (only flow, "
                  "app-layer protocol or alert-rate keywords dropped); %d broadened in what "
                  "they match\n" % (exact, minor - exact, translated - minor))
        if skipped:
            err.write("skipped, by reason:\n")
            for reason, count in sorted(skipped.items(), key=lambda kv: (-kv[1], kv[0])):
                if count:
                    err.write("  %6d  %s\n" % (count, reason))
        if broadenings:
            err.write("broadened (rules; a rule may count under several):\n")
            for reason, count in sorted(broadenings.items(), key=lambda kv: (-kv[1], kv[0])):
                err.write("  %6d  %s\n" % (count, reason))
        for k, v in sorted(args.stats.items()):
            err.write("  %6d  %s\n" % (v, k))
        if args.check_with:
            err.write("sentinel -T: %s, %d rule(s) removed\n"
                      % ("accepted" if check_ok else "STILL FAILING", len(check_removed)))
            for r in check_removed:
                err.write("  removed %s\n" % r)
        err.write("wrote %s\n" % ", ".join(written))
    return 0 if check_ok else 1


if __name__ == "__main__":
    sys.exit(main())
