#!/usr/bin/python3
"""070 — the stats task (spec 6.5): scores, both report embeds, the trim,
the sparkline, the interval, and the embeds' life across restarts.

Proves, with the real ./agora against the emulator, PostgreSQL and Redis:
  1. tracked_channels is read from PostgreSQL on every pass: rows inserted
     while the bot runs appear in the reports without a restart;
  2. proposed channels are ranked by total × 0.4 + last-7-days × 0.6
     (numbers seeded in Redis: a channel with total 100 and 3 recent
     entries scores 41.8), each line with a 7-day sparkline whose busy day
     is the right one; the entry older than 7 days is trimmed from the
     sorted set (ZCARD), the 7-day boundary kept;
  3. permanent channels are ranked by last_message_timestamp, newest
     first, "no messages yet" for a channel without one;
  4. live counting (after a restart, the in-memory set holds the rows):
     5 member messages count, a bot's message does not; the ZSET members
     are the message ids and the scores their snowflake times;
  5. each report is ONE message, edited in place (PATCH), saved in
     persistent_embeds as proposed_scores / permanent_scores, and found
     again after a restart (no second POST);
  6. passes follow STATS_REFRESH_INTERVAL_MINUTES = 0.05 (3 s): the gaps
     between the passes' log lines are 3 s and some scheduling slack, and
     the first pass comes within ~1 s of READY;
  7. a report message deleted by hand is posted again and its new id saved.
"""

import json
import os
import random
import re
import ssl
import sys
import tempfile
import time
import urllib.request
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import GUILD, MEMBER_USER, Agora, World, psql, redis  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

BOT_USER = "1100000000000000001"
DAY = 86400
PROPOSED_LINE = re.compile(r"^\*\*(\d+)\.\*\* <#(\d+)> · score \*\*(\d+\.\d)\*\* · (\d+) total · "
                           r"(\d+) this week `(.{7})`$")
PERMANENT_LINE = re.compile(r"^\*\*(\d+)\.\*\* <#(\d+)> · (?:last message <t:(\d+):R> · (\d+) total|"
                            r"(no messages yet))$")
DISCORD_EPOCH_MS = 1420070400000


def rest(emu, method, path):
    ctx = ssl.create_default_context(cafile=emu.ca_file)
    req = urllib.request.Request(emu.api_base + path, method=method,
                                 headers={"Authorization": "Bot " + emu.token,
                                          "User-Agent": "DiscordBot (test, 1)"})
    with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
        data = r.read()
        return json.loads(data) if data else None


def live_reports(emu, channel, title):
    return [m for m in emu.messages(channel)
            if not m.get("deleted") and any(e.get("title") == title for e in m.get("embeds") or [])]


def wait_report(emu, channel, title, predicate, what, timeout=15):
    def check():
        msgs = live_reports(emu, channel, title)
        if len(msgs) == 1 and predicate(msgs[0]["embeds"][0]["description"]):
            return msgs[0]
        return None
    return Control.wait_for(check, timeout=timeout, what=what)


def proposed_lines(desc):
    out = []
    for ln in desc.split("\n"):
        m = PROPOSED_LINE.match(ln)
        assert m, "unexpected proposed line %r in %r" % (ln, desc)
        out.append({"rank": int(m[1]), "id": m[2], "score": m[3], "total": int(m[4]),
                    "week": int(m[5]), "spark": m[6]})
    return out


def permanent_lines(desc):
    out = []
    for ln in desc.split("\n"):
        m = PERMANENT_LINE.match(ln)
        assert m, "unexpected permanent line %r in %r" % (ln, desc)
        out.append({"rank": int(m[1]), "id": m[2], "last": int(m[3]) if m[3] else 0,
                    "total": int(m[4]) if m[4] else 0, "none": bool(m[5])})
    return out


def snowflake_time(sf):
    return ((int(sf) >> 22) + DISCORD_EPOCH_MS) // 1000


