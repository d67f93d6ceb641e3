#!/usr/bin/python3
"""bench — /recalculate_stats over 100,000 history messages (issue 13.8),
run by bench/activity.py (./build.sh bench), not by the test suite:
messages per second as a share of what the emulator's rate limits allow.

The migration run before the bot is a whole ./agora with the same token,
and Discord (and the emulator) count the global limit per token: when
that run got its GET /gateway/bot out before its SIGTERM (a race that
load decided), the recalculation's first second was the window's 51st
request and drew one global 429 (2 runs of about 6 under load; e2e 079
reproduces it on demand). The bot starts only once the emulator's global
window is empty (Control.wait_global_clear), so the figure is the
limiter's alone.

Four tracked channels hold 25,000 messages each (the last 30 days; every
10th by a bot). The emulator runs Discord's default shape: each channel's
GET /channels/{channel_id}/messages bucket 50 per second, and the global
limit 50 requests per second over everything. With four channels read at
once, the global limit binds: the best any client can do is 50 pages a
second, 5,000 messages a second.

Proves and prints:
  1. every message is counted exactly (totals = the users' messages);
  2. zero 429s;
  3. pages per second over the whole run, as a share of the global limit's
     50 per second: at least 90%. The time is taken from the emulator's
     own request log, first page to last.
"""

import os
import random
import re
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ADMIN_PERMISSIONS, ADMIN_USER, GUILD, Agora, World, psql, redis  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

PER_CHANNEL = 25000
CHANNELS = 4
GLOBAL = 50
DAY_MS = 86400 * 1000


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-076-")
    base = random.randrange(10**17, 9 * 10**17) * 10
    ids = [str(base + i) for i in range(1, CHANNELS + 1)]
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=5000) as emu:
        world = World(emu)
        cat = world.ids["PROPOSED_CHANNEL_CATEGORY_ID"]
        now_ms = int(time.time() * 1000)
        for h in ids:
            emu.add_channel(GUILD, {"id": h, "name": "big-%s" % h[-1], "type": 0, "parent_id": cat,
                                    "announce": False})
            emu.fill_history(h, PER_CHANNEL, start_ms=now_ms - 30 * DAY_MS, end_ms=now_ms - 60000,
                             bot_every=10)
        emu.ratelimits(default={"limit": 50, "window": 1.0}, **{"global": {"limit": GLOBAL, "window": 1.0}},
                       reset=True)
        with Agora(os.path.join(tmp, "migrate"), emu, world) as first:
            first.wait_log("database schema up to date")
            db = first.db
        inherited = emu.wait_global_clear()  # the migration run's requests out of the global window
        psql("INSERT INTO tracked_channels VALUES " + ", ".join("(%s, 'proposed')" % h for h in ids), db=db)
        for h in ids:
            redis("DEL", "channel_stats:" + h, "channel_activity:" + h)
        with Agora(os.path.join(tmp, "bot"), emu, world, db=db) as bot:
            bot.wait_online()
            bot.wait_log("slash commands")
            before = emu.counters().get("429", 0)
            inj = emu.inject_slash("recalculate_stats", {"months_limit": 2}, user_id=ADMIN_USER,
                                   permissions=ADMIN_PERMISSIONS)
            final = Control.wait_for(
                lambda: [e["body"]["content"] for e in emu.interaction(inj["id"])["edits"]
                         if e["body"].get("content", "").startswith("Recalculation done")],
                timeout=240, interval=0.5, what="the final message")[-1]
            users = PER_CHANNEL - PER_CHANNEL // 10
            for h in ids:
                assert redis("HGET", "channel_stats:" + h, "total_messages") == str(users), h
            m = re.match(r"Recalculation done: (\d+) messages counted in (\d+) channels", final)
            assert m and int(m[1]) == users * CHANNELS, final
            drawn = emu.counters().get("429", 0) - before
            times = sorted(q["time"] for q in emu.requests(method="GET", fields="time,path")
                           if "/messages" in q["path"] and any("/channels/%s/" % h in q["path"] for h in ids))
            took = times[-1] - times[0]
            rate = (len(times) - 1) / took
            share = rate / GLOBAL
            print("recalculation of %d messages (%d pages) in %.1f s: %.0f messages/s, %.1f pages/s "
                  "= %.0f%% of the global limit (%d/s); %d 429s (waited out %d requests of the "
                  "migration run first)" %
                  (PER_CHANNEL * CHANNELS, len(times), took, PER_CHANNEL * CHANNELS / took, rate,
                   100 * share, GLOBAL, drawn, inherited))
            assert drawn == 0, emu.counters()
            assert share >= 0.9, share
        assert bot.status == 0, bot.status
    print("ok")


if __name__ == "__main__":
    main()
