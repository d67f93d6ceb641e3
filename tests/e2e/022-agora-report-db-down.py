#!/usr/bin/python3
"""022 — a report that cannot be saved is not silently lost.

/report thanks the user at once (spec 6.4), before the row is inserted.
Proves, with the real ./agora while PostgreSQL is stopped:
  1. the user is still thanked ephemerally within Discord's 3 seconds;
  2. when the insert fails, the same user gets an ephemeral follow-up
     "Sorry, your report could not be saved. Please try again later."
     (POST /webhooks/{app}/{token}), no admin notification is posted and
     the error is logged;
  3. after PostgreSQL is back, the next report is saved and notified as
     usual.
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import Agora, World, psql, report, services  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402


def notifications(bot):
    return [m for m in bot.messages(bot.world.admin_channel)
            if any(e.get("title", "").startswith("New report #") for e in m.get("embeds") or [])]


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-022-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        with Agora(os.path.join(tmp, "bot"), emu, world) as bot:
            bot.wait_online()
            services("stop", "pg")
            try:
                inj = report(emu, "This one cannot be saved.")
                it = Control.wait_for(lambda: (lambda i: i if i["followup_messages"] else None)(
                    emu.interaction(inj["id"])), timeout=40, what="the follow-up")
                f = it["followup_messages"][0]
                assert f["content"] == \
                    "Sorry, your report could not be saved. Please try again later.", f
                assert f["flags"] & 64, f
                assert notifications(bot) == [], notifications(bot)
                assert "not saved" in bot.log_text()
            finally:
                services("start", "pg")
            # the bot reconnects by itself; then reports work again
            Control.wait_for(lambda: bot.log_text().count("bot: connected to PostgreSQL") >= 2,
                             timeout=40, what="the bot reconnected")
            report(emu, "Back to normal.")
            notes = Control.wait_for(lambda: notifications(bot), timeout=10, what="a notification")
            assert [e["title"] for m in notes for e in m["embeds"]] == ["New report #1"], notes
            assert psql("SELECT status, description FROM reports", db=bot.db) == "pending|Back to normal."
        assert bot.status == 0, bot.status
    print("ok")


if __name__ == "__main__":
    main()
