"""REST under /api/v10: what Agora calls, with Discord's checks, limits,
error bodies and rate-limit headers (docs: Reference "Error Messages",
Topics "Rate Limits" and "Opcodes and Status Codes", Resources Channel /
Message / Guild / Emoji / User, Interactions "Receiving and Responding",
"Application Commands").

Every request is recorded (method, path, headers, JSON body, time,
status) so tests can assert what the bot did.
"""

import asyncio
import base64
import bisect
import copy
import hashlib
import json
import logging
import mimetypes
import re
import time

from aiohttp import web

from . import state as S
from . import validate as V
from .cdn import Cdn
from .ratelimit import route_of

log = logging.getLogger("emulator.rest")

JSON_HEADERS = {"Content-Type": "application/json"}

CLOUDFLARE_HTML = """<!DOCTYPE html>
<html><head><title>Access denied | discord.com used Cloudflare to restrict access</title></head>
<body><div id="cf-wrapper"><h1>Error 1015</h1><h2>You are being rate limited</h2>
<p>The owner of this website (discord.com) has banned you temporarily from accessing this website.</p>
</div></body></html>
"""

# Callback types (docs: Interactions, "Interaction Callback Type")
CB_PONG, CB_MESSAGE, CB_DEFERRED_MESSAGE, CB_DEFERRED_UPDATE, CB_UPDATE = 1, 4, 5, 6, 7
CB_AUTOCOMPLETE, CB_MODAL = 8, 9
CALLBACK_TYPES = (1, 4, 5, 6, 7, 8, 9, 10, 12)
# Interaction types
IT_PING, IT_COMMAND, IT_COMPONENT, IT_AUTOCOMPLETE, IT_MODAL = 1, 2, 3, 4, 5
INTERACTION_TOKEN_TTL = 15 * 60  # docs: tokens are valid for 15 minutes


class ApiError(Exception):
    def __init__(self, status, body, headers=None):
        super().__init__(status)
        self.status, self.body, self.headers = status, body, headers or {}


def form_error(tree):
    return ApiError(400, {"code": 50035, "errors": tree, "message": "Invalid Form Body"})


def error(status, code, message):
    return ApiError(status, {"message": message, "code": code})


UNKNOWN = {
    "channel": (10003, "Unknown Channel"), "guild": (10004, "Unknown Guild"),
    "message": (10008, "Unknown Message"), "user": (10013, "Unknown User"),
    "webhook": (10015, "Unknown Webhook"), "interaction": (10062, "Unknown interaction"),
    "emoji": (10014, "Unknown Emoji"), "command": (10063, "Unknown application command"),
    "member": (10007, "Unknown Member"),
}


def unknown(what):
    code, msg = UNKNOWN[what]
    return error(404, code, msg)


ROUTES = []

# the message fields a lean stored message may leave out (docs: Message object)
MESSAGE_DEFAULTS = {"type": 0, "content": "", "edited_timestamp": None, "tts": False, "mention_everyone": False,
                    "mentions": (), "mention_roles": (), "attachments": (), "embeds": (), "pinned": False,
                    "flags": 0, "components": ()}


def route(method, pattern, auth=True):
    rx = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

    def deco(fn):
        ROUTES.append((method, rx, fn, auth))
        return fn
    return deco


