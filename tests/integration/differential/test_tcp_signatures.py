#!/usr/bin/python3
"""Differential test of Sentinel's TCP signature engine against an independent reference.

usage: test_tcp_signatures.py SENTINEL CORPUS_DIR [--seed N] [--rules N] [--keep DIR]

1. Reads the captures listed in CAPTURES (from CORPUS_DIR/pcaps) with tcp_reference.py:
   its own reader, parser and per-direction reassembler (sequence order from ISN+1, first
   seen bytes win, out-of-order bytes held in a 4096-byte buffer, the stream ends at a gap
   that never fills, at a buffer overflow, at an RST at the next byte, at the FIN). Flow
   directions whose outcome the contract leaves open (no handshake, port reuse, snaplen
   cuts, fragments, conflicting retransmissions, ...) are excluded, with reasons, and their
   alerts are not compared.
2. Draws content patterns from the reassembled streams (seeded, reproducible): at least a
   quarter straddle a boundary between two frames' bytes; some are nocase with their
   letters' case flipped, some carry offset/depth windows (tight, loose, and one byte off),
   some rules have two items, and some patterns occur nowhere. Writes them as
   `alert tcp` rules with unique sids.
3. Replays every capture with `SENTINEL -c CONF -r PCAP -w OUT -l LOGDIR -S RULES`
   (verify_checksums = false, a large inspect_depth, reassembly_buffer = 4096, timeouts
   longer than any capture, one Hyperscan cache shared by all replays).
4. Compares the set {(capture, flow direction 5-tuple, sid)} that naive search over the
   reference streams gives with the alerts in eve.json, and for every common match the
   frame that completed it (pcap_cnt). Prints the figures and every difference; exits 1
   on any difference, on fewer than 1,000 matches or 50 flows, or on a straddling share
   below 25 %.
"""

import argparse
import collections
import json
import os
import random
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tools"))
import tcp_reference as ref  # noqa: E402
from rules2toml import content_text  # noqa: E402  (bytes -> Sentinel content syntax)

# The captures replayed: TCP sessions with complete handshakes (benign mainly). Each must
# exist; a missing corpus file fails the test.
CAPTURES = [
    "benign/ftp-ipv4.pcap",
    "benign/ftp-ipv6.pcap",
    "benign/http-100-continue-post.pcap",
    "benign/http-browsing-bro-org.pcap",
    "benign/http-browsing-workshop.pcap",
    "benign/http-get-gzip.pcap",
    "benign/http-get.pcap",
    "benign/http-ipv6-tls-gquic.pcap",
    "benign/http-pipelined-requests.pcap",
    "benign/http-qinq-802.1ad.pcap",
    "benign/http-vlan-802.1q.pcap",
    "benign/http-vlan-qinqinq.pcap",
    "benign/ipv6-http-atomic-fragments.pcap",
    "benign/mixed-lan-wikipedia.pcap",
    "benign/mixed-services-std-ports.pcap",
    "benign/modbus-tcp-small.pcap",
    "benign/smtp-session.pcap",
    "benign/ssh-kex-curve25519.pcap",
    "benign/ssh-multi.pcap",
    "benign/ssh-session.pcap",
    "benign/tcp-duplicate-segments-ssh.pcap",
    "benign/tcp-fast-open-http.pcap",
    "benign/tcp-fast-retransmit.pcap",
    "benign/tcp-handshake-reordered.pcap",
    "benign/tcp-missing-syn.pcap",
    "benign/tcp-reassembly.pcap",
    "benign/telnet-session.pcap",
    "benign/tls12-ecdhe.pcap",
    "benign/tls12-session.pcap",
    "benign/tls13-draft23-chrome.pcap",
    "benign/tls13-wolfssl.pcap",
    "benign/tr069-cwmp-baicells-enb-acs.pcap",
    "exploits/dvwa-sqli-attacks.pcapng",
    "exploits/ftp-bruteforce.pcap",
    "exploits/log4shell-jndi-exploit.pcap",
    "exploits/ssh-bruteforce-nmap.pcap",
    "exploits/ssh-password-guessing.pcap",
    "exploits/tls-heartbleed-success.pcap",
    "covert/http-c2-post-port7080.pcap",
    "covert/reverse-ssh.pcap",
    "covert/socks-proxy.pcap",
    "covert/ssh-over-websocket-wstunnel.pcap",
    "covert/tls-beacon-periodic-c2.pcap",
]

