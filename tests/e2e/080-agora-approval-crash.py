#!/usr/bin/python3
"""080 — an approval cut by a crash (spec 6.3, sql/004): the bot is
SIGKILLed after the proposal row changed and while Discord is creating the
channel, then started again.

The emulator holds each POST /guilds/{guild_id}/channels (a stall fault)
until released, so the kill falls exactly between the row's change and
Discord's answer. Two approvals are cut at once: Discord carries out the
first after the bot died (the request was on its way), and drops the
second (it never took effect).

Proves, with the real ./agora against the emulator, PostgreSQL and the
fake LLM:
  1. the row is 'approving' (not 'approved') with its final name while
     Discord has not answered, and a second click then says "being
     approved right now" and creates nothing;
  2. after SIGKILL and a restart, the first: the channel Discord made is
     found (one REST read of the guild's channels), the row becomes
     'approved', the channel is tracked, the proposer gets the approval DM,
     the announcement is posted and the admin channel is told; still ONE
     channel of that name;
  3. the second: no channel on Discord, so the row is 'pending' again with
     no final name, back in the queue embed, and the admin channel is told
     to approve it once more; approving it then makes exactly one channel;
  4. an emoji cut the same way (Discord made it): found among the guild's
     emojis by name, approved, one emoji, the DM and the admin note;
  5. a third, untouched proposal stays pending and nothing else changes;
     an approval finished before the kill stays as it was.
"""

import os
import signal
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ADMIN_PERMISSIONS, ADMIN_USER, GUILD, MEMBER_USER, Agora, World, psql  # noqa: E402
from fakellm import FakeLLM  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

THANKS = "Thank you! Your proposal has been submitted for review."
CREATE = "POST /guilds/{guild_id}/channels"
CREATE_EMOJI = "POST /guilds/{guild_id}/emojis"
USERS = ["1300000000000000801", "1300000000000000802", "1300000000000000803"]


def final_answer(emu, inj, timeout=15):
    def final():
        it = emu.interaction(inj["id"])
        if not it["responses"]:
            return None
        r = it["responses"][0]
        if r["type"] in (4, 7):
            return r["data"].get("content")
        if it["edits"]:
            return it["edits"][-1]["body"].get("content")
        return None
    return Control.wait_for(final, timeout=timeout, what="an answer to %s" % inj["id"])


def row(db, pid):
    out = psql("SELECT status, coalesce(final_name, ''), approving_since IS NOT NULL FROM proposals "
               "WHERE proposal_id = %d" % pid, db=db)
    return out.split("|")


def propose(emu, db, user, idea, name, llm):
    llm.control(name=name)
    inj = emu.inject_slash("propose_channel", {"idea_text": idea}, user_id=user, permissions="0")
    assert final_answer(emu, inj) == THANKS
    return int(Control.wait_for(lambda: psql("SELECT proposal_id FROM proposals WHERE user_id = %s AND "
                                             "llm_suggestion = '%s'" % (user, name), db=db),
                                timeout=10, what="proposal " + name))


def show(emu, pid):
    inj = emu.inject_slash("approve_proposal", {"proposal_id": pid}, user_id=ADMIN_USER,
                           permissions=ADMIN_PERMISSIONS)
    final_answer(emu, inj)
    it = emu.interaction(inj["id"])
    return it["original_id"] or (it.get("original") or {}).get("id")


def click(emu, pid, msg):
    return emu.inject_component("pq:approve:%d" % pid, message_id=msg, user_id=ADMIN_USER,
                                permissions=ADMIN_PERMISSIONS)


def channels_named(emu, name):
    return [c for c in emu.guild(GUILD)["channels"] if c["name"] == name]


def dms(emu, user):
    chans = [c["id"] for c in emu.get("/channels") if c.get("dm_user_id") == user]
    return [m["content"] for c in chans for m in emu.messages(c)]


def stalled(emu, name):
    return [r for r in emu.requests(path="/guilds/%s/channels" % GUILD, fields="stalled,body")
            if r.get("stalled") and (r["body"] or {}).get("name") == name]


