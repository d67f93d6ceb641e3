#!/usr/bin/python3
"""001 — the emulator is faithful enough for a real Discord client.

Proves: discord.py (Debian's python3-discord, an independent implementation
of the Discord API) runs unmodified against tests/emulator over TLS signed
by a test CA generated at test time, and every step is checked from the
emulator's recordings:
  1. login: REST with "Authorization: Bot TOKEN", GET /gateway/bot gives the
     gateway URL, the gateway is spoken with compress=zlib-stream; IDENTIFY
     carries intents GUILDS|GUILD_MESSAGES (513); READY + GUILD_CREATE give
     discord.py its guild, categories, text channels, roles and its member;
  2. tree.sync(guild=...) bulk-overwrites guild commands that pass the
     emulator's validation (names, descriptions, option types, required
     options first) and come back with ids;
  3. an injected slash command (with options) is answered ephemerally
     (callback type 4, flags 64) within the 3-second window;
  4. a second command is deferred (type 5) and then its original response
     edited (PATCH /webhooks/{app}/{token}/messages/@original);
  5. an embed is sent to a channel (POST /channels/{id}/messages), with the
     allowed_mentions the client set recorded;
  6. zlib-stream payloads split across several WebSocket messages and across
     several frames of one message are reassembled by the client;
  7. a server heartbeat request (op 1) is answered with a heartbeat;
  8. after the emulator drops the TCP connection the client RESUMEs (not a new
     IDENTIFY) at READY's resume_gateway_url, gets the event it missed
     replayed, and then answers a slash command again;
  9. op 7 RECONNECT leads to another RESUME (and later a server close with
     4000 to a third); op 9 d=false leads to a fresh IDENTIFY;
 10. a message with discord.py buttons; a click (component interaction)
     answered with discord.py's modal, which passes the emulator's modal
     validation; the modal submit (action-row shape) read by discord.py;
     another click answered with a type 7 message update;
 11. the rate-limit headers are understood: a burst over a small bucket
     waits instead of hitting 429, and a 429 body's retry_after is obeyed;
     the global limit is the token's: requests another client made with
     it fill the window (GET /ratelimits shows them), and discord.py's
     next request meets a global 429 (X-RateLimit-Global), waits it out
     and goes through;
 12. the REST reads `agora --check-discord` makes, through discord.py's own
     API: application_info(), fetch_guild() (roles with permissions),
     fetch_member() (the bot's roles), fetch_channels() (overwrites set
     through the control API, parsed into discord.py's overwrite objects,
     and discord.py's permissions_for() applying them), and a guild the
     bot was removed from answering 403 Missing Access (discord.Forbidden).
 13. an attachment option (discord.Attachment) carries the registered
     attachment's fields, discord.py reads its bytes from the emulator's CDN
     and creates a custom emoji from them (guild.create_custom_emoji); at the
     limit discord.py gets HTTPException 30008; fetch_emojis lists them;
 14. autocomplete: discord.py's @autocomplete answers type 8 with 25 choices;
 15. a modal built from a Label (type 18), sent through discord.py's own
     interaction adapter, passes validation; its Label-shaped submit reaches
     on_interaction;
 16. channel.history() pages a bulk-filled 250-message history newest
     first (before=), and after= oldest first;
 17. create_text_channel(category=) (name lower-cased, dashes), edit(category=)
     (PATCH parent_id), move() (PATCH /guilds/{id}/channels), a full
     category's 50035, delete(): discord.py's cache follows the
     CHANNEL_CREATE/UPDATE/DELETE events;
 18. a file sent by discord.py is served back from the CDN (Attachment.read);
     a nonce is echoed and enforce_nonce returns the first message.
If discord.py is unhappy with something, the emulator is wrong.
"""

import asyncio
import hashlib
import io
import logging
import os
import shutil
import ssl
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

import aiohttp  # noqa: E402
import discord  # noqa: E402
import yarl  # noqa: E402
from discord import app_commands  # noqa: E402
from discord.gateway import DiscordWebSocket  # noqa: E402

from tests.emulator.cdn import png_bytes  # noqa: E402
from tests.emulator.client import Emulator  # noqa: E402
from tests.emulator.state import DEFAULT_GUILD_ID  # noqa: E402
from tests.emulator.testlib import rest  # noqa: E402

GENERAL = "1220000000000000002"
CATEGORY = "1220000000000000001"


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def step(name):
    print("ok - %s" % name, flush=True)