REASSEMBLY_BUFFER = 4096
MAX_ALERTS_PER_PACKET = 8  # Sentinel's per-packet alert slots (config/limits.hpp)
GID_ANOMALY = 4
SID_OVERLAP_CONFLICT = 1
SID_REASSEMBLY_OVERFLOW = 2
DIRS = {}  # (capture, direction key) -> included reference Direction
SID_BASE = 1000000

CONFIG = """\
[rules]
dir = "{rules_dir}"
cache_dir = "{cache_dir}"

[flows]
verify_checksums = false
inspect_depth = 1073741824
reassembly_buffer = {buffer}
timeout_embryonic = 86400
timeout_established = 604800
timeout_closed = 86400

[log]
dir = "{log_dir}"
"""


class Item:
    def __init__(self, pattern, nocase=False, offset=None, depth=None):
        self.pattern = pattern            # bytes as written in the rule (case as written)
        self.nocase = nocase
        self.offset = offset
        self.depth = depth
        self.needle = pattern.lower() if nocase else pattern

    def first_end(self, stream, lowered):
        """End (exclusive) of the first occurrence within the item's window, or -1."""
        hay = lowered if self.nocase else stream
        start = self.offset or 0
        stop = start + self.depth if self.depth is not None else len(hay)
        i = hay.find(self.needle, start, stop)
        return -1 if i < 0 else i + len(self.needle)


class Rule:
    def __init__(self, sid, items, kind, straddles):
        self.sid = sid
        self.items = items
        self.kind = kind
        self.straddles = straddles


def flip_case(data, rng):
    out = bytearray(data)
    for i, b in enumerate(out):
        if 0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A:
            if rng.random() < 0.5:
                out[i] = b ^ 0x20
    return bytes(out)


def has_letter(data):
    return any(0x41 <= b <= 0x5A or 0x61 <= b <= 0x7A for b in data)


def choose_rules(directions, count, rng):
    """Rules drawn from the reference streams. `directions`: included Direction objects
    with at least 8 stream bytes."""
    rules = []
    with_bounds = [d for d in directions if d.boundaries]
    sid = SID_BASE

    def pick(d, straddle):
        """(start, length) of a substring of d.stream; straddling a boundary if asked."""
        n = len(d.stream)
        length = rng.choice((4, 6, 8, 8, 12, 16, 16, 24, 32, 48))
        length = min(length, n)
        if straddle and d.boundaries:
            b = rng.choice(d.boundaries)
            lo = max(0, b - length + 1)
            hi = min(b - 1, n - length)
            if lo <= hi and length >= 2:
                return rng.randint(lo, hi), length
        return rng.randint(0, n - length), length

    def straddles(d, start, length):
        return any(start < b < start + length for b in d.boundaries)

    for i in range(count):
        roll = rng.random()
        straddle = rng.random() < 0.5
        pool = with_bounds if straddle and with_bounds else directions
        # Spread the rules over the directions: half uniformly per direction.
        d = rng.choice(pool)
        start, length = pick(d, straddle)
        data = d.stream[start:start + length]
        crosses = straddles(d, start, length)
        sid += 1
        if roll < 0.50:
            rules.append(Rule(sid, [Item(data)], "plain", crosses))
        elif roll < 0.62 and has_letter(data):
            rules.append(Rule(sid, [Item(flip_case(data, rng), nocase=True)], "nocase", crosses))
        elif roll < 0.82:
            style = rng.random()
            if style < 0.3:      # the tightest window: exactly the occurrence
                offset, depth = start, length
            elif style < 0.6:    # a loose window around it
                offset = max(0, start - rng.randint(0, 64))
                depth = start + length - offset + rng.randint(0, 64)
            elif style < 0.75:   # the window one byte late: this occurrence is out
                offset, depth = start + 1, length
            elif style < 0.87:   # offset only
                offset, depth = max(0, start - rng.randint(0, 16)), None
            else:                # depth only
                offset, depth = None, start + length + rng.randint(0, 16)
            if offset == 0:
                offset = None if rng.random() < 0.5 else 0
            rules.append(Rule(sid, [Item(data, offset=offset, depth=depth)], "window", crosses))
        elif roll < 0.92:
            # Two items: a second substring of the same direction (mostly), or of another.
            d2 = d if rng.random() < 0.8 else rng.choice(directions)
            s2, l2 = pick(d2, False)
            rules.append(Rule(sid, [Item(data), Item(d2.stream[s2:s2 + l2])], "two-items",
                              crosses))
        else:
            # A pattern that occurs nowhere: the chosen bytes with the last one changed,
            # checked against every stream below.
            data = data[:-1] + bytes([(data[-1] + 1 + rng.randint(0, 200)) % 256])
            rules.append(Rule(sid, [Item(data)], "absent", crosses))
    return rules


