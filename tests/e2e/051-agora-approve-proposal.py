#!/usr/bin/python3
"""051 — /approve_proposal and /reject_proposal (spec 6.3): buttons, the
Override Name modal, the LLM re-run, autocomplete, races and refusals.

Proves, with the real ./agora against the emulator, PostgreSQL, Redis and
the fake LLM endpoint:
  1. autocomplete of proposal_id (type 8 within 3 s) lists the pending
     proposals as "#1 channel: retro-gaming by bob" with the id as
     value, filtered by what was typed; a non-admin gets an empty list;
  2. /approve_proposal 1: ephemeral buttons "Approve as retro-gaming",
     "Override Name", "Re-run LLM Suggestion", their custom_ids carrying
     the id;
  3. Re-run: a new LLM call, the row's suggestion replaced, the same
     buttons with the new name on the same message;
  4. Approve: the channel is created under PROPOSED_CHANNEL_CATEGORY_ID
     with the final name, a tracked_channels row 'proposed', the row
     approved with final_name, the proposer's DM "Your channel proposal
     'retro-consoles' has been approved!", the new_channel_announcement
     template posted to PUBLIC_ANNOUNCEMENT_CHANNEL_ID, #1 gone from the
     queue embed; messages sent after it in the new channel are counted
     (the in-memory tracked set);
  5. a second click on the same button: "already approved", no second
     channel; two admins clicking Approve on #2 at the same moment: one
     channel, one "already approved" (or "being approved right now");
  6. Override Name: the modal (type 9, custom_id pq:name:3, a text input in
     a Label component); its submit in the Label shape approves under the
     sanitised name, and one in the action-row shape works too;
  7. /reject_proposal: status rejected, the DM with the reason, the queue
     updated; again: "already rejected";
  8. unknown, zero and out-of-range ids: "Proposal #99 does not exist." /
     "There is no such proposal."; Re-run on an emoji is refused (052);
  9. Discord refuses the channel (category full at its limit): the
     proposal stays pending and the admin is told Discord's reason;
 10. a proposer who accepts no DMs: approved anyway, the admin is told;
 11. buttons keep working after a restart of ./agora (the id is in the
     custom_id); a non-admin's click is refused by the dispatcher; the
     second process reads its announcement template from TEMPLATES_DIR.
"""

import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ADMIN_PERMISSIONS, ADMIN_USER, GUILD, MEMBER_USER, Agora, World, psql, redis  # noqa: E402
from fakellm import FakeLLM  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

THANKS = "Thank you! Your proposal has been submitted for review."
CLOSED_USER = "1300000000000000009"


def final_answer(emu, inj, timeout=15):
    """(text, components) of the last state of an interaction's answer."""
    def final():
        it = emu.interaction(inj["id"])
        if not it["responses"]:
            return None
        r = it["responses"][0]
        assert r["elapsed"] < 3.0, r
        if r["type"] in (4, 7):
            return r["data"].get("content"), r["data"].get("components")
        if r["type"] == 9:
            return "MODAL", r["data"]
        if it["edits"]:
            b = it["edits"][-1]["body"]
            return b.get("content"), b.get("components")
        return None
    return Control.wait_for(final, timeout=timeout, what="an answer to %s" % inj["id"])


def admin_slash(emu, name, options, **kw):
    return emu.inject_slash(name, options, user_id=ADMIN_USER, permissions=ADMIN_PERMISSIONS, **kw)


def click(emu, custom_id, message_id, user=ADMIN_USER, perms=ADMIN_PERMISSIONS):
    return emu.inject_component(custom_id, message_id=message_id, user_id=user, permissions=perms)


def buttons(components):
    return [(c["label"], c["custom_id"], c.get("disabled", False))
            for row in components for c in row["components"]]


def row(db, pid):
    out = psql("SELECT status, coalesce(final_name, ''), coalesce(llm_suggestion, '') FROM proposals "
               "WHERE proposal_id = %d" % pid, db=db)
    return out.split("|") if out else None