class Bot(discord.Client):
    """A small discord.py bot: three guild slash commands, nothing else."""

    def __init__(self, emu):
        super().__init__(intents=discord.Intents(guilds=True, guild_messages=True),
                         allowed_mentions=discord.AllowedMentions.none())
        # Trust exactly the test CA. aiohttp takes an ssl context through its
        # connector; discord.py 2.2 has no Client option for one, but its
        # HTTPClient uses http.connector when set before login (and makes a
        # default TCPConnector(limit=0) only when it is not).
        tls = ssl.create_default_context(cafile=emu.ca_file)
        self.http.connector = aiohttp.TCPConnector(ssl=tls, limit=0)
        self.tree = app_commands.CommandTree(self)
        self.seen_messages = []
        self.ready_event = threading.Event()
        guild = discord.Object(int(DEFAULT_GUILD_ID))

        @self.tree.command(name="ping", description="Answer privately", guild=guild)
        @app_commands.describe(text="what to echo", times="how many times")
        async def ping(interaction: discord.Interaction, text: str, times: int = 1):
            await interaction.response.send_message("pong " + " ".join([text] * times), ephemeral=True)

        @self.tree.command(name="slow", description="Defer, then edit", guild=guild)
        async def slow(interaction: discord.Interaction):
            await interaction.response.defer(thinking=True)
            await asyncio.sleep(0.2)
            await interaction.edit_original_response(content="done after deferring")

        @self.tree.command(name="propose_emoji", description="Propose an emoji", guild=guild)
        async def propose_emoji(interaction: discord.Interaction, name: str, file: discord.Attachment):
            await interaction.response.defer(ephemeral=True)
            data = await file.read()  # from the emulator's CDN
            seen = "%s %d %s %sx%s %s" % (file.filename, file.size, file.content_type, file.width, file.height,
                                          hashlib.sha256(data).hexdigest())
            try:
                emoji = await interaction.guild.create_custom_emoji(name=name, image=data)
            except discord.HTTPException as e:
                await interaction.followup.send("%s error %d %d" % (seen, e.status, e.code), ephemeral=True)
            else:
                await interaction.followup.send("%s emoji %d animated=%s" % (seen, emoji.id, emoji.animated),
                                                ephemeral=True)

        @self.tree.command(name="resolve_report", description="Close a report", guild=guild)
        async def resolve_report(interaction: discord.Interaction, report: int):
            await interaction.response.send_message("resolved %d" % report, ephemeral=True)

        @resolve_report.autocomplete("report")
        async def report_choices(interaction: discord.Interaction, current: str):
            return [app_commands.Choice(name="#%d open report %s" % (i, current), value=i) for i in range(1, 26)]

        @self.tree.command(name="report", description="Report something", guild=guild)
        async def report(interaction: discord.Interaction):
            # discord.py 2.2 has no Label component: the modal goes out
            # through its own interaction adapter, as send_modal does
            from discord.webhook.async_ import async_context, interaction_response_params
            params = interaction_response_params(9, {"custom_id": "report_modal", "title": "Report", "components": [
                {"type": 18, "label": "What happened?", "description": "Be specific",
                 "component": {"type": 4, "custom_id": "what", "style": 2, "max_length": 4000}}]})
            await async_context.get().create_interaction_response(interaction.id, interaction.token,
                                                                  session=interaction._session, params=params)

    async def setup_hook(self):
        # The gateway URL comes from the emulator's GET /gateway/bot; a
        # plain (unsharded) Client otherwise connects to DEFAULT_GATEWAY.
        _, url = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url).with_query(None)
        self.synced = await self.tree.sync(guild=discord.Object(int(DEFAULT_GUILD_ID)))

    async def before_identify_hook(self, shard_id, *, initial=False):
        # discord.py's documented hook; its default waits 5 s before every
        # re-IDENTIFY (Discord's identify rate); the emulator needs no wait
        pass

    async def on_ready(self):
        self.ready_event.set()

    async def on_message(self, message):
        self.seen_messages.append(message.id)

    async def on_interaction(self, interaction):
        # a Label-shaped modal submit: {type 18, component: {type 4, value}}
        if interaction.type == discord.InteractionType.modal_submit and \
                interaction.data.get("custom_id") == "report_modal":
            values = [c["component"]["value"] if c["type"] == 18 else c["components"][0]["value"]
                      for c in interaction.data["components"]]
            await interaction.response.send_message("report: " + " | ".join(values), ephemeral=True)


