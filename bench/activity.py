#!/usr/bin/python3
"""bench/activity.py — issue 13.8's figures, medians of BENCH_RUNS runs
(default 3), by running the end-to-end tests that measure them:

  tests/e2e/071  the stats task over 10, 1,000 and 10,000 tracked channels:
                 Redis read time, and round trips measured through a proxy
                 that delays every reply;
  tests/e2e/bench-recalculate-100k.py  /recalculate_stats over 100,000 history messages: pages
                 per second as a share of the emulator's global limit, 429s.

Needs the services of tests/services.sh (AGORA_TEST_* in the environment)
and ./agora; ./build.sh bench provides both.
"""

import os
import re
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
STATS = re.compile(r"stats pass over\s+(\d+) tracked channels: Redis read\s+(\d+) ms,\s+(\d+) ms with "
                   r"replies delayed (\d+) ms: ([\d.]+) round trips")
RECALC = re.compile(r"recalculation of (\d+) messages \((\d+) pages\) in ([\d.]+) s: (\d+) messages/s, "
                    r"([\d.]+) pages/s = (\d+)% of the global limit \((\d+)/s\); (\d+) 429s")


def run(script):
    out = subprocess.run(["/usr/bin/python3", os.path.join(ROOT, "tests", "e2e", script)], cwd=ROOT,
                         capture_output=True, text=True, timeout=900)
    if out.returncode != 0:
        sys.stderr.write(out.stdout[-3000:] + out.stderr[-3000:])
        raise SystemExit("bench/activity.py: %s failed" % script)
    return out.stdout


def main():
    stats = {}
    recalc = []
    for _ in range(RUNS):
        for m in STATS.finditer(run("071-agora-stats-round-trips.py")):
            stats.setdefault(int(m[1]), []).append((int(m[2]), int(m[3]), float(m[5])))
        m = RECALC.search(run("bench-recalculate-100k.py"))
        recalc.append((float(m[3]), int(m[4]), float(m[5]), int(m[6]), int(m[8])))
    print("activity (issue 13.8), medians of %d runs" % RUNS)
    for size in sorted(stats):
        rows = stats[size]
        print("  stats task, %5d tracked channels: Redis read %5.0f ms (through the test proxy); round trips (1 s reply "
              "delay) %.2f" % (size, statistics.median(r[0] for r in rows),
                               statistics.median(r[2] for r in rows)))
    print("  /recalculate_stats, 100,000 messages: %.1f s, %.0f messages/s, %.1f pages/s = %.0f%% of "
          "the global limit; 429s: %d" % (statistics.median(r[0] for r in recalc),
                                          statistics.median(r[1] for r in recalc),
                                          statistics.median(r[2] for r in recalc),
                                          statistics.median(r[3] for r in recalc),
                                          max(r[4] for r in recalc)))


if __name__ == "__main__":
    main()