def dms(emu, user):
    chans = [c["id"] for c in emu.get("/channels") if c.get("dm_user_id") == user]
    return [m["content"] for c in chans for m in emu.messages(c)]


def channels_named(emu, name):
    return [c for c in emu.guild(GUILD)["channels"] if c["name"] == name]


def propose(emu, db, user, idea, name):
    """A channel proposal whose suggestion is `name`; its id."""
    inj = emu.inject_slash("propose_channel", {"idea_text": idea}, user_id=user, permissions="0")
    assert final_answer(emu, inj)[0] == THANKS
    out = Control.wait_for(lambda: psql("SELECT proposal_id FROM proposals WHERE user_id = %s AND "
                                        "status = 'pending' AND llm_suggestion = '%s'" % (user, name),
                                        db=db), timeout=10, what="proposal suggested as " + name)
    return int(out)


def show(emu, pid):
    """/approve_proposal pid: (text, buttons, message id)."""
    inj = admin_slash(emu, "approve_proposal", {"proposal_id": pid})
    text, comps = final_answer(emu, inj)
    it = emu.interaction(inj["id"])
    return text, comps, it["original_id"] or (it.get("original") or {}).get("id")


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-051-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu, FakeLLM() as llm:
        world = World(emu)
        users = ["13000000000000006%02d" % i for i in range(10)]
        for u in users:
            emu.add_member(GUILD, {"user": {"id": u, "username": "m" + u[-2:]}, "roles": [],
                                   "announce": False})
        emu.add_member(GUILD, {"user": {"id": CLOSED_USER, "username": "closed"}, "dm_closed": True,
                               "roles": [], "announce": False})
        bot = Agora(os.path.join(tmp, "bot"), emu, world, start=False,
                    extra={"OPEN_WEB_UI_URL": llm.url, "MAX_PROPOSED_CHANNELS": "50"})
        with open(os.path.join(bot.workdir, "secrets", "open_webui_token"), "w") as f:
            f.write("sk-e2e\n")
        cat = world.ids["PROPOSED_CHANNEL_CATEGORY_ID"]
        with bot:
            bot.start()
            bot.wait_online()
            db = bot.db
            llm.control(name="Retro Gaming")
            p1 = propose(emu, db, MEMBER_USER, "retro games", "retro-gaming")

            # 1. autocomplete
            inj = admin_slash(emu, "approve_proposal", {"proposal_id": "retro"}, autocomplete=True,
                              focused="proposal_id")
            it = Control.wait_for(lambda: (lambda i: i if i["responses"] else None)(
                emu.interaction(inj["id"])), timeout=5, what="autocomplete answer")
            r = it["responses"][0]
            assert r["type"] == 8 and r["elapsed"] < 3.0, r
            choices = r["data"]["choices"]
            # "bob": MEMBER_USER's name in the emulator's world, kept with the proposal
            assert choices == [{"name": "#%d channel: retro-gaming by bob" % p1, "value": p1}], choices
            inj = admin_slash(emu, "approve_proposal", {"proposal_id": "zzz"}, autocomplete=True,
                              focused="proposal_id")
            assert Control.wait_for(lambda: emu.interaction(inj["id"])["responses"],
                                    timeout=5)[0]["data"]["choices"] == []
            inj = emu.inject_slash("reject_proposal", {"proposal_id": "", "reason": "x"},
                                   autocomplete=True, focused="proposal_id", user_id=MEMBER_USER,
                                   permissions="0")
            assert Control.wait_for(lambda: emu.interaction(inj["id"])["responses"],
                                    timeout=5)[0]["data"]["choices"] == []
            print("1. autocomplete: %r; non-admin: []" % choices[0]["name"])

            # 2. the buttons
            text, comps, msg = show(emu, p1)
            assert buttons(comps) == [("Approve as retro-gaming", "pq:approve:%d" % p1, False),
                                      ("Override Name", "pq:override:%d" % p1, False),
                                      ("Re-run LLM Suggestion", "pq:rerun:%d" % p1, False)], comps
            assert "Suggested name: retro-gaming" in text, text
            print("2. buttons:", [b[0] for b in buttons(comps)])

            # 3. re-run
            llm.control(name="retro consoles")
            text, comps = final_answer(emu, click(emu, "pq:rerun:%d" % p1, msg))
            assert buttons(comps)[0] == ("Approve as retro-consoles", "pq:approve:%d" % p1, False), comps
            assert row(db, p1)[2] == "retro-consoles"
            print("3. re-run: %s" % buttons(comps)[0][0])

            # 4. approve
            text, comps = final_answer(emu, click(emu, "pq:approve:%d" % p1, msg))
            made = channels_named(emu, "retro-consoles")
            assert len(made) == 1 and made[0]["parent_id"] == cat, made
            cid = made[0]["id"]
            assert text == "Proposal #%d approved: channel <#%s> (retro-consoles) created." % (p1, cid), text
            assert comps == [], comps
            assert row(db, p1)[:2] == ["approved", "retro-consoles"]
            assert psql("SELECT category FROM tracked_channels WHERE channel_id = %s" % cid, db=db) == "proposed"
            Control.wait_for(lambda: "Your channel proposal 'retro-consoles' has been approved!" in
                             dms(emu, MEMBER_USER), timeout=10, what="the approval DM")
            ann = Control.wait_for(lambda: [m for m in emu.messages(world.ids["PUBLIC_ANNOUNCEMENT_CHANNEL_ID"])
                                            if "<#%s>" % cid in (m["embeds"] or [{}])[0].get("description", "")],
                                   timeout=10, what="the announcement")[0]
            desc = ann["embeds"][0]["description"]
            assert "A new channel is open: <#%s>" % cid in desc and "**retro-consoles**" in desc, desc
            assert "Proposed by <@%s>" % MEMBER_USER in desc and "retro games" in desc, desc
            assert ann["allowed_mentions"] == {"parse": []}, ann
            Control.wait_for(lambda: [m for m in emu.messages(world.ids["QUEUE_CHANNEL_ID"])
                                      if not m.get("deleted") and (m["embeds"] or [{}])[0].get("title") ==
                                      "Pending Proposals" and "No pending proposals." in
                                      m["embeds"][0].get("description", "")], timeout=10,
                             what="the queue without #1")
            for i in range(3):
                emu.inject_message("hello %d" % i, channel_id=cid)
            Control.wait_for(lambda: redis("HGET", "channel_stats:%s" % cid, "total_messages") == "3",
                             timeout=10, what="messages counted in the new channel")
            print("4. approved: channel %s created, tracked, counted; DM, announcement, queue" % cid)

            # 5. double click, then two admins at once
            text, _ = final_answer(emu, click(emu, "pq:approve:%d" % p1, msg))
            assert text == "Proposal #%d was already approved as 'retro-consoles'." % p1, text
            llm.control(name="board-games")
            p2 = propose(emu, db, users[0], "board games", "board-games")
            _, _, msg2 = show(emu, p2)
            injs = []
            ts = [threading.Thread(target=lambda: injs.append(click(emu, "pq:approve:%d" % p2, msg2)))
                  for _ in range(2)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            texts = sorted(final_answer(emu, i)[0] for i in injs)
            assert len(channels_named(emu, "board-games")) == 1
            # the loser read the row while the winner's channel was being made
            # (approving, sql/004) or after (approved)
            assert texts[1] in ("Proposal #%d was already approved as 'board-games'." % p2,
                                "Proposal #%d is being approved as 'board-games' right now." % p2), texts
            assert texts[0].startswith("Proposal #%d approved: channel" % p2), texts
            print("5. double click and two admins at once: one channel; %r" % texts[1])

            # 6. Override Name through the modal (Label shape)
            llm.control(name="x")
            p3 = propose(emu, db, users[1], "cooking", "x")
            _, _, msg3 = show(emu, p3)
            kind, modal = final_answer(emu, click(emu, "pq:override:%d" % p3, msg3))
            assert kind == "MODAL" and modal["custom_id"] == "pq:name:%d" % p3, modal
            label = modal["components"][0]
            assert label["type"] == 18 and label["label"] == "New name", modal
            assert label["component"]["type"] == 4 and label["component"]["custom_id"] == "name", modal
            inj = emu.inject_modal("pq:name:%d" % p3, {"name": "My Cool  Channel!"}, shape="label",
                                   message_id=msg3, user_id=ADMIN_USER, permissions=ADMIN_PERMISSIONS)
            text, _ = final_answer(emu, inj)
            assert "approved: channel" in text and "(my-cool-channel)" in text, text
            assert row(db, p3)[:2] == ["approved", "my-cool-channel"]
            p3b = propose(emu, db, users[5], "second room", "x")
            _, _, msg3b = show(emu, p3b)
            assert final_answer(emu, click(emu, "pq:override:%d" % p3b, msg3b))[0] == "MODAL"
            inj = emu.inject_modal("pq:name:%d" % p3b, {"name": "Second Room"}, shape="action_row",
                                   message_id=msg3b, user_id=ADMIN_USER, permissions=ADMIN_PERMISSIONS)
            text2, _ = final_answer(emu, inj)
            assert "(second-room)" in text2, text2
            # an emoji-style name refused for nothing usable
            p3c = propose(emu, db, users[6], "third room", "x")
            _, _, msg3c = show(emu, p3c)
            final_answer(emu, click(emu, "pq:override:%d" % p3c, msg3c))
            inj = emu.inject_modal("pq:name:%d" % p3c, {"name": "!!!"}, shape="label",
                                   message_id=msg3c, user_id=ADMIN_USER, permissions=ADMIN_PERMISSIONS)
            text3, _ = final_answer(emu, inj)
            assert text3 == "That name has no character a channel name may hold (a-z, 0-9, - and _).", text3
            assert row(db, p3c)[0] == "pending"
            print("6. override modal: %r; action-row shape: %r; unusable: %r" % (text, text2, text3))

            # 7. reject
            p4 = propose(emu, db, users[2], "duplicate idea", "x")
            text, _ = final_answer(emu, admin_slash(emu, "reject_proposal",
                                                     {"proposal_id": p4, "reason": "We have #general for that."}))
            assert text == "Proposal #%d rejected." % p4, text
            assert row(db, p4)[0] == "rejected"
            Control.wait_for(lambda: "Your channel proposal 'x' has been rejected. Reason: "
                             "We have #general for that." in dms(emu, users[2]), timeout=10,
                             what="the rejection DM")
            text, _ = final_answer(emu, admin_slash(emu, "reject_proposal", {"proposal_id": p4, "reason": "again"}))
            assert text == "Proposal #%d was already rejected." % p4, text
            # the whole reason reaches the proposer: 500 four-byte characters
            # (1,000 UTF-16 units, 2,000 bytes) once overflowed a 1,400-byte DM
            p4b = propose(emu, db, users[2], "another idea", "x")
            long_reason = "\U0001F600" * 500
            text, _ = final_answer(emu, admin_slash(emu, "reject_proposal",
                                                     {"proposal_id": p4b, "reason": long_reason}))
            assert text == "Proposal #%d rejected." % p4b, text
            Control.wait_for(lambda: "Your channel proposal 'x' has been rejected. Reason: " + long_reason
                             in dms(emu, users[2]), timeout=10, what="the whole rejection reason")
            print("7. rejected with the reason; again: %r" % text)

            # 8. ids that name nothing
            for pid, want in ((99, "Proposal #99 does not exist."),
                              (0, "There is no such proposal."),
                              (2147483648, "There is no such proposal."),
                              (-3, "There is no such proposal.")):
                text, _ = final_answer(emu, admin_slash(emu, "approve_proposal", {"proposal_id": pid}))
                assert text == want, (pid, text)
                text, _ = final_answer(emu, admin_slash(emu, "reject_proposal", {"proposal_id": pid, "reason": "r"}))
                assert text == want, (pid, text)
            print("8. unknown / out-of-range ids answered clearly")

            # 9. Discord refuses: the category is full
            llm.control(name="too-many")
            p5 = propose(emu, db, users[3], "one more", "too-many")
            in_cat = len([c for c in emu.guild(GUILD)["channels"] if c.get("parent_id") == cat])
            emu.config(category_max_channels=in_cat)
            _, _, msg5 = show(emu, p5)
            text, comps = final_answer(emu, click(emu, "pq:approve:%d" % p5, msg5))
            assert text.startswith("Discord refused to create the channel 'too-many': Maximum number "
                                   "of channels in category reached"), text
            assert text.endswith("Proposal #%d stays pending." % p5), text
            assert row(db, p5)[:2] == ["pending", ""], row(db, p5)
            assert buttons(comps)[0][0] == "Approve as too-many", comps
            emu.config(category_max_channels=50)
            print("9. refused by Discord: %r" % text)

            # 10. the proposer accepts no DMs
            llm.control(name="quiet-room")
            p6 = propose(emu, db, CLOSED_USER, "a quiet room", "quiet-room")
            _, _, msg6 = show(emu, p6)
            text, _ = final_answer(emu, click(emu, "pq:approve:%d" % p6, msg6))
            assert "approved" in text and "accepts no DMs" in text, text
            print("10. DMs closed: %r" % text)

            # 11. a restart, then the old button; a non-admin's click
            llm.control(name="after-restart")
            p7 = propose(emu, db, users[4], "restart-proof", "after-restart")
            _, _, msg7 = show(emu, p7)
        # the bot stopped; a new process on the same database
        # ... with its own announcement template (TEMPLATES_DIR)
        tdir = os.path.join(tmp, "templates")
        os.makedirs(tdir)
        with open(os.path.join(tdir, "new_channel_announcement.md"), "w") as f:
            f.write("CUSTOM {channel} named {name}, thanks to {proposer}")
        with open(os.path.join(tdir, "promoted_channel_announcement.md"), "w") as f:
            f.write("PROMOTED {channel}")
        bot2 = Agora(os.path.join(tmp, "bot2"), emu, world, db=db, start=False,
                     extra={"OPEN_WEB_UI_URL": llm.url, "TEMPLATES_DIR": tdir})
        with bot2:
            bot2.start()
            # the first process's "Bot Online" is there already: wait for the second
            Control.wait_for(lambda: len(bot2.embeds_titled(world.admin_channel, "Bot Online")) >= 2,
                             timeout=15, what="the second Bot Online")
            text, _ = final_answer(emu, click(emu, "pq:approve:%d" % p7, msg7, user=MEMBER_USER, perms="0"))
            assert "admins only" in text, text
            text, _ = final_answer(emu, click(emu, "pq:approve:%d" % p7, msg7))
            assert text.startswith("Proposal #%d approved: channel" % p7), text
            cid7 = channels_named(emu, "after-restart")[0]["id"]
            Control.wait_for(lambda: [m for m in emu.messages(world.ids["PUBLIC_ANNOUNCEMENT_CHANNEL_ID"])
                                      if (m["embeds"] or [{}])[0].get("description") ==
                                      "CUSTOM <#%s> named after-restart, thanks to <@%s>" % (cid7, users[4])],
                             timeout=10, what="the announcement from TEMPLATES_DIR")
            print("11. after a restart the old button approves #%d; non-admin refused; "
                  "the announcement came from TEMPLATES_DIR" % p7)
    print("ok")


if __name__ == "__main__":
    main()