class ProposalModal(discord.ui.Modal, title="New proposal"):
    text = discord.ui.TextInput(label="Your proposal", custom_id="text", style=discord.TextStyle.paragraph,
                                max_length=1000)

    def __init__(self):
        super().__init__(custom_id="propose_modal")

    async def on_submit(self, interaction: discord.Interaction):
        await interaction.response.send_message("received: " + self.text.value, ephemeral=True)


class ProposalView(discord.ui.View):
    def __init__(self):
        super().__init__(timeout=None)

    @discord.ui.button(label="Propose", custom_id="propose", style=discord.ButtonStyle.primary)
    async def propose(self, interaction: discord.Interaction, button: discord.ui.Button):
        await interaction.response.send_modal(ProposalModal())

    @discord.ui.button(label="Close", custom_id="close", style=discord.ButtonStyle.danger)
    async def close(self, interaction: discord.Interaction, button: discord.ui.Button):
        await interaction.response.edit_message(content="closed", view=None)


def run_in_thread(emu, log_path):
    """Run the bot in its own thread and loop; the test thread polls."""
    handler = logging.FileHandler(log_path)
    discord.utils.setup_logging(handler=handler, level=logging.DEBUG)
    box = {}
    started = threading.Event()

    def target():
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        box["loop"] = loop

        async def main():
            bot = Bot(emu)
            box["bot"] = bot
            box["stop"] = stop = asyncio.Event()
            started.set()
            runner = asyncio.ensure_future(bot.start(emu.token))
            runner.add_done_callback(lambda f: f.cancelled() or f.exception() is None
                                     or box.setdefault("error", f.exception()))
            await asyncio.wait([runner, asyncio.ensure_future(stop.wait())],
                               return_when=asyncio.FIRST_COMPLETED)
            await bot.close()
            try:
                await runner
            except Exception:  # noqa: BLE001 - already in box["error"]
                pass

        try:
            loop.run_until_complete(main())
        finally:
            # discord.py leaves helper tasks behind; end them before closing
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    t = threading.Thread(target=target, daemon=True)
    t.start()
    started.wait(10)
    return t, box


def on_bot(box, coro, timeout=10):
    return asyncio.run_coroutine_threadsafe(coro, box["loop"]).result(timeout)


def main():
    # Route.BASE is the one switch discord.py has for its REST base URL.
    tmp = tempfile.mkdtemp(prefix="e2e-001-")
    with Emulator(tmp, heartbeat_interval=800) as emu:
        discord.http.Route.BASE = emu.api_base
        thread, box = run_in_thread(emu, os.path.join(tmp, "discordpy.log"))
        try:
            run_steps(emu, box)
        except BaseException:
            print("emulator log: %s/emulator.log, discord.py log: %s/discordpy.log" % (tmp, tmp))
            raise
        finally:
            if "stop" in box:
                box["loop"].call_soon_threadsafe(box["stop"].set)
            thread.join(10)
            check(not thread.is_alive(), "the bot thread stopped")
        code = emu.close()
        check(code == 0, "emulator exits 0 on SIGTERM (got %s)" % code)
        step("emulator stopped cleanly on SIGTERM")
    shutil.rmtree(tmp, ignore_errors=True)  # kept, with both logs, on failure