class Rest:
    def __init__(self, state, gateway, limiter, config):
        self.state, self.gw, self.limiter, self.config = state, gateway, limiter, config
        self.faults = []  # {"route": template|"*", "method": ..., "count": n, "status": s, ...}
        self.stall_release = asyncio.Event()  # set by POST /faults/rest/release
        self.stalled = 0  # requests held by a stall fault now
        self.cdn = Cdn(state, config)  # attachments: bot uploads are served back from it

    # ----------------------------------------------------------- plumbing
    async def handle(self, request):
        st = self.state
        full = request.path
        m = re.match(r"^/api/v(\d+)(/.*)$", full)
        if not m:
            return self.reply(404, {"message": "404: Not Found", "code": 0})
        path = m.group(2)
        raw = await request.read()
        body, files = None, []
        ctype = request.headers.get("Content-Type", "")
        if ctype.startswith("multipart/form-data"):
            body, files = await self.parse_multipart(request, raw)
        bad_json = ignored = False
        if raw and ctype.split(";")[0].strip().lower() == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                bad_json = True
        elif raw and not ctype.startswith("multipart/form-data"):
            ignored = True  # Discord reads a body only by its Content-Type
        template, major = route_of(request.method, path)
        rec = {
            "seq": next(st.request_seq), "time": time.time(), "method": request.method,
            "path": path, "api_version": int(m.group(1)), "query": dict(request.query),
            "headers": {k: v for k, v in request.headers.items()},
            "user_agent": request.headers.get("User-Agent"),
            "audit_log_reason": request.headers.get("X-Audit-Log-Reason"),
            "content_type": ctype, "body": body, "raw_size": len(raw),
            "files": [{"name": f["name"], "filename": f["filename"], "size": f["size"]} for f in files],
            "route": template, "status": None, "response": None,
        }
        if ignored:
            rec["body_ignored"] = raw[:1000].decode("utf-8", "replace")
        ua = rec["user_agent"] or ""
        if not re.match(r"^DiscordBot \([^)]+\)", ua):
            # docs: Reference, "User Agent": DiscordBot ($url, $versionNumber)
            # (discord.py separates them with a space; both pass here)
            st.counters["bad_user_agent"] += 1
        st.requests.append(rec)
        st.counters["requests"] += 1
        if bad_json:
            status, resp_body, headers = 400, {"message": "The request body contains invalid JSON.", "code": 50109}, {}
        else:
            status, resp_body, headers = await self.process(request, path, template, major, body, files, rec)
            if rec.get("dropped"):
                log.info("%s %s -> dropped after a stall", request.method, path)
                return web.Response(status=204)  # the connection is gone; nothing is written
        if isinstance(resp_body, str):
            # Cloudflare's own pages: no Via, Cloudflare's server header
            headers = {**headers, "Server": "cloudflare", "CF-RAY": "0000000000000000-EMU"}
        else:
            # Discord's API answers pass Google's load balancer and say so;
            # clients (discord.py) tell a real 429 from a Cloudflare ban by it
            headers = {**headers, "Via": "1.1 google"}
        rec["status"] = status
        rec["response"] = resp_body if not isinstance(resp_body, str) else {"html": True}
        key = str(status)
        if key in st.counters:
            st.counters[key] += 1
        log.info("%s %s -> %d", request.method, path, status)
        return self.reply(status, resp_body, headers)

    @staticmethod
    def reply(status, body, headers=None):
        headers = dict(headers or {})
        if status == 204 or body is None:
            return web.Response(status=status, headers=headers)
        if isinstance(body, str):
            headers["Content-Type"] = "text/html"
            return web.Response(status=status, text=body, headers=headers)
        # Discord sends exactly "application/json" (no charset); some clients
        # (discord.py's json_or_text) compare the header literally
        return web.Response(status=status, body=json.dumps(body).encode(), headers={**headers, **JSON_HEADERS})

    async def parse_multipart(self, request, raw):
        """payload_json plus files[n] parts (docs: Reference, "Uploading Files")."""
        import email.parser
        import email.policy
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + request.headers["Content-Type"].encode() + b"\r\n\r\n" + raw)
        body, files = None, []
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if name == "payload_json":
                try:
                    body = json.loads(data)
                except ValueError:
                    body = None
            else:
                files.append({"name": name, "filename": part.get_filename(), "size": len(data),
                              "data": data, "content_type": part.get_content_type()})
        return body, files

    def take_fault(self, method, template):
        for f in self.faults:
            if f["count"] > 0 and (f["route"] in ("*", template)) and f.get("method", method) == method:
                f["count"] -= 1
                return f
        return None

    def release_stalls(self):
        """Ends every stall now (POST /faults/rest/release); how many."""
        n = self.stalled
        self.stall_release.set()
        self.stall_release = asyncio.Event()
        return n

    async def stall(self, request, fault, rec):
        """{"stall": seconds, "then": "serve"|"drop"}: the request is held
        -- a slow Discord, and the window in which the client may die --
        until the stall ends or POST /faults/rest/release; then it is
        carried out as if nothing happened ("serve", even when its client
        is gone, as a server does with a request it has read) or dropped
        without an answer ("drop": it never took effect)."""
        rec["stalled"] = True
        self.stalled += 1
        self.state.counters["stalled"] = self.state.counters.get("stalled", 0) + 1
        try:
            await asyncio.wait_for(self.stall_release.wait(), float(fault["stall"]))
        except asyncio.TimeoutError:
            pass
        finally:
            self.stalled -= 1
        if fault.get("then", "serve") == "drop":
            rec["dropped"] = True
            if request.transport is not None:
                request.transport.abort()
            return False
        return True

    async def process(self, request, path, template, major, body, files, rec):
        fault = self.take_fault(request.method, template)
        if fault is not None and fault.get("stall") is not None:
            if not await self.stall(request, fault, rec):
                return 0, None, {}
            fault = None
        if fault is not None and fault.get("after"):
            # {"after": true}: the request takes effect, then its answer is
            # lost and the client sees only the fault (a proxy's 5xx after
            # the write): a client that sends it again must not act twice
            real = await self.serve_route(request, path, template, major, body, files, rec)
            rec["fault_after"] = real[0]
        if fault is not None:
            self.state.counters["faults"] += 1
            rec["fault"] = True
            if fault.get("html"):
                return fault["status"], CLOUDFLARE_HTML, {"Retry-After": str(fault.get("retry_after", 1))}
            b = fault.get("body") or {"message": fault.get("message", "emulated failure"), "code": 0}
            h = {}
            if fault["status"] == 429:
                b = fault.get("body") or {"message": "You are being rate limited.",
                                          "retry_after": fault.get("retry_after", 1.0), "global": False}
                h = {"Retry-After": str(int(max(1, fault.get("retry_after", 1)))), "X-RateLimit-Scope": "user"}
            return fault["status"], b, h
        return await self.serve_route(request, path, template, major, body, files, rec)

    async def serve_route(self, request, path, template, major, body, files, rec):
        for method, rx, fn, auth in ROUTES:
            m = rx.match(path)
            if not m:
                continue
            if method != request.method:
                continue
            if auth and not self.authorized(request):
                return 401, {"message": "401: Unauthorized", "code": 0}, {}
            headers, limited = self.limiter.check(template, major)
            if limited is not None:
                if limited["global"]:
                    self.state.counters["429_global"] += 1
                return 429, {"message": "You are being rate limited.",
                             "retry_after": limited["retry_after"], "global": limited["global"]}, headers
            try:
                status, out = await fn(self, rec, body or {}, files, **m.groupdict())
            except ApiError as e:
                return e.status, e.body, {**headers, **e.headers}
            except Exception:  # noqa: BLE001 - an emulator bug must not look like Discord's answer
                log.exception("handler %s failed", fn.__name__)
                rec["emulator_error"] = True
                return 500, {"message": "500: Internal Server Error (emulator bug, see emulator.log)",
                             "code": 0}, headers
            return status, out, headers
        if any(rx.match(path) for _, rx, _, _ in ROUTES):
            return 405, {"message": "405: Method Not Allowed", "code": 0}, {}
        return 404, {"message": "404: Not Found", "code": 0}, {}

    def authorized(self, request):
        return request.headers.get("Authorization", "") == "Bot " + self.config["token"]

    # ----------------------------------------------------------- helpers
    def channel(self, cid):
        c = self.state.channels.get(cid)
        if c is None:
            raise unknown("channel")
        return c

    def guild(self, gid):
        if gid not in self.state.guilds:
            raise unknown("guild")
        if self.state.member_of(gid, self.state.bot_user["id"]) is None:
            # a guild the bot is not in (removed through the control API):
            # Discord answers every guild route with Missing Access
            raise error(403, 50001, "Missing Access")
        return self.state.guilds[gid]

    def check_message(self, body, allow_flags=0, allow_empty=False):
        tree, empty = V.message_errors(body, allow_flags)
        if tree:
            raise form_error(tree)
        if empty and not allow_empty:
            raise error(400, 50006, "Cannot send an empty message")

    def build_message(self, channel_id, body, files=(), author=None, extra=None):
        st = self.state
        ch = st.channels.get(channel_id, {})
        embeds = body.get("embeds")
        if embeds is None and body.get("embed") is not None:
            embeds = [body["embed"]]
        content = body.get("content") or ""
        mentions = [st.user(uid) for uid in re.findall(r"<@!?(\d+)>", content)]
        msg = {
            "id": S.snowflake(), "channel_id": channel_id, "type": 0,
            "author": author or st.bot_user, "content": content,
            "timestamp": S.iso_now(), "edited_timestamp": None, "tts": bool(body.get("tts", False)),
            "mention_everyone": "@everyone" in content, "mentions": mentions,
            "mention_roles": re.findall(r"<@&(\d+)>", content),
            "attachments": [self.upload(channel_id, f) for f in files],
            "embeds": copy.deepcopy(embeds or []), "pinned": False,
            "flags": body.get("flags") or 0, "components": copy.deepcopy(body.get("components") or []),
            # emulator-only, for tests: what the bot asked for
            "allowed_mentions": body.get("allowed_mentions"),
            "nonce": body.get("nonce"),
        }
        if ch.get("guild_id"):
            msg["guild_id"] = ch["guild_id"]
            member = st.member_of(ch["guild_id"], msg["author"]["id"])
            if member is not None:
                msg["member"] = {k: v for k, v in S.public_member(member).items() if k != "user"}
        if body.get("message_reference"):
            msg["message_reference"] = body["message_reference"]
            msg["type"] = 19
        if extra:
            msg.update(extra)
        return msg

    def upload(self, channel_id, f):
        """A file the bot sent: an attachment object whose url the CDN serves."""
        # Discord names the type from the file itself; the extension is the
        # emulator's guess, the part's own header the fallback
        spec = {"filename": f["filename"] or "file", "data_b64": base64.b64encode(f.get("data") or b"").decode()}
        if not mimetypes.guess_type(spec["filename"])[0] and f.get("content_type"):
            spec["content_type"] = f["content_type"]
        return self.cdn.register(spec, channel_id=channel_id)

    @staticmethod
    def public_message(msg):
        # bulk-filled history messages are stored lean (control.py history);
        # the fields they leave out take Discord's defaults here
        out = dict(MESSAGE_DEFAULTS)
        out.update((k, v) for k, v in msg.items() if k not in ("allowed_mentions", "nonce", "deleted"))
        return out

    async def announce(self, event, msg):
        if msg.get("flags", 0) & S.FLAG_EPHEMERAL:
            return  # ephemeral messages never reach the gateway
        await self.gw.dispatch(event, self.public_message(msg))

    def apply_edit(self, msg, body):
        """An edit replaces the fields it names; a message stays ephemeral,
        and stops loading (a deferred response completed by its edit)."""
        keep = (msg.get("flags") or 0) & S.FLAG_EPHEMERAL
        for k in ("content", "embeds", "components", "allowed_mentions"):
            if k in body:
                v = body[k]
                msg[k] = copy.deepcopy(v) if v is not None else ("" if k == "content" else
                                                                  None if k == "allowed_mentions" else [])
        flags = body.get("flags") if body.get("flags") is not None else msg.get("flags") or 0
        msg["flags"] = (flags & ~S.FLAG_LOADING) | keep
        msg["edited_timestamp"] = S.iso_now()


