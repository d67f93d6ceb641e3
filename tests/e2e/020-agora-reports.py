#!/usr/bin/python3
"""020 — user reports (spec 6.4) and the "Pending User Reports" queue embed
(spec 6.2), end to end.

Proves, with the real ./agora against the emulator, PostgreSQL and Redis:
  1. /report without a file: the user is thanked ephemerally at once
     ("Thank you for your report."); a pending row exists; a "New report
     #1" embed with the reporter's mention (and nobody pinged:
     allowed_mentions parse []), the full description and status is posted
     to the admin channel and its message id is stored in the row; the
     queue embed is posted in QUEUE_CHANNEL_ID and saved in
     persistent_embeds as "report_queue";
  2. /report with an attachment: file_url is the attachment's CDN url, the
     notification links it; the SAME queue message is edited (PATCH), now
     listing both, the long description cut with "…";
  3. /view_report: the reporter gets the DM "Your report is being
     investigated.", the status becomes investigating, the admin's
     ephemeral reply holds https://discord.com/channels/G/ADMIN/MSG; a
     second /view_report gives the link again without a second DM;
  4. /view_report of a report whose author accepts no DMs (dm_closed, 403
     50007): the status still changes and the admin is told the reporter
     could not be messaged;
  0. every persistent embed is drawn once at start: the empty queue
     ("No pending reports.") exists before any report;
  5. unknown ids: "Report #99 does not exist." for both admin commands;
     ids no report can have (0, -1, 2^31, 10^20) get "There is no such
     report" for both, and no database error is logged; a NUL in a
     report's text or an explanation is refused clearly (no thank-you, no
     row, no status change); a member without admin rights is refused;
  6. /resolve_report: DM "Your report has been resolved. EXPLANATION",
     status resolved, the report leaves the queue embed; resolving again
     says it is already resolved (no second DM);
  7. a restart of ./agora on the same database redraws the same queue
     message at start and edits it (found through persistent_embeds), and a queue message
     deleted by hand is posted again and its new id saved.
"""

import json
import os
import ssl
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import (ADMIN_PERMISSIONS, ADMIN_USER, GUILD, MEMBER_USER, Agora, World,  # noqa: E402
                   psql, report)
from tests.emulator.client import Control, Emulator  # noqa: E402

CLOSED_USER = "1300000000000000009"  # accepts no DMs from the bot
QUEUE_TITLE = "Pending User Reports"
DB = {}  # "name": the bot's database, for psql


def rest(emu, method, path, body=None):
    """A REST call as the bot would make it (to delete the queue message)."""
    ctx = ssl.create_default_context(cafile=emu.ca_file)
    req = urllib.request.Request(emu.api_base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bot " + emu.token,
                                          "Content-Type": "application/json",
                                          "User-Agent": "DiscordBot (test, 1)"})
    with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
        data = r.read()
        return json.loads(data) if data else None


def answer(emu, inj):
    """The final text of an interaction's answer: the callback's content,
    or, after a deferral, the last edit of the original response."""
    def final():
        it = emu.interaction(inj["id"])
        if not it["responses"]:
            return None
        r = it["responses"][0]
        if r["type"] == 4:
            assert r["data"].get("flags", 0) & 64, r  # ephemeral
            return r["data"]["content"]
        if it["edits"]:
            return it["edits"][-1]["body"]["content"]
        return None
    return Control.wait_for(final, timeout=8, what="an answer to interaction %s" % inj["id"])


def admin(emu, name, options):
    return answer(emu, emu.inject_slash(name, options, user_id=ADMIN_USER,
                                        permissions=ADMIN_PERMISSIONS))


def row(report_id):
    out = psql("SELECT user_id, status, description, coalesce(file_url, ''), "
               "coalesce(notification_message_id, 0) FROM reports WHERE report_id = %d" % report_id,
               db=DB["name"])
    return out.split("|") if out else None


def wait_notified(report_id):
    return Control.wait_for(lambda: (lambda r: r if r and r[4] != "0" else None)(row(report_id)),
                            timeout=10, what="report #%d saved with its notification id" % report_id)


def queue_messages(emu, world):
    return [m for m in emu.messages(world.ids["QUEUE_CHANNEL_ID"])
            if not m.get("deleted") and any(e.get("title") == QUEUE_TITLE for e in m.get("embeds") or [])]


def stored_queue_id():
    return psql("SELECT message_id FROM persistent_embeds WHERE embed_name = 'report_queue'",
                db=DB["name"])


def wait_queue(emu, world, predicate, what):
    """The one live queue message, once its description satisfies predicate."""
    def check():
        msgs = queue_messages(emu, world)
        if len(msgs) == 1 and predicate(msgs[0]["embeds"][0].get("description", "")):
            return msgs[0]
        return None
    return Control.wait_for(check, timeout=10, what=what)


