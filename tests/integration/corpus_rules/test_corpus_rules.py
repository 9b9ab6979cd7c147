#!/usr/bin/python3
"""The public rule sets of the corpus, translated, loaded and run over every capture.

usage: test_corpus_rules.py SENTINEL CORPUS_DIR TRANSLATOR [--jobs N] [--keep DIR]

1. Translates the rule sets in CORPUS_DIR/rules with TRANSLATOR (tools/rules2toml.py) into
   a temporary directory, at test time: ET Open (every et-open/*.rules, one output file),
   the Snort 3 community rules, and the three extracts (their own run: they repeat rules
   of the full sets). The translator compiles each pcre with libhs as Sentinel will and
   leaves out what Hyperscan rejects (its summary, printed here, counts them).
2. `SENTINEL -c CONF -T -S ...` must accept each translation as it is: a rule the
   translator let through but Sentinel rejects is a failure (file:line:col printed). To
   still exercise the replays, such rules are then removed one by one (the translator's
   --check-with loop, on a copy) and the count is reported.
3. Replays every capture under CORPUS_DIR/pcaps with the full sets (ET Open + Snort 3
   community), the compiled databases shared through one cache_dir: each replay must exit
   0, or 2 when the capture file itself is truncated (checked by an independent reader);
   every eve.json line must parse, alerts must validate against the corpus' EVE alert
   schema and name a loaded rule (or be a gid 4 stream anomaly), the last line must be
   the stats event, its frames_read must equal forwarded + dropped (and the frames the
   capture holds). Prints the alerts per capture.

   Loading ~11,600 rules costs a replay about a second before its first frame, so
   Ethernet captures read to their end whose IP address pairs are disjoint are replayed
   in batches of up to --batch (16): merged into one pcap in a temporary directory,
   timestamps compressed (see write_merged), alerts told apart by pcap_cnt. A batch
   with any problem is replayed again capture by capture, so a failure always names its
   capture; --batch 1 replays every capture alone. Other link types and truncated files
   are always replayed alone.
"""

import argparse
import collections
import concurrent.futures
import glob
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "differential"))
import tcp_reference  # noqa: E402  (its capture reader tells truncated files)

GID_ANOMALY = 4
ANOMALY_SIDS = {1, 2}  # overlap conflict, reassembly overflow (Sentinel's stream anomalies)

CONFIG = """\
[rules]
dir = "{rules_dir}"
cache_dir = "{cache_dir}"

[flows]
# Captures often carry offloaded (bad) checksums: accept them, like suricata -k none.
verify_checksums = false
# ET Open needs about 5 KB of Hyperscan stream state per flow direction (sentinel -T says
# how much); the default 2048 is sized for small site rule sets.
stream_state_max = 16384
# Per-flow state is preallocated for every slot (stream state, item bitmaps, reassembly
# buffers: about 20 KB per flow with ET Open); the captures hold at most a few thousand
# flows, so a smaller table keeps each replay's start-up short.
capacity = 8192

[log]
dir = "{log_dir}"
"""


def run(cmd, timeout):
    """(CompletedProcess, seconds); a program that cannot be started counts as exit 127."""
    t = time.time()
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              errors="replace", timeout=timeout)
    except OSError as e:
        proc = subprocess.CompletedProcess(cmd, 127, "", "cannot run %s: %s" % (cmd[0], e))
    return proc, time.time() - t


def translate(translator, out, inputs, extra=()):
    cmd = [sys.executable, translator, "--validate", "hyperscan"] + list(extra) + list(out) + inputs
    proc, secs = run(cmd, 600)
    return proc, secs


def rule_sids(path):
    sids = set()
    with open(path) as f:
        for line in f:
            m = re.match(r"sid = (\d+)$", line)
            if m:
                sids.add(int(m.group(1)))
    return sids