def write_rules(rules, path):
    with open(path, "w") as f:
        f.write("# Generated by test_tcp_signatures.py: patterns drawn from the corpus.\n")
        for r in rules:
            items = []
            for it in r.items:
                parts = ['content = "%s"' % content_text(it.pattern)]
                if it.nocase:
                    parts.append("nocase = true")
                if it.offset is not None:
                    parts.append("offset = %d" % it.offset)
                if it.depth is not None:
                    parts.append("depth = %d" % it.depth)
                items.append("{ " + ", ".join(parts) + " }")
            f.write('\n[[rule]]\nsid = %d\nmsg = "differential %s %d"\naction = "alert"\n'
                    'proto = "tcp"\nmatch = [%s]\n' % (r.sid, r.kind, r.sid, ", ".join(items)))


def expected_matches(rules, directions):
    """{(capture, dkey, sid): expected pcap_cnt}."""
    out = {}
    for d in directions:
        stream = d.stream
        lowered = stream.lower()
        for r in rules:
            ends = []
            for it in r.items:
                e = it.first_end(stream, lowered)
                if e < 0:
                    break
                ends.append(e)
            else:
                out[(d.capture, d.key, r.sid)] = d.frame_at(max(ends) - 1)
    return out


def initiator_sides(flows):
    """--vendor-net arguments putting every flow's initiator (the SYN sender) on the vendor
    side, and the directions of flows that this does not split."""
    initiators, responders = set(), set()
    roles = {}
    for flow in flows:
        for d in flow.directions.values():
            if any(s.flags & ref.SYN and not s.flags & 0x10 for s in d.segments):
                roles[id(flow)] = (d.key[0], d.key[2])
                initiators.add(d.key[0])
                responders.add(d.key[2])
    vendor = initiators - responders
    unsplit = []
    for flow in flows:
        pair = roles.get(id(flow))
        if pair is None or pair[0] not in vendor or pair[1] in vendor:
            unsplit.extend(flow.directions.values())
    extra = []
    for ip in sorted(vendor):
        extra += ["--vendor-net", ip + ("/128" if ":" in ip else "/32")]
    return extra, unsplit


def keep_alerts_per_frame(rules, expected, directions):
    """Drops rules until no frame completes more than MAX_ALERTS_PER_PACKET matches (an
    expected reassembly-overflow anomaly in that frame takes a slot too). Which alerts of
    a fuller packet Sentinel keeps is not part of the contract, so the test stays below."""
    anomalies = collections.Counter()
    for d in directions:
        if d.overflow_frame is not None:
            anomalies[(d.capture, d.overflow_frame)] += 1
    per_frame = collections.defaultdict(set)
    for (cap, dkey, sid), frame in expected.items():
        per_frame[(cap, frame)].add(sid)
    removed = set()
    while True:
        full = [f for f, sids in per_frame.items()
                if len(sids) + anomalies[f] > MAX_ALERTS_PER_PACKET]
        if not full:
            break
        load = collections.Counter()
        for f in full:
            load.update(per_frame[f])
        sid = max(load, key=lambda s: (load[s], s))
        removed.add(sid)
        for sids in per_frame.values():
            sids.discard(sid)
    kept = [r for r in rules if r.sid not in removed]
    return kept, {k: v for k, v in expected.items() if k[2] not in removed}, len(removed)


