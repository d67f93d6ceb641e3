#!/usr/bin/python3
"""023 — /report has a per-member rate limit (issue 12.11), so one member
cannot flood the admin channel.

With REPORT_RATE_LIMIT = 3 (per REPORT_RATE_WINDOW_MINUTES = 10), proves
with the real ./agora against the emulator, PostgreSQL and Redis:
  1. a member's first 3 reports are thanked and stored;
  2. the 4th is answered at once with a clear ephemeral message and leaves
     no row and no admin notification;
  3. another member is not affected.
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import MEMBER_USER, Agora, World, psql, report  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

OTHER_USER = "1300000000000000077"


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-023-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        extra = {"REPORT_RATE_LIMIT": "3", "REPORT_RATE_WINDOW_MINUTES": "10"}
        with Agora(os.path.join(tmp, "bot"), emu, world, extra=extra) as bot:
            bot.wait_online()
            for n in range(3):
                report(emu, "Report number %d from the same member." % (n + 1))
            inj = emu.inject_slash("report", {"description": "A fourth one, too fast."},
                                   user_id=MEMBER_USER, permissions="0")
            it = Control.wait_for(lambda: (lambda i: i if i["responses"] else None)(
                emu.interaction(inj["id"])), timeout=5, what="the answer to the 4th report")
            r = it["responses"][0]
            assert r["type"] == 4 and r["data"]["flags"] & 64, r
            assert "Please wait a few minutes" in r["data"]["content"], r
            assert r["data"]["content"] != "Thank you for your report.", r
            report(emu, "Another member is not held back.", user=OTHER_USER)
            Control.wait_for(lambda: psql("SELECT count(*) FROM reports", db=bot.db) == "4",
                             timeout=10, what="four reports stored")
            assert psql("SELECT count(*) FROM reports WHERE description LIKE 'A fourth%%'",
                        db=bot.db) == "0"
            assert psql("SELECT count(*) FROM reports WHERE user_id = %s" % MEMBER_USER,
                        db=bot.db) == "3"
            admin = world.ids["ADMIN_NOTIFICATION_CHANNEL_ID"]
            Control.wait_for(lambda: len([m for m in emu.messages(admin)
                                          if any("report" in (e.get("title") or "").lower()
                                                 for e in m.get("embeds", []))]) >= 4,
                             timeout=10, what="four notifications")
            notes = [m for m in emu.messages(admin) for e in m.get("embeds", [])
                     if "fourth" in (e.get("description") or "")]
            assert not notes, notes
        assert bot.status == 0, bot.status
    print("ok")


if __name__ == "__main__":
    main()
