#!/usr/bin/python3
"""031 — the REST fault suite (issue 12.10, 12.3, 12.4, 9.4) against a
running ./agora that counts messages in a tracked channel.

  1. a 5xx storm on message POSTs (3 in a row): /report's admin
     notification is retried with backoff and posted exactly once, its id
     saved (before: lost for good, notification_message_id empty);
  2. a lost answer (the emulator posts the message, then answers 502): the
     retry carries the same nonce with enforce_nonce, so the notification
     exists once, and the saved id is that message's;
  3. a 5xx on an interaction callback: the failure is logged with the
     token masked (the teardown greps the log for every token issued);
  4. a JSON 429 storm on every route (retry_after 0.3 s, 6 of them): every
     report is still thanked within Discord's 3 s and notified once;
  5. one Cloudflare block page (a non-JSON 429, Retry-After 2) on a message
     POST: the notification goes out about 2 s later (not after minutes),
     and /status asked during the block is answered within 3 s (interaction
     callbacks are exempt);
and each step ends with the bot connected (healthcheck 0) and Redis's
message count exact.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ADMIN_PERMISSIONS, ADMIN_USER, MEMBER_USER, World, counting_agora, psql, wait_count  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

MESSAGES = "POST /channels/{channel_id}/messages"


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-031-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        bot, key = counting_agora(tmp, emu, world)
        with bot:
            bot.wait_log("loaded 1 tracked channels")
            bot.wait_online()
            sent = 0

            def count_check(label):
                nonlocal sent
                for i in range(3):
                    emu.inject_message("%s %d" % (label, i), channel_id=world.proposed_channel)
                sent += 3
                wait_count(key, sent)
                code, out = bot.healthcheck()
                assert code == 0, (label, code, out)

            def report(text):
                inj = emu.inject_slash("report", {"description": text}, user_id=MEMBER_USER,
                                       permissions="0")
                it = Control.wait_for(lambda: (lambda i: i if i["responses"] else None)(
                    emu.interaction(inj["id"])), timeout=5, what="the thank-you for %r" % text)
                r = it["responses"][0]
                assert r["data"]["content"] == "Thank you for your report.", r
                assert r["elapsed"] < 3.0, r
                return r["elapsed"]

            def notified(n, timeout=20):
                """The one "New report #n" message, and the id saved in the row."""
                def one():
                    msgs = [m for m in emu.messages(world.admin_channel) if not m.get("deleted") and
                            any(e.get("title") == "New report #%d" % n for e in m.get("embeds") or [])]
                    saved = psql("SELECT coalesce(notification_message_id, 0) FROM reports "
                                 "WHERE report_id = %d" % n, db=bot.db)
                    return (msgs, saved) if msgs and saved not in ("", "0") else None
                msgs, saved = Control.wait_for(one, timeout=timeout, interval=0.2,
                                               what="report #%d notified" % n)
                time.sleep(0.5)  # a second copy would come now
                msgs = [m for m in emu.messages(world.admin_channel) if not m.get("deleted") and
                        any(e.get("title") == "New report #%d" % n for e in m.get("embeds") or [])]
                assert len(msgs) == 1, "report #%d notified %d times" % (n, len(msgs))
                assert msgs[0]["id"] == saved, (msgs[0]["id"], saved)
                return msgs[0]

            count_check("start")

            # 1. 5xx storm on message POSTs
            admin_posts = "/channels/%s/messages" % world.admin_channel
            before = len(emu.requests(method="POST", path=admin_posts))
            emu.rest_fault(route=MESSAGES, status=500, count=3)
            t0 = time.monotonic()
            report("spam in #general")
            notified(1)
            posts = emu.requests(method="POST", path=admin_posts)[before:]
            print("1. 3 x 500 on message POSTs: report #1 notified once after %.1f s, %d attempts "
                  "on the admin channel" % (time.monotonic() - t0, len(posts)))
            count_check("after 5xx")

            # 2. the write is done, its answer lost (502 after the fact)
            before = len(emu.requests(method="POST", path="/channels/%s/messages" % world.admin_channel))
            emu.rest_fault(route=MESSAGES, status=502, count=1, after=True)
            report("a second one")
            msg = notified(2)
            posts = emu.requests(method="POST", path="/channels/%s/messages" % world.admin_channel)[before:]
            nonces = {p["body"].get("nonce") for p in posts}
            assert len(posts) == 2 and len(nonces) == 1 and None not in nonces, posts
            assert all(p["body"].get("enforce_nonce") is True for p in posts), posts
            print("2. lost answer: 2 attempts with nonce %s, 1 message (%s)" % (nonces.pop(), msg["id"]))
            count_check("after lost answer")

            # 3. a 5xx on an interaction callback: logged, token masked
            emu.rest_fault(route="POST /interactions/{interaction_id}/{interaction_token}/callback",
                           status=500, count=1)
            inj = emu.inject_slash("status", {}, user_id=ADMIN_USER, permissions=ADMIN_PERMISSIONS)
            bot.wait_log("/interactions/%s/{token}/callback" % inj["id"])
            assert inj["token"] not in bot.log_text()
            print("3. callback 500: logged as /interactions/%s/{token}/callback" % inj["id"])
            count_check("after callback 500")

            # 4. JSON 429 storm on every route
            emu.rest_fault(route="*", status=429, retry_after=0.3, count=6)
            worst = max(report("storm %d" % i) for i in range(3))
            for n in (3, 4, 5):
                notified(n)
            print("4. 6 x 429 (retry_after 0.3): 3 reports thanked within %.2f s, each notified once"
                  % worst)
            count_check("after 429 storm")

            # 5. one Cloudflare block page on a message POST
            emu.rest_fault(route=MESSAGES, status=429, html=True, retry_after=2, count=1)
            t0 = time.monotonic()
            report("behind cloudflare")
            inj = emu.inject_slash("status", {}, user_id=ADMIN_USER, permissions=ADMIN_PERMISSIONS)
            it = Control.wait_for(lambda: (lambda i: i if i["responses"] else None)(
                emu.interaction(inj["id"])), timeout=5, what="/status during the block")
            status_elapsed = it["responses"][0]["elapsed"]
            assert status_elapsed < 3.0, it["responses"][0]
            notified(6, timeout=15)
            held = time.monotonic() - t0
            assert held < 10, held
            print("5. html 429 (Retry-After 2): /status answered in %.2f s during the block; "
                  "report #6 notified after %.1f s" % (status_elapsed, held))
            count_check("after block")

            assert bot.proc.poll() is None
            status, took = bot.stop()
            assert status == 0, status
    print("ok")


if __name__ == "__main__":
    main()