def run_steps(emu, box):
    emu.wait_for(lambda: box.get("error") or box["bot"].ready_event.is_set(), 15, what="on_ready")
    check("error" not in box, "bot failed: %r" % box.get("error"))
    bot = box["bot"]

    # 1. login, gateway, READY, GUILD_CREATE
    reqs = emu.requests()
    check(all(r["headers"].get("Authorization") == "Bot " + emu.token
              for r in reqs if not r["path"].startswith(("/interactions", "/webhooks"))), "every REST call authorized")
    check(any(r["path"] == "/gateway/bot" and r["status"] == 200 for r in reqs), "GET /gateway/bot")
    check(all(r["user_agent"].startswith("DiscordBot (") for r in reqs), "User-Agent recorded")
    gw = emu.gateway()
    check(len(gw["identifies"]) == 1, "one IDENTIFY")
    check(gw["identifies"][0]["payload"]["intents"] == 513, "intents 513")
    conn = gw["connections"][0]
    check(conn["compress"] and conn["query"].get("compress") == "zlib-stream" and conn["query"].get("v") == "10",
          "zlib-stream v10 connection: %r" % conn["query"])
    guild = bot.get_guild(int(DEFAULT_GUILD_ID))
    check(guild is not None and guild.name == "Agora Test Guild", "guild from GUILD_CREATE")
    general = guild.get_channel(int(GENERAL))
    check(isinstance(general, discord.TextChannel) and general.category_id == int(CATEGORY),
          "text channel with parent category")
    check(isinstance(guild.get_channel(int(CATEGORY)), discord.CategoryChannel), "category channel")
    check(guild.get_role(1210000000000000001) is not None and guild.me is not None,
          "roles, and the bot's own member (no GUILD_MEMBERS intent: no other members)")
    step("login over TLS, zlib-stream gateway, IDENTIFY intents 513, READY + GUILD_CREATE parsed")

    # 2. command sync
    cmds = emu.commands()[DEFAULT_GUILD_ID]
    check(sorted(c["name"] for c in cmds) == ["ping", "propose_emoji", "report", "resolve_report", "slow"],
          "commands registered: %r" % cmds)
    ping = [c for c in cmds if c["name"] == "ping"][0]
    check([o["name"] for o in ping["options"]] == ["text", "times"] and ping["options"][0]["required"],
          "options in order, required first")
    check(len(bot.synced) == 5 and all(c.id for c in bot.synced),
          "discord.py parsed the returned commands with ids")
    step("tree.sync(guild=...) -> PUT guild commands validated and returned with ids")

    # 3. ephemeral answer to a slash command with options
    inj = emu.inject_slash("ping", {"text": "hi", "times": 2})
    it = emu.wait_for(lambda: emu.interaction(inj["id"])["responses"] and emu.interaction(inj["id"]), 5,
                      what="ping response")
    r = it["responses"][0]
    check(r["type"] == 4 and r["data"]["flags"] & 64 and r["data"]["content"] == "pong hi hi",
          "type 4 ephemeral response: %r" % r)
    check(r["elapsed"] < 3.0, "within 3 s")
    check(it["original"]["flags"] & 64, "the original response is ephemeral")
    step("slash command with options answered ephemerally (type 4, flags 64)")

    # 4. defer, then edit the original response
    inj = emu.inject_slash("slow")
    it = emu.wait_for(lambda: (lambda x: x if x["edits"] else None)(emu.interaction(inj["id"])), 5,
                      what="slow edit")
    check(it["responses"][0]["type"] == 5, "deferred (type 5)")
    check(it["original"]["content"] == "done after deferring" and not it["original"]["flags"] & 128,
          "original edited, no longer loading: %r" % it["original"])
    check(any(q["method"] == "PATCH" and q["path"].endswith("/messages/@original") for q in emu.requests()),
          "PATCH @original recorded")
    step("deferred (type 5), then PATCH @original edited the response")

    # 5. an embed to a channel
    emb = discord.Embed(title="Proposal #1", description="A description", colour=0x5865F2)
    emb.add_field(name="Votes", value="3 for, 1 against").set_footer(text="Agora")
    sent = on_bot(box, general.send(content="<@1300000000000000001> look", embed=emb))
    msgs = emu.messages(GENERAL)
    m = [x for x in msgs if x["id"] == str(sent.id)]
    check(m and m[0]["embeds"][0]["title"] == "Proposal #1" and m[0]["embeds"][0]["fields"][0]["name"] == "Votes",
          "embed stored")
    check(m[0]["allowed_mentions"] == {"parse": [], "replied_user": False} or
          m[0]["allowed_mentions"].get("parse") == [], "allowed_mentions recorded: %r" % m[0]["allowed_mentions"])
    emu.wait_for(lambda: sent.id in bot.seen_messages, 5, what="own MESSAGE_CREATE echoed")
    step("embed sent to a channel; allowed_mentions recorded; MESSAGE_CREATE echoed")

    # 6. split zlib-stream payloads: several messages, then several frames
    for mode in ("messages", "frames"):
        emu.gateway_fault("split", parts=4, mode=mode, count=1)
        inj = emu.inject_message("split %s" % mode, channel_id=GENERAL)
        emu.wait_for(lambda: int(inj["id"]) in bot.seen_messages, 5, what="split %s delivered" % mode)
    live = [c for c in emu.gateway()["connections"] if c["closed"] is None]
    check(live and live[-1]["split_payloads"] == 2, "two payloads were split")
    step("zlib-stream payload split over 4 WebSocket messages, and over 4 frames, reassembled")

    # 7. the server asks for a heartbeat
    before = emu.gateway()["connections"][-1]["heartbeats"]
    emu.gateway_fault("heartbeat_request")
    emu.wait_for(lambda: emu.gateway()["connections"][-1]["heartbeats"] > before, 2, what="heartbeat reply")
    step("op 1 from the server answered with a heartbeat")

    # 8. dropped connection -> RESUME with replay
    emu.gateway_fault("drop")
    missed = emu.inject_message("sent while the bot was away", channel_id=GENERAL)
    gw = emu.wait_for(lambda: (lambda g: g if g["resumes"] else None)(emu.gateway()), 10, what="RESUME")
    res = gw["resumes"][0]
    check(res["outcome"] == "resumed", "resume accepted: %r" % res)
    check(res["path"] == "/resume", "resumed at resume_gateway_url: %r" % res["path"])
    check(len(gw["identifies"]) == 1, "no new IDENTIFY")
    emu.wait_for(lambda: int(missed["id"]) in bot.seen_messages, 5, what="missed event replayed")
    check(res["replayed"] >= 1, "replayed events counted")
    inj = emu.inject_slash("ping", {"text": "again"})
    emu.wait_for(lambda: emu.interaction(inj["id"])["responses"], 5, what="ping after resume")
    step("connection dropped -> RESUME (no IDENTIFY) at resume_gateway_url, missed event replayed")

    # 9. op 7 reconnect -> another RESUME
    emu.gateway_fault("reconnect")
    emu.wait_for(lambda: len(emu.gateway()["resumes"]) >= 2, 10, what="second RESUME")
    gw = emu.gateway()
    check(gw["resumes"][1]["outcome"] == "resumed" and len(gw["identifies"]) == 1, "op 7 -> RESUME")
    inj = emu.inject_slash("slow")
    emu.wait_for(lambda: emu.interaction(inj["id"])["edits"], 5, what="slow after op 7")
    step("op 7 RECONNECT -> RESUME, session still works")

    # 12. close code 4000 -> RESUME; op 9 d=false -> a new IDENTIFY
    n = len(emu.gateway()["resumes"])
    emu.gateway_fault("close", code=4000, reason="Unknown error")
    emu.wait_for(lambda: len(emu.gateway()["resumes"]) > n, 10, what="RESUME after close 4000")
    check(emu.gateway()["resumes"][-1]["outcome"] == "resumed", "resumed after 4000")
    emu.gateway_fault("invalid_session", resumable=False)
    emu.wait_for(lambda: len(emu.gateway()["identifies"]) == 2, 10, what="IDENTIFY after op 9 false")
    inj = emu.inject_slash("ping", {"text": "fresh"})
    emu.wait_for(lambda: emu.interaction(inj["id"])["responses"], 5, what="ping on the new session")
    sessions = emu.gateway()["sessions"]
    check(len(sessions) == 2 and not sessions[0]["resumable"] and sessions[1]["connected"], "a new session")
    step("close 4000 -> RESUME; op 9 d=false -> new IDENTIFY, new session works")

    c = emu.counters()
    check(c["401"] == 0 and c["429"] == 0, "no 401 or 429 during the run: %r" % c)
    # discord.py sends its DiscordBot User-Agent on bot requests only; its
    # interaction callbacks and webhook calls carry aiohttp's default
    bot_calls = [q for q in emu.requests() if "Authorization" in q["headers"]]
    check(all(q["user_agent"].startswith("DiscordBot (") for q in bot_calls), "DiscordBot User-Agent")
    step("no 401/429 during the run")

    # 10. components and modals built by discord.py
    async def send_view():
        return await general.send("A proposal board", view=ProposalView())
    board = on_bot(box, send_view())
    stored = [x for x in emu.messages(GENERAL) if x["id"] == str(board.id)][0]
    check([c["custom_id"] for c in stored["components"][0]["components"]] == ["propose", "close"],
          "buttons stored")
    inj = emu.inject_component("propose")
    it = emu.wait_for(lambda: (lambda x: x if x["responses"] else None)(emu.interaction(inj["id"])), 5,
                      what="modal opened")
    modal = it["responses"][0]
    check(modal["type"] == 9 and modal["data"]["custom_id"] == "propose_modal", "type 9 modal: %r" % modal)
    row = modal["data"]["components"][0]
    check(row["type"] == 1 and row["components"][0]["type"] == 4 and row["components"][0]["label"],
          "discord.py's modal (action row + labelled text input) passed validation")
    inj = emu.inject_modal("propose_modal", {"text": "plant more trees"}, shape="action_row")
    it = emu.wait_for(lambda: (lambda x: x if x["responses"] else None)(emu.interaction(inj["id"])), 5,
                      what="modal submit answered")
    check(it["responses"][0]["data"]["content"] == "received: plant more trees", "modal value read by discord.py")
    inj = emu.inject_component("close", message_id=str(board.id))
    emu.wait_for(lambda: emu.interaction(inj["id"])["responses"], 5, what="close clicked")
    check(emu.interaction(inj["id"])["responses"][0]["type"] == 7, "type 7 update")
    stored = [x for x in emu.messages(GENERAL) if x["id"] == str(board.id)][0]
    check(stored["content"] == "closed" and stored["components"] == [], "message updated in place")
    step("button click -> discord.py modal (validated) -> modal submit read -> type 7 message update")

    # 11. rate limits as a real client reads them
    emu.ratelimits(routes={"POST /channels/{channel_id}/messages": {"limit": 2, "window": 0.4}})
    t0 = time.monotonic()
    for i in range(5):
        on_bot(box, general.send("burst %d" % i))
    took = time.monotonic() - t0
    check(emu.counters()["429"] == 0, "discord.py waited on X-RateLimit-Remaining 0, no 429")
    check(took >= 0.6, "it waited for the bucket resets (%.2f s for 5 messages at 2 per 0.4 s)" % took)
    since = emu.requests()[-1]["seq"]
    emu.rest_fault(route="POST /channels/{channel_id}/messages", count=1, status=429, retry_after=0.3)
    on_bot(box, general.send("after a 429"))
    tries = [q["status"] for q in emu.requests(since=since) if q["method"] == "POST"]
    check(tries == [429, 200], "a 429 body was understood and the request retried: %r" % tries)
    step("X-RateLimit-* headers obeyed (no 429 in a burst); a 429 retried after retry_after")
    emu.ratelimits(**{"global": {"limit": 3, "window": 1.0}}, reset=True)
    spent = [rest(emu, "GET", "/gateway/bot").status for _ in range(3)]
    check(spent == [200] * 3 and emu.ratelimits()["global"]["in_window"] == 3,
          "another client with the token filled the global window: %r" % spent)
    since = emu.requests(fields="seq")[-1]["seq"]
    on_bot(box, general.send("after the global window"))
    tries = [q["status"] for q in emu.requests(since=since, fields="method,status") if q["method"] == "POST"]
    check(tries == [429, 200] and emu.counters()["429_global"] == 1,
          "discord.py met the global 429, waited, and sent again: %r" % tries)
    step("the global limit is the token's: another client's requests count; discord.py waits out a global 429")
    emu.ratelimits(**{"global": {"limit": 50, "window": 1.0}}, reset=True)
    emu.ratelimits(routes={"POST /channels/{channel_id}/messages": {"limit": 50, "window": 1.0}}, reset=True)
    run_new_steps(emu, box, bot)