# ================================================================= gateway, users
@route("GET", "/gateway", auth=False)
async def get_gateway(self, rec, body, files):
    return 200, {"url": self.gw.url()}


@route("GET", "/gateway/bot")
async def get_gateway_bot(self, rec, body, files):
    c = self.config
    return 200, {"url": self.gw.url(), "shards": c["shards"],
                 "session_start_limit": {"total": 1000, "remaining": max(0, 1000 - len(self.gw.identifies)),
                                         "reset_after": 86400000, "max_concurrency": 1}}


@route("GET", "/users/@me")
async def get_me(self, rec, body, files):
    return 200, {**self.state.bot_user, "verified": True, "mfa_enabled": False, "locale": "en-US",
                 "email": None, "flags": 0, "premium_type": 0, "banner": None, "accent_color": None}


@route("GET", "/users/{user_id}")
async def get_user(self, rec, body, files, user_id):
    if user_id not in self.state.users:
        raise unknown("user")
    return 200, self.state.users[user_id]


@route("GET", "/oauth2/applications/@me")
async def get_app(self, rec, body, files):
    return 200, self.app_object()


@route("GET", "/applications/@me")
async def get_app2(self, rec, body, files):
    return 200, self.app_object()


def app_object(self):
    c = self.config
    return {"id": c["application_id"], "name": c["bot_name"], "icon": None, "description": "",
            "bot_public": False, "bot_require_code_grant": False, "verify_key": "0" * 64,
            "flags": c["application_flags"], "owner": self.state.users.get("1300000000000000001", self.state.bot_user),
            "team": None, "summary": "", "rpc_origins": [], "bot": self.state.bot_user}


Rest.app_object = app_object