def run_sentinel(binary, conf, pcap, rules_file, work, extra=(), keep_as=None):
    log_dir = os.path.join(work, "logs")
    os.makedirs(log_dir, exist_ok=True)
    eve = os.path.join(log_dir, "eve.json")
    if os.path.exists(eve):
        os.remove(eve)
    cmd = [binary, "-c", conf, "-r", pcap, "-w", os.path.join(work, "out.pcap"), "-l", log_dir,
           "-S", rules_file] + list(extra)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          errors="replace", timeout=600)
    if keep_as and os.path.exists(eve):
        os.makedirs(os.path.dirname(keep_as), exist_ok=True)
        with open(eve, "rb") as src, open(keep_as, "wb") as dst:
            dst.write(src.read())
    events = []
    problems = []
    if os.path.exists(eve):
        with open(eve) as f:
            for number, line in enumerate(f, 1):
                try:
                    events.append(json.loads(line))
                except ValueError as e:
                    problems.append("eve.json line %d does not parse: %s" % (number, e))
    else:
        problems.append("no eve.json")
    return proc, events, problems


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sentinel")
    parser.add_argument("corpus")
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--rules", type=int, default=1500)
    parser.add_argument("--keep", help="keep the work directory here (rules, config, logs)")
    parser.add_argument("--reference-only", action="store_true",
                        help="only build the reference and the rules; print the figures")
    parser.add_argument("--sides-by-initiator", action="store_true",
                        help="diagnostic: replay with --vendor-net for every flow initiator, "
                        "so that the two directions of a flow arrive on different sides; "
                        "flows that cannot be split so are excluded")
    parser.add_argument("--list-excluded", action="store_true",
                        help="print every excluded flow direction with its reason")
    args = parser.parse_args()
    t0 = time.time()
    failures = []

    # 1. Reference streams.
    included, excluded = [], []
    per_capture = collections.OrderedDict()
    for name in CAPTURES:
        path = os.path.join(args.corpus, "pcaps", name)
        if not os.path.isfile(path):
            print("FAIL: corpus file missing: %s" % path)
            return 1
        flows = ref.build_flows(path, name, buffer_size=REASSEMBLY_BUFFER)
        per_capture[name] = flows
        for flow in flows:
            for d in flow.directions.values():
                d.capture = name
                if not any(s.payload for s in d.segments):
                    continue
                (excluded if d.exclusions else included).append(d)
    print("captures (%d):" % len(CAPTURES))
    for name in CAPTURES:
        dirs = [d for f in per_capture[name] for d in f.directions.values()
                if any(s.payload for s in d.segments)]
        print("  %-48s %3d flow directions with payload, %3d included"
              % (name, len(dirs), sum(1 for d in dirs if not d.exclusions)))
    streams = [d for d in included if len(d.stream) >= 8]
    DIRS.update({(d.capture, d.key): d for d in included})
    reasons = collections.Counter(d.exclusions[0] for d in excluded)
    print("reference: %d captures, %d flow directions with payload: %d included "
          "(%d with >= 8 stream bytes, %d bytes in all), %d excluded"
          % (len(CAPTURES), len(included) + len(excluded), len(included), len(streams),
             sum(len(d.stream) for d in included), len(excluded)))
    for why, n in reasons.most_common():
        print("  excluded %5d  %s" % (n, why))
    ends = collections.Counter(d.ended_by.split(" at ")[0] for d in included)
    for why, n in ends.most_common():
        print("  stream ends: %5d  %s" % (n, why))
    if args.list_excluded:
        for d in excluded:
            print("  excluded %s %s: %s" % (d.capture, d.key, "; ".join(d.exclusions)))

    # 2. Rules.
    rng = random.Random(args.seed)
    rules = choose_rules(streams, args.rules, rng)
    expected = expected_matches(rules, included)
    rules, expected, pruned = keep_alerts_per_frame(rules, expected, included)
    if pruned:
        print("rules: %d dropped so that no frame completes more than %d matches (Sentinel "
              "logs at most %d alerts per packet and counts the rest as dropped)"
              % (pruned, MAX_ALERTS_PER_PACKET, MAX_ALERTS_PER_PACKET))
    kind_of = {r.sid: r.kind for r in rules}
    absent_hits = [k for k in expected if kind_of[k[2]] == "absent"]
    if absent_hits:
        # An "absent" pattern that does occur is just a pattern: say so, keep it.
        print("note: %d 'absent' patterns occur after all (kept as ordinary rules)"
              % len({k[2] for k in absent_hits}))
    straddling = sum(1 for r in rules if r.straddles)
    kinds = collections.Counter(r.kind for r in rules)
    print("rules: %d (%s); %d straddle a frame boundary in the stream they were drawn "
          "from (%.1f %%)" % (len(rules), ", ".join("%s %d" % kv for kv in sorted(kinds.items())),
                              straddling, 100.0 * straddling / len(rules)))

    if args.reference_only:
        print_figures(rules, expected, {}, collections.Counter(), [], [], [], straddling)
        return 0
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        holder = None
        work = args.keep
    else:
        holder = tempfile.TemporaryDirectory(prefix="sentinel-differential-")
        work = holder.name
    try:
        rules_file = os.path.join(work, "differential.toml")
        write_rules(rules, rules_file)
        rules_dir = os.path.join(work, "rules.d")
        os.makedirs(rules_dir)
        conf = os.path.join(work, "sentinel.toml")
        with open(conf, "w") as f:
            f.write(CONFIG.format(rules_dir=rules_dir, cache_dir=os.path.join(work, "hs-cache"),
                                  buffer=REASSEMBLY_BUFFER, log_dir=os.path.join(work, "logs")))

        # 3. Replays.
        seen = {}            # (capture, dkey, sid) -> pcap_cnt
        seen_anomalies = {}  # (capture, dkey, anomaly sid) -> pcap_cnt
        flow_ids = {}        # (capture, canonical) -> flow_id
        ignored = collections.Counter()
        sids = {r.sid for r in rules}
        t_replay = time.time()
        for name in CAPTURES:
            path = os.path.join(args.corpus, "pcaps", name)
            extra = []
            if args.sides_by_initiator:
                extra, unsplit = initiator_sides(per_capture[name])
                for d in unsplit:
                    d.exclude("diagnostic mode: both directions on one side")
                    included_now = [x for x in included if x is d]
                    for x in included_now:
                        included.remove(x)
                        excluded.append(x)
            keep_as = os.path.join(work, "eve", name.replace("/", "_") + ".json") \
                if args.keep else None
            try:
                proc, events, problems = run_sentinel(args.sentinel, conf, path, rules_file,
                                                      work, extra, keep_as)
            except (OSError, subprocess.TimeoutExpired) as e:
                failures.append("%s: cannot run sentinel: %s" % (name, e))
                continue
            if proc.returncode != 0:
                failures.append("%s: sentinel exit status %d: %s" % (
                    name, proc.returncode, (proc.stderr.strip() or proc.stdout.strip())[-2000:]))
                continue
            for p in problems:
                failures.append("%s: %s" % (name, p))
            dirs = {}
            for flow in per_capture[name]:
                for d in flow.directions.values():
                    dirs[d.key] = d
            for ev in events:
                if ev.get("event_type") != "alert":
                    continue
                a = ev.get("alert", {})
                sid, gid = a.get("signature_id"), a.get("gid")
                try:
                    dkey = ref.direction_key_of_alert(ev)
                except KeyError as e:
                    failures.append("%s: alert without %s: %s" % (name, e, json.dumps(ev)))
                    continue
                anomaly = gid == GID_ANOMALY and sid in (SID_OVERLAP_CONFLICT,
                                                         SID_REASSEMBLY_OVERFLOW)
                if not anomaly and (gid != 1 or sid not in sids):
                    failures.append("%s: alert of an unknown rule: %s" % (name, json.dumps(ev)))
                    continue
                if ev.get("proto") not in ("TCP", "tcp", 6):
                    failures.append("%s: alert with proto %r: %s" % (name, ev.get("proto"),
                                                                     json.dumps(ev)))
                    continue
                d = dirs.get(dkey)
                if d is None:
                    failures.append("%s: alert on a flow direction the reference does not know: "
                                    "%s gid %s sid %s (pcap_cnt %s)" % (name, dkey, gid, sid,
                                                                         ev.get("pcap_cnt")))
                    continue
                if d.exclusions:
                    ignored[d.exclusions[0]] += 1
                    continue
                if not any(s.payload for s in d.segments):
                    failures.append("%s: alert on %s gid %s sid %s, a direction without payload"
                                    % (name, dkey, gid, sid))
                    continue
                key = (name, dkey, sid)
                table = seen_anomalies if anomaly else seen
                if key in table:
                    failures.append("%s: gid %s sid %s alerted twice on %s (pcap_cnt %s and %s)"
                                    % (name, gid, sid, dkey, table[key], ev.get("pcap_cnt")))
                    continue
                table[key] = ev.get("pcap_cnt")
                canonical = (name, min(dkey[:2], dkey[2:]), max(dkey[:2], dkey[2:]))
                fid = ev.get("flow_id")
                if canonical in flow_ids and flow_ids[canonical] != fid:
                    failures.append("%s: flow %s has alerts with flow_id %s and %s"
                                    % (name, canonical[1:], flow_ids[canonical], fid))
                flow_ids.setdefault(canonical, fid)
            if not events or events[-1].get("event_type") != "stats":
                failures.append("%s: eve.json does not end with a stats event" % name)
        t_replay = time.time() - t_replay
        by_fid = collections.defaultdict(set)
        for canonical, fid in flow_ids.items():
            by_fid[(canonical[0], fid)].add(canonical)
        for (cap, fid), flows in by_fid.items():
            if len(flows) > 1:
                failures.append("%s: flow_id %s names %d flows: %s" % (cap, fid, len(flows),
                                                                       sorted(flows)))
        if args.sides_by_initiator:
            # Directions excluded above drop out of the expectation too.
            live = {(d.capture, d.key) for d in included}
            expected = {k: v for k, v in expected.items() if (k[0], k[1]) in live}

        # Anomalies: the reference's overflows against Sentinel's gid 4 alerts.
        exp_anom = {(d.capture, d.key, SID_REASSEMBLY_OVERFLOW): d.overflow_frame
                    for d in included if d.overflow_frame is not None}
        for k in sorted(set(exp_anom) | set(seen_anomalies)):
            e, g = exp_anom.get(k), seen_anomalies.get(k)
            if e != g:
                failures.append("ANOMALY gid 4 sid %d on %s %s->%s: reference %s, sentinel %s"
                                % (k[2], k[0], k[1][:2], k[1][2:],
                                   "at frame %s" % e if e else "none",
                                   "at pcap_cnt %s" % g if g else "none"))

        # 4. Comparison.
        exp_keys, seen_keys = set(expected), set(seen)
        missing = sorted(exp_keys - seen_keys)
        unexpected = sorted(seen_keys - exp_keys)
        wrong_frame = sorted(k for k in exp_keys & seen_keys if expected[k] != seen[k])
        rule_of = {r.sid: r for r in rules}
        dir_of = {(d.capture, d.key): d for d in included}

        def describe(k):
            r = rule_of[k[2]]
            d = dir_of.get((k[0], k[1]))
            items = "; ".join("%r%s%s%s" % (it.pattern[:40], " nocase" if it.nocase else "",
                                             "" if it.offset is None else " offset %d" % it.offset,
                                             "" if it.depth is None else " depth %d" % it.depth)
                              for it in r.items)
            where = ""
            if d is not None:
                lowered = d.stream.lower()
                occ = []
                for it in r.items:
                    e = it.first_end(d.stream, lowered)
                    occ.append("%d..%d" % (e - len(it.needle), e) if e >= 0 else "none")
                where = " stream %d bytes (%s), first occurrence(s) in window: %s" % (
                    len(d.stream), d.ended_by, ", ".join(occ))
            return "%s %s->%s sid %d [%s: %s]%s" % (k[0], k[1][:2], k[1][2:], k[2], r.kind,
                                                    items, where)

        for k in missing:
            failures.append("MISSING  (reference matches, sentinel did not alert, expected "
                            "pcap_cnt %s): %s" % (expected[k], describe(k)))
        for k in unexpected:
            failures.append("UNEXPECTED (sentinel alerted at pcap_cnt %s, the reference has no "
                            "match): %s" % (seen[k], describe(k)))
        for k in wrong_frame:
            failures.append("PCAP_CNT (expected %s, sentinel %s): %s" % (expected[k], seen[k],
                                                                         describe(k)))
        if args.keep:
            with open(os.path.join(work, "expected.json"), "w") as f:
                json.dump(sorted([list(k[:1]) + list(k[1]) + [k[2], v]
                                  for k, v in expected.items()]), f)
            print("work directory kept: %s" % work)
    finally:
        if holder is not None:
            holder.cleanup()

    print_figures(rules, expected, seen, ignored, missing, unexpected, wrong_frame, straddling)
    print("time: %.1f s in all, %.1f s replaying %d captures" % (time.time() - t0, t_replay,
                                                                 len(CAPTURES)))
    if len(expected) < 1000:
        failures.append("only %d expected matches (need >= 1000)" % len(expected))
    if len(matched_flows(expected)) < 50:
        failures.append("only %d flows with matches (need >= 50)" % len(matched_flows(expected)))
    if straddling * 4 < len(rules):
        failures.append("only %d of %d rules straddle a boundary (need >= 25 %%)"
                        % (straddling, len(rules)))
    for f in failures:
        print("FAIL: " + f)
    print("RESULT: %s" % ("FAIL (%d problems)" % len(failures) if failures else "PASS"))
    return 1 if failures else 0


