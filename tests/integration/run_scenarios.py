#!/usr/bin/python3
"""Runs the integration scenarios (tests/integration/scenarios/<topic>/<case>/) through
`sentinel -r` and reports TAP.

    run_scenarios.py SENTINEL_BIN SCENARIOS_DIR CORPUS_DIR [FILTER]

FILTER keeps the cases whose name ("topic/case") contains it. For each case the runner
writes a configuration into a scratch directory (rules from the case's rules.d, no
compiled-database cache, logs in the scratch directory, vendor_nets 192.0.2.0/24, then the
case's `config` merged over that), replays the case's capture with
`SENTINEL -c CONF -r PCAP -w out.pcap -l LOGDIR`, reads every eve.json line and the -w
capture back, and compares them with the case's [expect] table. The scenario format is
documented in scenarios/README.md. Environment: SCENARIO_JOBS (parallel replays, default
min(4, CPUs)), SCENARIO_KEEP=1 keeps the scratch directories of failed cases.
"""
import concurrent.futures
import datetime
import ipaddress
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

try:
    import jsonschema
except ImportError:  # the schema check is part of the test: never skip it silently
    jsonschema = None

DEFAULT_VENDOR_NETS = ["192.0.2.0/24"]
REPLAY_TIMEOUT = 120  # seconds per case


class ScenarioError(Exception):
    """The scenario itself is malformed (not a sentinel failure)."""


# --------------------------------------------------------------------------- scenario.toml
TOP_KEYS = {"description", "pcap", "config", "expect"}
EXPECT_KEYS = {"alerts", "allow_unlisted_alerts", "forwarded", "missing", "drops", "stats", "exit", "alert",
               "injected"}
ALERT_KEYS = {"count", "match"}
INJECTED_KEYS = {"after", "kind", "direction", "seq", "ack", "flags"}
INJECTED_KINDS = {"tcp_rst", "icmp_port_unreachable"}
ALERT_KEY_RE = re.compile(r"^(\d+):(\d+|\*)$")
TCP_FLAG_LETTERS = "FSRPAUEC"  # bit order 0..7


def _type_check(value, types, where):
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise ScenarioError(f"{where}: expected {types}, got a boolean")
    if not isinstance(value, types):
        raise ScenarioError(f"{where}: expected {types}, got {type(value).__name__}")
    return value


def _unknown(table, allowed, where):
    extra = sorted(set(table) - allowed)
    if extra:
        raise ScenarioError(f"{where}: unknown key(s) {', '.join(extra)} (allowed: {', '.join(sorted(allowed))})")