def queue_patches(emu, world, message_id):
    return [r for r in emu.requests(method="PATCH") if r["path"].endswith(
        "/channels/%s/messages/%s" % (world.ids["QUEUE_CHANNEL_ID"], message_id))]


def dms(emu, user):
    chans = [c["id"] for c in emu.get("/channels") if c.get("dm_user_id") == user]
    return [m["content"] for c in chans for m in emu.messages(c)]


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-020-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        emu.add_member(GUILD, {"user": {"id": CLOSED_USER, "username": "closed"}, "dm_closed": True,
                               "roles": [], "announce": False})
        admin_channel = world.admin_channel
        with Agora(os.path.join(tmp, "bot"), emu, world) as bot:
            bot.wait_online()
            dbname = DB["name"] = bot.db

            # 0. every persistent embed is drawn once at start: the queue
            # exists, empty, before any report
            q0 = wait_queue(emu, world, lambda d: d == "No pending reports.",
                            "the empty queue drawn at start")

            # 1. a report without a file
            report(emu, "Someone posts spam links in #general every hour.")
            r1 = wait_notified(1)
            assert r1[:4] == [MEMBER_USER, "pending",
                              "Someone posts spam links in #general every hour.", ""], r1
            note = [m for m in emu.messages(admin_channel) if m["id"] == r1[4]]
            assert note, (r1, emu.messages(admin_channel))
            e = note[0]["embeds"][0]
            assert e["title"] == "New report #1", e
            assert e["description"] == "Someone posts spam links in #general every hour.", e
            fields = {f["name"]: f["value"] for f in e["fields"]}
            assert fields["Reporter"] == "<@%s>" % MEMBER_USER and fields["Status"] == "pending", e
            assert note[0]["allowed_mentions"] == {"parse": []}, note[0]
            q = wait_queue(emu, world, lambda d: "[#1] - <@%s> - Someone posts spam" % MEMBER_USER in d,
                           "the queue embed with #1")
            assert q["id"] == q0["id"], "the queue drawn at start is the one edited"
            Control.wait_for(lambda: stored_queue_id() == q["id"], timeout=5,
                             what="report_queue saved in persistent_embeds")
            assert q["allowed_mentions"] == {"parse": []}, q

            # 2. a report with an attachment, from the member who takes no DMs
            long_text = "A very long description of harassment in voice chat " + "x" * 200
            it = report(emu, long_text, user=CLOSED_USER,
                        options={"file": {"type": 11, "value": "777000000000000001"}},
                        attachments={"777000000000000001": {"filename": "proof.png"}})
            url = it["payload"]["data"]["resolved"]["attachments"]["777000000000000001"]["url"]
            r2 = wait_notified(2)
            assert r2[:4] == [CLOSED_USER, "pending", long_text, url], r2
            e = [m for m in emu.messages(admin_channel) if m["id"] == r2[4]][0]["embeds"][0]
            assert e["title"] == "New report #2" and e["description"] == long_text, e
            assert {f["name"]: f["value"] for f in e["fields"]}["Attachment"] == url, e
            q2 = wait_queue(emu, world, lambda d: "[#2]" in d and "[#1]" in d, "the queue with #1 and #2")
            assert q2["id"] == q["id"], "the same queue message is edited"
            line2 = [ln for ln in q2["embeds"][0]["description"].split("\n") if ln.startswith("[#2]")][0]
            assert line2.endswith("\u2026") and len(line2) < 120, line2
            patches = [r for r in emu.requests(method="PATCH") if r["path"].endswith(
                "/channels/%s/messages/%s" % (world.ids["QUEUE_CHANNEL_ID"], q["id"]))]
            assert patches, "the queue message was edited with PATCH"

            # 3. /view_report: DM, status, link; a second view gives the link only
            text = admin(emu, "view_report", {"report_id": 1})
            link = "https://discord.com/channels/%s/%s/%s" % (GUILD, admin_channel, r1[4])
            assert link in text and "now being investigated" in text, text
            assert row(1)[1] == "investigating"
            assert dms(emu, MEMBER_USER) == ["Your report is being investigated."], dms(emu, MEMBER_USER)
            text = admin(emu, "view_report", {"report_id": 1})
            assert "already being investigated" in text and link in text, text
            assert len(dms(emu, MEMBER_USER)) == 1

            # 4. DMs closed: the admin hears of it, the status changes anyway
            text = admin(emu, "view_report", {"report_id": 2})
            assert "could not be messaged" in text and "50007" in text, text
            assert row(2)[1] == "investigating"

            # 5. unknown ids; not an admin
            assert admin(emu, "view_report", {"report_id": 99}) == "Report #99 does not exist."
            assert admin(emu, "resolve_report", {"report_id": 99, "explanation": "x"}) == \
                "Report #99 does not exist."
            # ids no report can have (0, negative, 2^31 and up) are answered
            # clearly, without a query (no raw database error)
            for bad in (0, -1, 2147483648, 99999999999999999999):
                for name, opts in (("view_report", {}), ("resolve_report", {"explanation": "x"})):
                    text = admin(emu, name, dict(opts, report_id=bad))
                    assert text == "There is no such report: report numbers are 1 or more.", \
                        (name, bad, text)
            assert "ERROR" not in bot.log_text() and "out of range" not in bot.log_text()
            # a NUL in the text is refused clearly, before the thank-you: no row
            count = psql("SELECT count(*) FROM reports", db=dbname)
            inj = emu.inject_slash("report", {"description": "before\u0000after"},
                                   user_id=MEMBER_USER, permissions="0")
            text = answer(emu, inj)
            assert "NUL" in text and "Thank you" not in text, text
            inj = emu.inject_slash("resolve_report", {"report_id": 2, "explanation": "a\u0000b"},
                                   user_id=ADMIN_USER, permissions=ADMIN_PERMISSIONS)
            assert "NUL" in answer(emu, inj)
            assert row(2)[1] == "investigating"
            assert psql("SELECT count(*) FROM reports", db=dbname) == count
            it = bot.slash("view_report", {"report_id": 1}, admin=False)
            assert "admins only" in it["responses"][0]["data"]["content"], it

            # 6. /resolve_report
            text = admin(emu, "resolve_report", {"report_id": 1, "explanation": "We banned the spammer."})
            assert "resolved" in text and "told by DM" in text, text
            assert row(1)[1] == "resolved"
            assert dms(emu, MEMBER_USER)[-1] == "Your report has been resolved. We banned the spammer."
            wait_queue(emu, world, lambda d: "[#1]" not in d and "[#2]" in d, "#1 gone from the queue")
            text = admin(emu, "resolve_report", {"report_id": 1, "explanation": "again"})
            assert "already resolved" in text, text
            assert len(dms(emu, MEMBER_USER)) == 2
        assert bot.status == 0, bot.status

        patched_before = len(queue_patches(emu, world, q["id"]))
        # 7. restart on the same database: the same queue message is edited
        with Agora(os.path.join(tmp, "bot2"), emu, world, db=dbname) as bot2:
            Control.wait_for(lambda: len(bot2.embeds_titled(admin_channel, "Bot Online")) >= 2,
                             timeout=15, what="the second Bot Online")
            # drawn again at start, in place, before anything changed
            Control.wait_for(lambda: len(queue_patches(emu, world, q["id"])) > patched_before,
                             timeout=10, what="the queue redrawn at the restart")
            report(emu, "Third report, after the restart.")
            wait_notified(3)
            q3 = wait_queue(emu, world, lambda d: "[#3]" in d, "#3 in the queue")
            assert q3["id"] == q["id"], (q3["id"], q["id"])

            # a queue message deleted by hand is posted again
            rest(emu, "DELETE", "/channels/%s/messages/%s" % (world.ids["QUEUE_CHANNEL_ID"], q["id"]))
            report(emu, "Fourth report, queue message gone.")
            wait_notified(4)
            q4 = wait_queue(emu, world, lambda d: "[#4]" in d and "[#3]" in d and "[#2]" in d,
                            "a new queue message with #2, #3, #4")
            assert q4["id"] != q["id"]
            Control.wait_for(lambda: stored_queue_id() == q4["id"], timeout=5,
                             what="the new queue message saved")
            assert "[#1]" not in q4["embeds"][0]["description"]

            # a 1,000-character explanation of 4-byte characters reaches
            # the reporter whole (the DM is sized in bytes, not characters)
            long_text = "\U0001D11E" * 1000
            text = admin(emu, "resolve_report", {"report_id": 3, "explanation": long_text})
            assert "resolved" in text, text
            # 2,031 UTF-16 units do not fit a message's content (2,000): the
            # explanation comes whole in an embed
            dm = [m for c in emu.get("/channels") if c.get("dm_user_id") == MEMBER_USER
                  for m in emu.messages(c["id"])][-1]
            assert dm["content"] == "Your report has been resolved.", dm["content"]
            assert dm["embeds"][0]["description"] == long_text, len(dm["embeds"][0]["description"])
        assert bot2.status == 0, bot2.status
    print("ok")


if __name__ == "__main__":
    main()
