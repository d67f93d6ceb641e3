#!/usr/bin/python3
"""010 — the real ./agora starts, serves and stops the way CONTRACT.md says.

Proves, against the Discord emulator, a real PostgreSQL and a real Redis:
  1. start: migrations applied (schema_migrations has 001-003), the gateway is
     reached through GET /gateway/bot with compress=zlib-stream and IDENTIFY
     carries GUILDS|GUILD_MESSAGES only (513); every REST call carries
     "Authorization: Bot ..." and "User-Agent: DiscordBot (...)";
  2. all eleven commands of spec 7 are registered by ONE bulk overwrite on
     GUILD_ID, with typed options (integers min 1, strings with max lengths,
     attachments, a channel option limited to text channels) and
     default_member_permissions on the admin ones;
  3. "Bot Online" is posted to the admin channel, without pinging anyone;
  4. /status from an admin is answered ephemerally within the 3-second
     window with "Status: OK. DB: Connected. Redis: Connected."; from a
     member it is refused ("admins only"), also ephemerally;
  5. messages in a tracked channel are counted in Redis (channel_stats and
     channel_activity), messages elsewhere are not;
  6. `agora --healthcheck` exits 0 while all is up;
  7. after the emulator drops the gateway, the bot RESUMEs (no second
     IDENTIFY) and answers /status again;
  8. SIGTERM: "Bot Shutting Down" is posted, the gateway is closed with 1000,
     and the process exits 0 within 5 seconds.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from agora import Agora, World, psql, redis, GUILD  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-010-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        with Agora(os.path.join(tmp, "bot"), emu, world) as bot:
            # tracked before start, so the bot loads it
            bot.wait_log("database schema up to date")
            bot.wait_online()

            # 1. migrations, gateway, headers
            # every sql/NNN_*.sql, applied once
            want = [str(n) for n in sorted(int(f[:3]) for f in os.listdir(os.path.join(ROOT, "sql")) if f.endswith(".sql"))]
            got = psql("SELECT version FROM schema_migrations ORDER BY 1", db=bot.db).split()
            assert got == want, (got, want)
            g = emu.gateway()
            assert len(g["identifies"]) == 1, g["identifies"]
            assert g["identifies"][0]["payload"]["intents"] == 513
            assert g["connections"][0]["query"].get("compress") == "zlib-stream"
            reqs = emu.requests()
            bot_reqs = [r for r in reqs if not r["path"].startswith("/interactions/")
                        and not r["path"].startswith("/webhooks/")]
            assert bot_reqs and all(r["headers"].get("Authorization") == "Bot " + emu.token
                                    for r in bot_reqs), [r["headers"] for r in bot_reqs]
            assert all((r["user_agent"] or "").startswith("DiscordBot (") for r in reqs)
            assert any(r["path"] == "/gateway/bot" for r in reqs)

            # 2. one bulk overwrite with every command
            puts = [r for r in reqs if r["method"] == "PUT" and r["path"].endswith(
                "/guilds/%s/commands" % GUILD)]
            assert len(puts) == 1, puts
            cmds = {c["name"]: c for c in emu.commands()[GUILD]}
            assert set(cmds) == {"propose_channel", "propose_emoji", "report", "approve_proposal",
                                 "reject_proposal", "view_report", "resolve_report",
                                 "promote_channel", "recalculate_stats", "refresh_channels",
                                 "status"}, set(cmds)
            for name in ("approve_proposal", "reject_proposal", "view_report", "resolve_report",
                         "promote_channel", "recalculate_stats", "refresh_channels", "status"):
                assert cmds[name].get("default_member_permissions") == "32", cmds[name]
            for name in ("propose_channel", "propose_emoji", "report"):
                assert cmds[name].get("default_member_permissions") is None, cmds[name]
            opt = {o["name"]: o for o in cmds["approve_proposal"]["options"]}
            assert opt["proposal_id"]["type"] == 4 and opt["proposal_id"]["min_value"] == 1
            opt = {o["name"]: o for o in cmds["propose_emoji"]["options"]}
            assert opt["file"]["type"] == 11 and opt["name"]["max_length"] == 32
            opt = {o["name"]: o for o in cmds["promote_channel"]["options"]}
            assert opt["channel"]["type"] == 7 and opt["channel"]["channel_types"] == [0]
            opt = {o["name"]: o for o in cmds["recalculate_stats"]["options"]}
            assert opt["months_limit"]["max_value"] == 6
            assert all(c["description"] for c in cmds.values())

            # 3. Bot Online, mentioning no one
            online = bot.embeds_titled(world.admin_channel, "Bot Online")
            assert len(online) == 1
            assert online[0]["allowed_mentions"] == {"parse": []}, online[0]

            # 4. /status, admin and not
            t0 = time.monotonic()
            it = bot.slash("status")
            r = it["responses"][0]
            assert r["type"] == 4, r
            assert r["data"]["flags"] & 64, r
            assert r["data"]["content"] == "Status: OK. DB: Connected. Redis: Connected.", r
            assert r["elapsed"] < 3.0 and time.monotonic() - t0 < 3.0
            it = bot.slash("status", admin=False)
            r = it["responses"][0]
            assert r["data"]["flags"] & 64 and "admins only" in r["data"]["content"], r

            db = bot.db

        # 5. activity counting: a second process on the same (migrated)
        #    database, where a channel is tracked before it starts
        psql("INSERT INTO tracked_channels VALUES (%s, 'proposed')" % world.proposed_channel, db=db)
        with Agora(os.path.join(tmp, "bot2"), emu, world, start=False, db=db) as bot:
            redis("DEL", "channel_stats:%s" % world.proposed_channel,
                  "channel_activity:%s" % world.proposed_channel)
            bot.start()
            bot.wait_log("loaded 1 tracked channels")
            bot.wait_log("ready: session")
            for i in range(5):
                emu.inject_message("hello %d" % i, channel_id=world.proposed_channel)
            emu.inject_message("elsewhere")  # the default text channel: not tracked
            Control.wait_for(lambda: redis("HGET", "channel_stats:%s" % world.proposed_channel,
                                           "total_messages") == "5", timeout=5,
                             what="5 messages counted")
            assert redis("ZCARD", "channel_activity:%s" % world.proposed_channel) == "5"
            last = int(redis("HGET", "channel_stats:%s" % world.proposed_channel,
                             "last_message_timestamp"))
            assert abs(last - time.time()) < 120, last
            assert redis("EXISTS", "channel_stats:1220000000000000002") == "0"

            # 6. healthcheck
            code, out = bot.healthcheck()
            assert code == 0, (code, out)
            assert "DB: Connected" in out and "Gateway: Connected" in out, out

            # 7. resume after a dropped connection
            emu.gateway_fault("drop")
            bot.wait_log("resumed session", timeout=10)
            g = emu.gateway()
            mine = [i for i in g["identifies"]]
            assert len(mine) == 2, mine  # one per bot process, none for the resume
            assert any(r["outcome"] == "resumed" for r in g["resumes"]), g["resumes"]
            it = bot.slash("status")
            assert it["responses"][0]["data"]["content"].startswith("Status: OK"), it

            # 8. SIGTERM
            status, took = bot.stop()
            assert status == 0, (status, bot.log_text()[-2000:])
            assert took < 5.0, took
            assert bot.embeds_titled(world.admin_channel, "Bot Shutting Down")
            closes = [c["close_code_from_client"] for c in emu.gateway()["connections"]]
            assert 1000 in closes, closes
    print("ok")


if __name__ == "__main__":
    main()
