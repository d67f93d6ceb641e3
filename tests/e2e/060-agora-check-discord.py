#!/usr/bin/python3
"""060 — `agora --check-discord` and `agora --invite-url` against the emulator.

Proves, running the real ./agora against a world set up through the
emulator's control API (no PostgreSQL, Redis or gateway needed):
  1. a correct setup: exit 0, one "ok" line per check (token, application,
     guild, 7 channels/categories, server permissions, application
     commands), REST only: no gateway connection, no GET /gateway/bot, only
     GETs; the bot's only role holds exactly the invite URL's permission
     integer, so what --invite-url asks for is enough;
  2. every single bit of that integer is checked: a role lacking any one of
     them makes --check-discord exit 1 naming the permission;
  3. a wrong token: exit 1, the token line says Discord rejected it (401) and
     what to do, every later check is "skip", the token is never printed;
  4. the bot not in the guild (403 50001): exit 1, says so and points at
     --invite-url;
  5. a channel id that is a category, a category id that is a text channel,
     an id not in the guild: each named with the fix;
  6. a permission missing from the roles (@everyone's) and one taken away by
     channel overwrites, each attributed correctly; Discord's overwrite
     order: @everyone, then the member's roles together (an allow on one
     role beats a deny on another), then the member's own overwrite;
     implicit denials (no View Channel: nothing; no Send Messages: no Embed
     Links); category overwrites (Manage Channels); the ADMINISTRATOR and
     owner short-circuits. For every channel and category the verdict is
     compared with discord.py's own permissions_for() (an independent
     implementation of the same algorithm) on the same REST answers;
  7. the emoji permissions (server level) and the applications.commands
     scope (403 on the guild's commands) are reported;
  8. --invite-url prints exactly one line: the OAuth2 URL with the
     application id Discord returns (made different from the bot's user id
     here), scopes bot+applications.commands and the permission integer
     computed here from Discord's documented bit values; a wrong token
     prints nothing on stdout and exits 1.
"""

import asyncio
import os
import ssl
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import aiohttp  # noqa: E402
import discord  # noqa: E402

from tests.emulator.client import Emulator  # noqa: E402

AGORA = os.environ.get("AGORA_BIN", os.path.join(ROOT, "agora"))
GUILD = "1500000000000000001"
OWNER = "1500000000000000100"   # a human owner, not the bot
BOT_ROLE = "1510000000000000001"
MUTED_ROLE = "1510000000000000002"
APP_ID = "1400000000000000009"  # what GET /oauth2/applications/@me answers

# Discord's documented bits (docs: Topics, Permissions), written out here
# independently of src/permissions.h
VIEW, SEND, EMBED, HISTORY = 1 << 10, 1 << 11, 1 << 14, 1 << 16
MANAGE_CHANNELS, ADMIN = 1 << 4, 1 << 3
MANAGE_EXPR, CREATE_EXPR = 1 << 30, 1 << 43
TEXT_NEEDS = VIEW | SEND | EMBED | HISTORY
CATEGORY_NEEDS = VIEW | MANAGE_CHANNELS | HISTORY
GUILD_NEEDS = MANAGE_EXPR | CREATE_EXPR
INVITE = TEXT_NEEDS | CATEGORY_NEEDS | GUILD_NEEDS
NAMES = {VIEW: "View Channel", SEND: "Send Messages", EMBED: "Embed Links",
         HISTORY: "Read Message History", MANAGE_CHANNELS: "Manage Channels",
         MANAGE_EXPR: "Manage Expressions", CREATE_EXPR: "Create Expressions"}

