#!/usr/bin/python3
"""`./build.sh demo` — Agora at work, for someone with no Discord account yet.

Starts a throwaway PostgreSQL and Redis (tests/services.sh), the Discord
emulator (tests/emulator) and a fake LLM (tests/peers/fake_llm.py), runs the
real ./agora against them, and plays a short scripted tour, printing what
members and admins would see in Discord as plain text:

  1. the bot comes online;
  2. a member proposes a channel; the LLM names it; admins get the
     notification and the "Pending Proposals" queue;
  3. an admin approves it with one button: the channel appears, the member
     gets a DM, the server an announcement;
  4. a member files a confidential report; admins see it and its queue;
  5. a burst of messages in the new channel, then the refreshed activity
     ranking;
  6. /status; then the bot is stopped (SIGTERM) and says goodbye.

Everything it started is stopped on exit, on an error and on Ctrl-C. About
half a minute. Options: --pace SECONDS (a pause between scenes, default 0),
--keep (keep the temp directory with every log), and AGORA_BIN (the binary;
default ./agora). tests/e2e/061-agora-demo.py runs it and checks what it shows.
"""

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

from tests.emulator.client import Control, Emulator  # noqa: E402

ADMIN, MEMBER, CAROL, DAVE = "1300000000000000001", "1300000000000000002", "1300000000000000003", \
    "1300000000000000004"
ADMIN_PERMISSIONS = str((1 << 41) - 1)
WIDTH = 78


class Tour:
    def __init__(self, emu, world, pace):
        self.emu, self.world, self.pace = emu, world, pace
        self.names = {}

    # ------------------------------------------------------------ text
    def refresh_names(self):
        st = self.emu.state()
        for g in st["guilds"]:
            for c in g["channels"]:
                self.names["#" + c["id"]] = c["name"]
            for m in g["members"]:
                self.names["@" + m["user"]["id"]] = m["user"]["username"]
        self.names["@" + st["bot_user"]["id"]] = st["bot_user"]["username"]

    def plain(self, text):
        """Discord markup as a client shows it: mentions by name, times
        relative, bold and code marks dropped."""
        if not text:
            return ""
        self.refresh_names() if re.search(r"<[#@]!?\d+>", text) else None
        text = re.sub(r"<#(\d+)>", lambda m: "#" + self.names.get("#" + m.group(1), m.group(1)), text)
        text = re.sub(r"<@!?(\d+)>", lambda m: "@" + self.names.get("@" + m.group(1), m.group(1)), text)
        text = re.sub(r"<t:(\d+):R>", lambda m: "%d s ago" % max(0, time.time() - int(m.group(1))), text)
        text = re.sub(r"<t:(\d+)(?::\w)?>", lambda m: time.strftime("%Y-%m-%d %H:%M UTC",
                                                                     time.gmtime(int(m.group(1)))), text)
        return text.replace("**", "").replace("`", "")

    def scene(self, title):
        if self.pace:
            time.sleep(self.pace)
        print("\n" + "=" * WIDTH + "\n " + title + "\n" + "=" * WIDTH, flush=True)

    def say(self, who, text):
        print("  %s %s" % (who, text), flush=True)

    def show_message(self, where, m, note=""):
        author = m.get("author", {}).get("username", "?")
        print("  [%s] %s%s:" % (where, author, note), flush=True)
        if m.get("content"):
            for ln in self.plain(m["content"]).splitlines():
                print("  |   " + ln)
        for e in m.get("embeds") or []:
            if e.get("title"):
                print("  |   ┃ " + self.plain(e["title"]).upper())
            for ln in self.plain(e.get("description", "")).splitlines():
                print("  |   ┃ " + ln)
            for f in e.get("fields") or []:
                print("  |   ┃ %s: %s" % (self.plain(f["name"]), self.plain(f["value"]).replace("\n", " / ")))
            if (e.get("footer") or {}).get("text"):
                print("  |   ┃ (" + self.plain(e["footer"]["text"]) + ")")
        for row in m.get("components") or []:
            print("  |   " + "  ".join("[ %s ]" % c.get("label", c.get("custom_id"))
                                      for c in row.get("components", [])))
        sys.stdout.flush()

    # ------------------------------------------------------------ Discord side
    def channel_id(self, key):
        return self.world.ids[key]

    def latest(self, channel, title=None, after=None):
        msgs = [m for m in self.emu.messages(channel) if not m.get("deleted")
                and (title is None or any(e.get("title") == title for e in m.get("embeds") or []))
                and (after is None or int(m["id"]) > int(after))]
        return msgs[-1] if msgs else None

    def wait_message(self, channel, title=None, after=None, check=None, what="a message", timeout=15):
        def find():
            m = self.latest(channel, title, after)
            return m if m and (check is None or check(m)) else None
        return Control.wait_for(find, timeout=timeout, what=what)

    def answer(self, inj, timeout=15):
        """What the user sees of an interaction's answer: (text, message)."""
        def final():
            it = self.emu.interaction(inj["id"])
            if not it["responses"]:
                return None
            r = it["responses"][0]
            if r["type"] in (4, 7):
                return r["data"]
            if it["edits"]:
                return it["edits"][-1]["body"]
            return None
        return Control.wait_for(final, timeout=timeout, what="the answer to %s" % inj["id"])

    def slash(self, user, name, options, admin=False):
        inj = self.emu.inject_slash(name, options, user_id=user, permissions=ADMIN_PERMISSIONS if admin else "0")
        return inj, self.answer(inj)

    def dms(self, user):
        chans = [c["id"] for c in self.emu.get("/channels") if c.get("dm_user_id") == user]
        return [m for c in chans for m in self.emu.messages(c)]