@route("POST", "/users/@me/channels")
async def create_dm(self, rec, body, files):
    st = self.state
    rid = str(body.get("recipient_id") or "")
    if not rid:
        raise form_error({"recipient_id": V.required()})
    if not re.match(r"^\d+$", rid):
        raise form_error({"recipient_id": V.err("NUMBER_TYPE_COERCE", "Value \"%s\" is not snowflake." % rid)})
    user = st.user(rid)
    cid = st.dm_channels.get(rid)
    if cid is None:
        ch = {"id": S.snowflake(), "type": S.CHANNEL_DM, "last_message_id": None, "flags": 0,
              "recipients": [user], "dm_user_id": rid}
        st.channels[ch["id"]] = ch
        st.messages[ch["id"]] = []
        st.dm_channels[rid] = ch["id"]
        cid = ch["id"]
    ch = st.channels[cid]
    return 200, {k: v for k, v in ch.items() if k != "dm_user_id"}


# ================================================================= channels and messages
def dm_closed(self, ch):
    uid = ch.get("dm_user_id")
    if uid is None:
        return False
    return any(m.get(uid, {}).get("dm_closed") for m in self.state.members.values())


@route("POST", "/channels/{channel_id}/messages")
async def create_message(self, rec, body, files, channel_id):
    ch = self.channel(channel_id)
    if ch["type"] not in S.TEXT_LIKE:
        raise error(400, 50008, "Cannot send messages in a non-text channel")
    if ch.get("forbidden"):
        raise error(403, 50013, "Missing Permissions")
    if ch["type"] == S.CHANNEL_DM and dm_closed(self, ch):
        raise error(403, 50007, "Cannot send messages to this user")
    if body.get("flags", 0) and isinstance(body.get("flags"), int) and body["flags"] & S.FLAG_EPHEMERAL:
        raise form_error({"flags": V.err("MESSAGE_FLAGS_INVALID", "Ephemeral messages are only for interactions")})
    self.check_message(body, allow_empty=bool(files))
    nonce = body.get("nonce")
    if nonce is not None:
        nonce_errors(nonce)
        if body.get("enforce_nonce"):
            again = self.nonce_seen(self.state.bot_user["id"], nonce)
            if again is not None:
                rec["nonce_deduplicated"] = True
                self.state.counters["nonce_deduplicated"] = self.state.counters.get("nonce_deduplicated", 0) + 1
                return 200, {**self.public_message(again), "nonce": again["nonce"]}
    msg = self.build_message(channel_id, body, files)
    self.state.store_message(msg)
    if nonce is not None and body.get("enforce_nonce"):
        self.state.nonces[(msg["author"]["id"], str(nonce))] = (msg["id"], time.time())
    await self.announce("MESSAGE_CREATE", msg)
    out = self.public_message(msg)
    if nonce is not None:
        out["nonce"] = nonce  # Discord echoes the nonce in the created message
    return 200, out


def nonce_errors(nonce):
    """docs: Message, "Create Message": nonce is an integer or a string of
    at most 25 characters."""
    if isinstance(nonce, bool) or not isinstance(nonce, (int, str)):
        raise form_error({"nonce": V.err("BASE_TYPE_CHOICES", "Nonce must be an integer or a string.")})
    if isinstance(nonce, str) and len(nonce) > 25:
        raise form_error({"nonce": V.max_len(25)})


def nonce_seen(self, author_id, nonce):
    """docs: with enforce_nonce, a nonce is checked for uniqueness "in the
    past few minutes" (here config nonce_window, default 300 s): another
    message by the same author with the same nonce is returned instead of
    creating a new one."""
    hit = self.state.nonces.get((author_id, str(nonce)))
    if hit is None or time.time() - hit[1] > self.config.get("nonce_window", 300):
        return None
    m = self.state.message_index.get(hit[0])
    return m if m is not None and not m.get("deleted") else None


Rest.nonce_seen = nonce_seen