def flow_keys(path):
    """(link type, frames, the capture's outer IP address pairs, truncated?), read with
    the test's own reader: batching needs captures whose flows cannot meet."""
    keys, linktypes, frames, truncated = set(), set(), 0, False
    try:
        for _, _, linktype, data, _ in tcp_reference.read_capture(path):
            frames += 1
            linktypes.add(linktype)
            start = tcp_reference._l3_start(linktype, data)
            if start is None:
                continue
            etype, off = start
            if etype == 0x0800 and len(data) >= off + 20:
                src, dst = data[off + 12:off + 16], data[off + 16:off + 20]
            elif etype == 0x86DD and len(data) >= off + 40:
                src, dst = data[off + 8:off + 24], data[off + 24:off + 40]
            else:
                continue
            pair = tuple(sorted((bytes(src), bytes(dst))))
            keys.add(pair)  # any protocol between these addresses
    except tcp_reference.CaptureError:
        truncated = True
    return (linktypes.pop() if len(linktypes) == 1 else None), frames, keys, truncated


def plan_batches(pcaps, batch_size, max_frames=20000):
    """Lists of captures replayed together (first fit): Ethernet captures read to their
    end whose address pairs differ, so that no flow spans two of them; every other
    capture alone."""
    alone, open_batches, info = [], [], {}
    for p in pcaps:
        linktype, frames, keys, truncated = flow_keys(p)
        info[p] = (frames, truncated)
        if batch_size <= 1 or truncated or linktype != tcp_reference.LINKTYPE_EN10MB:
            alone.append([p])
            continue
        for b in open_batches:
            if len(b["members"]) < batch_size and b["frames"] + frames <= max_frames \
                    and not keys & b["keys"]:
                break
        else:
            b = {"members": [], "keys": set(), "frames": 0}
            open_batches.append(b)
        b["members"].append(p)
        b["keys"] |= keys
        b["frames"] += frames
    return [b["members"] for b in open_batches] + alone, info


MAX_GAP = 0.25  # seconds between two frames of a merged batch, at most


def write_merged(members, path):
    """One nanosecond Ethernet pcap holding the members' frames one capture after the
    other. Timestamps are rewritten so that no two consecutive frames are more than
    MAX_GAP seconds apart (nor out of order): a replay takes the flow clock from the
    first frame of each burst of 32, so a flow that starts late in a burst is stamped
    with an older time, and a long gap before it (a jump of months inside one capture,
    or the end of the previous capture) would time it out at the next burst. With gaps
    of at most 0.25 s a burst spans less than 8 s, under every flow timeout. Captures
    replayed alone keep their timing. -> [(member, first pcap_cnt, last pcap_cnt)]."""
    ranges, n = [], 0
    clock, prev = None, None
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 262144,
                              tcp_reference.LINKTYPE_EN10MB))
        for m in members:
            first = n + 1
            prev = None  # the first frame of a capture follows the previous one by MAX_GAP
            for _, ts, _, data, wirelen in tcp_reference.read_capture(m):
                if clock is None:
                    clock = ts
                else:
                    gap = MAX_GAP if prev is None else min(max(ts - prev, 0.0), MAX_GAP)
                    clock += gap
                prev = ts
                sec = int(clock)
                nsec = min(int(round((clock - sec) * 1e9)), 999999999)
                out.write(struct.pack("<IIII", sec, nsec, len(data), max(wirelen, len(data))))
                out.write(data)
                n += 1
            ranges.append((m, first, n))
    return ranges


