#!/usr/bin/python3
"""Runs one fuzz target for meson (tests/fuzz/meson.build; README.md here).

  run_fuzz.py fuzz TARGET BINARY ...    libFuzzer campaign (suite 'fuzz'): fresh seeds,
      copied to a writable corpus, plus the saved regression inputs; fails on any crash,
      leak, timeout or out-of-memory, printing the log's end and how to reproduce it.
  run_fuzz.py replay TARGET BINARY ...  the standalone build (suite 'unit'): every
      regression input, then every fresh seed, once.

Under WORK_DIR: seeds/{fuzz,replay}/TARGET, corpus/TARGET (what libFuzzer grows),
dicts/TARGET.dict, artifacts/TARGET/ (crash-*, leak-*, timeout-*, oom-*), logs/TARGET.log.
"""
import argparse
import os
import pathlib
import re
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import make_seeds  # noqa: E402


def target_env(work):
    env = dict(os.environ)
    # A UBSan report must stop the run, or libFuzzer would not see it as a crash.
    env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1:" + env.get("UBSAN_OPTIONS", "")
    # Scratch files of the targets (eve's log directory) stay in the build tree, even after a crash.
    env["TMPDIR"] = str(work / "tmp")
    (work / "tmp").mkdir(parents=True, exist_ok=True)
    return env


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["fuzz", "replay"])
    ap.add_argument("target")
    ap.add_argument("binary")
    ap.add_argument("--corpus-dir", required=True)
    ap.add_argument("--source-root", required=True)
    ap.add_argument("--work-dir", required=True)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--rss-limit-mb", type=int, default=2048)
    args = ap.parse_args()

    src = pathlib.Path(args.source_root)
    work = pathlib.Path(args.work_dir)
    regressions = src / "tests" / "fuzz" / "regressions" / args.target
    seeds = work / "seeds" / args.mode / args.target
    t0 = time.monotonic()
    n = make_seeds.write_seeds(args.target, seeds, args.corpus_dir, src)
    print(f"{args.target}: {n} seeds in {seeds} ({time.monotonic() - t0:.1f} s)", flush=True)

    if args.mode == "replay":
        dirs = [str(d) for d in (regressions, seeds) if d.is_dir()]
        rc = subprocess.run([args.binary] + dirs, env=target_env(work)).returncode
        return 0 if rc == 0 else 1  # never 77, which meson reads as "skipped"

    # A writable copy of the seeds (what an earlier run added is dropped: every run starts alike).
    corpus = work / "corpus" / args.target
    make_seeds.sync_dir({p.name: p.read_bytes() for p in seeds.iterdir()}, corpus)
    artifacts = work / "artifacts" / args.target
    artifacts.mkdir(parents=True, exist_ok=True)
    before = set(artifacts.iterdir())
    log = work / "logs" / f"{args.target}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [args.binary, str(corpus)]
    if regressions.is_dir():
        cmd.append(str(regressions))  # read only: libFuzzer writes new inputs to the first directory
    cmd += [f"-max_total_time={args.seconds}", f"-artifact_prefix={artifacts}/", f"-rss_limit_mb={args.rss_limit_mb}",
            "-timeout=30", "-print_final_stats=1"]
    dictionary = work / "dicts" / f"{args.target}.dict"
    if make_seeds.write_dict(args.target, dictionary, src):
        cmd.append(f"-dict={dictionary}")
    print(" ".join(cmd), flush=True)
    with open(log, "w") as out:
        rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=target_env(work)).returncode
    text = log.read_text(errors="replace")
    lines = text.splitlines()
    status = [ln for ln in lines if re.match(r"#\d+\s+(DONE|pulse|NEW|REDUCE|INITED)", ln)]
    stats = [ln for ln in lines if ln.startswith("stat::")]
    if status:
        print("last status:", status[-1])
    for ln in stats:
        print(ln)
    new = sorted(set(artifacts.iterdir()) - before)
    if rc == 0 and not new:
        print(f"{args.target}: no crash in {args.seconds} s (log: {log})")
        return 0
    print(f"\n{args.target}: libFuzzer exit status {rc}; end of {log}:\n")
    print("\n".join(lines[-80:]))
    for a in new:
        print(f"\nfinding: {a}\n  reproduce: {args.binary} {a}\n  minimise:  {args.binary} -minimize_crash=1 "
              f"-max_total_time=60 -exact_artifact_path={a}.min {a}\n  keep it:   cp {a}.min {regressions}/<name>")
    return 1  # not libFuzzer's own status: its 77 (a crash) would read as "skipped" to meson


if __name__ == "__main__":
    sys.exit(main())