async def collect(aiter):
    return [x async for x in aiter]


def answered(emu, inj, what, n=1):
    """The interaction's record once it has n responses/followups."""
    return emu.wait_for(lambda: (lambda x: x if len(x["responses"]) + len(x["followup_messages"]) >= n else None)(
        emu.interaction(inj["id"])), 5, what=what)


def run_new_steps(emu, box, bot):
    from discord.http import Route
    # the session of step 12 is a new one: discord.py rebuilt its cache
    guild = bot.get_guild(int(DEFAULT_GUILD_ID))
    general = guild.get_channel(int(GENERAL))

    # 13. an attachment from the CDN becomes a custom emoji
    png = png_bytes(128, 128)
    a = emu.add_attachment("party.png", png={"width": 128, "height": 128})
    inj = emu.inject_slash("propose_emoji", {"name": "party", "file": {"type": 11, "value": a["id"]}})
    it = answered(emu, inj, "propose_emoji followup", 2)
    text = it["followup_messages"][0]["content"]
    check(text.startswith("party.png %d image/png 128x128 %s emoji " % (len(png), hashlib.sha256(png).hexdigest()))
          and text.endswith("animated=False"), "discord.py read the attachment and made an emoji: %r" % text)
    check(emu.attachment(a["id"])["fetches"] == 1, "one CDN fetch")
    stored = emu.emojis(DEFAULT_GUILD_ID)["emojis"]
    check([e["name"] for e in stored] == ["party"] and stored[0]["image_sha256"] == hashlib.sha256(png).hexdigest(),
          "the emoji holds the attachment's bytes")
    emu.emoji_limits(DEFAULT_GUILD_ID, static=1)
    inj = emu.inject_slash("propose_emoji", {"name": "party_two", "file": {"type": 11, "value": a["id"]}})
    text = answered(emu, inj, "propose_emoji at the limit", 2)["followup_messages"][0]["content"]
    check(text.endswith("error 400 30008"), "HTTPException 400/30008 at the limit: %r" % text)
    listed = on_bot(box, guild.fetch_emojis())
    check([e.name for e in listed] == ["party"], "fetch_emojis lists the emoji")
    step("attachment option read from the CDN by discord.py; create_custom_emoji; 30008 at the limit")

    # 14. autocomplete
    inj = emu.inject_slash("resolve_report", {"report": "4"}, autocomplete=True)
    it = emu.wait_for(lambda: (lambda x: x if x["choices"] is not None else None)(emu.interaction(inj["id"])), 5,
                      what="autocomplete answer")
    check(it["responses"][0]["type"] == 8 and len(it["choices"]) == 25 and
          it["choices"][0] == {"name": "#1 open report 4", "value": 1}, "25 choices: %r" % it["choices"][:2])
    step("autocomplete answered by discord.py with 25 choices (type 8), validated")

    # 15. a Label modal and its Label-shaped submit
    inj = emu.inject_slash("report")
    it = answered(emu, inj, "report modal")
    check(it["responses"][0]["type"] == 9 and it["modal"]["components"][0]["type"] == 18, "Label modal accepted")
    inj = emu.inject_modal("report_modal", {"what": "a scam link in #general"}, shape="label")
    it = answered(emu, inj, "modal submit answered")
    check(it["responses"][0]["data"]["content"] == "report: a scam link in #general", "Label submit read")
    step("type 9 modal with a Label (type 18) sent via discord.py's adapter; Label-shaped submit read")

    # 16. history
    quiet = guild.get_channel(1220000000000000003)
    summary = emu.fill_history(str(quiet.id), 250, interval_ms=1000, bot_every=5)
    msgs = on_bot(box, collect(quiet.history(limit=None)))
    check(len(msgs) == 250 and [m.content for m in msgs[:2]] == ["message 250", "message 249"],
          "250 messages, newest first")
    check(sum(1 for m in msgs if m.author.bot) == 50 and msgs[0].created_at > msgs[-1].created_at,
          "bot authors and snowflake times parsed")
    pages = [q for q in emu.requests(method="GET") if q["path"] == "/channels/%s/messages" % quiet.id]
    check(len(pages) == 3 and "before" in pages[1]["query"], "paged by 100 with before=: %r"
          % [q["query"] for q in pages])
    after = on_bot(box, collect(quiet.history(limit=3, after=discord.Object(int(summary["first_id"])),
                                              oldest_first=True)))
    check([m.content for m in after] == ["message 2", "message 3", "message 4"], "after= oldest first")
    step("channel.history() over a bulk-filled history: newest first, before= paging, after=")

    # 17. channels: create under a category, move, full category, delete
    cat = guild.get_channel(int(CATEGORY))
    new = on_bot(box, guild.create_text_channel("Cool Idea", category=cat))
    check(new.name == "cool-idea" and new.category_id == cat.id, "created under the category: %r" % new.name)
    emu.wait_for(lambda: guild.get_channel(new.id), 5, what="CHANNEL_CREATE cached")
    perm = on_bot(box, guild.create_category("Permanent"))
    on_bot(box, new.edit(category=perm))
    emu.wait_for(lambda: guild.get_channel(new.id).category_id == perm.id, 5, what="CHANNEL_UPDATE parent")
    check(any(q["method"] == "PATCH" and q["path"] == "/channels/%s" % new.id and
              str(q["body"].get("parent_id")) == str(perm.id) for q in emu.requests()), "PATCH parent_id")
    on_bot(box, guild.get_channel(new.id).move(beginning=True, category=cat))
    emu.wait_for(lambda: guild.get_channel(new.id).category_id == cat.id, 5, what="moved back")
    check(any(q["method"] == "PATCH" and q["path"] == "/guilds/%s/channels" % DEFAULT_GUILD_ID
              for q in emu.requests()), "move() used PATCH /guilds/{id}/channels")
    emu.config(category_max_channels=3)
    try:
        on_bot(box, guild.create_text_channel("one too many", category=cat))
        check(False, "a full category refuses a channel")
    except discord.HTTPException as e:
        check(e.status == 400 and e.code == 50035 and
              "Maximum number of channels in category reached (3)" in e.text, "50035 parent_id: %r" % e.text)
    emu.config(category_max_channels=50)
    on_bot(box, guild.get_channel(new.id).delete())
    emu.wait_for(lambda: guild.get_channel(new.id) is None, 5, what="CHANNEL_DELETE")
    step("create_text_channel/edit(category=)/move()/delete(); full category 50035; cache follows the events")

    # 18. an upload served back; nonce and enforce_nonce
    sent = on_bot(box, general.send("chart", file=discord.File(io.BytesIO(png), "chart.png")))
    att = sent.attachments[0]
    check(att.content_type == "image/png" and att.size == len(png), "attachment object: %r" % att)
    check(on_bot(box, att.read()) == png, "Attachment.read() fetched the upload from the CDN")
    sent = on_bot(box, general.send("with a nonce", nonce="agora-1"))
    check(sent.nonce == "agora-1", "nonce echoed")
    route = Route("POST", "/channels/{channel_id}/messages", channel_id=general.id)
    body = {"content": "once", "nonce": "agora-2", "enforce_nonce": True}
    first = on_bot(box, bot.http.request(route, json=body))
    again = on_bot(box, bot.http.request(route, json={**body, "content": "twice"}))
    check(first["id"] == again["id"] and again["content"] == "once", "enforce_nonce returned the first message")
    step("upload served back by the CDN; nonce echoed; enforce_nonce deduplicates")

    rest_reads_for_preflight(emu, box, bot, guild)