def load_scenario(case_dir):
    path = case_dir / "scenario.toml"
    try:
        sc = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ScenarioError(f"{path}: {e}")
    _unknown(sc, TOP_KEYS, "scenario.toml")
    for key in ("description", "pcap", "expect"):
        if key not in sc:
            raise ScenarioError(f"scenario.toml: missing required key '{key}'")
    _type_check(sc["description"], str, "description")
    _type_check(sc["pcap"], str, "pcap")
    extra_config = {}
    if "config" in sc:
        _type_check(sc["config"], str, "config")
        try:
            extra_config = tomllib.loads(sc["config"])
        except tomllib.TOMLDecodeError as e:
            raise ScenarioError(f"config: not valid TOML: {e}")
    ex = _type_check(sc["expect"], dict, "expect")
    _unknown(ex, EXPECT_KEYS, "[expect]")
    if "alerts" not in ex:
        raise ScenarioError("[expect]: missing required key 'alerts' (write alerts = {} for none)")
    alerts = _type_check(ex["alerts"], dict, "expect.alerts")
    for key, count in alerts.items():
        if not ALERT_KEY_RE.match(key):
            raise ScenarioError(f"expect.alerts: key '{key}' is not 'gid:sid' or 'gid:*'")
        if _type_check(count, int, f"expect.alerts.{key}") < 0:
            raise ScenarioError(f"expect.alerts.{key}: negative count")
    _type_check(ex.get("allow_unlisted_alerts", False), bool, "expect.allow_unlisted_alerts")
    if "forwarded" in ex:
        _type_check(ex["forwarded"], int, "expect.forwarded")
    missing = _type_check(ex.get("missing", []), list, "expect.missing")
    for i, n in enumerate(missing):
        _type_check(n, int, f"expect.missing[{i}]")
    if missing != sorted(set(missing)):
        raise ScenarioError("expect.missing: must be ascending without repeats")
    for reason, count in _type_check(ex.get("drops", {}), dict, "expect.drops").items():
        _type_check(count, int, f"expect.drops.{reason}")
    _type_check(ex.get("stats", {}), dict, "expect.stats")
    _type_check(ex.get("exit", 0), int, "expect.exit")
    for i, spec in enumerate(_type_check(ex.get("alert", []), list, "expect.alert")):
        where = f"[[expect.alert]] #{i + 1}"
        _type_check(spec, dict, where)
        _unknown(spec, ALERT_KEYS, where)
        if "count" not in spec or "match" not in spec:
            raise ScenarioError(f"{where}: needs count and match")
        _type_check(spec["count"], int, f"{where}.count")
        if not _type_check(spec["match"], dict, f"{where}.match"):
            raise ScenarioError(f"{where}.match: empty")
    for i, spec in enumerate(_type_check(ex.get("injected", []), list, "expect.injected")):
        where = f"[[expect.injected]] #{i + 1}"
        _type_check(spec, dict, where)
        _unknown(spec, INJECTED_KEYS, where)
        for key in ("after", "kind", "direction"):
            if key not in spec:
                raise ScenarioError(f"{where}: missing '{key}'")
        _type_check(spec["after"], int, f"{where}.after")
        if spec["kind"] not in INJECTED_KINDS:
            raise ScenarioError(f"{where}.kind: one of {sorted(INJECTED_KINDS)}")
        if spec["direction"] not in ("to_core", "to_vendor"):
            raise ScenarioError(f"{where}.direction: to_core or to_vendor")
        if spec["kind"] == "tcp_rst":
            if "seq" not in spec:
                raise ScenarioError(f"{where}: a tcp_rst needs seq")
            _type_check(spec["seq"], int, f"{where}.seq")
            if "ack" in spec:
                _type_check(spec["ack"], int, f"{where}.ack")
            if "flags" in spec and (not isinstance(spec["flags"], str)
                                    or set(spec["flags"]) - set(TCP_FLAG_LETTERS) or "R" not in spec["flags"]):
                raise ScenarioError(f"{where}.flags: letters of {TCP_FLAG_LETTERS}, including R")
        elif set(spec) & {"seq", "ack", "flags"}:
            raise ScenarioError(f"{where}: seq/ack/flags are for tcp_rst only")
    return sc, extra_config


def resolve_pcap(case_dir, ref, corpus_dir):
    if ref.startswith("corpus:"):
        path = Path(corpus_dir) / ref[len("corpus:"):]
    else:
        path = case_dir / ref
    if not path.is_file():
        raise ScenarioError(f"pcap '{ref}': {path} does not exist (a missing input fails, never skips)")
    return path


# --------------------------------------------------------------------------- config TOML
def deep_merge(base, over):
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise ValueError(f"cannot write {v!r} as TOML")


def to_toml(doc):
    lines = []

    def table(prefix, tbl):
        scalars = {k: v for k, v in tbl.items() if not isinstance(v, dict)}
        subs = {k: v for k, v in tbl.items() if isinstance(v, dict)}
        if prefix and (scalars or not subs):
            lines.append(f"[{prefix}]")
        for k, v in scalars.items():
            lines.append(f"{json.dumps(k)} = {toml_value(v)}")
        if scalars:
            lines.append("")
        for k, v in subs.items():
            table(f"{prefix}.{json.dumps(k)}" if prefix else json.dumps(k), v)

    table("", doc)
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- pcap I/O
def read_pcap(path):
    """[(ts_ns, bytes)] of a classic pcap (µs or ns, either byte order)."""
    data = Path(path).read_bytes()
    if len(data) < 24:
        raise ValueError(f"{path}: too short for a pcap header")
    magic_le = struct.unpack("<I", data[:4])[0]
    magic_be = struct.unpack(">I", data[:4])[0]
    for endian, magic in (("<", magic_le), (">", magic_be)):
        if magic in (0xA1B2C3D4, 0xA1B23C4D):
            nano = magic == 0xA1B23C4D
            break
    else:
        raise ValueError(f"{path}: not a classic pcap (magic {data[:4].hex()}); pcapng inputs are not supported here")
    linktype = struct.unpack(endian + "I", data[20:24])[0] & 0xFFFF
    if linktype != 1:
        raise ValueError(f"{path}: link type {linktype}, the runner compares Ethernet captures only")
    frames, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, _orig = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        if off + incl > len(data):
            raise ValueError(f"{path}: truncated record {len(frames) + 1}")
        frames.append((sec * 1_000_000_000 + (frac if nano else frac * 1000), data[off:off + incl]))
        off += incl
    return frames


