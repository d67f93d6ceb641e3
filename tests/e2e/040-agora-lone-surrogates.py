#!/usr/bin/python3
"""040 — a lone UTF-16 surrogate escape never drops a gateway event
(issue 12.5).

JSON allows "\\ud800" (a high surrogate with no low one after it, or a low
one alone): JavaScript clients send it when they cut a string inside a pair.
The emulator sends it exactly so (Python's json.dumps escapes a lone
surrogate as \\udXXX). Proves, with the real ./agora:
  1. counting: in a tracked channel, messages holding "\\ud800", "\\udc00",
     "\\ud800\\ud800" in their content (they mention the bot, so the
     content is sent without the MESSAGE_CONTENT intent) and one whose author
     has a lone surrogate in their name are counted like their neighbours:
     6 messages sent, total_messages is exactly 6 (before the fix: 2, every
     other event dropped as invalid JSON);
  2. interactions: /report whose description holds a lone surrogate is
     answered ("Thank you for your report."), and the stored description
     holds U+FFFD where the surrogate was.
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import GUILD, MEMBER_USER, Agora, World, psql, redis  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-040-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        chan = world.proposed_channel
        key = "channel_stats:%s" % chan
        # a member whose display name holds a lone low surrogate
        odd_user = "1300000000000000041"
        emu.add_member(GUILD, {"user": {"id": odd_user, "username": "odd\udc00name",
                                        "global_name": "\ud83d"},
                               "roles": [], "announce": False})
        with Agora(os.path.join(tmp, "bot"), emu, world, start=False) as bot:
            redis("DEL", key, "channel_activity:%s" % chan)
            bot.start()
            bot.wait_online()
            psql("INSERT INTO tracked_channels VALUES (%s, 'proposed')" % chan, db=bot.db)
            # tracked channels are loaded at start: restart on the same database
        with Agora(os.path.join(tmp, "bot2"), emu, world, db=bot.db) as bot:
            bot.wait_log("loaded 1 tracked channels")
            bot.wait_log("ready: session")

            # 1. counting. The bot has no MESSAGE_CONTENT intent, so Discord
            #    (and the emulator) send it the content only of messages that
            #    mention it: these do, so the surrogates reach its parser.
            me = "<@%s> " % emu.get("/state")["bot_user"]["id"]
            emu.inject_message("plain before", channel_id=chan)
            emu.inject_message(me + "cut emoji \ud800", channel_id=chan)
            emu.inject_message(me + "\udc00 low alone", channel_id=chan)
            emu.inject_message(me + "two highs \ud800\ud800 then a pair \ud83d\ude00", channel_id=chan)
            emu.inject_message("author's name is odd", channel_id=chan, user_id=odd_user)
            emu.inject_message("plain after", channel_id=chan)
            Control.wait_for(lambda: redis("HGET", key, "total_messages") == "6", timeout=10,
                             what="6 messages counted (got %s)" % redis("HGET", key, "total_messages"))
            assert redis("ZCARD", "channel_activity:%s" % chan) == "6"
            assert "bad event" not in bot.log_text(), bot.log_text()[-2000:]

            # 2. an interaction holding one is answered
            inj = emu.inject_slash("report", {"description": "spam \ud800 in general"},
                                   user_id=MEMBER_USER, permissions="0")
            it = Control.wait_for(lambda: (lambda i: i if i["responses"] else None)(
                emu.interaction(inj["id"])), timeout=8, what="an answer to the /report")
            r = it["responses"][0]
            assert r["type"] == 4 and r["data"]["content"] == "Thank you for your report.", r
            stored = Control.wait_for(
                lambda: psql("SELECT description FROM reports WHERE report_id = 1", db=bot.db),
                timeout=8, what="report #1 stored")
            assert stored == "spam \ufffd in general", repr(stored)
        assert bot.status == 0, bot.status
    print("ok")


if __name__ == "__main__":
    main()
