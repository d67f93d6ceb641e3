#!/usr/bin/python3
"""054 — proposals when something is missing: no LLM configured, and
PostgreSQL down.

Proves, with the real ./agora against the emulator, PostgreSQL and Redis:
  1. without the open_webui_token secret (and with no OPEN_WEB_UI_URL), a
     channel proposal is thanked and stored with "LLM not configured" in
     place of the suggestion (CONTRACT.md), the admin embed says so, the
     queue shows "(no suggestion)", and /approve_proposal offers a
     disabled "Approve" button next to Override Name;
  2. with PostgreSQL stopped, /propose_channel is answered (the answer
     guard defers it; the final text says the proposal could not be
     checked) instead of a thank-you for a proposal nobody stored; after
     PostgreSQL is back the bot reconnects by itself and proposals work;
  3. the bot exits 0 at the end (under ASan: no leak, no error).
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ADMIN_PERMISSIONS, ADMIN_USER, MEMBER_USER, Agora, World, psql, services  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

THANKS = "Thank you! Your proposal has been submitted for review."


def final_answer(emu, inj, timeout=45):
    def final():
        it = emu.interaction(inj["id"])
        if not it["responses"]:
            return None
        r = it["responses"][0]
        assert r["elapsed"] < 3.0, r
        if r["type"] == 4:
            return r["data"].get("content"), r["data"].get("components")
        if it["edits"]:
            b = it["edits"][-1]["body"]
            return b.get("content"), b.get("components")
        return None
    return Control.wait_for(final, timeout=timeout, what="an answer to %s" % inj["id"])


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-054-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        with Agora(os.path.join(tmp, "bot"), emu, world) as bot:
            bot.wait_online()
            db = bot.db

            # 1. no LLM configured
            inj = emu.inject_slash("propose_channel", {"idea_text": "a room for bread bakers"},
                                   user_id=MEMBER_USER, permissions="0")
            assert final_answer(emu, inj)[0] == THANKS
            Control.wait_for(lambda: psql("SELECT llm_suggestion FROM proposals WHERE proposal_id = 1",
                                          db=db) == "LLM not configured", timeout=10,
                             what="the stored failure text")
            note = Control.wait_for(lambda: [m for m in emu.messages(world.admin_channel) if any(
                e.get("title") == "New channel proposal #1" for e in m.get("embeds") or [])],
                timeout=10, what="the admin notification")[0]
            fields = {f["name"]: f["value"] for f in note["embeds"][0]["fields"]}
            assert fields["Suggested name"] == "LLM not configured", fields
            Control.wait_for(lambda: any("[#1] - Channel - <@%s> - (no suggestion)" % MEMBER_USER in
                                         (m["embeds"] or [{}])[0].get("description", "")
                                         for m in emu.messages(world.ids["QUEUE_CHANNEL_ID"])),
                             timeout=10, what="the queue line")
            inj = emu.inject_slash("approve_proposal", {"proposal_id": 1}, user_id=ADMIN_USER,
                                   permissions=ADMIN_PERMISSIONS)
            text, comps = final_answer(emu, inj)
            got = [(c["label"], c.get("disabled", False)) for row in comps for c in row["components"]]
            assert got == [("Approve (no name yet)", True), ("Override Name", False),
                           ("Re-run LLM Suggestion", False)], got
            assert "Suggested name: LLM not configured" in text, text
            print("1. no LLM: stored 'LLM not configured'; buttons %r" % got)

            # 2. PostgreSQL down
            services("stop", "pg")
            try:
                inj = emu.inject_slash("propose_channel", {"idea_text": "while the database sleeps"},
                                       user_id="1300000000000000001", permissions="0")
                text, _ = final_answer(emu, inj)
                assert text == "Sorry, your proposal could not be checked. Please try again later.", text
                r = emu.interaction(inj["id"])["responses"][0]
                print("2. database down: first response type %d after %.2f s, then %r"
                      % (r["type"], r["elapsed"], text))
            finally:
                services("start", "pg")
            Control.wait_for(lambda: bot.log_text().count("bot: connected to PostgreSQL") >= 2,
                             timeout=40, what="the bot reconnected")
            inj = emu.inject_slash("propose_channel", {"idea_text": "after the database woke up"},
                                   user_id="1300000000000000001", permissions="0")
            assert final_answer(emu, inj)[0] == THANKS
            assert psql("SELECT count(*) FROM proposals", db=db) == "2"
            print("2. database back: proposals work again")
        assert bot.status == 0, bot.status
    print("ok")


if __name__ == "__main__":
    main()
