#!/usr/bin/python3
"""050 — /propose_channel (spec 6.1), the LLM suggestion over Open WebUI
tool calling, and the "Pending Proposals" queue embed (spec 6.2).

Proves, with the real ./agora against the emulator, PostgreSQL, Redis and
the fake LLM endpoint (tests/peers/fake_llm.py) this test starts:
  1. a proposal: the ephemeral "Thank you! Your proposal has been submitted
     for review." within 3 s; the row is pending with the LLM's name forced
     into Discord's rules ("Retro Games & OLD consoles!" -> a lowercase
     dashed name); the request the endpoint saw carries the model, the
     bearer token from the open_webui_token secret, the rendered prompt
     (the idea inside it), the suggest_channel_name tool and a tool_choice
     naming it; the admin channel gets "New channel proposal #1" with the
     proposer (no ping: allowed_mentions parse []), the full text and the
     suggestion; the queue embed "Pending Proposals" shows
     "[#1] - Channel - <@user> - name";
  2. the same member again: "You already have a pending channel
     proposal." and no new row;
  3. five members at once, two interactions each, simultaneously: every
     member gets exactly one thank-you and one "already pending", and the
     table holds exactly one pending row per member (the unique index);
  4. each LLM failure (500, garbage, no tool call, bad arguments, empty
     name, slow past LLM_TIMEOUT_SECONDS) stores its own "LLM error: ..."
     text in place of the suggestion and the proposal still goes through;
     the content fallback (no tool call, JSON in content) gives a name;
  5. the category limit: with MAX_PROPOSED_CHANNELS channels already in
     the proposed category, "We are at our limit for new channels. Please
     try again later." and no row;
  6. text checks: NUL refused with a clear message, control characters
     stripped, "@everyone" stored but never pinging;
  7. the queue embed stays within Discord's limits past ~60 proposals,
     ending "… and N more";
  8. the per-member rate limit (PROPOSE_RATE_LIMIT) answers clearly once
     exceeded.
"""

import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import GUILD, MEMBER_USER, Agora, World, psql  # noqa: E402
from fakellm import FakeLLM  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

THANKS = "Thank you! Your proposal has been submitted for review."
QUEUE_TITLE = "Pending Proposals"


def answer(emu, inj, timeout=10):
    """The final ephemeral text of an interaction's answer."""
    def final():
        it = emu.interaction(inj["id"])
        if not it["responses"]:
            return None
        r = it["responses"][0]
        if r["type"] == 4:
            assert r["data"].get("flags", 0) & 64, r
            assert r["elapsed"] < 3.0, r
            return r["data"]["content"]
        if it["edits"]:
            return it["edits"][-1]["body"]["content"]
        return None
    return Control.wait_for(final, timeout=timeout, what="an answer to %s" % inj["id"])


def propose(emu, user, idea):
    return emu.inject_slash("propose_channel", {"idea_text": idea}, user_id=user, permissions="0")


def rows(db, where="true"):
    out = psql("SELECT proposal_id, user_id, status, original_text, coalesce(llm_suggestion, '') "
               "FROM proposals WHERE %s ORDER BY proposal_id" % where, db=db)
    return [line.split("|") for line in out.splitlines()] if out else []


def wait_suggestion(db, pid):
    return Control.wait_for(lambda: (lambda r: r[0] if r and r[0][4] else None)(
        rows(db, "proposal_id = %d" % pid)), timeout=15, what="proposal #%d's suggestion" % pid)


def queue_text(emu, world):
    msgs = [m for m in emu.messages(world.ids["QUEUE_CHANNEL_ID"])
            if not m.get("deleted") and any(e.get("title") == QUEUE_TITLE for e in m.get("embeds") or [])]
    assert len(msgs) <= 1, msgs
    return msgs[0]["embeds"][0].get("description", "") if msgs else None


