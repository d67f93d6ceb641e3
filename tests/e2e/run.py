#!/usr/bin/python3
"""Run the emulator's self-tests and the end-to-end tests; end with the
line "N passed, N failed" that build.sh's `record` reads.

    /usr/bin/python3 tests/e2e/run.py [--only emulator|e2e] [-k SUBSTRING]
                                      [--logs DIR] [--timeout SECONDS]

- tests/emulator/test_*.py run under pytest (each test function counts);
  the counts come from pytest's JUnit XML, not from its summary line.
- every tests/e2e/NNN-*.py runs as its own process and counts as one test:
  exit status 0 passes. Its output goes to LOGS/NNN-name.log.
Run from anywhere; paths are relative to the repository root.
"""

import argparse
import glob
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def run_selftests(logs, keyword):
    xml = os.path.join(logs, "emulator-selftests.xml")
    log = os.path.join(logs, "emulator-selftests.log")
    args = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml", xml, "tests/emulator"]
    if keyword:
        args += ["-k", keyword]
    t0 = time.monotonic()
    with open(log, "w") as out:
        code = subprocess.call(args, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    if not os.path.exists(xml):
        print("FAIL emulator self-tests: pytest exited %d without a report (see %s)" % (code, log))
        return 0, 1
    passed = failed = 0
    for case in ET.parse(xml).getroot().iter("testcase"):
        name = "%s::%s" % (case.get("classname", "").rsplit(".", 1)[-1], case.get("name"))
        if case.find("skipped") is not None:
            continue
        if case.find("failure") is not None or case.find("error") is not None:
            failed += 1
            print("FAIL %s (see %s)" % (name, log))
        else:
            passed += 1
            print("ok   %s" % name)
    if code not in (0, 1, 5):  # 5: nothing collected (a -k that matched nothing)
        print("FAIL emulator self-tests: pytest exited %d (see %s)" % (code, log))
        failed += 1
    print("emulator self-tests: %d passed, %d failed in %.1f s" % (passed, failed, time.monotonic() - t0))
    return passed, failed


def run_e2e(logs, keyword, timeout):
    passed = failed = 0
    for path in sorted(glob.glob(os.path.join(ROOT, "tests", "e2e", "[0-9][0-9][0-9]-*.py"))):
        name = os.path.basename(path)[:-3]
        if keyword and keyword not in name:
            continue
        log = os.path.join(logs, name + ".log")
        t0 = time.monotonic()
        with open(log, "w") as out:
            try:
                code = subprocess.call([PYTHON, path], cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                       timeout=timeout)
            except subprocess.TimeoutExpired:
                code = "timeout after %d s" % timeout
        took = time.monotonic() - t0
        if code == 0:
            passed += 1
            print("ok   %s (%.1f s)" % (name, took))
        else:
            failed += 1
            print("FAIL %s: exit %s (%.1f s); last lines of %s:" % (name, code, took, log))
            with open(log) as f:
                for line in f.readlines()[-15:]:
                    print("     " + line.rstrip())
    return passed, failed


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", choices=("emulator", "e2e"))
    p.add_argument("-k", dest="keyword", help="only tests whose name contains this")
    p.add_argument("--logs", default=os.path.join(ROOT, "build", "logs", "e2e"))
    p.add_argument("--timeout", type=int, default=120, help="per e2e file, seconds")
    a = p.parse_args()
    os.makedirs(a.logs, exist_ok=True)
    t0 = time.monotonic()
    passed = failed = 0
    if a.only in (None, "emulator"):
        p_, f_ = run_selftests(a.logs, a.keyword)
        passed, failed = passed + p_, failed + f_
    if a.only in (None, "e2e"):
        p_, f_ = run_e2e(a.logs, a.keyword, a.timeout)
        passed, failed = passed + p_, failed + f_
    print("wall time %.1f s" % (time.monotonic() - t0))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
