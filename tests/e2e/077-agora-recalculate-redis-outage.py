#!/usr/bin/python3
"""077 — /recalculate_stats through a Redis outage.

Two tracked channels hold 4,000 history messages each, read at LIMIT
pages per second (about 8 s). Two seconds in, Redis is stopped for two
seconds, then started again.

Proves, with the real ./agora against the emulator, PostgreSQL and Redis:
  1. the channels whose Redis writes failed start over (logged), and
     the recalculation still ends with both channels rebuilt exactly (the
     users' messages, each once) and no failed channel in the result;
  2. no 429 and no side key left behind.
"""

import os
import random
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ADMIN_PERMISSIONS, ADMIN_USER, GUILD, Agora, World, psql, redis, services  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

LIMIT, WINDOW = 5, 1.0
DAY_MS = 86400 * 1000
DISCORD_EPOCH_MS = 1420070400000


def snowflake_time(sf):
    return ((int(sf) >> 22) + DISCORD_EPOCH_MS) // 1000


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-077-")
    base = random.randrange(10**17, 9 * 10**17) * 10
    ids = [str(base + 1), str(base + 2)]
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=2000) as emu:
        world = World(emu)
        cat = world.ids["PROPOSED_CHANNEL_CATEGORY_ID"]
        now_ms = int(time.time() * 1000)
        for h in ids:
            emu.add_channel(GUILD, {"id": h, "name": "r-%s" % h[-1], "type": 0, "parent_id": cat,
                                    "announce": False})
            emu.fill_history(h, 4000, start_ms=now_ms - 20 * DAY_MS, end_ms=now_ms - 60000, bot_every=9)
        emu.ratelimits(routes={"GET /channels/{channel_id}/messages": {"limit": LIMIT, "window": WINDOW}},
                       reset=True)
        with Agora(os.path.join(tmp, "migrate"), emu, world) as first:
            first.wait_log("database schema up to date")
            db = first.db
        psql("INSERT INTO tracked_channels VALUES " + ", ".join("(%s, 'proposed')" % h for h in ids), db=db)
        for h in ids:
            redis("DEL", "channel_stats:" + h, "channel_activity:" + h)
        with Agora(os.path.join(tmp, "bot"), emu, world, db=db) as bot:
            bot.wait_online()
            bot.wait_log("slash commands")
            before = emu.counters().get("429", 0)
            inj = emu.inject_slash("recalculate_stats", {"months_limit": 1}, user_id=ADMIN_USER,
                                   permissions=ADMIN_PERMISSIONS)
            Control.wait_for(lambda: len([q for q in emu.requests(method="GET")
                                          if "/messages" in q["path"] and ids[0] in q["path"]]) >= 8,
                             timeout=20, what="the rebuild under way")
            services("stop", "redis")
            time.sleep(2.0)
            services("start", "redis")
            final = Control.wait_for(
                lambda: [e["body"]["content"] for e in emu.interaction(inj["id"])["edits"]
                         if e["body"].get("content", "").startswith("Recalculation done")],
                timeout=90, interval=0.5, what="the final message")[-1]
            cutoff = int(re.search(r"channels back to (\d+)", bot.log_text())[1])
            assert "starting it over" in bot.log_text(), "a channel started over"
            assert "could not be rebuilt" not in final, final
            expected = 0
            for h in ids:
                want = len([m for m in emu.messages(h) if not m["author"].get("bot")
                            and snowflake_time(m["id"]) >= cutoff])
                got = int(redis("HGET", "channel_stats:" + h, "total_messages"))
                assert got == want, (h, got, want)
                assert redis("EXISTS", "channel_stats_rebuild:" + h, "channel_activity_rebuild:" + h) == "0"
                expected += want
            m = re.match(r"Recalculation done: (\d+) messages counted in 2 channels", final)
            assert m and int(m[1]) == expected, (final, expected)
            assert emu.counters().get("429", 0) == before
            print(final)
            print([ln.split(" manage: ")[1] for ln in bot.log_text().splitlines() if "starting it over" in ln])
        assert bot.status == 0, bot.status
    print("ok")


if __name__ == "__main__":
    main()
