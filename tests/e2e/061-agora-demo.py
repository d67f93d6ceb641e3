#!/usr/bin/python3
"""061 — `./build.sh demo` (tests/demo/demo.py) shows the tour and cleans up.

Proves: the demo runs the real ./agora against its own throwaway PostgreSQL
and Redis, the emulator and the fake LLM, exits 0 within a minute, and
prints each scene as a member or admin would see it: "Bot Online"; the
proposal's ephemeral thanks, its admin notification with the LLM's name
(retro-games) and the "Pending Proposals" queue; the approval buttons, the
approval, the new channel in the Proposed category, the proposer's DM and
the public announcement; the report's thanks, notification and "Pending
User Reports" queue; the activity ranking after the burst (24 total);
/status; "Bot Shutting Down" and exit status 0. Afterwards every port it
printed (PostgreSQL, Redis, emulator, its control API, fake LLM) is closed.
A second run interrupted with SIGINT (Ctrl-C) in the middle of the tour
exits 130 and also leaves none of its ports open.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = [sys.executable if os.path.exists(sys.executable) else "/usr/bin/python3",
        os.path.join(ROOT, "tests", "demo", "demo.py")]


def ports_of(out):
    m = re.search(r"^services: PostgreSQL 127\.0\.0\.1:(\d+), Redis 127\.0\.0\.1:(\d+), Discord emulator "
                  r"127\.0\.0\.1:(\d+) \(control (\d+)\), fake LLM 127\.0\.0\.1:(\d+)$", out, re.M)
    assert m, "no services line:\n" + out
    return [int(p) for p in m.groups()]


def open_ports(ports):
    still = []
    for p in ports:
        s = socket.socket()
        s.settimeout(1)
        try:
            s.connect(("127.0.0.1", p))
            still.append(p)
        except OSError:
            pass
        finally:
            s.close()
    return still


def main():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_TEST_")}
    t0 = time.monotonic()
    r = subprocess.run(DEMO, cwd=ROOT, env=env, capture_output=True, text=True, timeout=110)
    took = time.monotonic() - t0
    out = r.stdout
    print(out[-6000:])
    assert r.returncode == 0, "demo exit %d:\n%s" % (r.returncode, r.stderr[-3000:])
    assert took < 60, "the demo took %.0f s" % took
    for want in [
        "┃ BOT ONLINE",
        "bob sees (only bob): Thank you! Your proposal has been submitted for review.",
        "┃ NEW CHANNEL PROPOSAL #1", "┃ Suggested name: retro-games",
        "┃ PENDING PROPOSALS", "[#1] - Channel - @bob - retro-games",
        "[ Approve as retro-games ]  [ Override Name ]  [ Re-run LLM Suggestion ]",
        "alice sees: Proposal #1 approved: channel #retro-games",
        "new channel #retro-games in the category Proposed",
        "Your channel proposal 'retro-games' has been approved!",
        "┃ A new channel is open: #retro-games",
        "carol sees (only carol): Thank you for your report.",
        "┃ NEW REPORT #1", "┃ PENDING USER REPORTS",
        "24 messages from bob, carol and dave in #retro-games",
        "┃ PROPOSED CHANNEL ACTIVITY", "#retro-games · score",
        "alice sees (only alice): Status: OK. DB: Connected. Redis: Connected.",
        "┃ BOT SHUTTING DOWN", "agora exited with status 0",
        "everything it started is stopped",
    ]:
        assert want in out, "the demo did not show %r" % want
    assert "24 total" in out, "the activity report counts the burst"
    ports = ports_of(out)
    assert not open_ports(ports), "still listening after the demo: %r" % open_ports(ports)
    print("ok - demo: every scene shown in %.0f s, exit 0, ports %r closed" % (took, ports))

    # Ctrl-C in the middle of the tour
    p = subprocess.Popen(DEMO, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in p.stdout:
        lines.append(line)
        if line.startswith(" 3. alice"):
            p.send_signal(signal.SIGINT)
            break
    rest = p.stdout.read()
    code = p.wait(timeout=60)
    text = "".join(lines) + rest
    assert code == 130, "interrupted demo exit %s:\n%s" % (code, text[-3000:])
    assert "demo interrupted; stopping everything." in text, text[-2000:]
    ports = ports_of(text)
    deadline = time.monotonic() + 5
    while open_ports(ports) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not open_ports(ports), "still listening after Ctrl-C: %r" % open_ports(ports)
    print("ok - demo interrupted by SIGINT: exit 130, ports %r closed" % (ports,))


if __name__ == "__main__":
    main()
