#!/usr/bin/python3
"""073 — /refresh_channels (spec 7.2) and the channel lifecycle between
refreshes (gateway CHANNEL_UPDATE / CHANNEL_DELETE).

Proves, with the real ./agora against the emulator, PostgreSQL and Redis:
  1. /refresh_channels defers, reads the guild's channels with exactly ONE
     REST call, and makes tracked_channels match both categories: a text
     channel of the proposed category not tracked yet is added, a
     permanent one tracked as "proposed" is moved, a row whose channel is
     gone is removed; a voice channel in the category is not tracked; the
     ephemeral reply lists what was added, moved and removed;
  2. the in-memory set follows: the added channel's messages count at
     once (no restart);
  3. a second refresh says nothing changed; a channel Discord has but the
     gateway never announced (no CHANNEL_CREATE) is added, and the reply
     says the gateway's list differed from Discord's;
  4. Discord's list unreadable (403): nothing changes, the reply says so;
  5. between refreshes, from the gateway's events: a tracked channel
     deleted by hand stops being tracked, one moved by hand to the other
     category changes category, one moved out of both is untracked.
"""

import json
import os
import random
import ssl
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ADMIN_PERMISSIONS, ADMIN_USER, GUILD, Agora, World, psql, redis  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402


def rest(emu, method, path, body=None):
    ctx = ssl.create_default_context(cafile=emu.ca_file)
    req = urllib.request.Request(emu.api_base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Authorization": "Bot " + emu.token,
                                          "Content-Type": "application/json",
                                          "User-Agent": "DiscordBot (test, 1)"})
    with urllib.request.urlopen(req, context=ctx, timeout=5) as r:
        data = r.read()
        return json.loads(data) if data else None


def refresh(emu):
    inj = emu.inject_slash("refresh_channels", {}, user_id=ADMIN_USER, permissions=ADMIN_PERMISSIONS)

    def final():
        it = emu.interaction(inj["id"])
        if not it["responses"]:
            return None
        r = it["responses"][0]
        assert r["type"] == 5 and r["data"].get("flags", 0) & 64, r  # deferred, ephemeral
        return it["edits"][-1]["body"]["content"] if it["edits"] else None
    return Control.wait_for(final, timeout=10, what="the /refresh_channels answer")


def rows(db):
    out = psql("SELECT channel_id || ' ' || category FROM tracked_channels ORDER BY 1", db=db)
    return sorted(out.split("\n")) if out else []


def guild_reads(emu):
    return len([r for r in emu.requests(method="GET") if r["path"].endswith("/guilds/%s/channels" % GUILD)])


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-073-")
    base = random.randrange(10**17, 9 * 10**17) * 10
    P1, P2, M1, OLD, V, G, NEW = (str(base + i) for i in range(1, 8))
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        proposed_cat = world.ids["PROPOSED_CHANNEL_CATEGORY_ID"]
        permanent_cat = world.ids["PERMANENT_CHANNEL_CATEGORY_ID"]
        for cid, name, ctype, parent in ((P1, "idea-p1", 0, proposed_cat),
                                         (P2, "idea-p2", 0, proposed_cat),
                                         (M1, "perm-m1", 0, permanent_cat),
                                         (V, "voice-v", 2, proposed_cat),
                                         (G, "general-g", 0, None)):
            emu.add_channel(GUILD, {"id": cid, "name": name, "type": ctype, "parent_id": parent,
                                    "announce": False})
        # the world's own channel in the proposed category is a text channel too
        W0 = world.proposed_channel
        with Agora(os.path.join(tmp, "migrate"), emu, world) as first:
            first.wait_log("database schema up to date")
            db = first.db
        psql("INSERT INTO tracked_channels VALUES (%s, 'proposed'), (%s, 'proposed'), "
             "(%s, 'proposed'), (%s, 'proposed')" % (P1, M1, OLD, W0), db=db)
        redis("DEL", "channel_stats:" + P2, "channel_activity:" + P2)

        with Agora(os.path.join(tmp, "bot"), emu, world, db=db) as bot:
            bot.wait_online()
            bot.wait_log("slash commands")  # this bot's session (the first one may have said Bot Online)
            # 1. the refresh
            reads = guild_reads(emu)
            text = refresh(emu)
            assert guild_reads(emu) == reads + 1, "exactly one REST read of the guild's channels"
            assert text.startswith("Tracked channels refreshed: 3 proposed and 1 permanent channels "
                                   "tracked."), text
            assert "Added (1): <#%s> (proposed)" % P2 in text, text
            assert "Moved (1): <#%s> (permanent)" % M1 in text, text
            assert "Removed (1): <#%s>" % OLD in text, text
            assert "<#%s>" % V not in text and "<#%s>" % G not in text, text
            assert rows(db) == sorted(["%s proposed" % P1, "%s proposed" % P2, "%s proposed" % W0,
                                       "%s permanent" % M1]), rows(db)
            # 2. the set in memory follows
            emu.inject_messages(2, channel_id=P2)
            Control.wait_for(lambda: redis("HGET", "channel_stats:" + P2, "total_messages") == "2",
                             timeout=10, what="P2 counted after the refresh")

            # 3. nothing to do; then a channel the gateway never announced
            text = refresh(emu)
            assert text.startswith("Nothing changed: 3 proposed and 1 permanent"), text
            assert "differed" not in text, text
            emu.add_channel(GUILD, {"id": NEW, "name": "idea-new", "type": 0, "parent_id": proposed_cat,
                                    "announce": False})
            text = refresh(emu)
            assert "Added (1): <#%s> (proposed)" % NEW in text, text
            assert "differed from Discord's on 1 channel" in text, text

            # 4. Discord unreadable: nothing changes
            before = rows(db)
            emu.rest_fault(route="GET /guilds/{guild_id}/channels", count=1, status=403)
            text = refresh(emu)
            assert "could not be read" in text and "nothing was changed" in text, text
            assert rows(db) == before

            # 5. by hand, between refreshes (gateway events)
            rest(emu, "DELETE", "/channels/%s" % P2)
            rest(emu, "PATCH", "/channels/%s" % P1, {"parent_id": permanent_cat})
            rest(emu, "PATCH", "/channels/%s" % M1, {"parent_id": None})
            want = sorted(["%s permanent" % P1, "%s proposed" % W0, "%s proposed" % NEW])
            Control.wait_for(lambda: rows(db) == want, timeout=10,
                             what="tracked_channels after the hand moves: %s" % want)
            log = bot.log_text()
            assert "tracked channel %s was deleted" % P2 in log
            assert "tracked channel %s moved to the permanent category" % P1 in log
            assert "tracked channel %s left both categories" % M1 in log
            # and the set in memory agrees: a refresh finds nothing to do
            text = refresh(emu)
            assert text.startswith("Nothing changed: 2 proposed and 1 permanent"), text
        assert bot.status == 0, bot.status
    print("ok")


if __name__ == "__main__":
    main()