def matched_flows(expected):
    return {(k[0], min(k[1][:2], k[1][2:]), max(k[1][:2], k[1][2:])) for k in expected}


def print_figures(rules, expected, seen, ignored, missing, unexpected, wrong_frame, straddling):
    rule_of = {r.sid: r for r in rules}
    dir_of = DIRS
    matched_dirs = {(k[0], k[1]) for k in expected}
    flows = matched_flows(expected)
    straddle_matches = 0
    for (cap, dkey, sid), frame in expected.items():
        r = rule_of[sid]
        d = dir_of[(cap, dkey)]
        if len(r.items) == 1:
            it = r.items[0]
            hay = d.stream.lower() if it.nocase else d.stream
            start = it.offset or 0
            stop = start + it.depth if it.depth is not None else len(hay)
            i = hay.find(it.needle, start, stop)
            if any(i < b < i + len(it.needle) for b in d.boundaries):
                straddle_matches += 1
    print("matches: %d expected over %d flows (%d flow directions), %d of them straddling a "
          "frame boundary; sentinel alerted %d; %d alerts on excluded directions not compared"
          % (len(expected), len(flows), len(matched_dirs), straddle_matches, len(seen),
             sum(ignored.values())))
    for why, n in ignored.most_common():
        print("  not compared %5d  alerts on directions excluded for: %s" % (n, why))
    print("differences: %d missing, %d unexpected, %d with another pcap_cnt"
          % (len(missing), len(unexpected), len(wrong_frame)))


if __name__ == "__main__":
    sys.exit(main())
