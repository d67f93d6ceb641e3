#!/usr/bin/python3
"""072 — /promote_channel (spec 6.5 "Channel Promotion", 7.2).

Proves, with the real ./agora against the emulator, PostgreSQL and Redis:
  1. only a tracked "proposed" channel is promoted: an untracked channel
     and a permanent one get a clear ephemeral error and nothing moves;
     a member without admin rights is refused;
  2. a tracked proposed channel is moved under PERMANENT_CHANNEL_CATEGORY_ID
     (PATCH parent_id, with an audit-log reason), tracked_channels says
     "permanent" (and the set in memory: promoting it again is refused),
     templates/promoted_channel_announcement.md is posted as an embed to
     PUBLIC_ANNOUNCEMENT_CHANNEL_ID ({channel} filled in, no pings), and
     the admin's ephemeral reply says so;
  3. its statistics keep counting: messages after the promotion add to the
     same Redis total (kept from before), and the channel moves from the
     proposed report to the permanent one;
  4. a full permanent category (Discord's 50 channels) is reported as such:
     the channel stays where it was, still tracked as proposed.
"""

import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import (ADMIN_PERMISSIONS, ADMIN_USER, GUILD, MEMBER_USER, Agora, World, psql,  # noqa: E402
                   redis)
from tests.emulator.client import Control, Emulator  # noqa: E402


def answer(emu, inj, timeout=10):
    """The final text of an interaction's answer (callback or last edit);
    asserts it is ephemeral."""
    def final():
        it = emu.interaction(inj["id"])
        if not it["responses"]:
            return None
        r = it["responses"][0]
        if r["type"] == 4:
            assert r["data"].get("flags", 0) & 64, r
            return r["data"]["content"]
        if r["type"] == 5:
            assert r["data"].get("flags", 0) & 64, r
        if it["edits"]:
            return it["edits"][-1]["body"]["content"]
        return None
    return Control.wait_for(final, timeout=timeout, what="an answer to interaction %s" % inj["id"])


def promote(emu, channel, admin=True):
    return answer(emu, emu.inject_slash("promote_channel", {"channel": channel},
                                        user_id=ADMIN_USER if admin else MEMBER_USER,
                                        permissions=ADMIN_PERMISSIONS if admin else "0"))


def parent_of(emu, cid):
    return [c for c in emu.get("/channels") if c["id"] == cid][0].get("parent_id")


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-072-")
    base = random.randrange(10**17, 9 * 10**17) * 10
    X, W, Y, Z = (str(base + i) for i in range(1, 5))
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        proposed_cat = world.ids["PROPOSED_CHANNEL_CATEGORY_ID"]
        permanent_cat = world.ids["PERMANENT_CHANNEL_CATEGORY_ID"]
        announce = world.ids["PUBLIC_ANNOUNCEMENT_CHANNEL_ID"]
        for cid, name, parent in ((X, "idea-x", proposed_cat), (W, "idea-w", proposed_cat),
                                  (Y, "perm-y", permanent_cat), (Z, "general-z", None)):
            emu.add_channel(GUILD, {"id": cid, "name": name, "type": 0, "parent_id": parent,
                                    "announce": False})
        with Agora(os.path.join(tmp, "migrate"), emu, world) as first:
            first.wait_log("database schema up to date")
            db = first.db
        psql("INSERT INTO tracked_channels VALUES (%s, 'proposed'), (%s, 'proposed'), "
             "(%s, 'permanent')" % (X, W, Y), db=db)
        redis("HSET", "channel_stats:" + X, "total_messages", 10, "last_message_timestamp", 1700000000)

        with Agora(os.path.join(tmp, "bot"), emu, world, db=db) as bot:
            bot.wait_online()
            bot.wait_log("slash commands")  # this bot's session (the first one may have said Bot Online)
            # 1. refusals
            text = promote(emu, Z)
            assert "not a tracked channel" in text and "<#%s>" % Z in text, text
            text = promote(emu, Y)
            assert "already a permanent channel" in text, text
            it = bot.slash("promote_channel", {"channel": X}, admin=False)
            assert "admins only" in it["responses"][0]["data"]["content"], it
            assert parent_of(emu, X) == proposed_cat and parent_of(emu, Z) is None
            assert not emu.messages(announce), emu.messages(announce)

            # 2. the promotion
            text = promote(emu, X)
            assert text.startswith("<#%s> is now a permanent channel" % X), text
            assert "keep counting" in text, text
            assert parent_of(emu, X) == permanent_cat
            patch = [r for r in emu.requests(method="PATCH") if r["path"].endswith("/channels/" + X)]
            assert len(patch) == 1 and patch[0]["body"] == {"parent_id": permanent_cat}, patch
            assert "promote_channel" in (patch[0].get("audit_log_reason") or ""), patch[0]
            assert psql("SELECT category FROM tracked_channels WHERE channel_id = %s" % X,
                        db=db) == "permanent"
            posts = Control.wait_for(lambda: emu.messages(announce), timeout=5,
                                     what="the announcement")
            assert len(posts) == 1, posts
            e = posts[0]["embeds"][0]
            assert e["description"].startswith("**<#%s> is now a permanent channel!**" % X), e
            assert "Thanks to everyone who kept it active." in e["description"], e
            assert posts[0]["allowed_mentions"] == {"parse": []}, posts[0]
            # the set in memory knows at once: a second promotion is refused
            text = promote(emu, X)
            assert "already a permanent channel" in text, text

            # 3. still counting, now in the permanent report
            emu.inject_messages(3, channel_id=X)
            Control.wait_for(lambda: redis("HGET", "channel_stats:" + X, "total_messages") == "13",
                             timeout=10, what="3 more messages counted after the promotion")
            perm = world.ids["PERMANENT_ACTIVITY_REPORT_CHANNEL_ID"]
            prop = world.ids["PROPOSED_ACTIVITY_REPORT_CHANNEL_ID"]

            def reports_show_it():
                p = [m for m in bot.embeds_titled(perm, "Permanent Channel Activity")
                     if not m.get("deleted")]
                q = [m for m in bot.embeds_titled(prop, "Proposed Channel Activity")
                     if not m.get("deleted")]
                if p and q and "<#%s> · last message" % X in p[-1]["embeds"][0]["description"] \
                        and "13 total" in p[-1]["embeds"][0]["description"] \
                        and "<#%s>" % X not in q[-1]["embeds"][0]["description"]:
                    return True
                return None
            Control.wait_for(reports_show_it, timeout=15, what="X in the permanent report only")

            # 4. a full permanent category: 50 channels (Y and X are two of them)
            for i in range(48):
                emu.add_channel(GUILD, {"name": "filler-%d" % i, "type": 0, "parent_id": permanent_cat,
                                        "announce": False})
            text = promote(emu, W)
            assert "permanent category is full" in text and "50" in text, text
            assert parent_of(emu, W) == proposed_cat
            assert psql("SELECT category FROM tracked_channels WHERE channel_id = %s" % W,
                        db=db) == "proposed"
            assert len(emu.messages(announce)) == 1
            assert emu.counters().get("429", 0) == 0
        assert bot.status == 0, bot.status
    print("ok")


if __name__ == "__main__":
    main()