@route("GET", "/channels/{channel_id}/messages")
async def list_messages(self, rec, body, files, channel_id):
    if self.channel(channel_id).get("forbidden"):
        raise error(403, 50001, "Missing Access")  # a channel the bot cannot see
    q = rec["query"]
    try:
        limit = int(q.get("limit", 50))
    except ValueError:
        raise form_error({"limit": V.err("NUMBER_TYPE_COERCE", "Value is not int.")})
    if not 1 <= limit <= 100:
        raise form_error({"limit": V.err("NUMBER_TYPE_MAX", "int value should be <= 100 and >= 1.")})
    for k in ("before", "after", "around"):
        if k in q and not re.match(r"^\d{1,20}$", q[k]):
            raise form_error({k: V.err("NUMBER_TYPE_COERCE", "Value \"%s\" is not snowflake." % q[k])})
    # bisect on the channel's sorted ids, then walk to `limit` visible
    # messages: paging through a 100,000-message history stays cheap
    msgs = self.state.messages.get(channel_id, [])
    keys = self.state.message_keys.get(channel_id, [])

    def older(i, n):  # up to n visible messages at indexes < i, newest first
        out = []
        while i > 0 and len(out) < n:
            i -= 1
            if shown(msgs[i]):
                out.append(msgs[i])
        return out

    def newer(i, n):  # up to n visible messages at indexes >= i, oldest first
        out = []
        while i < len(msgs) and len(out) < n:
            if shown(msgs[i]):
                out.append(msgs[i])
            i += 1
        return out
    if "before" in q:
        page = older(bisect.bisect_left(keys, int(q["before"])), limit)
    elif "after" in q:
        page = newer(bisect.bisect_right(keys, int(q["after"])), limit)[::-1]
    elif "around" in q:
        at = bisect.bisect_right(keys, int(q["around"]))
        page = newer(at, limit // 2)[::-1] + older(at, (limit + 1) // 2)
    else:
        page = older(len(msgs), limit)
    return 200, [self.public_message(m) for m in page]  # newest first


def shown(m):
    return not m.get("deleted") and not (m.get("flags", 0) & S.FLAG_EPHEMERAL)


def find_message(self, channel_id, message_id):
    m = self.state.message_index.get(message_id)
    if m is None or m["channel_id"] != channel_id or m.get("deleted"):
        raise unknown("message")
    return m


@route("GET", "/channels/{channel_id}/messages/{message_id}")
async def get_message(self, rec, body, files, channel_id, message_id):
    self.channel(channel_id)
    return 200, self.public_message(find_message(self, channel_id, message_id))


@route("PATCH", "/channels/{channel_id}/messages/{message_id}")
async def edit_message(self, rec, body, files, channel_id, message_id):
    self.channel(channel_id)
    m = find_message(self, channel_id, message_id)
    if m["author"]["id"] != self.state.bot_user["id"] and set(body) - {"flags"}:
        raise error(403, 50005, "Cannot edit a message authored by another user")
    self.check_message(body, allow_empty=True)
    self.apply_edit(m, body)
    await self.announce("MESSAGE_UPDATE", m)
    return 200, self.public_message(m)


@route("DELETE", "/channels/{channel_id}/messages/{message_id}")
async def delete_message(self, rec, body, files, channel_id, message_id):
    ch = self.channel(channel_id)
    m = find_message(self, channel_id, message_id)
    m["deleted"] = True
    await self.gw.dispatch("MESSAGE_DELETE", {"id": m["id"], "channel_id": channel_id,
                                              **({"guild_id": ch["guild_id"]} if ch.get("guild_id") else {})})
    return 204, None


@route("GET", "/channels/{channel_id}")
async def get_channel(self, rec, body, files, channel_id):
    return 200, S.public_channel({k: v for k, v in self.channel(channel_id).items() if k != "dm_user_id"})


def parent_errors(self, gid, parent_id, ctype, moving_id=None):
    """docs: Channel, a category holds at most 50 channels; Discord answers
    50035 CHANNEL_PARENT_MAX_CHANNELS in parent_id."""
    if parent_id is None:
        return
    p = self.state.channels.get(str(parent_id))
    if p is None or p.get("guild_id") != gid or p["type"] != S.CHANNEL_CATEGORY:
        raise form_error({"parent_id": V.err("CHANNEL_PARENT_INVALID", "Category does not exist")})
    if ctype == S.CHANNEL_CATEGORY:
        raise form_error({"parent_id": V.err("CHANNEL_PARENT_INVALID_TYPE", "Categories cannot have subcategories")})
    children = [c for c in self.state.guild_channels(gid) if c.get("parent_id") == p["id"] and c["id"] != moving_id]
    if len(children) >= self.config["category_max_channels"]:
        raise form_error({"parent_id": V.err(
            "CHANNEL_PARENT_MAX_CHANNELS",
            "Maximum number of channels in category reached (%d)" % self.config["category_max_channels"])})


def channel_name(ctype, name):
    # text-like guild channels are lower-cased with spaces turned to dashes
    if ctype in (S.CHANNEL_TEXT, S.CHANNEL_ANNOUNCEMENT, S.CHANNEL_FORUM) and isinstance(name, str):
        return re.sub(r"\s+", "-", name.strip()).lower()
    return name


@route("PATCH", "/channels/{channel_id}")
async def modify_channel(self, rec, body, files, channel_id):
    ch = self.channel(channel_id)
    if ch["type"] == S.CHANNEL_DM:
        raise error(403, 50003, "Cannot execute action on a DM channel")
    tree = {}
    if "name" in body:
        V.channel_name_errors(tree, body["name"], need=True)
    if "topic" in body:
        V.check_str(tree, ["topic"], body["topic"], 0, 1024)
    if tree:
        raise form_error(tree)
    if "name" in body or "topic" in body:
        sub_limit(self, "PATCH /channels/{channel_id} name/topic", channel_id)
    if "parent_id" in body and str(body["parent_id"] or "") != (ch.get("parent_id") or ""):
        parent_errors(self, ch["guild_id"], body["parent_id"], ch["type"], moving_id=ch["id"])
        ch["parent_id"] = str(body["parent_id"]) if body["parent_id"] else None
    if "name" in body:
        ch["name"] = channel_name(ch["type"], body["name"])
    for k in ("topic", "position", "permission_overwrites", "nsfw", "rate_limit_per_user"):
        if k in body:
            ch[k] = body[k]
    await self.gw.dispatch("CHANNEL_UPDATE", S.public_channel(ch))
    return 200, S.public_channel(ch)


def sub_limit(self, template, major):
    """A limit inside a route's bucket (renaming a channel: 2 per 10
    minutes on Discord), counted only when configured for `template`
    (POST /ratelimits routes, or the "discord" profile)."""
    if template not in self.limiter.routes:
        return
    headers, limited = self.limiter.check(template, major)
    if limited is not None:
        raise ApiError(429, {"message": "You are being rate limited.", "retry_after": limited["retry_after"],
                             "global": False}, headers)


@route("DELETE", "/channels/{channel_id}")
async def delete_channel(self, rec, body, files, channel_id):
    st = self.state
    ch = self.channel(channel_id)
    del st.channels[channel_id]
    st.messages.pop(channel_id, None)
    st.message_keys.pop(channel_id, None)
    if ch.get("guild_id"):
        await self.gw.dispatch("CHANNEL_DELETE", S.public_channel(ch))
    if ch["type"] == S.CHANNEL_CATEGORY:
        # its channels stay, without a category
        for c in st.guild_channels(ch["guild_id"]):
            if c.get("parent_id") == channel_id:
                c["parent_id"] = None
                await self.gw.dispatch("CHANNEL_UPDATE", S.public_channel(c))
    return 200, S.public_channel(ch)


# ================================================================= guilds
@route("GET", "/guilds/{guild_id}")
async def get_guild(self, rec, body, files, guild_id):
    return 200, self.guild(guild_id)


@route("GET", "/guilds/{guild_id}/channels")
async def list_channels(self, rec, body, files, guild_id):
    self.guild(guild_id)
    return 200, [S.public_channel(c) for c in self.state.guild_channels(guild_id)]


@route("PATCH", "/guilds/{guild_id}/channels")
async def modify_channel_positions(self, rec, body, files, guild_id):
    """docs: Guild, "Modify Guild Channel Positions": [{id, position?,
    lock_permissions?, parent_id?}], 204; CHANNEL_UPDATE for each channel
    that changed. discord.py's channel.edit(position=/category=) and
    move() use it."""
    self.guild(guild_id)
    items = rec["body"]
    if not isinstance(items, list):
        raise form_error({"_errors": [{"code": "LIST_TYPE_CONVERT",
                                       "message": "Only iterables may be used in a ListType"}]})
    st = self.state
    for i, it in enumerate(items):
        c = st.channels.get(str((it or {}).get("id")))
        if c is None or c.get("guild_id") != guild_id:
            raise form_error({str(i): {"id": V.err("CHANNEL_INVALID", "Invalid channel")}})
        if "parent_id" in it and str(it["parent_id"] or "") != (c.get("parent_id") or ""):
            try:
                parent_errors(self, guild_id, it["parent_id"], c["type"], moving_id=c["id"])
            except ApiError as e:
                raise form_error({str(i): e.body["errors"]})
    changed = []
    for it in items:
        c = st.channels[str(it["id"])]
        before = (c.get("position"), c.get("parent_id"))
        if it.get("position") is not None:
            c["position"] = int(it["position"])
        if "parent_id" in it:
            c["parent_id"] = str(it["parent_id"]) if it["parent_id"] else None
            if it.get("lock_permissions") and c["parent_id"]:
                c["permission_overwrites"] = copy.deepcopy(st.channels[c["parent_id"]].get("permission_overwrites", []))
        if (c.get("position"), c.get("parent_id")) != before:
            changed.append(c)
    for c in changed:
        await self.gw.dispatch("CHANNEL_UPDATE", S.public_channel(c))
    return 204, None


@route("POST", "/guilds/{guild_id}/channels")
async def create_channel(self, rec, body, files, guild_id):
    self.guild(guild_id)
    tree = {}
    V.channel_name_errors(tree, body.get("name"), need=True)
    ctype = body.get("type", S.CHANNEL_TEXT)
    if ctype is None:
        ctype = S.CHANNEL_TEXT
    if ctype not in S.GUILD_CHANNEL_TYPES:
        V.put(tree, ["type"], V.err("BASE_TYPE_CHOICES", "Value must be one of %s." % (S.GUILD_CHANNEL_TYPES,)))
    if "topic" in body:
        V.check_str(tree, ["topic"], body["topic"], 0, 1024)
    if tree:
        raise form_error(tree)
    if len(self.state.guild_channels(guild_id)) >= 500:
        raise error(400, 30013, "Maximum number of guild channels reached (500)")
    parent_errors(self, guild_id, body.get("parent_id"), ctype)
    ch = self.state.add_channel(guild_id, {
        "name": channel_name(ctype, body["name"]), "type": ctype, "parent_id": body.get("parent_id"),
        "topic": body.get("topic"), "permission_overwrites": body.get("permission_overwrites") or [],
        "position": body.get("position", len(self.state.guild_channels(guild_id))),
        "nsfw": body.get("nsfw", False), "rate_limit_per_user": body.get("rate_limit_per_user", 0)})
    await self.gw.dispatch("CHANNEL_CREATE", S.public_channel(ch))
    return 201, S.public_channel(ch)


@route("GET", "/guilds/{guild_id}/roles")
async def list_roles(self, rec, body, files, guild_id):
    return 200, self.guild(guild_id)["roles"]


@route("GET", "/guilds/{guild_id}/members/{user_id}")
async def get_member(self, rec, body, files, guild_id, user_id):
    self.guild(guild_id)
    m = self.state.member_of(guild_id, user_id)
    if m is None:
        raise unknown("member")
    return 200, S.public_member(m)


@route("GET", "/guilds/{guild_id}/emojis")
async def list_emojis(self, rec, body, files, guild_id):
    self.guild(guild_id)
    return 200, [self.state.public_emoji(e) for e in self.state.emojis[guild_id]]


# docs: Premium Guild Tiers / Emoji: slots per boost tier, static and
# animated counted separately (50/100/150/250 each)
EMOJI_SLOTS = {0: 50, 1: 100, 2: 150, 3: 250}


def emoji_limits(self, guild_id):
    """(static, animated) slots: a per-guild override (control API), else
    the config's emoji_limit (both kinds), else the boost tier's."""
    g = self.state.guilds[guild_id]
    tier = EMOJI_SLOTS.get(g.get("premium_tier", 0), 50)
    cfg = self.config.get("emoji_limit")
    over = self.state.emoji_limits.get(guild_id, {})
    return (over.get("static", cfg if cfg is not None else tier),
            over.get("animated", cfg if cfg is not None else tier))


Rest.emoji_limits = emoji_limits


@route("POST", "/guilds/{guild_id}/emojis")
async def create_emoji(self, rec, body, files, guild_id):
    self.guild(guild_id)
    tree, raw = V.emoji_errors(body)
    if tree:
        raise form_error(tree)
    kind = V.image_kind(raw)
    animated = kind == "gif"  # Discord makes every GIF upload an animated emoji
    emojis = self.state.emojis[guild_id]
    static_max, animated_max = self.emoji_limits(guild_id)
    if animated and sum(1 for e in emojis if e["animated"]) >= animated_max:
        raise error(400, 30018, "Maximum number of animated emojis reached (%d)" % animated_max)
    if not animated and sum(1 for e in emojis if not e["animated"]) >= static_max:
        raise error(400, 30008, "Maximum number of emojis reached (%d)" % static_max)
    # names need not be unique: Discord accepts a second emoji of the same name
    e = {"id": S.snowflake(), "name": body["name"], "roles": [str(r) for r in body.get("roles") or []],
         "user": self.state.bot_user, "require_colons": True, "managed": False,
         "animated": animated, "available": True,
         "image_size": len(raw), "image_sha256": hashlib.sha256(raw).hexdigest(),
         "image_type": body["image"].split(";", 1)[0][5:], "image_kind": kind}
    emojis.append(e)
    await self.gw.dispatch("GUILD_EMOJIS_UPDATE", {"guild_id": guild_id,
                                                   "emojis": [self.state.public_emoji(x) for x in emojis]})
    return 201, self.state.public_emoji(e)


@route("GET", "/guilds/{guild_id}/emojis/{emoji_id}")
async def get_emoji(self, rec, body, files, guild_id, emoji_id):
    self.guild(guild_id)
    for e in self.state.emojis[guild_id]:
        if e["id"] == emoji_id:
            return 200, self.state.public_emoji(e)
    raise unknown("emoji")


@route("DELETE", "/guilds/{guild_id}/emojis/{emoji_id}")
async def delete_emoji(self, rec, body, files, guild_id, emoji_id):
    self.guild(guild_id)
    emojis = self.state.emojis[guild_id]
    for e in emojis:
        if e["id"] == emoji_id:
            emojis.remove(e)
            await self.gw.dispatch("GUILD_EMOJIS_UPDATE", {"guild_id": guild_id,
                                                           "emojis": [self.state.public_emoji(x) for x in emojis]})
            return 204, None
    raise unknown("emoji")


# ================================================================= application commands
def store_commands(self, key, cmds, guild_id=None):
    old = {(c["type"], c["name"]): c for c in self.state.commands.get(key, [])}
    out = []
    for c in cmds:
        ctype = c.get("type", 1)
        prev = old.get((ctype, c["name"]))
        cmd = {
            "id": prev["id"] if prev else S.snowflake(), "application_id": self.config["application_id"],
            "version": S.snowflake(), "type": ctype, "name": c["name"],
            "name_localizations": c.get("name_localizations"),
            "description": c.get("description", ""),
            "description_localizations": c.get("description_localizations"),
            "options": copy.deepcopy(c.get("options") or []),
            "default_member_permissions": c.get("default_member_permissions"),
            "dm_permission": c.get("dm_permission", True), "nsfw": bool(c.get("nsfw", False)),
            "contexts": c.get("contexts"), "integration_types": c.get("integration_types", [0]),
        }
        if guild_id:
            cmd["guild_id"] = guild_id
        out.append(cmd)
    self.state.commands[key] = out
    return out


def check_app(self, app_id):
    if app_id != self.config["application_id"]:
        raise error(403, 50001, "Missing Access")


def check_commands_scope(self, guild_id):
    """A guild where the app was added without the applications.commands
    scope (control: `commands_scope: false`) refuses its guild commands
    with 403 50001, as Discord does."""
    if guild_id in self.state.no_commands_scope:
        raise error(403, 50001, "Missing Access")


@route("PUT", "/applications/{app_id}/guilds/{guild_id}/commands")
async def overwrite_guild_commands(self, rec, body, files, app_id, guild_id):
    check_app(self, app_id)
    self.guild(guild_id)
    check_commands_scope(self, guild_id)
    cmds = rec["body"]
    tree = V.commands_errors(cmds)
    if tree:
        raise form_error(tree)
    return 200, store_commands(self, guild_id, cmds, guild_id)


@route("GET", "/applications/{app_id}/guilds/{guild_id}/commands")
async def list_guild_commands(self, rec, body, files, app_id, guild_id):
    check_app(self, app_id)
    self.guild(guild_id)
    check_commands_scope(self, guild_id)
    return 200, self.state.commands.get(guild_id, [])


@route("PUT", "/applications/{app_id}/commands")
async def overwrite_global_commands(self, rec, body, files, app_id):
    check_app(self, app_id)
    tree = V.commands_errors(rec["body"])
    if tree:
        raise form_error(tree)
    return 200, store_commands(self, "global", rec["body"])


@route("GET", "/applications/{app_id}/commands")
async def list_global_commands(self, rec, body, files, app_id):
    check_app(self, app_id)
    return 200, self.state.commands.get("global", [])


# ================================================================= interactions
@route("POST", "/interactions/{interaction_id}/{token}/callback", auth=False)
async def interaction_callback(self, rec, body, files, interaction_id, token):
    st = self.state
    it = st.interactions.get(interaction_id)
    if it is None or it["token"] != token:
        raise unknown("interaction")
    now = time.time()
    # docs: "you must send an initial response within 3 seconds"
    if now - it["created"] > self.config["interaction_timeout"]:
        it["late_callbacks"] += 1
        raise unknown("interaction")
    if it["acknowledged"]:
        raise error(400, 40060, "Interaction has already been acknowledged.")
    ctype = body.get("type")
    if ctype not in CALLBACK_TYPES:
        raise form_error({"type": V.err("BASE_TYPE_CHOICES", "Value must be one of %s." % (set(CALLBACK_TYPES),))})
    itype = it["payload"]["type"]
    ok = {
        CB_PONG: (IT_PING,), CB_MESSAGE: (IT_COMMAND, IT_COMPONENT, IT_MODAL),
        CB_DEFERRED_MESSAGE: (IT_COMMAND, IT_COMPONENT, IT_MODAL),
        CB_DEFERRED_UPDATE: (IT_COMPONENT, IT_MODAL), CB_UPDATE: (IT_COMPONENT, IT_MODAL),
        CB_AUTOCOMPLETE: (IT_AUTOCOMPLETE,), CB_MODAL: (IT_COMMAND, IT_COMPONENT),
    }.get(ctype, (IT_COMMAND, IT_COMPONENT))
    if itype not in ok:
        raise form_error({"type": V.err("INTERACTION_RESPONSE_TYPE_INVALID",
                                        "Interaction response type %d is not valid for interaction type %d"
                                        % (ctype, itype))})
    if (ctype in (CB_DEFERRED_UPDATE, CB_UPDATE) and itype == IT_MODAL
            and not it["payload"].get("message")):
        raise form_error({"type": V.err("INTERACTION_RESPONSE_TYPE_INVALID",
                                        "This modal was not opened from a message component")})
    data = body.get("data") or {}
    if ctype in (CB_MESSAGE, CB_UPDATE):
        self.check_message(data, allow_flags=S.FLAG_EPHEMERAL if ctype == CB_MESSAGE else 0,
                           allow_empty=(ctype == CB_UPDATE) or bool(files))
    elif ctype == CB_DEFERRED_MESSAGE:
        flags = data.get("flags", 0) or 0
        if not isinstance(flags, int) or flags & ~S.FLAG_EPHEMERAL:
            raise form_error({"data": {"flags": V.err("MESSAGE_FLAGS_INVALID", "Invalid flags")}})
    elif ctype == CB_MODAL:
        tree = V.modal_errors(data)
        if tree:
            raise form_error(tree)
    elif ctype == CB_AUTOCOMPLETE:
        tree = V.autocomplete_errors(body.get("data"), focused_type(it["payload"]["data"].get("options")))
        if tree:
            raise form_error(tree)
        it["choices"] = data["choices"]
    it["acknowledged"] = True
    it["responses"].append({"type": ctype, "data": data, "time": now, "elapsed": round(now - it["created"], 3),
                            "files": [f["filename"] for f in files]})
    p = it["payload"]
    if ctype == CB_MESSAGE:
        msg = self.build_message(p["channel_id"], data, files,
                                 extra=self.interaction_extra(it, data.get("flags", 0) or 0))
        st.store_message(msg)
        it["original_id"] = msg["id"]
        await self.announce("MESSAGE_CREATE", msg)
    elif ctype == CB_DEFERRED_MESSAGE:
        flags = (data.get("flags", 0) or 0) | S.FLAG_LOADING
        msg = self.build_message(p["channel_id"], {"content": "", "flags": flags},
                                 extra=self.interaction_extra(it, flags))
        st.store_message(msg)
        it["original_id"] = msg["id"]
        await self.announce("MESSAGE_CREATE", msg)
    elif ctype in (CB_UPDATE, CB_DEFERRED_UPDATE) and p.get("message"):
        target = st.message_index.get(p["message"]["id"])
        it["original_id"] = p["message"]["id"]
        if target is not None and ctype == CB_UPDATE:
            self.apply_edit(target, data)
            await self.announce("MESSAGE_UPDATE", target)
    elif ctype == CB_MODAL:
        it["modal"] = data
    return 204, None


def focused_type(options):
    """The type of the focused option of an autocomplete interaction."""
    for o in options or []:
        if o.get("focused"):
            return o.get("type")
        t = focused_type(o.get("options"))
        if t is not None:
            return t
    return None


def interaction_extra(self, it, flags):
    p = it["payload"]
    return {"flags": flags, "webhook_id": self.config["application_id"],
            "application_id": self.config["application_id"],
            "type": 20 if p["type"] == IT_COMMAND else 0,
            "interaction_metadata": {"id": p["id"], "type": p["type"],
                                     "user": (p.get("member") or {}).get("user") or p.get("user"),
                                     "authorizing_integration_owners": {}},
            "interaction_id": p["id"]}


Rest.interaction_extra = interaction_extra


def interaction_by_token(self, app_id, token):
    it = self.state.interactions_by_token.get(token)
    if app_id != self.config["application_id"] or it is None or \
            time.time() - it["created"] > INTERACTION_TOKEN_TTL:
        raise unknown("webhook")
    return it


def original(self, it):
    if not it.get("original_id"):
        raise unknown("message")
    m = self.state.message_index.get(it["original_id"])
    if m is None or m.get("deleted"):
        raise unknown("message")
    return m


@route("GET", "/webhooks/{app_id}/{token}/messages/@original", auth=False)
async def get_original(self, rec, body, files, app_id, token):
    it = interaction_by_token(self, app_id, token)
    return 200, self.public_message(original(self, it))


@route("PATCH", "/webhooks/{app_id}/{token}/messages/@original", auth=False)
async def edit_original(self, rec, body, files, app_id, token):
    it = interaction_by_token(self, app_id, token)
    m = original(self, it)
    self.check_message(body, allow_empty=True)
    was_loading = m.get("flags", 0) & S.FLAG_LOADING
    self.apply_edit(m, body)
    it["edits"].append({"time": time.time(), "body": body})
    await self.announce("MESSAGE_UPDATE", m)
    if was_loading:
        m["edited_timestamp"] = None  # completing a deferral is not an edit
    return 200, self.public_message(m)


@route("DELETE", "/webhooks/{app_id}/{token}/messages/@original", auth=False)
async def delete_original(self, rec, body, files, app_id, token):
    it = interaction_by_token(self, app_id, token)
    m = original(self, it)
    m["deleted"] = True
    it["original_deleted"] = True
    return 204, None


@route("POST", "/webhooks/{app_id}/{token}", auth=False)
async def followup(self, rec, body, files, app_id, token):
    it = interaction_by_token(self, app_id, token)
    if not it["acknowledged"]:
        raise unknown("webhook")
    self.check_message(body, allow_flags=S.FLAG_EPHEMERAL, allow_empty=bool(files))
    p = it["payload"]
    msg = self.build_message(p["channel_id"], body, files,
                             extra={**self.interaction_extra(it, body.get("flags", 0) or 0), "type": 0})
    self.state.store_message(msg)
    it["followups"].append(msg["id"])
    await self.announce("MESSAGE_CREATE", msg)
    return 200, self.public_message(msg)


@route("PATCH", "/webhooks/{app_id}/{token}/messages/{message_id}", auth=False)
async def edit_followup(self, rec, body, files, app_id, token, message_id):
    it = interaction_by_token(self, app_id, token)
    if message_id not in it["followups"]:
        raise unknown("message")
    m = self.state.message_index[message_id]
    self.check_message(body, allow_empty=True)
    self.apply_edit(m, body)
    await self.announce("MESSAGE_UPDATE", m)
    return 200, self.public_message(m)