def rest_reads_for_preflight(emu, box, bot, guild):
    """12. GET /oauth2/applications/@me, /guilds/{id}, /guilds/{id}/members/{bot},
    /guilds/{id}/channels (with permission_overwrites) and a 403 50001 guild."""
    gid = int(DEFAULT_GUILD_ID)
    app = on_bot(box, bot.application_info())
    check(app.id == int(emu.state()["application_id"]), "application_info() id")
    emu.update_role(DEFAULT_GUILD_ID, DEFAULT_GUILD_ID, permissions=str(1 << 10 | 1 << 11))
    emu.update_member(DEFAULT_GUILD_ID, str(bot.user.id), roles=["1210000000000000001"])
    emu.update_role(DEFAULT_GUILD_ID, "1210000000000000001", permissions=str(1 << 14))
    emu.update_channel(GENERAL, permission_overwrites=[
        {"id": DEFAULT_GUILD_ID, "type": 0, "allow": "0", "deny": str(1 << 11)},
        {"id": str(bot.user.id), "type": 1, "allow": str(1 << 16), "deny": "0"}])
    fetched = on_bot(box, bot.fetch_guild(gid))
    check(fetched.get_role(gid).permissions.value == (1 << 10 | 1 << 11), "fetch_guild(): @everyone's permissions")
    me = on_bot(box, fetched.fetch_member(bot.user.id))
    check([r.id for r in me.roles if r.id != gid] == [1210000000000000001], "fetch_member(): the bot's roles")
    chans = {c.id: c for c in on_bot(box, fetched.fetch_channels())}
    gen = chans[int(GENERAL)]
    check(isinstance(chans[int(CATEGORY)], discord.CategoryChannel) and isinstance(gen, discord.TextChannel),
          "fetch_channels(): category and text channel types")
    ow = gen.overwrites
    check(ow[fetched.default_role].send_messages is False, "fetch_channels(): @everyone overwrite parsed: %r" % ow)
    member_ow = [v for k, v in ow.items() if getattr(k, "id", None) == bot.user.id]
    check(member_ow and member_ow[0].read_message_history is True, "fetch_channels(): member overwrite parsed")
    perms = gen.permissions_for(me)
    check(perms.view_channel and not perms.send_messages and perms.read_message_history
          and not perms.embed_links, "permissions_for() on the fetched data: %r" % perms)
    other = emu.add_guild({"id": "1290000000000000001", "name": "Left", "announce": False})
    emu.remove_member(other["id"], str(bot.user.id), announce=False)
    try:
        on_bot(box, bot.fetch_guild(int(other["id"])))
        check(False, "a guild without the bot must be refused")
    except discord.Forbidden as e:
        check(e.status == 403 and e.code == 50001, "403 50001 Missing Access: %r" % e)
    step("REST reads of --check-discord: application_info, fetch_guild roles, fetch_member, fetch_channels "
         "overwrites + permissions_for; a guild without the bot -> discord.Forbidden 50001")


if __name__ == "__main__":
    t0 = time.monotonic()
    main()
    print("001-discordpy-fidelity: all steps passed in %.1f s" % (time.monotonic() - t0))