def admin_notes(emu, world, text):
    return [m["content"] for m in emu.messages(world.admin_channel) if text in (m.get("content") or "")]


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-080-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu, FakeLLM() as llm:
        world = World(emu)
        for u in USERS:
            emu.add_member(GUILD, {"user": {"id": u, "username": "m" + u[-1]}, "roles": [], "announce": False})
        extra = {"OPEN_WEB_UI_URL": llm.url}
        bot = Agora(os.path.join(tmp, "bot"), emu, world, start=False, extra=extra)
        with open(os.path.join(bot.workdir, "secrets", "open_webui_token"), "w") as f:
            f.write("sk-e2e\n")
        with bot:
            bot.start()
            bot.wait_online()
            db = bot.db
            p1 = propose(emu, db, MEMBER_USER, "retro games", "retro-gaming", llm)
            p2 = propose(emu, db, USERS[0], "board games", "board-games", llm)
            p3 = propose(emu, db, USERS[1], "chess club", "chess-club", llm)
            # one approval first, uncut: the bot learns the creation route's
            # bucket, so the next two go to Discord side by side (an unknown
            # bucket is probed one request at a time)
            p0 = propose(emu, db, USERS[2], "book club", "book-club", llm)
            text0 = final_answer(emu, click(emu, p0, show(emu, p0)))
            assert text0.startswith("Proposal #%d approved: channel" % p0), text0
            # 1. both creations held by Discord: the first will be made, the second not
            emu.rest_fault(route=CREATE, stall=120, then="serve", count=1)
            emu.rest_fault(route=CREATE, stall=120, then="drop", count=1)
            m1, m2 = show(emu, p1), show(emu, p2)
            click(emu, p1, m1)
            Control.wait_for(lambda: stalled(emu, "retro-gaming"), timeout=10, what="p1's creation held")
            click(emu, p2, m2)
            Control.wait_for(lambda: stalled(emu, "board-games"), timeout=10, what="p2's creation held")
            assert row(db, p1) == ["approving", "retro-gaming", "t"], row(db, p1)
            assert row(db, p2) == ["approving", "board-games", "t"], row(db, p2)
            again = final_answer(emu, click(emu, p1, m1))
            assert again == "Proposal #%d is being approved as 'retro-gaming' right now." % p1, again
            # an emoji proposal, cut the same way
            att = emu.add_attachment("parrot.png", png={"width": 64, "height": 64})
            emu.inject_slash("propose_emoji", {"name": "party_parrot", "file": att["id"]}, user_id=MEMBER_USER,
                             permissions="0")
            p4 = int(Control.wait_for(lambda: psql("SELECT proposal_id FROM proposals WHERE proposal_type = "
                                                   "'emoji'", db=db), timeout=10, what="the emoji proposal"))
            emu.rest_fault(route=CREATE_EMOJI, stall=120, then="serve", count=1)
            click(emu, p4, show(emu, p4))
            Control.wait_for(lambda: [r for r in emu.requests(path="/guilds/%s/emojis" % GUILD,
                                                              fields="stalled,method")
                                      if r.get("stalled") and r["method"] == "POST"],
                             timeout=10, what="p4's creation held")
            assert row(db, p4) == ["approving", "party_parrot", "t"], row(db, p4)
            print("1. rows approving while Discord holds the creations; a second click: %r" % again)
            bot.stop(signal.SIGKILL)
            assert bot.status == -signal.SIGKILL, bot.status
        # Discord finishes what it had read, the bot being gone
        assert emu.post("/faults/rest/release")["released"] == 3
        Control.wait_for(lambda: channels_named(emu, "retro-gaming"), timeout=10, what="p1's channel made")
        assert not channels_named(emu, "board-games")
        assert row(db, p1)[0] == "approving" and row(db, p2)[0] == "approving"
        assert not [d for d in dms(emu, MEMBER_USER) if "approved" in d]
        cid1 = channels_named(emu, "retro-gaming")[0]["id"]

        bot2 = Agora(os.path.join(tmp, "bot2"), emu, world, db=db, start=False, extra=extra)
        with open(os.path.join(bot2.workdir, "secrets", "open_webui_token"), "w") as f:
            f.write("sk-e2e\n")
        with bot2:
            bot2.start()
            bot2.wait_online()
            # 2. the first: found and finished
            Control.wait_for(lambda: row(db, p1)[0] == "approved", timeout=15, what="p1 approved")
            assert row(db, p1)[:2] == ["approved", "retro-gaming"]
            assert len(channels_named(emu, "retro-gaming")) == 1
            Control.wait_for(lambda: psql("SELECT category FROM tracked_channels WHERE channel_id = %s" % cid1,
                                          db=db) == "proposed", timeout=10, what="p1's channel tracked")
            Control.wait_for(lambda: "Your channel proposal 'retro-gaming' has been approved!" in
                             dms(emu, MEMBER_USER), timeout=10, what="the proposer's DM")
            Control.wait_for(lambda: [m for m in emu.messages(world.ids["PUBLIC_ANNOUNCEMENT_CHANNEL_ID"])
                                      if "<#%s>" % cid1 in ((m["embeds"] or [{}])[0].get("description") or "")],
                             timeout=10, what="the announcement")
            note1 = Control.wait_for(lambda: admin_notes(emu, world, "Proposal #%d " % p1), timeout=10,
                                     what="the admin note for p1")[0]
            assert ("was being approved when the bot stopped; Discord has the channel (<#%s>), so the "
                    "approval is finished now." % cid1) in note1, note1
            reads = [r for r in emu.requests(method="GET", path="/guilds/%s/channels" % GUILD, fields="path")]
            print("2. p1 found (%d REST read(s) of the channels): approved, tracked, DM, announcement; %r"
                  % (len(reads), note1))
            # 3. the second: back to pending
            Control.wait_for(lambda: row(db, p2)[0] == "pending", timeout=15, what="p2 pending again")
            assert row(db, p2) == ["pending", "", "f"], row(db, p2)
            note2 = Control.wait_for(lambda: admin_notes(emu, world, "Proposal #%d " % p2), timeout=10,
                                     what="the admin note for p2")[0]
            assert note2 == ("Proposal #%d (channel 'board-games') was being approved when the bot stopped, "
                             "before Discord created the channel. It is pending again: approve it once "
                             "more." % p2), note2
            Control.wait_for(lambda: [m for m in emu.messages(world.ids["QUEUE_CHANNEL_ID"])
                                      if not m.get("deleted") and "#%d" % p2 in
                                      ((m["embeds"] or [{}])[0].get("description") or "")],
                             timeout=10, what="p2 back in the queue embed")
            text = final_answer(emu, click(emu, p2, show(emu, p2)))
            assert text.startswith("Proposal #%d approved: channel" % p2), text
            assert len(channels_named(emu, "board-games")) == 1 and row(db, p2)[0] == "approved"
            print("3. p2 not on Discord: pending again, in the queue, %r; approved again: one channel" % note2)
            # 4. the emoji
            Control.wait_for(lambda: row(db, p4)[0] == "approved", timeout=15, what="p4 approved")
            emojis = [e for e in emu.emojis(GUILD)["emojis"] if e["name"] == "party_parrot"]
            assert len(emojis) == 1 and emojis[0]["image_sha256"] == att["sha256"], emojis
            Control.wait_for(lambda: "Your emoji proposal 'party_parrot' has been approved!" in
                             dms(emu, MEMBER_USER), timeout=10, what="the emoji DM")
            note4 = Control.wait_for(lambda: admin_notes(emu, world, "Proposal #%d " % p4), timeout=10,
                                     what="the admin note for p4")[0]
            assert ("Discord has the emoji (emoji id %s), so the approval is finished now." % emojis[0]["id"]
                    in note4), note4
            print("4. the emoji found and finished: %r" % note4)
            # 5. untouched
            assert row(db, p3) == ["pending", "", "f"], row(db, p3)
            assert row(db, p0)[:2] == ["approved", "book-club"] and len(channels_named(emu, "book-club")) == 1
            assert len(channels_named(emu, "retro-gaming")) == 1
            print("5. p3 untouched; 'approving' rows left: %s" %
                  psql("SELECT count(*) FROM proposals WHERE status = 'approving'", db=db))
    print("ok")


if __name__ == "__main__":
    main()