def replay(args, conf, pcap, members, rule_files, sids, schema_validator, work, tag,
           truncated=False):
    """Replays `pcap` (one capture, or a merged batch whose members occupy the given
    pcap_cnt ranges). Exit status 2 is allowed only for a `truncated` capture (one the
    test's own reader cannot read to its end). -> ({member: Counter of alerts},
    frames_read, problems, seconds)."""
    base = os.path.join(work, "replay", tag)
    log_dir = base + ".logs"
    os.makedirs(log_dir, exist_ok=True)
    cmd = [args.sentinel, "-c", conf, "-r", pcap, "-w", base + ".out.pcap", "-l", log_dir]
    for f in rule_files:
        cmd += ["-S", f]
    problems = []
    alerts = {m: collections.Counter() for m, _, _ in members}
    try:
        proc, secs = run(cmd, args.timeout)
    except subprocess.TimeoutExpired:
        return alerts, 0, ["no exit within %d s (hang?)" % args.timeout], args.timeout
    allowed = (0, 2) if truncated else (0,)
    if proc.returncode not in allowed:
        what = "signal %d" % -proc.returncode if proc.returncode < 0 else \
            "exit status %d" % proc.returncode
        problems.append("%s (allowed: %s): %s" % (
            what, allowed, (proc.stderr.strip() or proc.stdout.strip())[-1500:]))
    frames = 0
    eve = os.path.join(log_dir, "eve.json")
    if not os.path.exists(eve):
        problems.append("no eve.json")
        return alerts, frames, problems, secs
    with open(eve, "rb") as f:
        lines = f.read().split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    events = []
    for number, line in enumerate(lines, 1):
        try:
            events.append(json.loads(line))
        except ValueError as e:
            problems.append("eve.json line %d does not parse (%s): %r" % (number, e, line[:200]))
    for ev in events:
        if ev.get("event_type") != "alert":
            continue
        a = ev.get("alert") or {}
        sid, gid = a.get("signature_id"), a.get("gid")
        cnt = ev.get("pcap_cnt")
        owner = next((m for m, lo, hi in members if isinstance(cnt, int) and lo <= cnt <= hi),
                     None)
        if owner is None:
            problems.append("alert gid %s sid %s with pcap_cnt %r outside the capture"
                            % (gid, sid, cnt))
            continue
        if gid == GID_ANOMALY:
            alerts[owner]["%d:%s" % (gid, sid)] += 1
            if sid not in ANOMALY_SIDS:
                problems.append("anomaly alert with an unknown sid %r" % sid)
        else:
            alerts[owner][sid] += 1
            if gid != 1 or sid not in sids:
                problems.append("alert of gid %r sid %r, not a loaded rule" % (gid, sid))
        if schema_validator is not None:
            errors = sorted(schema_validator.iter_errors(ev), key=lambda e: list(e.path))
            for e in errors[:3]:
                problems.append("alert sid %s fails the EVE schema at %s: %s"
                                % (sid, "/".join(map(str, e.path)) or "(top)", e.message[:200]))
        for key in ("src_ip", "dest_ip", "proto", "flow_id", "pcap_cnt"):
            if key not in ev:
                problems.append("alert sid %s without %s" % (sid, key))
    if not events or events[-1].get("event_type") != "stats":
        problems.append("eve.json does not end with a stats event")
    else:
        st = events[-1].get("stats", {})
        frames = st.get("frames_read", -1)
        fwd, drop = st.get("forwarded", -1), st.get("dropped", -1)
        if frames != fwd + drop:
            problems.append("frames_read %s != forwarded %s + dropped %s" % (frames, fwd, drop))
        drops = st.get("drops", {})
        if isinstance(drops, dict) and sum(drops.values()) != drop:
            problems.append("dropped %s != the sum of drops by reason %s"
                            % (drop, sum(drops.values())))
        expected_frames = members[-1][2] if members[-1][2] != float("inf") else None
        if expected_frames is not None and frames != expected_frames:
            problems.append("frames_read %s, the capture holds %s" % (frames, expected_frames))
    if not args.keep:
        shutil.rmtree(log_dir, ignore_errors=True)
        for suffix in (".out.pcap", ".in.pcap"):
            try:
                os.remove(base + suffix)
            except OSError:
                pass
    return alerts, frames, problems, secs


