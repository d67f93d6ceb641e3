#!/usr/bin/python3
"""latency.py — interaction latency on loopback (issue 13.7).

INTERACTION_CREATE sent by the emulator → the bot's interaction callback
received by the emulator, both read on the emulator's clock (the
interaction's "created" and its first response's "time"), over TLS on
loopback with the real PostgreSQL and Redis. One interaction at a time:
/status N times, and /propose_channel (its acknowledgement, the first
callback; the proposal row and the LLM follow later) by distinct members.
Printed: p50, p99 and max in ms.

    ./build.sh bench runs it; needs the AGORA_TEST_* services.
"""
import os
import statistics
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, ROOT)

from agora import ADMIN_PERMISSIONS, ADMIN_USER, GUILD, Agora, World  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def first_callback_ms(emu, inj):
    it = Control.wait_for(lambda: (lambda i: i if i["responses"] else None)(emu.interaction(inj["id"])),
                          timeout=10, interval=0.002, what="a callback to %s" % inj["id"])
    return (it["responses"][0]["time"] - it["created"]) * 1000.0


def show(name, xs):
    print("interaction latency %-28s p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms  (n=%d, mean %.2f)"
          % (name, statistics.median(xs), pct(xs, 99), max(xs), len(xs), statistics.mean(xs)))


def main():
    n = int(os.environ.get("BENCH_LATENCY_N", 100))
    tmp = tempfile.mkdtemp(prefix="agora-bench-latency-")
    with Emulator(os.path.join(tmp, "emu")) as emu:
        world = World(emu)
        users = [str(1305000000000000000 + i) for i in range(n)]
        for u in users:
            emu.add_member(GUILD, {"user": {"id": u, "username": "m" + u[-3:]}, "roles": [],
                                   "announce": False})
        with Agora(os.path.join(tmp, "migrate"), emu, world) as first:
            first.wait_log("database schema up to date")
            db = first.db
        with Agora(os.path.join(tmp, "bot"), emu, world, db=db, extra={"MAX_PROPOSED_CHANNELS": "50"}) as bot:
            bot.wait_online()
            for _ in range(5):  # warm-up: connections, prepared statements
                first_callback_ms(emu, emu.inject_slash("status", {}, user_id=ADMIN_USER,
                                                        permissions=ADMIN_PERMISSIONS))
            status = [first_callback_ms(emu, emu.inject_slash("status", {}, user_id=ADMIN_USER,
                                                              permissions=ADMIN_PERMISSIONS))
                      for _ in range(n)]
            propose = [first_callback_ms(emu, emu.inject_slash("propose_channel",
                                                               {"idea_text": "a channel for idea %d" % i},
                                                               user_id=u, permissions="0"))
                       for i, u in enumerate(users)]
            show("/status", status)
            show("/propose_channel (ack)", propose)


if __name__ == "__main__":
    main()