def member(emu, uid):
    emu.add_member(GUILD, {"user": {"id": uid, "username": "m" + uid[-3:]}, "roles": [],
                           "announce": False})


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-050-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu, FakeLLM() as llm:
        world = World(emu)
        users = ["13000000000000005%02d" % i for i in range(80)]
        for u in users:
            member(emu, u)
        bot = Agora(os.path.join(tmp, "bot"), emu, world, start=False,
                    extra={"OPEN_WEB_UI_URL": llm.url, "OPEN_WEB_UI_MODEL": "e2e-model",
                           "LLM_TIMEOUT_SECONDS": "2", "MAX_PROPOSED_CHANNELS": "3",
                           "PROPOSE_RATE_LIMIT": "4"})
        with open(os.path.join(bot.workdir, "secrets", "open_webui_token"), "w") as f:
            f.write("sk-e2e-secret\n")
        with bot:
            bot.start()
            bot.wait_online()
            db = bot.db
            admin = world.admin_channel

            # 1. a proposal, end to end
            inj = propose(emu, MEMBER_USER, "Retro Games & OLD consoles!")
            assert answer(emu, inj) == THANKS
            r = wait_suggestion(db, 1)
            assert r[1:] == [MEMBER_USER, "pending", "Retro Games & OLD consoles!",
                             "retro-games-old-consoles"], r
            seen = llm.requests()[-1]
            assert seen["authorization"] == "Bearer sk-e2e-secret", seen
            body = seen["body"]
            assert body["model"] == "e2e-model", body
            assert '"""Retro Games & OLD consoles!"""' in body["messages"][-1]["content"], body
            assert body["tools"][0]["function"]["name"] == "suggest_channel_name", body
            assert body["tools"][0]["function"]["parameters"]["required"] == ["name"], body
            assert body["tool_choice"] == {"type": "function",
                                           "function": {"name": "suggest_channel_name"}}, body
            note = Control.wait_for(lambda: [m for m in emu.messages(admin) if any(
                e.get("title") == "New channel proposal #1" for e in m.get("embeds") or [])],
                timeout=10, what="the admin notification")[0]
            e = note["embeds"][0]
            fields = {f["name"]: f["value"] for f in e["fields"]}
            assert fields["Proposer"] == "<@%s>" % MEMBER_USER, fields
            assert fields["Suggested name"] == "retro-games-old-consoles", fields
            assert e["description"] == "Retro Games & OLD consoles!", e
            assert note["allowed_mentions"] == {"parse": []}, note
            Control.wait_for(lambda: "[#1] - Channel - <@%s> - retro-games-old-consoles" % MEMBER_USER
                             in (queue_text(emu, world) or ""), timeout=10, what="queue line #1")
            assert psql("SELECT embed_name FROM persistent_embeds WHERE embed_name = 'proposal_queue'",
                        db=db) == "proposal_queue"
            print("1. proposal #1 thanked, suggested, notified, queued")

            # 2. the same member again
            assert answer(emu, propose(emu, MEMBER_USER, "another idea")) == \
                "You already have a pending channel proposal."
            assert len(rows(db)) == 1
            print("2. a second pending channel proposal refused")

            # 3. concurrent submissions: two at once per member, five members
            racers = users[:5]
            injs = []
            lock = threading.Lock()

            def go(u, k):
                i = propose(emu, u, "race idea %s %d" % (u[-2:], k))
                with lock:
                    injs.append((u, i))
            threads = [threading.Thread(target=go, args=(u, k)) for u in racers for k in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            per_user = {}
            for u, i in injs:
                per_user.setdefault(u, []).append(answer(emu, i))
            for u, got in per_user.items():
                assert sorted(got) == sorted([THANKS, "You already have a pending channel proposal."]), (u, got)
            for u in racers:
                assert len(rows(db, "user_id = %s AND status = 'pending'" % u)) == 1, u
            print("3. 10 simultaneous submissions by 5 members: 5 thanked, 5 refused, 5 rows")

            # 4. LLM failures and the content fallback
            cases = [("500", "LLM error: HTTP 500 from the endpoint"),
                     ("garbage", "LLM error: the answer is not a JSON object"),
                     ("notool", "LLM error: the answer holds no tool call"),
                     ("badargs", "LLM error: tool call arguments: not valid JSON"),
                     ("emptyname", "LLM error: the suggested name is empty"),
                     ("slow", "LLM error: no answer within 2 s"),
                     ("content", "bread-and-jam")]
            # room in the category is not the point here
            for k, (mode, want) in enumerate(cases):
                llm.control(mode=mode, delay=4)
                u = users[10 + k]
                t0 = time.monotonic()
                assert answer(emu, propose(emu, u, "Bread and Jam")) == THANKS
                pid = int(rows(db, "user_id = %s" % u)[0][0])
                got = wait_suggestion(db, pid)[4]
                assert got == want, (mode, got)
                print("4. LLM %-9s -> %s (%.1f s)" % (mode, got, time.monotonic() - t0))
            llm.control(mode="ok")

            # 5. the category limit (3 configured; the world has 1 channel there)
            cat = world.ids["PROPOSED_CHANNEL_CATEGORY_ID"]
            for n in range(2):
                emu.add_channel(GUILD, {"id": "12200000000000009%02d" % n, "name": "full-%d" % n,
                                        "type": 0, "parent_id": cat})
            time.sleep(0.5)  # CHANNEL_CREATE reaches the bot's guild cache
            before = len(rows(db))
            assert answer(emu, propose(emu, users[30], "one channel too many")) == \
                "We are at our limit for new channels. Please try again later."
            assert len(rows(db)) == before
            print("5. category at MAX_PROPOSED_CHANNELS: refused, no row")
            for n in range(2):
                emu.dispatch("CHANNEL_DELETE", {"id": "12200000000000009%02d" % n, "guild_id": GUILD,
                                                "type": 0, "parent_id": cat, "name": "full-%d" % n})
            time.sleep(0.5)

            # 6. text checks
            assert answer(emu, propose(emu, users[31], "nul\u0000inside")) == \
                "Your idea must not contain NUL characters."
            assert answer(emu, propose(emu, users[32], "\u0007 tabs\tand\u0085bells @everyone  ")) == THANKS
            r = rows(db, "user_id = %s" % users[32])[0]
            assert r[3] == "tabs and bells @everyone", r
            print("6. NUL refused; control characters stripped: %r" % r[3])

            # 7. the queue embed within limits: 40 more proposals
            for u in users[33:75]:
                assert answer(emu, propose(emu, u, "idea number " + u[-2:] + " " + "x" * 60)) == THANKS
            n_pending = int(psql("SELECT count(*) FROM proposals WHERE status = 'pending'", db=db))

            def complete():
                text = queue_text(emu, world) or ""
                return text if "more" in text and "[#1]" in text and \
                    (" and %d more" % (n_pending - text.count("[#"))) in text else None
            text = Control.wait_for(complete, timeout=20, what="the queue embed with '… and N more'")
            assert len(text) <= 4096, len(text)
            print("7. queue: %d pending, %d lines shown, ends %r" % (n_pending, text.count("[#"),
                                                                      text.splitlines()[-1]))

            # 8. rate limit (PROPOSE_RATE_LIMIT 4): the 5th attempt in the window
            got = [answer(emu, propose(emu, users[76], "x")) for _ in range(5)]
            assert got[:4] == ["Your idea is too short: please describe the channel in at least 3 "
                               "characters."] * 4, got
            assert got[-1] == "You are proposing too quickly. Please wait a few minutes and try again.", got
            print("8. rate limit: %r" % got[-1])
    print("ok")


if __name__ == "__main__":
    main()