def pass_times(bot):
    """Wall times of the bot's "stats pass N" log lines."""
    out = []
    for ln in bot.log_text().splitlines():
        if " activity: stats pass " in ln:
            ts = ln.split(" ", 1)[0]
            out.append(datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp())
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-070-")
    # fresh ids each run: the test Redis outlives a test
    base = random.randrange(10**17, 9 * 10**17) * 10
    A, B, C, P1, P2 = (str(base + i) for i in range(1, 6))
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        proposed_cat = world.ids["PROPOSED_CHANNEL_CATEGORY_ID"]
        permanent_cat = world.ids["PERMANENT_CHANNEL_CATEGORY_ID"]
        for cid, name, parent in ((A, "idea-a", proposed_cat), (B, "idea-b", proposed_cat),
                                  (C, "idea-c", proposed_cat), (P1, "perm-1", permanent_cat),
                                  (P2, "perm-2", permanent_cat)):
            emu.add_channel(GUILD, {"id": cid, "name": name, "type": 0, "parent_id": parent,
                                    "announce": False})
        proposed_ch = world.ids["PROPOSED_ACTIVITY_REPORT_CHANNEL_ID"]
        permanent_ch = world.ids["PERMANENT_ACTIVITY_REPORT_CHANNEL_ID"]
        PT, MT = "Proposed Channel Activity", "Permanent Channel Activity"

        with Agora(os.path.join(tmp, "bot1"), emu, world) as bot:
            bot.wait_online()
            db = bot.db
            ready_at = time.time()
            # 1. rows inserted while it runs; numbers seeded in Redis
            now = int(time.time())
            redis("HSET", "channel_stats:" + B, "total_messages", 100,
                  "last_message_timestamp", now - 2 * DAY)
            redis("ZADD", "channel_activity:" + B, now - 8 * DAY, "1", now - int(2.5 * DAY), "2",
                  now - int(2.5 * DAY) + 1, "3", now - int(2.5 * DAY) + 2, "4")
            redis("HSET", "channel_stats:" + P2, "total_messages", 7,
                  "last_message_timestamp", now - 3 * DAY)
            psql("INSERT INTO tracked_channels VALUES (%s, 'proposed'), (%s, 'proposed'), "
                 "(%s, 'proposed'), (%s, 'permanent'), (%s, 'permanent')" % (A, B, C, P1, P2), db=db)
            rep = wait_report(emu, proposed_ch, PT, lambda d: d.count("\n") == 2,
                              "the proposed report with 3 channels")
            lines = proposed_lines(rep["embeds"][0]["description"])
            assert [ln["id"] for ln in lines] == [B, A, C], lines  # A, C tie at 0: by id
            b = lines[0]
            # 2. 100 × 0.4 + 3 × 0.6
            assert (b["score"], b["total"], b["week"]) == ("41.8", 100, 3), b
            assert b["spark"] == "▁▁▁▁█▁▁", b  # 2.5 days ago: the fifth of seven days
            assert lines[1]["spark"] == "▁▁▁▁▁▁▁" and lines[1]["score"] == "0.0", lines
            assert redis("ZCARD", "channel_activity:" + B) == "3", "the 8-day-old entry is trimmed"
            # 3. permanent: P2 has a last message, P1 none
            mrep = wait_report(emu, permanent_ch, MT, lambda d: d.count("\n") == 1,
                               "the permanent report with 2 channels")
            plines = permanent_lines(mrep["embeds"][0]["description"])
            assert [ln["id"] for ln in plines] == [P2, P1], plines
            assert plines[0]["last"] == now - 3 * DAY and plines[0]["total"] == 7, plines
            assert plines[1]["none"], plines
            assert rep["allowed_mentions"] == {"parse": []}, rep
            first_ids = (rep["id"], mrep["id"])
            saved = psql("SELECT embed_name || '=' || channel_id || '/' || message_id FROM "
                         "persistent_embeds WHERE embed_name LIKE '%%_scores' ORDER BY 1", db=db)
            assert saved.split("\n") == ["permanent_scores=%s/%s" % (permanent_ch, mrep["id"]),
                                         "proposed_scores=%s/%s" % (proposed_ch, rep["id"])], saved
            # 6. the first pass soon after READY, then every 3 s
            Control.wait_for(lambda: len(pass_times(bot)) >= 4, timeout=20, what="four passes")
            times = pass_times(bot)
            assert times[0] - ready_at < 3.0, (times[0], ready_at)
            gaps = [b2 - a2 for a2, b2 in zip(times, times[1:])]
            assert all(2.95 <= g <= 4.5 for g in gaps), gaps
            print("pass gaps (STATS_REFRESH_INTERVAL_MINUTES = 0.05):",
                  ", ".join("%.2f s" % g for g in gaps))
        assert bot.status == 0, bot.status

        # 4, 5. a restart: the set is loaded, counting works, the same messages are edited
        posts_before = len([r for r in emu.requests(method="POST")
                            if r["path"].endswith("/channels/%s/messages" % proposed_ch)])
        with Agora(os.path.join(tmp, "bot2"), emu, world, db=db) as bot2:
            Control.wait_for(lambda: len(bot2.embeds_titled(world.admin_channel, "Bot Online")) >= 2,
                             timeout=15, what="the second Bot Online")
            sent = [emu.inject_message("hello %d" % i, channel_id=A, user_id=MEMBER_USER)["id"]
                    for i in range(5)]
            emu.inject_message("beep", channel_id=A, user_id=BOT_USER)  # a bot: not counted
            for i in range(2):
                emu.inject_message("c %d" % i, channel_id=C, user_id=MEMBER_USER)
            p1_msg = emu.inject_message("perm", channel_id=P1, user_id=MEMBER_USER)["id"]
            rep = wait_report(emu, proposed_ch, PT,
                              lambda d: "<#%s> · score **5.0** · 5 total · 5 this week" % A in d,
                              "A counted: 5 messages")
            lines = proposed_lines(rep["embeds"][0]["description"])
            assert [ln["id"] for ln in lines] == [B, A, C], lines
            assert lines[1]["spark"] == "▁▁▁▁▁▁█", lines[1]
            assert (lines[2]["score"], lines[2]["total"]) == ("2.0", 2), lines[2]
            assert rep["id"] == first_ids[0], "the same proposed report message is edited"
            members = redis("ZRANGE", "channel_activity:" + A, 0, -1, "WITHSCORES").split("\n")
            got = dict(zip(members[0::2], (int(s) for s in members[1::2])))
            assert got == {m: snowflake_time(m) for m in sent}, (got, sent)
            mrep = wait_report(emu, permanent_ch, MT, lambda d: d.startswith("**1.** <#%s>" % P1),
                               "P1 first in the permanent report")
            plines = permanent_lines(mrep["embeds"][0]["description"])
            assert plines[0]["last"] == snowflake_time(p1_msg) and plines[0]["total"] == 1, plines
            assert [ln["id"] for ln in plines] == [P1, P2], plines
            assert mrep["id"] == first_ids[1], "the same permanent report message is edited"
            posts_after = len([r for r in emu.requests(method="POST")
                               if r["path"].endswith("/channels/%s/messages" % proposed_ch)])
            assert posts_after == posts_before, "no second POST after the restart"
            patches = [r for r in emu.requests(method="PATCH")
                       if r["path"].endswith("/channels/%s/messages/%s" % (proposed_ch, rep["id"]))]
            assert len(patches) >= 2, patches

            # 7. deleted by hand: posted again, the new id saved
            rest(emu, "DELETE", "/channels/%s/messages/%s" % (proposed_ch, rep["id"]))
            again = wait_report(emu, proposed_ch, PT, lambda d: True, "the proposed report posted again")
            assert again["id"] != rep["id"]
            Control.wait_for(lambda: psql("SELECT message_id FROM persistent_embeds WHERE "
                                          "embed_name = 'proposed_scores'", db=db) == again["id"],
                             timeout=10, what="the new report message saved")
        assert bot2.status == 0, bot2.status
    print("ok")


if __name__ == "__main__":
    main()
