#!/usr/bin/python3
"""011 — PostgreSQL and Redis restart under a running ./agora.

Proves (issue 5, point 6):
  1. while PostgreSQL is stopped, /status says "DB: Disconnected" (a live
     round trip, not a stale flag) and `agora --healthcheck` exits 1; after
     PostgreSQL is back, /status says OK again and the healthcheck exits 0;
  2. while Redis is stopped, /status says "Redis: Disconnected"; messages
     counted during the outage are buffered and flushed on reconnect: no
     count is lost;
  3. with Redis frozen (it accepts but never answers), /status cannot
     finish within Discord's 3 seconds: the bot defers the answer (type 5,
     ephemeral) in time, then edits it to say Redis gave no answer;
  4. the bot never exits or crashes through any of it.
"""

import os
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ADMIN_PERMISSIONS, ADMIN_USER, Agora, World, psql, redis, services  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402


def status_text(bot):
    return bot.slash("status")["responses"][0]["data"]["content"]


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-011-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        # a migrated database with one tracked channel
        with Agora(os.path.join(tmp, "first"), emu, world) as bot:
            bot.wait_log("database schema up to date")
            db = bot.db
        psql("INSERT INTO tracked_channels VALUES (%s, 'proposed')" % world.proposed_channel, db=db)
        key = "channel_stats:%s" % world.proposed_channel
        redis("DEL", key, "channel_activity:%s" % world.proposed_channel)

        with Agora(os.path.join(tmp, "bot"), emu, world, db=db) as bot:
            bot.wait_log("loaded 1 tracked channels")
            bot.wait_online()
            assert status_text(bot) == "Status: OK. DB: Connected. Redis: Connected."

            # 1. PostgreSQL down, then back
            services("stop", "pg")
            text = status_text(bot)
            assert text.startswith("Status: DEGRADED. DB: Disconnected"), text
            assert "Redis: Connected" in text, text
            code, out = bot.healthcheck()
            assert code == 1, (code, out)
            assert "DB: Disconnected" in out, out
            services("start", "pg")
            Control.wait_for(lambda: status_text(bot).startswith("Status: OK"), timeout=40,
                             interval=0.5, what="DB back in /status")
            code, out = bot.healthcheck()
            assert code == 0, (code, out)

            # 2. Redis down: counts are kept and flushed
            for i in range(3):
                emu.inject_message("before %d" % i, channel_id=world.proposed_channel)
            Control.wait_for(lambda: redis("HGET", key, "total_messages") == "3", timeout=5)
            services("stop", "redis")
            text = status_text(bot)
            assert "Redis: Disconnected" in text and "DB: Connected" in text, text
            for i in range(20):
                emu.inject_message("during %d" % i, channel_id=world.proposed_channel)
            time.sleep(0.5)
            services("start", "redis")
            Control.wait_for(lambda: redis("HGET", key, "total_messages") == "23", timeout=40,
                             interval=0.2, what="all 23 messages counted after Redis returned")
            assert redis("ZCARD", "channel_activity:%s" % world.proposed_channel) == "23"
            Control.wait_for(lambda: status_text(bot).startswith("Status: OK"), timeout=20,
                             interval=0.5, what="Redis back in /status")

            # 3. Redis frozen (accepts, never answers): /status cannot finish
            #    within Discord's window, so it is deferred and then edited
            pid = open(os.path.join(os.environ["AGORA_TEST_SERVICES_DIR"], "redis.pid")).read()
            os.kill(int(pid), signal.SIGSTOP)
            try:
                inj = emu.inject_slash("status", {}, user_id=ADMIN_USER, permissions=ADMIN_PERMISSIONS)
                it = Control.wait_for(lambda: (lambda i: i if i["responses"] else None)(
                    emu.interaction(inj["id"])), timeout=5, what="a first response")
                first = it["responses"][0]
                assert first["type"] == 5 and first["data"]["flags"] & 64, first
                assert first["elapsed"] < 3.0, first
                it = Control.wait_for(lambda: (lambda i: i if i["edits"] else None)(
                    emu.interaction(inj["id"])), timeout=5, what="the edited answer")
                text = it["original"]["content"]
                assert "Redis: Disconnected (no answer within 2 s)" in text, it["original"]
                assert "DB: Connected" in text, text
            finally:
                os.kill(int(pid), signal.SIGCONT)
            Control.wait_for(lambda: status_text(bot).startswith("Status: OK"), timeout=30,
                             interval=0.5, what="Redis answering again")

            # 4. still the same process
            assert bot.proc.poll() is None
            status, took = bot.stop()
            assert status == 0 and took < 5.0, (status, took)
    print("ok")


if __name__ == "__main__":
    main()
