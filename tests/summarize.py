#!/usr/bin/python3
"""Prints one closing line over meson's test logs of the given build directories:
`tests: N passed, M failed` (meson counts each test binary; subtests are in its log).
Exits 1 when any test failed or a build directory has no log."""
import json
import sys

passed = failed = 0
for build_dir in sys.argv[1:]:
    try:
        with open(f"{build_dir}/meson-logs/testlog.json") as log:
            for line in log:
                result = json.loads(line)["result"]
                if result in ("OK", "EXPECTEDFAIL"):
                    passed += 1
                else:
                    failed += 1
    except OSError as e:
        print(f"summarize: {build_dir}: {e}", file=sys.stderr)
        failed += 1
print(f"tests: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