TEXT = {
    "ADMIN_NOTIFICATION_CHANNEL_ID": ("1520000000000000001", "admin-log"),
    "QUEUE_CHANNEL_ID": ("1520000000000000002", "queue"),
    "PUBLIC_ANNOUNCEMENT_CHANNEL_ID": ("1520000000000000003", "announcements"),
    "PROPOSED_ACTIVITY_REPORT_CHANNEL_ID": ("1520000000000000004", "proposed-activity"),
    "PERMANENT_ACTIVITY_REPORT_CHANNEL_ID": ("1520000000000000005", "permanent-activity"),
}
CATEGORIES = {
    "PROPOSED_CHANNEL_CATEGORY_ID": ("1520000000000000010", "Proposed"),
    "PERMANENT_CHANNEL_CATEGORY_ID": ("1520000000000000020", "Permanent"),
}
KEYS = list(TEXT) + list(CATEGORIES)
IDS = {k: v[0] for k, v in {**TEXT, **CATEGORIES}.items()}

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL - %s" % what, flush=True)
    return cond


def step(name):
    print("ok - %s" % name, flush=True)


class World:
    def __init__(self, emu, tmp):
        self.emu, self.tmp = emu, tmp
        self.bot_id = emu.state()["bot_user"]["id"]
        self.secrets = os.path.join(tmp, "secrets")
        os.makedirs(self.secrets, exist_ok=True)
        self.set_token(emu.token)
        self.conf = os.path.join(tmp, "agora.conf")
        self.write_conf()

    def reset(self, everyone=0, bot_role=INVITE):
        """A guild where the bot's one role holds exactly `bot_role`."""
        self.emu.reset(guilds=[{
            "id": GUILD, "name": "Preflight Guild", "owner_id": OWNER,
            "roles": [{"id": GUILD, "name": "@everyone", "permissions": str(everyone)},
                      {"id": BOT_ROLE, "name": "Agora", "permissions": str(bot_role), "position": 1},
                      {"id": MUTED_ROLE, "name": "Muted", "permissions": "0", "position": 2}],
            "channels": [{"id": cid, "name": name, "type": 4} for cid, name in CATEGORIES.values()]
            + [{"id": cid, "name": name, "type": 0} for cid, name in TEXT.values()],
            "members": [{"user": {"id": self.bot_id, "username": "Agora", "bot": True}, "roles": [BOT_ROLE]},
                        {"user": {"id": OWNER, "username": "owner"}, "roles": []}],
        }])

    def set_token(self, token):
        with open(os.path.join(self.secrets, "discord_bot_token"), "w") as f:
            f.write(token + "\n")

    def write_conf(self, **override):
        conf = {"GUILD_ID": GUILD, **IDS, "DISCORD_API_URL": self.emu.api_base,
                "TLS_CA_FILE": self.emu.ca_file, "SECRETS_DIR": self.secrets, "HEALTH_PORT": "0"}
        conf.update(override)
        with open(self.conf, "w") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))

    def run(self, mode="--check-discord"):
        r = subprocess.run([AGORA, mode, "-c", self.conf], capture_output=True, text=True, timeout=60)
        return r.returncode, r.stdout, r.stderr

    def check_discord(self):
        """(exit status, {check name: (word, text)}, stdout)"""
        code, out, err = self.run()
        lines = {}
        for ln in out.splitlines():
            word, _, text = ln.partition(" ")
            text = text.strip()
            if word in ("ok", "FAIL", "skip"):
                name = text.split(":", 1)[0]
                # "QUEUE_CHANNEL_ID 1520..." -> "QUEUE_CHANNEL_ID"; "guild 1500..." -> "guild"
                lines[name.split(" ")[0] if name.split(" ")[0] in KEYS + ["guild"] else name] = (word, text)
        return code, lines, out + err


async def discordpy_permissions(emu):
    """discord.py's permissions_for() of the bot in each configured channel,
    from the same REST answers (GET guild, member, channels)."""
    client = discord.Client(intents=discord.Intents.none())
    client.http.connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=emu.ca_file), limit=0)
    await client.login(emu.token)
    try:
        guild = await client.fetch_guild(int(GUILD))
        me = await guild.fetch_member(client.user.id)
        channels = {c.id: c for c in await guild.fetch_channels()}
        return {key: channels[int(cid)].permissions_for(me).value
                for key, cid in IDS.items() if int(cid) in channels}
    finally:
        await client.close()


