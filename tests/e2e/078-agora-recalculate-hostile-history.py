#!/usr/bin/python3
"""078 — /recalculate_stats against a history route that misbehaves: a page
longer than the 100 asked for, and the same page again and again (ids that
never go below before=).

Proves, with the real ./agora against the emulator, PostgreSQL and Redis:
  1. a 150-message page is read only as far as a page holds (no write past
     the page buffer: the ASan pass of this test catches one); the rest
     comes with the next read, where what is not older than the last
     page's oldest message is skipped;
  2. a page that does not move past the last one ends that channel's
     history (one warning), so the rebuild finishes instead of paging for
     ever (3 reads), and the reply says it is done;
  3. every message is counted once: 150 distinct messages, 150 in the
     sorted set.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ADMIN_PERMISSIONS, ADMIN_USER, GUILD, Agora, World, psql, redis  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

DISCORD_EPOCH_MS = 1420070400000


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-078-")
    channel = "1277000000000000077"
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        emu.add_channel(GUILD, {"id": channel, "name": "hostile", "type": 0,
                                "parent_id": world.ids["PROPOSED_CHANNEL_CATEGORY_ID"],
                                "announce": False})
        now_ms = int(time.time() * 1000)
        # 150 messages, newest first, one a minute over the last hours
        page = []
        for n in range(150):
            ms = now_ms - 60000 * (n + 1)
            sf = str(((ms - DISCORD_EPOCH_MS) << 22) | n)
            page.append({"id": sf, "channel_id": channel, "type": 0, "content": "",
                         "author": {"id": "1300000000000000002", "username": "bob"},
                         "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ms / 1000))})
        with Agora(os.path.join(tmp, "migrate"), emu, world) as first:
            first.wait_log("database schema up to date")
            db = first.db
        psql("INSERT INTO tracked_channels VALUES (%s, 'proposed')" % channel, db=db)
        redis("DEL", "channel_stats:" + channel, "channel_activity:" + channel)

        with Agora(os.path.join(tmp, "bot"), emu, world, db=db) as bot:
            bot.wait_online()
            bot.wait_log("slash commands")
            # every history read answers the same 150 messages
            emu.rest_fault(route="GET /channels/{channel_id}/messages", method="GET", status=200,
                           body=page, count=50)
            inj = emu.inject_slash("recalculate_stats", {"months_limit": 1}, user_id=ADMIN_USER,
                                   permissions=ADMIN_PERMISSIONS)
            final = Control.wait_for(lambda: [e["body"]["content"] for e in emu.interaction(inj["id"])["edits"]
                                              if e["body"].get("content", "").startswith("Recalculation done")],
                                     timeout=30, what="the final message")[-1]
            print("final:", final)
            assert "did not move past" in bot.log_text(), "the stuck history is named in the log"
            reads = [r for r in emu.requests() if r["method"] == "GET"
                     and r["route"] == "GET /channels/{channel_id}/messages"]
            assert len(reads) == 3, len(reads)  # the third read showed no progress
            total = int(redis("HGET", "channel_stats:" + channel, "total_messages"))
            assert total == 150, total
            assert int(redis("ZCARD", "channel_activity:" + channel)) == 150
        assert bot.status == 0, bot.status
    print("ok")


if __name__ == "__main__":
    main()
