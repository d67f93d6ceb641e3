#!/usr/bin/python3
"""075 — /recalculate_stats stopped mid-way, then run again past the
interaction token's 15 minutes.

Four tracked channels: two small (2 pages of history) and two large (60
pages at LIMIT pages per second), all with old statistics in Redis.

Proves, with the real ./agora against the emulator, PostgreSQL and Redis:
  1. a SIGTERM while the large channels are half read leaves every
     channel either as it was (old total, old sorted set) or fully rebuilt
     (the exact count), never between: the small ones are rebuilt, the
     large ones old; the large ones' side keys are left to expire (a TTL
     of at most a day), and the bot still stops within 5 s with status 0;
  2. after a restart a new recalculation completes all four exactly, and
     the side keys are gone;
  3. an interaction made (by its id's snowflake time) 14 minutes before:
     the reply is edited once to say the progress moves to the admin
     channel, a progress message there is posted and edited in place, and
     the result is a new message there naming the admin.
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

LIMIT, WINDOW = 5, 1.0
DAY_MS = 86400 * 1000
OLD = 777777
DISCORD_EPOCH_MS = 1420070400000


def snowflake_time(sf):
    return ((int(sf) >> 22) + DISCORD_EPOCH_MS) // 1000


def expected(emu, h, cutoff):
    return len([m for m in emu.messages(h) if not m["author"].get("bot")
                and snowflake_time(m["id"]) >= cutoff])


def total(h):
    return int(redis("HGET", "channel_stats:" + h, "total_messages") or 0)


def cutoff_of(bot, nth):
    lines = re.findall(r"/recalculate_stats by user \d+: \d+ channels back to (\d+)", bot.log_text())
    return int(lines[nth]) if len(lines) > nth else None


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-075-")
    base = random.randrange(10**17, 9 * 10**17) * 10
    S1, S2, L1, L2 = (str(base + i) for i in range(1, 5))
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        cat = world.ids["PROPOSED_CHANNEL_CATEGORY_ID"]
        admin_channel = world.admin_channel
        now_ms = int(time.time() * 1000)
        for h, n in ((S1, 150), (S2, 120), (L1, 6000), (L2, 5900)):
            emu.add_channel(GUILD, {"id": h, "name": "c-%s" % h[-1], "type": 0, "parent_id": cat,
                                    "announce": False})
            emu.fill_history(h, n, start_ms=now_ms - 20 * DAY_MS, end_ms=now_ms - 120000, bot_every=7)
        emu.ratelimits(routes={"GET /channels/{channel_id}/messages": {"limit": LIMIT, "window": WINDOW}},
                       reset=True)
        with Agora(os.path.join(tmp, "migrate"), emu, world) as first:
            first.wait_log("database schema up to date")
            db = first.db
        psql("INSERT INTO tracked_channels VALUES (%s, 'proposed'), (%s, 'proposed'), (%s, 'proposed'), "
             "(%s, 'proposed')" % (S1, S2, L1, L2), db=db)
        for h in (S1, S2, L1, L2):
            redis("DEL", "channel_stats:" + h, "channel_activity:" + h)
            redis("HSET", "channel_stats:" + h, "total_messages", OLD, "last_message_timestamp", 5)
            redis("ZADD", "channel_activity:" + h, int(time.time()) - 3600, "old-entry")

        # 1. stopped mid-way
        with Agora(os.path.join(tmp, "bot1"), emu, world, db=db) as bot:
            bot.wait_online()
            bot.wait_log("slash commands")  # this bot's session (the first one may have said Bot Online)
            emu.inject_slash("recalculate_stats", {"months_limit": 1}, user_id=ADMIN_USER,
                             permissions=ADMIN_PERMISSIONS)
            Control.wait_for(lambda: all("recalculation of channel %s:" % h in bot.log_text()
                                         for h in (S1, S2)), timeout=20, what="the small channels done")
            Control.wait_for(lambda: len([q for q in emu.requests(method="GET")
                                          if q["path"].endswith("/channels/%s/messages" % L1)]) >= 10,
                             timeout=20, what="L1 half read")
            status, took = bot.stop()
            assert status == 0 and took < 5.0, (status, took)
            cutoff = cutoff_of(bot, 0)
        assert "recalculation of channel %s:" % L1 not in bot.log_text()
        states = {}
        for h in (S1, S2, L1, L2):
            t = total(h)
            want = expected(emu, h, cutoff)
            assert t in (OLD, want), (h, t, want)
            states[h] = "rebuilt" if t == want else "old"
            members = redis("ZRANGE", "channel_activity:" + h, 0, -1).split("\n")
            if states[h] == "old":
                assert "old-entry" in members, h  # the old set, untouched
                ttl = int(redis("PTTL", "channel_stats_rebuild:" + h))
                assert 0 < ttl <= 24 * 3600 * 1000, (h, ttl)
            else:
                assert "old-entry" not in members, h
        assert states == {S1: "rebuilt", S2: "rebuilt", L1: "old", L2: "old"}, states
        print("after the stop mid-way:", states)

        # 2, 3. a restart, and a recalculation whose interaction is 14 minutes old
        with Agora(os.path.join(tmp, "bot2"), emu, world, db=db) as bot:
            Control.wait_for(lambda: len(bot.embeds_titled(admin_channel, "Bot Online")) >= 2,
                             timeout=15, what="the second Bot Online")
            # three bots said Bot Online in this test (migrate, bot, bot2):
            # wait for this one's own session before injecting
            bot.wait_log("slash commands", timeout=15)
            posted_before = len(emu.messages(admin_channel))
            old_ms = int(time.time() * 1000) - 14 * 60 * 1000 + 3000
            inj = emu.inject_slash("recalculate_stats", {"months_limit": 1}, user_id=ADMIN_USER,
                                   permissions=ADMIN_PERMISSIONS, id_time_ms=old_ms)
            assert snowflake_time(inj["id"]) * 1000 // 1000 == old_ms // 1000
            done = Control.wait_for(
                lambda: [m for m in emu.messages(admin_channel)[posted_before:]
                         if "Recalculation done" in (m.get("content") or "")],
                timeout=60, what="the result in the admin channel")
            cutoff = cutoff_of(bot, 0)
            for h in (S1, S2, L1, L2):
                assert total(h) == expected(emu, h, cutoff), (h, total(h))
                assert redis("EXISTS", "channel_stats_rebuild:" + h, "channel_activity_rebuild:" + h) == "0"
            assert done[0]["content"].startswith("<@%s> /recalculate_stats: Recalculation done" % ADMIN_USER), done
            assert "in 4 channels" in done[0]["content"], done
            assert done[0]["allowed_mentions"] == {"parse": []}, done[0]
            progress = [m for m in emu.messages(admin_channel)[posted_before:]
                        if "Recalculating" in (m.get("content") or "")]
            assert len(progress) == 1, progress  # one message, edited in place
            edits = [q for q in emu.requests(method="PATCH")
                     if q["path"].endswith("/channels/%s/messages/%s" % (admin_channel, progress[0]["id"]))]
            print("progress in the admin channel: 1 message, %d edits" % len(edits))
            it = emu.interaction(inj["id"])
            texts = [e["body"].get("content", "") for e in it["edits"]]
            assert texts and "continue in <#%s>" % admin_channel in texts[0], texts
            assert not any("Recalculation done" in t for t in texts), texts
            assert not any("Sorry" in t for t in texts), texts
        assert bot.status == 0, bot.status
    print("ok")


if __name__ == "__main__":
    main()