def start_services():
    out = subprocess.run([os.path.join(ROOT, "tests", "services.sh"), "start"], check=True,
                         capture_output=True, text=True).stdout
    for name, value in re.findall(r"^export (\w+)=(.*)$", out, re.M):
        os.environ[name] = value.strip("'\"")
    return os.environ.get("AGORA_TEST_SERVICES_DIR")


def stop_services(directory):
    if directory:
        subprocess.run([os.path.join(ROOT, "tests", "services.sh"), "stop"], capture_output=True,
                       env=dict(os.environ, AGORA_TEST_SERVICES_DIR=directory))


def tour(emu, llm, tmp, pace):
    from agora import Agora, World
    world = World(emu)
    for uid, name in ((CAROL, "carol"), (DAVE, "dave")):
        emu.add_member(world.ids["GUILD_ID"], {"user": {"id": uid, "username": name}, "roles": [],
                                              "announce": False})
    t = Tour(emu, world, pace)
    admin_log, queue = world.ids["ADMIN_NOTIFICATION_CHANNEL_ID"], world.ids["QUEUE_CHANNEL_ID"]
    public, proposed_activity = world.ids["PUBLIC_ANNOUNCEMENT_CHANNEL_ID"], \
        world.ids["PROPOSED_ACTIVITY_REPORT_CHANNEL_ID"]
    bot = Agora(os.path.join(tmp, "bot"), emu, world, start=False,
                extra={"OPEN_WEB_UI_URL": llm.url, "LOG_LEVEL": "INFO"})
    with open(os.path.join(bot.workdir, "secrets", "open_webui_token"), "w") as f:
        f.write("sk-demo\n")
    with bot:
        t.scene("1. The bot starts: PostgreSQL, Redis, the Discord gateway, slash commands")
        bot.start()
        bot.wait_online(timeout=30)
        t.show_message("#admin-notifications", t.latest(admin_log, "Bot Online"))
        cmds = sorted(c["name"] for c in emu.commands().get(world.ids["GUILD_ID"], []))
        t.say("·", "slash commands registered in the server: /" + ", /".join(cmds))

        t.scene("2. bob proposes a channel; the LLM suggests its name")
        idea = "a place to swap retro games, emulators and old console memories"
        llm.control(name="Retro Games")
        t.say("bob types:", "/propose_channel idea_text: %s" % idea)
        _, data = t.slash(MEMBER, "propose_channel", {"idea_text": idea})
        t.say("bob sees (only bob):", data.get("content"))
        note = t.wait_message(admin_log, after=None, check=lambda m: "retro-games" in str(m.get("embeds")),
                              what="the proposal notification")
        t.show_message("#admin-notifications", note)
        t.show_message("#queue", t.wait_message(queue, "Pending Proposals",
                                                check=lambda m: "retro-games" in str(m["embeds"]),
                                                what="the proposal queue"))

        t.scene("3. alice (admin) approves it with one click")
        t.say("alice types:", "/approve_proposal proposal_id: 1")
        inj, data = t.slash(ADMIN, "approve_proposal", {"proposal_id": 1}, admin=True)
        it = emu.interaction(inj["id"])
        msg_id = it.get("original_id") or (it.get("original") or {}).get("id")
        t.show_message("alice sees (only alice)", {"author": {"username": "Agora"}, **data})
        approve = [c for row in data.get("components") or [] for c in row["components"]
                   if c.get("custom_id", "").startswith("pq:approve:")]
        t.say("alice clicks:", "[ %s ]" % approve[0]["label"])
        click = emu.inject_component(approve[0]["custom_id"], message_id=msg_id, user_id=ADMIN,
                                     permissions=ADMIN_PERMISSIONS)
        done = t.answer(click)
        t.say("alice sees:", t.plain(done.get("content")))
        made = Control.wait_for(lambda: [c for c in emu.guild(world.ids["GUILD_ID"])["channels"]
                                         if c["name"] == "retro-games"], timeout=10, what="the new channel")[0]
        t.refresh_names()
        parent = t.names.get("#" + str(made.get("parent_id")), "?")
        t.say("·", "new channel #%s in the category %s" % (made["name"], parent))
        dm = Control.wait_for(lambda: [m for m in t.dms(MEMBER) if "approved" in (m.get("content") or "")],
                              timeout=10, what="bob's DM")[-1]
        t.show_message("DM to bob", dm)
        t.show_message("#announcements", t.wait_message(public, check=lambda m: made["id"] in str(m["embeds"]),
                                                        what="the announcement"))

        t.scene("4. carol files a confidential report")
        text = "someone in #general keeps posting a fake giveaway link"
        t.say("carol types:", "/report description: %s" % text)
        _, data = t.slash(CAROL, "report", {"description": text})
        t.say("carol sees (only carol):", data.get("content"))
        t.show_message("#admin-notifications", t.wait_message(admin_log, check=lambda m: "fake giveaway" in
                                                              str(m.get("embeds")), what="the report notification"))
        t.show_message("#queue", t.wait_message(queue, "Pending User Reports",
                                                check=lambda m: "fake giveaway" in str(m["embeds"]),
                                                what="the report queue"))

        t.scene("5. a burst of messages in #retro-games, then the activity ranking")
        before = t.latest(proposed_activity, "Proposed Channel Activity")
        lines = ["anyone still have a working N64?", "the SNES mini is underrated", "DOSBox tips thread?",
                 "look what I found at a flea market", "Game Boy Camera pictures incoming"]
        n = 0
        for i in range(24):
            user = (MEMBER, CAROL, DAVE)[i % 3]
            emu.inject_message(lines[i % len(lines)], channel_id=made["id"], user_id=user)
            n += 1
        t.say("·", "%d messages from bob, carol and dave in #retro-games" % n)
        report = t.wait_message(proposed_activity, "Proposed Channel Activity",
                                check=lambda m: "%d total" % n in str(m["embeds"]) and made["id"] in str(m["embeds"]),
                                what="the refreshed activity report", timeout=20)
        t.show_message("#proposed-activity", report,
                       note=" (edited in place)" if before and before["id"] == report["id"] else "")

        t.scene("6. /status, then the bot is stopped (SIGTERM)")
        _, data = t.slash(ADMIN, "status", {}, admin=True)
        t.say("alice sees (only alice):", data.get("content"))
        status, took = bot.stop()
        bye = t.wait_message(admin_log, "Bot Shutting Down", what="the goodbye")
        t.show_message("#admin-notifications", bye)
        t.say("·", "agora exited with status %d in %.1f s" % (status, took))
        if status != 0:
            raise RuntimeError("agora exited with %d" % status)
    return bot.log_path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pace", type=float, default=0.0, help="seconds to pause between scenes")
    ap.add_argument("--keep", action="store_true", help="keep the temp directory (logs)")
    args = ap.parse_args()
    binary = os.environ.get("AGORA_BIN", os.path.join(ROOT, "agora"))
    if not os.access(binary, os.X_OK):
        print("demo: %s is missing: run ./build.sh first" % binary, file=sys.stderr)
        return 1
    os.environ["AGORA_BIN"] = binary
    # SIGTERM (or a closed terminal) unwinds like Ctrl-C: everything stops.
    # Ctrl-C itself too, even when started where SIGINT is ignored (a
    # background job of a script inherits SIG_IGN, and Python then keeps it)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    tmp = tempfile.mkdtemp(prefix="agora-demo-")
    services = None
    t0 = time.monotonic()
    print("Agora demo: a throwaway PostgreSQL + Redis, the Discord emulator, a fake LLM, "
          "and the real %s." % os.path.relpath(binary, ROOT))
    try:
        services = start_services()
        from fakellm import FakeLLM
        with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu, FakeLLM() as llm:
            print("services: PostgreSQL 127.0.0.1:%s, Redis 127.0.0.1:%s, Discord emulator 127.0.0.1:%s "
                  "(control %s), fake LLM 127.0.0.1:%s" % (
                      os.environ["AGORA_TEST_PG_PORT"], os.environ["AGORA_TEST_REDIS_PORT"], emu.port,
                      emu.url.rsplit(":", 1)[1], llm.port), flush=True)
            log = tour(emu, llm, tmp, args.pace)
        if args.keep:
            print("\nthe bot's whole log: %s" % log)
        print("\ndemo finished in %.0f s; everything it started is stopped." % (time.monotonic() - t0))
        return 0
    except KeyboardInterrupt:
        print("\ndemo interrupted; stopping everything.", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - say what broke, keep the logs
        print("\ndemo failed: %s: %s\nlogs kept in %s" % (type(e).__name__, e, tmp), file=sys.stderr)
        args.keep = True
        return 1
    finally:
        stop_services(services)
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