def agrees_with_discordpy(world, lines, label):
    perms = asyncio.run(discordpy_permissions(world.emu))
    ok = True
    for key in KEYS:
        need = TEXT_NEEDS if key in TEXT else CATEGORY_NEEDS
        dpy_ok = (perms[key] & need) == need
        ours = lines.get(key, ("?", ""))[0] == "ok"
        ok &= check(dpy_ok == ours, "%s: %s: agora says %s, discord.py computes %s"
                    % (label, key, lines.get(key), bin(perms[key])))
    return ok


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-060-")
    with Emulator(os.path.join(tmp, "emu")) as emu:
        discord.http.Route.BASE = emu.api_base
        emu.config(application_id=APP_ID)
        w = World(emu, tmp)

        # 1. everything right; the bot's role holds exactly the invite's integer
        w.reset(everyone=0, bot_role=INVITE)
        code, lines, out = w.check_discord()
        check(code == 0, "correct setup exits 0:\n" + out)
        expected = ["token", "application", "guild", *KEYS, "server permissions", "application commands"]
        check(sorted(lines) == sorted(expected), "one line per check: %r" % sorted(lines))
        check(all(v[0] == "ok" for v in lines.values()), "all ok:\n" + out)
        check(out.strip().splitlines()[-1] == "check-discord: every check passed", "summary line:\n" + out)
        check("Create Expressions" in lines["server permissions"][1], "server line names the emoji permission")
        check(APP_ID in lines["application"][1], "application id reported")
        gw = emu.gateway()
        reqs = emu.requests()
        check(not gw["connections"] and not gw["identifies"], "no gateway connection: %r" % gw["connections"])
        check(all(r["method"] == "GET" for r in reqs), "only GET requests: %r" % [(r["method"], r["path"]) for r in reqs])
        check(not any(r["path"].startswith("/gateway") for r in reqs), "no GET /gateway/bot")
        check({r["path"] for r in reqs} == {
            "/users/@me", "/oauth2/applications/@me", "/guilds/%s" % GUILD,
            "/guilds/%s/members/%s" % (GUILD, w.bot_id), "/guilds/%s/channels" % GUILD,
            "/applications/%s/guilds/%s/commands" % (APP_ID, GUILD)}, "the six REST reads")
        agrees_with_discordpy(w, lines, "correct setup")
        step("correct setup: exit 0, %d ok lines, REST only (%d GETs, no gateway), "
             "the invite integer is enough" % (len(lines), len(reqs)))

        # 2. each bit of the invite integer is checked
        for bit, name in NAMES.items():
            w.reset(everyone=0, bot_role=INVITE & ~bit)
            code, lines, out = w.check_discord()
            failed = [k for k, v in lines.items() if v[0] == "FAIL"]
            check(code == 1 and failed, "without %s: exit 1 (%s)" % (name, code))
            check(all(name in lines[k][1] for k in failed), "without %s: each failing line names it:\n%s" % (name, out))
            check(all("its roles do not grant" in lines[k][1] or k == "server permissions" for k in failed),
                  "without %s: attributed to the roles:\n%s" % (name, out))
        step("each of the %d permission bits of the invite URL is checked and named" % len(NAMES))

        # 3. wrong token
        w.reset()
        bad = "MTIzNDU2Nzg5.wrong-token-never-printed"
        w.set_token(bad)
        code, lines, out = w.check_discord()
        check(code == 1, "wrong token exits 1")
        check(lines.get("token", ("", ""))[0] == "FAIL" and "401" in lines["token"][1]
              and "discord_bot_token" in lines["token"][1], "token line says 401 and the fix:\n" + out)
        check([k for k, v in lines.items() if v[0] != "skip"] == ["token"], "every later check skipped:\n" + out)
        check(bad not in out and bad[:12] not in out, "the token is not printed")
        code, url_out, url_err = w.run("--invite-url")
        check(code == 1 and url_out == "" and "401" in url_err, "--invite-url with a wrong token: exit 1, "
              "nothing on stdout: %r %r" % (url_out, url_err))
        w.set_token(emu.token)
        step("wrong token: 401 named with the fix, later checks skipped, token not printed")

        # 4. the bot is not in the guild
        emu.remove_member(GUILD, w.bot_id, announce=False)
        code, lines, out = w.check_discord()
        g = lines.get("guild", ("", ""))
        check(code == 1 and g[0] == "FAIL" and "not a member" in g[1] and "50001" in g[1]
              and "--invite-url" in g[1], "not in the guild:\n" + out)
        check(all(lines[k][0] == "skip" for k in KEYS), "channel checks skipped")
        step("bot not in the guild: 403 50001 named, --invite-url suggested")

        # 5. wrong kinds of ids
        w.reset()
        w.write_conf(QUEUE_CHANNEL_ID=IDS["PROPOSED_CHANNEL_CATEGORY_ID"],
                     PERMANENT_CHANNEL_CATEGORY_ID=IDS["PUBLIC_ANNOUNCEMENT_CHANNEL_ID"],
                     PROPOSED_ACTIVITY_REPORT_CHANNEL_ID="1529999999999999999")
        code, lines, out = w.check_discord()
        check(code == 1, "wrong ids exit 1")
        q, c, m = lines["QUEUE_CHANNEL_ID"], lines["PERMANENT_CHANNEL_CATEGORY_ID"], \
            lines["PROPOSED_ACTIVITY_REPORT_CHANNEL_ID"]
        check(q[0] == "FAIL" and "is a category (type 4)" in q[1] and "set QUEUE_CHANNEL_ID to a text channel" in q[1],
              "a category given as a channel:\n" + out)
        check(c[0] == "FAIL" and "is a text channel (type 0), not a category" in c[1], "a channel given as a category")
        check(m[0] == "FAIL" and "no channel with this id" in m[1], "an id not in the guild")
        check(sum(v[0] == "FAIL" for v in lines.values()) == 3, "only those three fail:\n" + out)
        w.write_conf()
        step("a category as a channel, a channel as a category, an unknown id: each named with the fix")

        # 6. permissions from roles and overwrites, checked against discord.py
        def scenario(label, everyone=0, bot_role=INVITE, member_roles=None, owner=None, overwrites=None,
                     expect_fail=(), expect_text=None):
            w.reset(everyone=everyone, bot_role=bot_role)
            if member_roles is not None:
                emu.update_member(GUILD, w.bot_id, roles=member_roles)
            if owner:
                emu.update_guild(GUILD, owner_id=owner)
            for key, ows in (overwrites or {}).items():
                emu.update_channel(IDS[key], permission_overwrites=ows)
            code, lines, out = w.check_discord()
            failed = sorted(k for k, v in lines.items() if v[0] != "ok")
            check(failed == sorted(expect_fail), "%s: failing %r, expected %r:\n%s" % (label, failed, list(expect_fail), out))
            check(code == (1 if expect_fail else 0), "%s: exit %d" % (label, code))
            for key, texts in (expect_text or {}).items():
                for t in texts:
                    check(t in lines[key][1], "%s: %s says %r:\n%s" % (label, key, t, lines[key][1]))
            agrees_with_discordpy(w, lines, label)

        def ow(target, allow=0, deny=0, member=False):
            return {"id": target, "type": 1 if member else 0, "allow": str(allow), "deny": str(deny)}

        # @everyone grants the channel basics, the bot's role the rest; @everyone lacks Embed Links
        scenario("missing from roles", everyone=VIEW | SEND | HISTORY, bot_role=CATEGORY_NEEDS | GUILD_NEEDS,
                 expect_fail=list(TEXT),
                 expect_text={k: ["the bot lacks Embed Links", "its roles do not grant Embed Links"] for k in TEXT})
        scenario("@everyone overwrite denies Send", overwrites={
            "PUBLIC_ANNOUNCEMENT_CHANNEL_ID": [ow(GUILD, deny=SEND)]},
            expect_fail=["PUBLIC_ANNOUNCEMENT_CHANNEL_ID"],
            expect_text={"PUBLIC_ANNOUNCEMENT_CHANNEL_ID": [
                "lacks Send Messages, Embed Links", "overwrites deny Send Messages, Embed Links"]})
        scenario("member overwrite allows it back (applied last)", overwrites={
            "PUBLIC_ANNOUNCEMENT_CHANNEL_ID": [ow(GUILD, deny=SEND), ow(BOT_ROLE, deny=SEND),
                                               ow(w.bot_id, allow=SEND, member=True)]})
        scenario("role overwrite denies View after @everyone allows it", overwrites={
            "QUEUE_CHANNEL_ID": [ow(GUILD, allow=VIEW), ow(BOT_ROLE, deny=VIEW)]},
            expect_fail=["QUEUE_CHANNEL_ID"],
            expect_text={"QUEUE_CHANNEL_ID": [
                "lacks View Channel, Send Messages, Embed Links, Read Message History"]})
        scenario("an allow on one role beats a deny on another", member_roles=[BOT_ROLE, MUTED_ROLE],
                 overwrites={"QUEUE_CHANNEL_ID": [ow(MUTED_ROLE, deny=SEND | VIEW), ow(BOT_ROLE, allow=SEND | VIEW)]})
        scenario("a role overwrite the bot does not hold changes nothing",
                 overwrites={"QUEUE_CHANNEL_ID": [ow(MUTED_ROLE, deny=TEXT_NEEDS)]})
        scenario("category overwrite denies Manage Channels", overwrites={
            "PERMANENT_CHANNEL_CATEGORY_ID": [ow(BOT_ROLE, deny=MANAGE_CHANNELS)]},
            expect_fail=["PERMANENT_CHANNEL_CATEGORY_ID"],
            expect_text={"PERMANENT_CHANNEL_CATEGORY_ID": [
                "lacks Manage Channels", "this category's permission overwrites deny Manage Channels"]})
        both = {"QUEUE_CHANNEL_ID": [ow(GUILD, deny=VIEW), ow(w.bot_id, deny=SEND, member=True)],
                "PROPOSED_CHANNEL_CATEGORY_ID": [ow(BOT_ROLE, deny=MANAGE_CHANNELS | VIEW)]}
        scenario("ADMINISTRATOR bypasses every overwrite", bot_role=ADMIN, overwrites=both)
        scenario("the owner bypasses roles and overwrites", bot_role=0, owner=w.bot_id, overwrites=both)
        scenario("without ADMINISTRATOR those overwrites bite", overwrites=both,
                 expect_fail=["QUEUE_CHANNEL_ID", "PROPOSED_CHANNEL_CATEGORY_ID"])
        step("permissions from roles and overwrites: Discord's order, implicit denials, category overwrites, "
             "ADMINISTRATOR and owner; every verdict equal to discord.py's permissions_for()")

        # 7. emoji permissions and the commands scope
        scenario("no emoji permissions", bot_role=TEXT_NEEDS | CATEGORY_NEEDS,
                 expect_fail=["server permissions"],
                 expect_text={"server permissions": ["lacks Manage Expressions, Create Expressions"]})
        w.reset()
        emu.update_guild(GUILD, commands_scope=False)
        code, lines, out = w.check_discord()
        a = lines.get("application commands", ("", ""))
        check(code == 1 and a[0] == "FAIL" and "applications.commands" in a[1] and "403" in a[1],
              "commands scope missing:\n" + out)
        check(sum(v[0] == "FAIL" for v in lines.values()) == 1, "only the commands line fails")
        step("emoji permissions at server level and the applications.commands scope (403) reported")

        # 8. the invite URL
        w.reset()
        code, out, err = w.run("--invite-url")
        want = ("https://discord.com/oauth2/authorize?client_id=%s&scope=bot+applications.commands"
                "&permissions=%d\n" % (APP_ID, INVITE))
        check(code == 0 and out == want, "--invite-url prints %r, expected %r (stderr %r)" % (out, want, err))
        check(APP_ID != w.bot_id, "the application id differs from the bot's user id here")
        step("--invite-url: %s" % out.strip())
    if failures:
        print("%d failure(s)" % len(failures))
        sys.exit(1)
    print("060-agora-check-discord: all steps passed")


if __name__ == "__main__":
    main()