def check_batch(args, conf, batch, rule_files, sids, schema_validator, work, info):
    """-> [(name, alerts, frames, problems, seconds)] for the captures of `batch`."""
    rel = lambda p: os.path.relpath(p, os.path.join(args.corpus, "pcaps"))
    if len(batch) == 1:
        p = batch[0]
        frames_in_file, truncated = info[p]
        hi = float("inf") if truncated else frames_in_file
        alerts, frames, problems, secs = replay(args, conf, p, [(p, 1, hi)], rule_files, sids,
                                                schema_validator, work,
                                                rel(p).replace("/", "_"), truncated)
        return [(rel(p), alerts[p], frames, problems, secs)]
    tag = "batch-" + rel(batch[0]).replace("/", "_")
    merged = os.path.join(work, "replay", tag + ".in.pcap")
    ranges = write_merged(batch, merged)
    alerts, frames, problems, secs = replay(args, conf, merged, ranges, rule_files, sids,
                                            schema_validator, work, tag)
    if problems:
        # Tell which capture: each one alone. A merged pcap is a capture too: if every
        # member passes alone, the batch's own problems still fail the test.
        out = []
        for p in batch:
            out += check_batch(args, conf, [p], rule_files, sids, schema_validator, work, info)
        if not any(r[3] for r in out):
            out.append(("batch %s .. %s (%d captures merged in this order: %s; each passes "
                        "alone; --keep DIR keeps the merged pcap)"
                        % (rel(batch[0]), rel(batch[-1]), len(batch),
                           ", ".join(rel(p) for p in batch)),
                        collections.Counter(), frames, problems, secs))
        return out
    share = secs / len(batch)
    return [(rel(p), alerts[p], hi - lo + 1, [], share) for p, lo, hi in ranges]


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sentinel")
    parser.add_argument("corpus")
    parser.add_argument("translator")
    parser.add_argument("--jobs", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    parser.add_argument("--timeout", type=int, default=300, help="seconds per replay")
    parser.add_argument("--batch", type=int, default=16,
                        help="captures merged into one replay at most (1: every capture "
                        "alone; a failing batch is always replayed capture by capture)")
    parser.add_argument("--keep", help="work here and keep everything")
    args = parser.parse_args()
    t0 = time.time()
    failures = []

    rules_root = os.path.join(args.corpus, "rules")
    et = sorted(glob.glob(os.path.join(rules_root, "et-open", "*.rules")))
    snort3 = sorted(glob.glob(os.path.join(rules_root, "snort3-community", "*.rules")))
    extracts = sorted(glob.glob(os.path.join(rules_root, "*.rules")))
    pcaps = sorted(p for p in glob.glob(os.path.join(args.corpus, "pcaps", "*", "*"))
                   if os.path.isfile(p))
    if not et or not snort3 or not extracts or len(pcaps) < 100:
        print("FAIL: corpus incomplete under %s (et-open %d, snort3 %d, extracts %d, pcaps %d)"
              % (args.corpus, len(et), len(snort3), len(extracts), len(pcaps)))
        return 1

    schema_validator = None
    schema_path = os.path.join(args.corpus, "eve", "alert-schema.json")
    try:
        import jsonschema
        with open(schema_path) as f:
            schema_validator = jsonschema.Draft7Validator(json.load(f))
    except ImportError:
        print("note: python3-jsonschema missing: alerts are not schema-checked")

    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        holder, work = None, args.keep
    else:
        holder = tempfile.TemporaryDirectory(prefix="sentinel-corpus-rules-")
        work = holder.name
    try:
        rules_dir = os.path.join(work, "rules.d")
        os.makedirs(rules_dir, exist_ok=True)
        os.makedirs(os.path.join(work, "replay"), exist_ok=True)
        conf = os.path.join(work, "sentinel.toml")
        with open(conf, "w") as f:
            f.write(CONFIG.format(rules_dir=rules_dir, cache_dir=os.path.join(work, "hs-cache"),
                                  log_dir=os.path.join(work, "logs")))

        # 1. Translation.
        sets = [("et-open", ["-o", os.path.join(work, "et-open.toml")], et),
                ("snort3-community", ["-o", os.path.join(work, "snort3-community.toml")], snort3),
                ("extracts", ["--out-dir", os.path.join(work, "extracts")], extracts)]
        outputs = {}
        for label, out, inputs in sets:
            proc, secs = translate(args.translator, out, inputs)
            print("== translate %s (%d file(s)): exit %d, %.1f s" % (label, len(inputs),
                                                                    proc.returncode, secs))
            print("\n".join("   " + l for l in proc.stderr.rstrip().splitlines()
                            if not l.startswith("wrote ")))
            if proc.returncode != 0:
                failures.append("translator failed on %s (exit %d)" % (label, proc.returncode))
                continue
            if out[0] == "-o":
                outputs[label] = [out[1]]
            else:
                outputs[label] = sorted(glob.glob(os.path.join(out[1], "*.toml")))

        # 2. sentinel -T on the translations as the translator wrote them: the full sets
        # together (as the replays load them; this also fills the cache), the extracts.
        checks = collections.OrderedDict()
        checks["et-open+snort3-community"] = outputs.get("et-open", []) + outputs.get(
            "snort3-community", [])
        checks["extracts"] = outputs.get("extracts", [])
        for label, files in checks.items():
            if not files:
                continue
            cmd = [args.sentinel, "-c", conf, "-T"]
            for f in files:
                cmd += ["-S", f]
            proc, secs = run(cmd, 900)
            print("== sentinel -T %s: exit %d, %.1f s" % (label, proc.returncode, secs))
            print("\n".join("   " + l for l in (proc.stdout + proc.stderr).strip().splitlines()[-12:]))
            if proc.returncode == 0:
                continue
            failures.append("sentinel -T rejects the %s translation: %s" % (
                label, (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1][-600:]))
            # Carry on with what Sentinel accepts, to still run the replays: translate again
            # with the translator's --check-with loop (it removes the rules -T names).
            for set_label, out, inputs in sets:
                if not any(f in files for f in outputs.get(set_label, [])):
                    continue
                proc2, secs2 = translate(args.translator, out, inputs, extra=[
                    "--check-with", args.sentinel, "--check-config", conf,
                    "--check-rounds", "300"])
                print("   translator --check-with on %s: exit %d, %.1f s" % (
                    set_label, proc2.returncode, secs2))
                print("\n".join("   " + l for l in proc2.stderr.splitlines()
                                if "sentinel -T" in l or l.lstrip().startswith("removed")))
                if proc2.returncode != 0:
                    outputs[set_label] = []

        # 3. Replays with the full sets.
        replay_files = outputs.get("et-open", []) + outputs.get("snort3-community", [])
        if not replay_files:
            failures.append("no translated rule set loads: replays not run")
        else:
            sids = set()
            for f in replay_files:
                sids |= rule_sids(f)
            print("== replaying %d captures with %d rules (%s), %d at a time"
                  % (len(pcaps), len(sids), ", ".join(os.path.basename(f) for f in replay_files),
                     args.jobs))
            # The -T above filled the cache; every replay loads from it. Captures whose
            # address pairs are disjoint are replayed in batches (merged into one pcap,
            # alerts told apart by pcap_cnt): loading thousands of rules dominates a replay.
            batches, info = plan_batches(pcaps, args.batch)
            print("   %d replays: %d batches of up to %d captures, %d captures alone"
                  % (len(batches), sum(1 for b in batches if len(b) > 1), args.batch,
                     sum(1 for b in batches if len(b) == 1)))
            t_replays = time.time()
            results = []
            with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
                futures = [pool.submit(check_batch, args, conf, b, replay_files, sids,
                                       schema_validator, work, info) for b in batches]
                for fut in futures:
                    results.extend(fut.result())
            results.sort()
            t_replays = time.time() - t_replays
            total_alerts = collections.Counter()
            slowest = max(results, key=lambda r: r[4])
            for name, alerts, frames, problems, secs in results:
                n = sum(alerts.values())
                total_alerts.update(alerts)
                top = ", ".join("%s x%d" % (sid, c) for sid, c in alerts.most_common(4))
                print("  %-62s frames %6d  alerts %5d%s" % (name, frames, n,
                                                           "  (" + top + ")" if top else ""))
                for p in problems:
                    failures.append("%s: %s" % (name, p))
            print("== %d alerts of %d distinct rules over %d captures; replays %.1f s (slowest "
                  "%s, %.1f s)" % (sum(total_alerts.values()), len(total_alerts), len(results),
                                   t_replays, slowest[0], slowest[4]))
    finally:
        if holder is not None:
            holder.cleanup()

    print("time: %.1f s in all" % (time.time() - t0))
    for f in failures:
        print("FAIL: " + f)
    print("RESULT: %s" % ("FAIL (%d problems)" % len(failures) if failures else "PASS"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
