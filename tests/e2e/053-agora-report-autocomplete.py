#!/usr/bin/python3
"""053 — the report_id options of /view_report and /resolve_report
autocomplete the open reports (issue 10.6), as proposal_id does (051).

Proves, with the real ./agora against the emulator, PostgreSQL and Redis:
  1. with two open reports, an admin typing nothing gets both, oldest first,
     as "#1 pending: <start of the description>" with the id as the value,
     answered with callback type 8 within 3 s;
  2. typing "spam" keeps the one that says spam; typing "2" keeps #2;
  3. a report under investigation is listed with its status, a resolved
     one no more (/resolve_report's autocomplete too);
  4. a member without admin rights gets an empty list;
  5. 25 choices whose text is 3-byte characters (about 190 bytes each, under
     Discord's 100 characters) come back whole: the choice names were once
     101-byte buffers, overrun here (caught by the ASan pass of the suite).
"""

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ADMIN_PERMISSIONS, ADMIN_USER, MEMBER_USER, Agora, World, psql  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402


def choices(emu, command, typed, admin=True, extra=None):
    opts = {"report_id": typed}
    opts.update(extra or {})
    inj = emu.inject_slash(command, opts, autocomplete=True, focused="report_id",
                           user_id=ADMIN_USER if admin else MEMBER_USER,
                           permissions=ADMIN_PERMISSIONS if admin else "0")
    it = Control.wait_for(lambda: (lambda i: i if i["responses"] else None)(emu.interaction(inj["id"])),
                          timeout=5, what="autocomplete answer")
    r = it["responses"][0]
    assert r["type"] == 8 and r["elapsed"] < 3.0, r
    return [(c["name"], c["value"]) for c in r["data"]["choices"]]


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-053-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        with Agora(os.path.join(tmp, "bot"), emu, world) as bot:
            bot.wait_online()
            db = bot.db
            for text in ("Someone posts spam links in #general every hour, please look.",
                         "A member keeps sending me rude DMs"):
                bot.slash("report", {"description": text}, admin=False)
            Control.wait_for(lambda: psql("SELECT count(*) FROM reports", db=db) == "2", timeout=10)

            # 1. everything open
            got = choices(emu, "view_report", "")
            assert got == [("#1 pending: Someone posts spam links in #general every hour, please look\u2026", 1),
                           ("#2 pending: A member keeps sending me rude DMs", 2)], got
            print("1.", got)
            # 2. filtered
            assert [v for _, v in choices(emu, "view_report", "spam")] == [1]
            assert [v for _, v in choices(emu, "resolve_report", "#2", extra={"explanation": "x"})] == [2]
            print("2. filtered by text and by id")
            # 3. statuses
            bot.slash("view_report", {"report_id": 1})
            Control.wait_for(lambda: psql("SELECT status FROM reports WHERE report_id = 1", db=db)
                             == "investigating", timeout=10)
            bot.slash("resolve_report", {"report_id": 2, "explanation": "talked to them"})
            Control.wait_for(lambda: psql("SELECT status FROM reports WHERE report_id = 2", db=db)
                             == "resolved", timeout=10)
            got = choices(emu, "resolve_report", "", extra={"explanation": "x"})
            assert [(n.split(":")[0], v) for n, v in got] == [("#1 investigating", 1)], got
            print("3.", got)
            # 4. not an admin
            assert choices(emu, "view_report", "", admin=False) == []
            print("4. non-admin: []")
            # 5. long multi-byte choices, a full list of 25
            wide = "\u5831" * 70
            psql("INSERT INTO reports (user_id, description) SELECT 7, '%s' FROM generate_series(1, 25)"
                 % wide, db=db)
            got = choices(emu, "view_report", "")
            want = [("#1 investigating: Someone posts spam links in #general every hour, please look\u2026", 1)]
            want += [("#%d pending: %s\u2026" % (i, "\u5831" * 60), i) for i in range(3, 27)]
            assert got == want, got
            print("5. 25 choices of %d bytes each came back whole" % len(got[-1][0].encode()))
    print("ok")


if __name__ == "__main__":
    main()