def csum16(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


class Frame:
    """The parts of an Ethernet frame the runner looks at (IPv4/IPv6, TCP/UDP/ICMP)."""

    def __init__(self, raw):
        self.raw = raw
        self.eth_dst, self.eth_src = raw[0:6], raw[6:12]
        off, etype = 14, struct.unpack("!H", raw[12:14])[0]
        while etype in (0x8100, 0x88A8) and len(raw) >= off + 4:
            etype = struct.unpack("!H", raw[off + 2:off + 4])[0]
            off += 4
        self.l2_tags = raw[12:off]  # the VLAN tags (and the ethertype before them), if any
        self.ip_ver = None
        self.proto = None
        self.errors = []
        if etype == 0x0800 and len(raw) >= off + 20:
            ihl = (raw[off] & 0x0F) * 4
            total = struct.unpack("!H", raw[off + 2:off + 4])[0]
            self.ip_ver, self.proto = 4, raw[off + 9]
            self.src = ipaddress.ip_address(raw[off + 12:off + 16])
            self.dst = ipaddress.ip_address(raw[off + 16:off + 20])
            self.ip_header = raw[off:off + ihl]
            if csum16(self.ip_header) != 0xFFFF:
                self.errors.append("bad IPv4 header checksum")
            l4 = raw[off + ihl:off + total]
            pseudo = raw[off + 12:off + 20] + struct.pack("!BBH", 0, self.proto, len(l4))
        elif etype == 0x86DD and len(raw) >= off + 40:
            plen = struct.unpack("!H", raw[off + 4:off + 6])[0]
            self.ip_ver, self.proto = 6, raw[off + 6]
            self.src = ipaddress.ip_address(raw[off + 8:off + 24])
            self.dst = ipaddress.ip_address(raw[off + 24:off + 40])
            self.ip_header = raw[off:off + 40]
            l4 = raw[off + 40:off + 40 + plen]
            pseudo = raw[off + 8:off + 40] + struct.pack("!IxxxB", len(l4), self.proto)
        else:
            return
        self.l4 = l4
        self.sport = self.dport = None
        if self.proto == 6 and len(l4) >= 20:
            self.sport, self.dport, self.seq, self.ack = struct.unpack("!HHII", l4[:12])
            self.tcp_flags = l4[13]
            self.payload = l4[(l4[12] >> 4) * 4:]
            if csum16(pseudo + l4) != 0xFFFF:
                self.errors.append("bad TCP checksum")
        elif self.proto == 17 and len(l4) >= 8:
            self.sport, self.dport = struct.unpack("!HH", l4[:4])
            self.payload = l4[8:]
            if struct.unpack("!H", l4[6:8])[0] != 0 and csum16(pseudo + l4) != 0xFFFF:
                self.errors.append("bad UDP checksum")
        elif self.proto in (1, 58) and len(l4) >= 8:
            self.icmp_type, self.icmp_code = l4[0], l4[1]
            self.payload = l4[8:]
            if csum16((pseudo if self.proto == 58 else b"") + l4) != 0xFFFF:
                self.errors.append("bad ICMP checksum")

    def flag_letters(self):
        return "".join(c for i, c in enumerate(TCP_FLAG_LETTERS) if self.tcp_flags >> i & 1)

    def describe(self):
        if self.ip_ver is None:
            return f"non-IP frame of {len(self.raw)} bytes"
        s = f"{self.src}"
        s += f":{self.sport}" if self.sport is not None else ""
        s += f" > {self.dst}" + (f":{self.dport}" if self.dport is not None else "")
        if self.proto == 6:
            s += f" TCP [{self.flag_letters()}] seq {self.seq} ack {self.ack} len {len(self.payload)}"
        elif self.proto == 17:
            s += f" UDP len {len(self.payload)}"
        elif self.proto in (1, 58):
            s += f" ICMP type {self.icmp_type} code {self.icmp_code}"
        else:
            s += f" proto {self.proto}"
        return s


# --------------------------------------------------------------------------- comparison
def map_output(inputs, outputs):
    """Walks -w in order. Each output frame is either the next still-unmatched input frame
    that is byte-for-byte identical (same capture time), or an injected frame. Returns
    (forwarded input numbers, missing input numbers, injected groups as
    [(after_input_number, [Frame...])], where after_input_number is the highest input
    number accounted for (forwarded or skipped) before the group)."""
    forwarded, injected = [], []
    i = 0  # index of the next input frame not yet accounted for
    for ts, raw in outputs:
        j = i
        while j < len(inputs) and inputs[j] != (ts, raw):
            j += 1
        if j < len(inputs):
            forwarded.append(j + 1)
            i = j + 1
        else:
            # Injected: it follows every input frame before the next forwarded one; find it.
            injected.append((i, Frame(raw)))
    fwd = set(forwarded)
    missing = [n for n in range(1, len(inputs) + 1) if n not in fwd]
    # Position of an injected frame: between input frame `pos` (last accounted before it)
    # and the next forwarded one. Express it as the range of input numbers it may follow.
    groups = []
    for pos, frame in injected:
        nxt = next((n for n in forwarded if n > pos), len(inputs) + 1)
        groups.append(((pos, nxt - 1), frame))
    return forwarded, missing, groups


def in_nets(addr, nets):
    return any(addr in n for n in nets if n.version == addr.version)


def eve_get(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return KeyError
        cur = cur[part]
    return cur


def flatten(prefix, table, out):
    for k, v in table.items():
        key = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and v:
            flatten(key, v, out)
        else:
            out[key] = v
    return out


def same_value(expected, actual):
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    if isinstance(expected, (int, float)) and isinstance(actual, (int, float)):
        return expected == actual
    return type(expected) is type(actual) and expected == actual


EVE_TIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\.(\d{1,9})([+-]\d{4})$")


def eve_time_ns(text):
    """(ns since the epoch, digits of the fraction) of an EVE timestamp, or None."""
    m = EVE_TIME_RE.match(text) if isinstance(text, str) else None
    if not m:
        return None
    try:
        t = datetime.datetime.strptime(m.group(1) + m.group(3), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
    frac = m.group(2)
    return int(t.timestamp()) * 1_000_000_000 + int(frac) * 10 ** (9 - len(frac)), len(frac)


def alert_summary(a):
    al = a.get("alert", {})
    return (f"{al.get('gid')}:{al.get('signature_id')} pcap_cnt {a.get('pcap_cnt')} "
            f"{a.get('src_ip')}:{a.get('src_port', a.get('icmp_type'))} > {a.get('dest_ip')}:"
            f"{a.get('dest_port', a.get('icmp_code'))} {a.get('proto')} action {al.get('action')} "
            f"{a.get('sentinel', {}).get('direction')}/{a.get('sentinel', {}).get('verdict')} "
            f"'{al.get('signature')}'")


def check_injected(spec, frame, trigger, vendor_nets, problems, where):
    if frame.ip_ver is None:
        problems.append(f"{where}: not an IP frame")
        return
    if frame.errors:
        problems.append(f"{where}: {', '.join(frame.errors)}: {frame.describe()}")
    direction = "to_core" if in_nets(frame.src, vendor_nets) else "to_vendor"
    trig_dir = "to_core" if in_nets(trigger.src, vendor_nets) else "to_vendor"
    if direction != spec["direction"]:
        problems.append(f"{where}: direction {direction} (source {frame.src}), expected {spec['direction']}")
    same = direction == trig_dir
    if spec["kind"] == "tcp_rst":
        if frame.proto != 6 or trigger.proto != 6:
            problems.append(f"{where}: expected a TCP RST, got {frame.describe()}")
            return
        want = ((trigger.src, trigger.sport, trigger.dst, trigger.dport) if same
                else (trigger.dst, trigger.dport, trigger.src, trigger.sport))
        got = (frame.src, frame.sport, frame.dst, frame.dport)
        if got != want:
            problems.append(f"{where}: endpoints {got[0]}:{got[1]} > {got[2]}:{got[3]}, expected "
                            f"{want[0]}:{want[1]} > {want[2]}:{want[3]}")
        flags = frame.flag_letters()
        if "flags" in spec:
            if set(flags) != set(spec["flags"]):
                problems.append(f"{where}: flags {flags}, expected {spec['flags']}")
        elif "R" not in flags or set(flags) & set("SFPU"):
            problems.append(f"{where}: flags {flags}: expected RST (ACK allowed; no SYN/FIN/PSH/URG)")
        if frame.seq != spec["seq"]:
            problems.append(f"{where}: seq {frame.seq}, expected {spec['seq']}")
        if "ack" in spec and frame.ack != spec["ack"]:
            problems.append(f"{where}: ack {frame.ack}, expected {spec['ack']}")
        if frame.payload:
            problems.append(f"{where}: RST carries {len(frame.payload)} payload bytes")
    else:
        if trigger.proto != 17:
            problems.append(f"{where}: icmp_port_unreachable after a non-UDP trigger {trigger.describe()}")
            return
        want_type = (3, 3) if frame.ip_ver == 4 else (1, 4)
        if frame.proto not in (1, 58) or (frame.icmp_type, frame.icmp_code) != want_type:
            problems.append(f"{where}: expected ICMP port unreachable {want_type}, got {frame.describe()}")
            return
        if (frame.src, frame.dst) != (trigger.dst, trigger.src):
            problems.append(f"{where}: {frame.src} > {frame.dst}, expected {trigger.dst} > {trigger.src}")
        quoted = frame.payload
        n = len(trigger.ip_header)
        if quoted[:n] != trigger.ip_header or quoted[n:n + 8] != trigger.l4[:8]:
            problems.append(f"{where}: does not quote the trigger's IP header and first 8 UDP bytes")
    # A transparent bridge must address the frame to the receiving host as the trigger did.
    want_macs = ((trigger.eth_src, trigger.eth_dst) if same else (trigger.eth_dst, trigger.eth_src))
    if (frame.eth_src, frame.eth_dst) != want_macs:
        problems.append(f"{where}: Ethernet {frame.eth_src.hex(':')} > {frame.eth_dst.hex(':')}, expected "
                        f"{want_macs[0].hex(':')} > {want_macs[1].hex(':')} (the trigger's addresses)")
    if frame.l2_tags != trigger.l2_tags:
        problems.append(f"{where}: VLAN tags {frame.l2_tags.hex()}, expected the trigger's {trigger.l2_tags.hex()}")


def run_case(name, case_dir, sentinel, corpus_dir, validator):
    """Returns (ok, [diagnostic lines])."""
    diag = []
    try:
        sc, extra_config = load_scenario(case_dir)
        pcap = resolve_pcap(case_dir, sc["pcap"], corpus_dir)
        rules_dir = case_dir / "rules.d"
        if not rules_dir.is_dir():
            raise ScenarioError(f"{rules_dir} is missing")
    except ScenarioError as e:
        return False, [f"scenario error: {e}"]
    ex = sc["expect"]
    scratch = Path(tempfile.mkdtemp(prefix="sentinel-scenario-"))
    ok = False
    try:
        log_dir = scratch / "log"
        log_dir.mkdir()
        base = {
            "rules": {"dir": str(rules_dir), "cache_dir": ""},
            "network": {"vendor_nets": DEFAULT_VENDOR_NETS},
            "log": {"dir": str(log_dir)},
        }
        config = deep_merge(base, extra_config)
        conf_path = scratch / "sentinel.toml"
        conf_path.write_text(to_toml(config))
        try:
            vendor_nets = [ipaddress.ip_network(n, strict=False)
                           for n in config.get("network", {}).get("vendor_nets", [])]
        except ValueError as e:
            return False, [f"scenario error: vendor_nets: {e}"]
        out_pcap = scratch / "out.pcap"
        cmd = [sentinel, "-c", str(conf_path), "-r", str(pcap), "-w", str(out_pcap), "-l", str(log_dir)]
        try:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                  errors="replace", timeout=REPLAY_TIMEOUT)
            rc, stderr = proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as e:
            err = e.stderr or ""
            rc, stderr = f"timeout after {REPLAY_TIMEOUT} s", err.decode(errors="replace") if isinstance(err, bytes) else err
        problems = compare(ex, rc, pcap, out_pcap, log_dir, case_dir, vendor_nets, validator)
        ok = not problems
        if not ok:
            diag += problems
            diag.append("command: " + " ".join(cmd))
            diag.append(f"exit status: {rc}")
            tail = stderr.strip().splitlines()[-40:]
            diag += ["stderr: " + line for line in tail] or ["stderr: (empty)"]
            if os.environ.get("SCENARIO_KEEP") == "1":
                diag.append(f"scratch kept in {scratch}")
    finally:
        if ok or os.environ.get("SCENARIO_KEEP") != "1":
            shutil.rmtree(scratch, ignore_errors=True)
    return ok, diag


def compare(ex, rc, pcap, out_pcap, log_dir, case_dir, vendor_nets, validator):
    problems = []
    want_exit = ex.get("exit", 0)
    if rc != want_exit:
        problems.append(f"exit status {rc}, expected {want_exit}")

    # ---- eve.json
    eve_path = log_dir / "eve.json"
    alerts, stats = [], None
    if not eve_path.exists():
        problems.append("no eve.json written")
    else:
        lines = eve_path.read_text(errors="replace").splitlines()
        events = []
        for n, line in enumerate(lines, 1):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as e:
                problems.append(f"eve.json line {n} is not JSON ({e}): {line[:200]}")
        if events and events[-1].get("event_type") == "stats":
            stats = events[-1].get("stats")
        else:
            problems.append("the last eve.json line is not an event_type \"stats\" event")
        for n, ev in enumerate(events, 1):
            if ev.get("event_type") != "alert":
                continue
            alerts.append(ev)
            if validator is not None:
                for err in sorted(validator.iter_errors(ev), key=lambda e: list(e.path)):
                    path = ".".join(str(p) for p in err.path) or "(line)"
                    problems.append(f"alert line {n} violates the EVE schema at {path}: {err.message}")

    # ---- frames
    try:
        inputs = read_pcap(pcap)
    except (OSError, ValueError) as e:
        return problems + [f"cannot read the input: {e}"]
    outputs = []
    if not out_pcap.exists():
        problems.append("no -w capture written")
    else:
        try:
            outputs = read_pcap(out_pcap)
        except (OSError, ValueError) as e:
            problems.append(f"cannot read the -w capture: {e}")
    forwarded, missing, injected = map_output(inputs, outputs)
    frames = {}

    def frame(n):
        if n not in frames:
            frames[n] = Frame(inputs[n - 1][1])
        return frames[n]

    want_missing = ex.get("missing", [])
    if missing != want_missing:
        extra = [n for n in missing if n not in want_missing]
        kept = [n for n in want_missing if n not in missing]
        if extra:
            problems.append(f"frames missing from -w that should be forwarded: {extra}")
        if kept:
            problems.append(f"frames forwarded that should be missing: {kept}")
    if "forwarded" in ex and len(forwarded) != ex["forwarded"]:
        problems.append(f"{len(forwarded)} input frames forwarded, expected {ex['forwarded']}")
    expect_pcap = case_dir / "expect.pcap"
    if expect_pcap.exists() and outputs:
        want = read_pcap(expect_pcap)
        if want != outputs:
            first = next((i for i, (a, b) in enumerate(zip(want, outputs)) if a != b), min(len(want), len(outputs)))
            problems.append(f"-w differs from expect.pcap ({len(outputs)} frames vs {len(want)}), "
                            f"first difference at frame {first + 1}")

    # ---- injected frames
    specs = list(ex.get("injected", []))
    unmatched = list(injected)
    for k, spec in enumerate(specs, 1):
        where = f"injected #{k} ({spec['kind']} {spec['direction']} after frame {spec['after']})"
        if not 1 <= spec["after"] <= len(inputs):
            problems.append(f"{where}: frame {spec['after']} is not in the input")
            continue
        # Candidates: injected frames whose position allows "right after frame `after`".
        cands = [g for g in unmatched if g[0][0] <= spec["after"] <= g[0][1]]
        best, best_problems = None, None
        for cand in cands:
            p = []
            check_injected(spec, cand[1], frame(spec["after"]), vendor_nets, p, where)
            if best is None or len(p) < len(best_problems):
                best, best_problems = cand, p
            if not p:
                break
        if best is None:
            problems.append(f"{where}: no injected frame at that position in -w")
            continue
        unmatched.remove(best)
        problems += best_problems
    for (lo, hi), f in unmatched:
        problems.append(f"unexpected frame in -w (not an input frame) after input frame {lo}: {f.describe()}")

    # ---- alerts: counts
    counts = {}
    for a in alerts:
        al = a.get("alert", {})
        key = f"{al.get('gid')}:{al.get('signature_id')}"
        counts[key] = counts.get(key, 0) + 1
    for key, want in ex["alerts"].items():
        gid, sid = key.split(":")
        got = (sum(c for k, c in counts.items() if k.split(":")[0] == gid) if sid == "*"
               else counts.get(key, 0))
        if got != want:
            problems.append(f"alerts {key}: {got}, expected {want}")
    if not ex.get("allow_unlisted_alerts", False):
        for key, c in sorted(counts.items()):
            if key not in ex["alerts"] and f"{key.split(':')[0]}:*" not in ex["alerts"]:
                problems.append(f"unlisted alert {key} raised {c} time(s)")

    # ---- alerts: field checks
    for k, spec in enumerate(ex.get("alert", []), 1):
        fields = flatten("", spec["match"], {})
        hits = [a for a in alerts if all(same_value(v, eve_get(a, p)) for p, v in fields.items())]
        if len(hits) != spec["count"]:
            problems.append(f"[[expect.alert]] #{k}: {len(hits)} alert line(s) match "
                            f"{json.dumps(fields, sort_keys=True)}, expected {spec['count']}")
            # The closest lines, to show what differed.
            def same_rule(a):
                return all(eve_get(a, p) == fields[p] for p in ("alert.signature_id", "alert.gid") if p in fields)
            same_sid = [a for a in alerts if same_rule(a)]
            for a in same_sid[:4]:
                diff = {p: eve_get(a, p) for p, v in fields.items() if not same_value(v, eve_get(a, p))}
                shown = {p: ("<absent>" if v is KeyError else v) for p, v in diff.items()}
                problems.append(f"    candidate {alert_summary(a)} differs in {json.dumps(shown, sort_keys=True)}")

    # ---- alerts: invariants that hold for every alert line
    flow_ids = {}
    for a in alerts:
        who = alert_summary(a)
        n = a.get("pcap_cnt")
        if not isinstance(n, int) or not 1 <= n <= len(inputs):
            problems.append(f"alert {who}: pcap_cnt {n} is not a frame of the input")
            continue
        f = frame(n)
        verdict = a.get("sentinel", {}).get("verdict")
        if verdict == "forwarded" and n in missing:
            problems.append(f"alert {who}: verdict forwarded, but frame {n} is missing from -w")
        if verdict == "dropped" and n not in missing:
            problems.append(f"alert {who}: verdict dropped, but frame {n} is in -w")
        if f.ip_ver is not None:
            direction = "to_core" if in_nets(f.src, vendor_nets) else "to_vendor"
            iface = "vendor" if direction == "to_core" else "core"
            checks = {"src_ip": str(f.src), "dest_ip": str(f.dst), "sentinel.direction": direction,
                      "in_iface": iface}
            if f.sport is not None:
                checks.update({"src_port": f.sport, "dest_port": f.dport})
            for p in ("src_ip", "dest_ip"):  # any spelling of the address (IPv6: compressed or not)
                try:
                    if ipaddress.ip_address(eve_get(a, p)) == ipaddress.ip_address(checks[p]):
                        checks[p] = eve_get(a, p)
                except (TypeError, ValueError):
                    pass
            for p, v in checks.items():
                if not same_value(v, eve_get(a, p)):
                    problems.append(f"alert {who}: {p} is {eve_get(a, p)!r}, frame {n} has {v!r}")
            if f.sport is not None and isinstance(a.get("flow_id"), int):
                tup = (f.proto,) + tuple(sorted([(str(f.src), f.sport), (str(f.dst), f.dport)]))
                flow_ids.setdefault(tup, set()).add(a["flow_id"])
        ts = a.get("timestamp")
        got_ns = eve_time_ns(ts)
        if got_ns is None:
            problems.append(f"alert {who}: timestamp {ts!r} is not an EVE timestamp")
        else:
            got_ns, digits = got_ns
            unit = 10 ** (9 - digits)
            if got_ns != inputs[n - 1][0] // unit * unit:
                want = datetime.datetime.fromtimestamp(inputs[n - 1][0] // 1000 / 1e6, datetime.timezone.utc)
                problems.append(f"alert {who}: timestamp {ts}, frame {n} was captured at {want.isoformat()}")
    for tup, ids in flow_ids.items():
        if len(ids) > 1:
            problems.append(f"alerts of one flow {tup} carry several flow_ids {sorted(ids)}")
    seen = {}
    for tup, ids in flow_ids.items():
        for i in ids:
            if i in seen and seen[i] != tup:
                problems.append(f"flow_id {i} is shared by flows {seen[i]} and {tup}")
            seen[i] = tup

    # ---- drop reasons
    if stats is not None:
        drops = stats.get("drops", {})
        for reason, want in ex.get("drops", {}).items():
            if reason not in drops:
                problems.append(f"stats.drops has no reason '{reason}'")
            elif drops[reason] != want:
                problems.append(f"stats.drops.{reason} = {drops[reason]}, expected {want}")
        for reason, got in sorted(drops.items()):
            if reason not in ex.get("drops", {}) and got != 0:
                problems.append(f"stats.drops.{reason} = {got}, expected 0")
        for path, want in flatten("", ex.get("stats", {}), {}).items():
            got = eve_get(stats, path)
            if not same_value(want, got):
                problems.append(f"stats.{path} = {'<absent>' if got is KeyError else repr(got)}, expected {want!r}")
        if stats.get("frames_read") != len(inputs):
            problems.append(f"stats.frames_read = {stats.get('frames_read')}, the input has {len(inputs)} frames")

    if problems and alerts:
        problems.append("alerts raised:")
        problems += ["    " + alert_summary(a) for a in alerts]
    elif problems:
        problems.append("alerts raised: none")
    return problems


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__, file=sys.stderr)
        return 2
    sentinel, scen_dir, corpus_dir = argv[1], Path(argv[2]).resolve(), Path(argv[3]).resolve()
    filt = argv[4] if len(argv) == 5 else ""
    cases = sorted(p.parent for p in scen_dir.rglob("scenario.toml"))
    cases = [(str(c.relative_to(scen_dir)), c) for c in cases]
    cases = [(n, c) for n, c in cases if filt in n]
    print(f"1..{len(cases)}", flush=True)
    validator, setup_problem = None, None
    schema_path = corpus_dir / "eve" / "alert-schema.json"
    if jsonschema is None:
        setup_problem = "python3-jsonschema is not installed (apt-get install python3-jsonschema)"
    elif not schema_path.is_file():
        setup_problem = f"{schema_path} is missing (the corpus is required)"
    else:
        schema = json.loads(schema_path.read_text())
        validator = jsonschema.validators.validator_for(schema)(schema)
    if not os.access(sentinel, os.X_OK):
        setup_problem = f"{sentinel} is not an executable"
    failed = 0
    jobs = int(os.environ.get("SCENARIO_JOBS", min(4, os.cpu_count() or 1)))

    def one(item):
        name, case_dir = item
        if setup_problem:
            return False, [setup_problem]
        try:
            return run_case(name, case_dir, sentinel, corpus_dir, validator)
        except Exception as e:  # a runner bug must show as a failure of this case, not a crash
            import traceback
            return False, ["runner exception: " + line for line in traceback.format_exc().splitlines()] + [str(e)]

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for n, ((name, _), (ok, diag)) in enumerate(zip(cases, pool.map(one, cases)), 1):
            print(f"{'ok' if ok else 'not ok'} {n} - {name}")
            for line in diag:
                print(f"# {line}")
            sys.stdout.flush()
            failed += not ok
    return 1 if failed or not cases else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
