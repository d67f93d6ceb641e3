"""The control API: plain HTTP + JSON on the control port, for tests.

Tests configure the world, inject gateway events and faults, and read back
everything the bot did. Every endpoint is listed in README.md.
"""

import copy
import json
import logging
import time

from aiohttp import web

from . import state as S

log = logging.getLogger("emulator.control")


def jresp(obj, status=200):
    return web.Response(status=status, text=json.dumps(obj), content_type="application/json")


def mark_focused(options, name):
    """An autocomplete interaction has exactly one focused option (docs:
    Interactions, "Autocomplete"): the one named `name`, else the one the
    injection marked, else the last leaf option. Its value is what the user
    has typed so far. In an autocomplete interaction string, integer and
    number options all carry strings (what is typed need not be a valid
    number yet; discord-api-types: `Type extends ApplicationCommandAutocomplete
    ? string : number`)."""
    leaves = []

    def walk(opts):
        for o in opts:
            if o["type"] in (1, 2):
                walk(o.get("options") or [])
            else:
                leaves.append(o)
    walk(options)
    if not leaves:
        raise ValueError("an autocomplete interaction needs an option to focus")
    chosen = [o for o in leaves if o["name"] == name] if name else [o for o in leaves if o.get("focused")]
    if name and not chosen:
        raise ValueError("no option named %r to focus" % name)
    target = (chosen or leaves)[-1]
    for o in leaves:
        o.pop("focused", None)
        if o["type"] in (3, 4, 10) and o.get("value") is not None:
            o["value"] = str(o["value"])
    target["focused"] = True
    target["value"] = "" if target.get("value") is None else str(target["value"])


class Control:
    def __init__(self, state, gateway, rest, limiter, config):
        self.state, self.gw, self.rest, self.limiter, self.config = state, gateway, rest, limiter, config

    def app(self):
        app = web.Application(middlewares=[self.errors])
        r = app.router
        r.add_get("/health", self.health)
        r.add_get("/config", self.get_config)
        r.add_post("/config", self.set_config)
        r.add_post("/reset", self.reset)
        r.add_get("/state", self.get_state)
        r.add_post("/guilds", self.add_guild)
        r.add_get("/guilds/{gid}", self.get_guild)
        r.add_post("/guilds/{gid}/channels", self.add_channel)
        r.add_post("/guilds/{gid}/members", self.add_member)
        r.add_post("/guilds/{gid}/roles", self.add_role)
        r.add_patch("/guilds/{gid}", self.update_guild)
        r.add_patch("/guilds/{gid}/roles/{rid}", self.update_role)
        r.add_patch("/guilds/{gid}/members/{uid}", self.update_member)
        r.add_delete("/guilds/{gid}/members/{uid}", self.remove_member)
        r.add_patch("/channels/{cid}", self.update_channel)
        r.add_get("/channels", self.list_channels)
        r.add_get("/channels/{cid}/messages", self.channel_messages)
        r.add_get("/messages", self.all_messages)
        r.add_get("/ratelimits", self.get_ratelimits)
        r.add_post("/ratelimits", self.set_ratelimits)
        r.add_get("/faults/rest", self.get_rest_faults)
        r.add_post("/faults/rest", self.add_rest_fault)
        r.add_delete("/faults/rest", self.clear_rest_faults)
        r.add_post("/faults/rest/release", self.release_rest_stalls)
        r.add_post("/faults/gateway", self.gateway_fault)
        r.add_post("/inject/dispatch", self.inject_dispatch)
        r.add_post("/inject/message", self.inject_message)
        r.add_post("/inject/slash", self.inject_slash)
        r.add_post("/inject/component", self.inject_component)
        r.add_post("/inject/modal", self.inject_modal)
        r.add_get("/requests", self.get_requests)
        r.add_get("/gateway", self.get_gateway)
        r.add_get("/interactions", self.get_interactions)
        r.add_get("/interactions/{iid}", self.get_interaction)
        r.add_get("/commands", self.get_commands)
        r.add_get("/counters", self.get_counters)
        self.add_media_routes(r)
        self.add_bench_routes(r)
        r.add_get("/tokens", self.get_tokens)
        return app

    @web.middleware
    async def errors(self, request, handler):
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except (KeyError, ValueError, TypeError) as e:
            log.exception("control %s %s", request.method, request.path)
            return jresp({"error": "%s: %s" % (type(e).__name__, e)}, 400)

    @staticmethod
    async def body(request):
        raw = await request.read()
        return json.loads(raw) if raw else {}

    # ----------------------------------------------------------- config, world
    async def health(self, request):
        return jresp({"ok": True, "port": self.config["port"], "gateway_url": self.gw.url()})

    async def get_config(self, request):
        return jresp({k: v for k, v in self.config.items() if k != "guilds"})

    async def set_config(self, request):
        b = await self.body(request)
        allowed = ("heartbeat_interval", "interaction_timeout", "token", "privileged_intents", "shards",
                   "category_max_channels", "emoji_limit", "gateway_url", "resume_gateway_url",
                   "application_flags", "nonce_window",
                   "application_id")
        for k, v in b.items():
            if k not in allowed:
                raise ValueError("unknown config key %r (allowed: %s)" % (k, ", ".join(allowed)))
            self.config[k] = v
        return await self.get_config(request)

    async def reset(self, request):
        """Fresh world and recordings; closes live gateway connections and
        forgets sessions unless {"gateway": false}."""
        b = await self.body(request)
        if b.get("gateway", True):
            await self.gw.shutdown()
            self.gw.sessions.clear()
            self.gw.records.clear()
            self.gw.identifies.clear()
            self.gw.resumes.clear()
            await self.gw.clear_resume_fault()
        self.state.reset(guilds=b.get("guilds", self.config.get("guilds")))
        self.rest.faults.clear()
        self.limiter.restore()
        return jresp({"ok": True})

    async def get_state(self, request):
        st = self.state
        return jresp({"guilds": [st.guild_create_payload(g) for g in st.guilds],
                      "bot_user": st.bot_user, "application_id": self.config["application_id"],
                      "counters": st.counters})

    async def add_guild(self, request):
        b = await self.body(request)
        existed = str(b.get("id")) in self.state.guilds
        g = self.state.add_guild(b)
        payload = self.state.guild_create_payload(g["id"])
        if b.get("announce", True):
            await self.gw.dispatch("GUILD_UPDATE" if existed else "GUILD_CREATE",
                                   payload if not existed else self.state.guilds[g["id"]])
        return jresp(payload)

    async def get_guild(self, request):
        gid = request.match_info["gid"]
        payload = self.state.guild_create_payload(gid)
        payload["emojis"] = copy.deepcopy(self.state.emojis.get(gid, []))
        payload["channels"] = [c for c in self.state.guild_channels(gid)]
        return jresp(payload)

    async def add_channel(self, request):
        gid = request.match_info["gid"]
        b = await self.body(request)
        ch = self.state.add_channel(gid, b, len(self.state.guild_channels(gid)))
        if b.get("announce", True):
            await self.gw.dispatch("CHANNEL_CREATE", S.public_channel(ch))
        return jresp(ch)

    async def add_member(self, request):
        gid = request.match_info["gid"]
        b = await self.body(request)
        m = self.state.add_member(gid, b)
        if b.get("announce", True):
            await self.gw.dispatch("GUILD_MEMBER_ADD", {**S.public_member(m), "guild_id": gid})
        return jresp(m)

    async def add_role(self, request):
        gid = request.match_info["gid"]
        b = await self.body(request)
        g = self.state.guilds[gid]
        role = S.normalize_role(gid, b, len(g["roles"]))
        g["roles"].append(role)
        if b.get("announce", True):
            await self.gw.dispatch("GUILD_ROLE_CREATE", {"guild_id": gid, "role": role})
        return jresp(role)

    # What a server admin changes in Discord's client, for the permission
    # checks (agora --check-discord): each answers the updated object and
    # dispatches the event Discord would, unless {"announce": false}.
    async def update_guild(self, request):
        """{owner_id?, name?, commands_scope?}"""
        gid = request.match_info["gid"]
        b = await self.body(request)
        g = self.state.guilds[gid]
        for k in ("owner_id", "name"):
            if k in b:
                g[k] = str(b[k]) if k == "owner_id" else b[k]
        if "commands_scope" in b:
            (self.state.no_commands_scope.discard if b["commands_scope"]
             else self.state.no_commands_scope.add)(gid)
        if b.get("announce", True):
            await self.gw.dispatch("GUILD_UPDATE", g)
        return jresp(g)

    async def update_role(self, request):
        """{permissions?, name?, position?}"""
        gid, rid = request.match_info["gid"], request.match_info["rid"]
        b = await self.body(request)
        role = next(r for r in self.state.guilds[gid]["roles"] if r["id"] == rid)
        for k in ("name", "position"):
            if k in b:
                role[k] = b[k]
        if "permissions" in b:
            role["permissions"] = str(b["permissions"])
        if b.get("announce", True):
            await self.gw.dispatch("GUILD_ROLE_UPDATE", {"guild_id": gid, "role": role})
        return jresp(role)

    async def update_member(self, request):
        """{roles?, nick?}"""
        gid, uid = request.match_info["gid"], request.match_info["uid"]
        b = await self.body(request)
        m = self.state.members[gid][uid]
        if "roles" in b:
            m["roles"] = [str(r) for r in b["roles"]]
        if "nick" in b:
            m["nick"] = b["nick"]
        if b.get("announce", True):
            await self.gw.dispatch("GUILD_MEMBER_UPDATE", {**S.public_member(m), "guild_id": gid})
        return jresp(m)

    async def remove_member(self, request):
        """Kicks uid; for the bot itself the guild's REST routes then answer
        403 50001 Missing Access. ?announce=false: no dispatch."""
        gid, uid = request.match_info["gid"], request.match_info["uid"]
        m = self.state.members[gid].pop(uid)
        if request.query.get("announce", "true") != "false":
            if uid == self.state.bot_user["id"]:
                await self.gw.dispatch("GUILD_DELETE", {"id": gid})
            else:
                await self.gw.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": gid, "user": m["user"]})
        return jresp(m)

    async def update_channel(self, request):
        """{permission_overwrites?, name?, type?, parent_id?, forbidden?}"""
        cid = request.match_info["cid"]
        b = await self.body(request)
        ch = self.state.channels[cid]
        for k in ("permission_overwrites", "name", "type", "parent_id", "forbidden"):
            if k in b:
                ch[k] = b[k]
        if b.get("announce", True) and ch.get("guild_id"):
            await self.gw.dispatch("CHANNEL_UPDATE", S.public_channel(ch))
        return jresp(ch)

    async def list_channels(self, request):
        return jresp(list(self.state.channels.values()))

    async def channel_messages(self, request):
        """Every message of a channel, oldest first, including ephemeral and
        deleted ones and the allowed_mentions the bot sent. ?limit=N: the
        newest N only; ?summary=1: counts instead (history_summary)."""
        msgs = self.state.messages.get(request.match_info["cid"], [])
        if request.query.get("summary"):
            return jresp(self.history_summary(msgs))
        if "limit" in request.query:
            msgs = msgs[-int(request.query["limit"]):] if int(request.query["limit"]) else []
        return jresp([{**self.rest.public_message(m), **{k: m[k] for k in ("allowed_mentions", "nonce", "deleted")
                                                         if k in m}} for m in msgs])

    async def all_messages(self, request):
        cid = request.query.get("channel_id")
        out = [m for msgs in self.state.messages.values() for m in msgs if cid is None or m["channel_id"] == cid]
        out.sort(key=lambda m: int(m["id"]))
        return jresp(out)

    # ----------------------------------------------------------- limits, faults
    async def get_ratelimits(self, request):
        return jresp(self.limiter.describe())

    async def set_ratelimits(self, request):
        self.limiter.configure(await self.body(request))
        return jresp(self.limiter.describe())

    async def get_rest_faults(self, request):
        return jresp(self.rest.faults)

    async def add_rest_fault(self, request):
        b = await self.body(request)
        f = {"route": b.get("route", "*"), "count": int(b.get("count", 1)), "status": int(b.get("status", 500))}
        for k in ("method", "html", "body", "message", "retry_after", "after", "stall", "then"):
            if k in b:
                f[k] = b[k]
        self.rest.faults.append(f)
        return jresp(f)

    async def clear_rest_faults(self, request):
        self.rest.faults.clear()
        return jresp({"ok": True})

    async def release_rest_stalls(self, request):
        return jresp({"released": self.rest.release_stalls()})

    async def gateway_fault(self, request):
        b = await self.body(request)
        n = await self.gw.fault(b["action"], b)
        return jresp({"connections": n})

    # ----------------------------------------------------------- injection
    async def inject_dispatch(self, request):
        b = await self.body(request)
        n = await self.gw.dispatch(b["event"], b.get("data") or {}, b.get("session_id"))
        return jresp({"sessions": n})

    def default_guild_id(self):
        return next(iter(self.state.guilds), None)

    def default_channel(self, gid):
        for c in self.state.guild_channels(gid):
            if c["type"] == S.CHANNEL_TEXT:
                return c["id"]
        raise ValueError("guild %s has no text channel" % gid)

    def default_user(self, gid):
        for uid in self.state.members.get(gid, {}):
            if uid != self.state.bot_user["id"]:
                return uid
        raise ValueError("guild %s has no member besides the bot" % gid)

    def where(self, b):
        """(guild_id or None, channel_id, user_id) for an injected event."""
        cid = b.get("channel_id")
        if cid is not None:
            ch = self.state.channels[str(cid)]
            gid = ch.get("guild_id")
        else:
            gid = str(b.get("guild_id") or self.default_guild_id())
            cid = self.default_channel(gid)
        uid = str(b.get("user_id") or (self.default_user(gid) if gid else None))
        return gid, str(cid), uid

    async def inject_message(self, request):
        """A user posts a message: stored, then MESSAGE_CREATE."""
        b = await self.body(request)
        gid, cid, uid = self.where(b)
        author = copy.deepcopy(self.state.user(uid))
        msg = self.rest.build_message(cid, {"content": b.get("content", ""), "embeds": b.get("embeds"),
                                            "message_reference": b.get("message_reference")},
                                      author=author)
        msg["attachments"] = [self.attachment_for(a, cid) for a in b.get("attachments") or []]
        if b.get("webhook_id"):
            msg["webhook_id"] = str(b["webhook_id"])
        self.state.store_message(msg)
        await self.gw.dispatch("MESSAGE_CREATE", self.rest.public_message(msg))
        return jresp(msg)

    def interaction_base(self, b, itype, data):
        st = self.state
        gid, cid, uid = self.where(b)
        # id_time_ms: the interaction's snowflake time (a test can make a
        # token look old to the bot without waiting 15 minutes)
        iid = S.snowflake(int(b["id_time_ms"])) if b.get("id_time_ms") else S.snowflake()
        token = st.new_token()
        ch = st.channels[cid]
        p = {
            "id": iid, "application_id": self.config["application_id"], "type": itype, "data": data,
            "channel_id": cid, "channel": S.public_channel({k: v for k, v in ch.items() if k != "dm_user_id"}),
            "token": token, "version": 1, "locale": b.get("locale", "en-US"),
            "app_permissions": "2248473465835073", "entitlements": [],
            "attachment_size_limit": 10485760,
        }
        if gid:
            member = st.member_of(gid, uid) or st.add_member(gid, {"user": {"id": uid, "username": "user" + uid[-4:]}})
            p.update({"guild_id": gid, "guild_locale": "en-US",
                      "guild": {"id": gid, "locale": "en-US", "features": []},
                      "member": {**S.public_member(member), "permissions": b.get("permissions", "1071698660929")},
                      "authorizing_integration_owners": {"0": gid}, "context": 0})
        else:
            p.update({"user": st.user(uid), "authorizing_integration_owners": {"1": uid}, "context": 1})
        return p

    async def deliver(self, p):
        now = time.time()
        it = {"id": p["id"], "token": p["token"], "type": p["type"], "payload": p, "created": now,
              "acknowledged": False, "responses": [], "original_id": None, "edits": [],
              "followups": [], "modal": None, "late_callbacks": 0, "choices": None}
        self.state.interactions[p["id"]] = it
        self.state.interactions_by_token[p["token"]] = it
        n = await self.gw.dispatch("INTERACTION_CREATE", p)
        return jresp({"id": p["id"], "token": p["token"], "sessions": n, "payload": p})

    def find_command(self, gid, name):
        for key in (gid, "global"):
            for c in self.state.commands.get(key, []):
                if c["name"] == name and c["type"] == 1:
                    return c
        return None

    @staticmethod
    def option_type(value):
        if isinstance(value, bool):
            return 5
        if isinstance(value, int):
            return 4
        if isinstance(value, float):
            return 10
        return 3

    def build_options(self, given, declared, resolved, gid, attachments=None):
        """options as a list [{name, type, value}] or a dict {name: value} /
        {name: {type, value}}; types come from the registered command when
        known, else from the value (str 3, int 4, bool 5, float 10)."""
        if isinstance(given, dict):
            given = [{"name": k, **v} if isinstance(v, dict) else {"name": k, "value": v}
                     for k, v in given.items()]
        decl = {o["name"]: o for o in (declared or [])}
        out = []
        for o in given or []:
            d = decl.get(o["name"], {})
            otype = o.get("type") or d.get("type") or self.option_type(o.get("value"))
            opt = {"name": o["name"], "type": otype}
            if otype in (1, 2):
                opt["options"] = self.build_options(o.get("options") or [], d.get("options"), resolved, gid,
                                                    attachments)
            else:
                opt["value"] = o.get("value")
                if o.get("focused"):
                    opt["focused"] = True
                self.resolve(otype, opt["value"], resolved, gid, attachments)
            out.append(opt)
        return out

    def resolve(self, otype, value, resolved, gid, attachments=None):
        st = self.state
        if otype == 11:
            # an attachment option's value is the attachment's id; Discord
            # puts the object (url on its CDN, filename, size, ...) in
            # data.resolved.attachments. An id registered with POST
            # /attachments is used as registered; any other id is registered
            # now (a 64x64 PNG unless inject_slash's `attachments: {id:
            # spec}` says otherwise), so its url can always be fetched.
            aid = str(value)
            obj = self.rest.cdn.public(aid)
            if obj is None:
                spec = dict((attachments or {}).get(aid, {}))
                if not any(k in spec for k in ("data_b64", "data", "png", "gif", "fill_size")):
                    spec["png"] = {"width": 64, "height": 64}
                spec.setdefault("filename", "file.png")
                obj = self.rest.cdn.register({**spec, "id": aid}, ephemeral=True)
            resolved.setdefault("attachments", {})[aid] = obj
        if otype in (6, 9) and str(value) in st.users:
            u = st.users[str(value)]
            resolved.setdefault("users", {})[u["id"]] = u
            m = st.member_of(gid, u["id"]) if gid else None
            if m is not None:
                resolved.setdefault("members", {})[u["id"]] = {
                    **{k: v for k, v in S.public_member(m).items() if k != "user"}, "permissions": "0"}
        if otype == 7 and str(value) in st.channels:
            c = st.channels[str(value)]
            resolved.setdefault("channels", {})[c["id"]] = {
                "id": c["id"], "name": c.get("name"), "type": c["type"], "permissions": "1071698660929",
                "parent_id": c.get("parent_id"), "guild_id": c.get("guild_id")}
        if otype in (8, 9) and gid:
            for r in st.guilds[gid]["roles"]:
                if r["id"] == str(value):
                    resolved.setdefault("roles", {})[r["id"]] = r

    async def inject_slash(self, request):
        """INTERACTION_CREATE for a chat-input command (type 2), or with
        {"autocomplete": true} an autocomplete interaction (type 4)."""
        b = await self.body(request)
        gid, _, _ = self.where(b)
        cmd = self.find_command(gid, b["name"])
        resolved = {}
        data = {"id": cmd["id"] if cmd else b.get("command_id", S.snowflake()), "name": b["name"],
                "type": 1, "options": self.build_options(b.get("options"), cmd and cmd.get("options"), resolved, gid,
                                                         b.get("attachments"))}
        if b.get("autocomplete"):
            mark_focused(data["options"], b.get("focused"))
        if resolved:
            data["resolved"] = resolved
        if gid:
            data["guild_id"] = gid
        return await self.deliver(self.interaction_base(b, 4 if b.get("autocomplete") else 2, data))

    def message_for(self, b, cid):
        mid = b.get("message_id")
        if mid is not None:
            return self.state.message_index[str(mid)]
        for m in reversed(self.state.messages.get(cid, [])):
            if m.get("components") and m["author"]["id"] == self.state.bot_user["id"]:
                return m
        return None

    async def inject_component(self, request):
        """A click on a button (component_type 2) or a select choice (3, 5-8)
        with custom_id, on the given message (default: the channel's last
        bot message that has components)."""
        b = await self.body(request)
        _, cid, _ = self.where(b)
        data = {"custom_id": b["custom_id"], "component_type": int(b.get("component_type", 2))}
        if data["component_type"] != 2:
            data["values"] = b.get("values", [])
        msg = self.message_for(b, cid)
        p = self.interaction_base(b, 3, data)
        p["message"] = self.rest.public_message(msg) if msg else {
            "id": S.snowflake(), "channel_id": cid, "type": 0, "content": "", "author": self.state.bot_user,
            "components": [], "embeds": [], "attachments": [], "flags": 0, "timestamp": S.iso_now(),
            "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
            "mention_roles": [], "pinned": False}
        return await self.deliver(p)

    async def inject_modal(self, request):
        """A modal submit (type 5). fields: {custom_id: value}. shape
        "action_row": [{type 1, components: [{type 4, custom_id, value}]}]
        (the classic shape); shape "label": [{type 18, id, component:
        {type 4, id, custom_id, value}}] (modals built from Label
        components). Both are what Discord sends."""
        b = await self.body(request)
        _, cid, _ = self.where(b)
        fields = b.get("fields") or {}
        if isinstance(fields, dict):
            fields = list(fields.items())
        shape = b.get("shape", "action_row")
        comps = []
        for n, (fid, value) in enumerate(fields):
            if shape == "label":
                # a list of values: a string select (type 3) inside the Label
                inner = ({"type": 3, "id": 2 * n + 2, "custom_id": fid, "values": value} if isinstance(value, list)
                         else {"type": 4, "id": 2 * n + 2, "custom_id": fid, "value": value})
                comps.append({"type": 18, "id": 2 * n + 1, "component": inner})
            elif shape == "action_row":
                comps.append({"type": 1, "id": 2 * n + 1,
                              "components": [{"type": 4, "id": 2 * n + 2, "custom_id": fid, "value": value}]})
            else:
                raise ValueError("shape must be action_row or label")
        p = self.interaction_base(b, 5, {"custom_id": b["custom_id"], "components": comps})
        if b.get("message_id"):
            p["message"] = self.rest.public_message(self.state.message_index[str(b["message_id"])])
        return await self.deliver(p)

    # ----------------------------------------------------------- reading back
    async def get_requests(self, request):
        q = request.query
        out = self.state.requests
        if "since" in q:
            out = [r for r in out if r["seq"] > int(q["since"])]
        if "method" in q:
            out = [r for r in out if r["method"] == q["method"].upper()]
        if "path" in q:
            out = [r for r in out if r["path"].startswith(q["path"])]
        if "route" in q:
            out = [r for r in out if r["route"] == q["route"]]
        if "fields" in q:
            # only these keys: a long run's full records (every answer's
            # body) take seconds to serialise
            keys = q["fields"].split(",")
            out = [{k: r.get(k) for k in keys} for r in out]
        return jresp(out)

    async def get_gateway(self, request):
        return jresp(self.gw.describe())

    def interaction_view(self, it):
        v = {k: val for k, val in it.items()}
        st = self.state
        v["original"] = st.message_index.get(it["original_id"]) if it["original_id"] else None
        v["followup_messages"] = [st.message_index[m] for m in it["followups"]]
        return v

    async def get_interactions(self, request):
        return jresp([self.interaction_view(it) for it in self.state.interactions.values()])

    async def get_interaction(self, request):
        return jresp(self.interaction_view(self.state.interactions[request.match_info["iid"]]))

    async def get_commands(self, request):
        return jresp(self.state.commands)

    async def get_tokens(self, request):
        """Every credential a bot could leak: the interaction tokens issued
        since start (a /reset keeps them) and the bot token."""
        return jresp({"interaction_tokens": self.state.issued_tokens, "bot_token": self.config["token"]})

    async def get_counters(self, request):
        return jresp(self.state.counters)


# ------------------------------------------------------------------ attachments, CDN
def attachment_for(self, a, cid):
    """A registered attachment's id, or a spec to register now (not ephemeral)."""
    if isinstance(a, dict):
        return self.rest.cdn.register({"ephemeral": False, **a}, channel_id=cid)
    obj = self.rest.cdn.public(a)
    if obj is None:
        raise ValueError("unknown attachment %r (register it with POST /attachments)" % a)
    return obj


async def add_attachment(self, request):
    """Register an attachment the CDN serves (spec: see Cdn.register);
    ephemeral (as Discord gives slash-command files) unless told otherwise."""
    b = await self.body(request)
    obj = self.rest.cdn.register({"ephemeral": True, **b})
    return jresp(self.rest.cdn.describe(self.state.attachments[obj["id"]]))


async def list_attachments(self, request):
    return jresp([self.rest.cdn.describe(a) for a in self.state.attachments.values()])


async def get_attachment(self, request):
    return jresp(self.rest.cdn.describe(self.state.attachments[request.match_info["aid"]]))


async def get_cdn_requests(self, request):
    return jresp(self.state.cdn_requests)


# ------------------------------------------------------------------ emojis
async def get_emojis(self, request):
    """The guild's emojis with the emulator-only image fields, and its limits."""
    gid = request.match_info["gid"]
    static_max, animated_max = self.rest.emoji_limits(gid)
    return jresp({"emojis": self.state.emojis.get(gid, []), "limits": {
        "static": static_max, "animated": animated_max,
        "premium_tier": self.state.guilds[gid].get("premium_tier", 0)}})


async def add_emojis(self, request):
    """Pre-fill: {name, animated?, count? (default 1), announce?} adds emojis
    as if someone had uploaded them (named name, name_2, ...)."""
    gid = request.match_info["gid"]
    b = await self.body(request)
    emojis = self.state.emojis.setdefault(gid, [])
    n = int(b.get("count", 1))
    added = []
    for i in range(n):
        e = {"id": S.snowflake(), "name": b["name"] if n == 1 else "%s_%d" % (b["name"], i + 1),
             "roles": [], "user": self.state.user(self.default_user(gid)), "require_colons": True,
             "managed": False, "animated": bool(b.get("animated")), "available": True}
        emojis.append(e)
        added.append(e)
    if b.get("announce", True):
        await self.gw.dispatch("GUILD_EMOJIS_UPDATE", {"guild_id": gid,
                                                       "emojis": [self.state.public_emoji(x) for x in emojis]})
    return jresp(added)


async def set_emoji_limits(self, request):
    """{static?, animated?, premium_tier?}: slots for this guild (a null
    removes the override); premium_tier also shows in GUILD_CREATE."""
    gid = request.match_info["gid"]
    b = await self.body(request)
    if "premium_tier" in b:
        self.state.guilds[gid]["premium_tier"] = int(b["premium_tier"])
    over = self.state.emoji_limits.setdefault(gid, {})
    for k in ("static", "animated"):
        if k in b:
            if b[k] is None:
                over.pop(k, None)
            else:
                over[k] = int(b[k])
    return await self.get_emojis(request)


def add_media_routes(self, r):
    r.add_get("/guilds/{gid}/emojis", self.get_emojis)
    r.add_post("/guilds/{gid}/emojis", self.add_emojis)
    r.add_post("/guilds/{gid}/emoji_limits", self.set_emoji_limits)
    r.add_post("/attachments", self.add_attachment)
    r.add_get("/attachments", self.list_attachments)
    r.add_get("/attachments/{aid}", self.get_attachment)
    r.add_get("/cdn/requests", self.get_cdn_requests)
    r.add_post("/channels/{cid}/history", self.fill_history)
    r.add_post("/inject/messages", self.inject_messages)


for _f in (attachment_for, add_attachment, list_attachments, get_attachment, get_cdn_requests, add_media_routes,
           get_emojis, add_emojis, set_emoji_limits):
    setattr(Control, _f.__name__, _f)


# ------------------------------------------------------------------ message history
HELPER_BOT_ID = "1390000000000000001"


def history_summary(self, msgs):
    by_author = {}
    bots = 0
    for m in msgs:
        by_author[m["author"]["id"]] = by_author.get(m["author"]["id"], 0) + 1
        bots += bool(m["author"].get("bot"))
    return {"count": len(msgs), "bots": bots, "by_author": by_author,
            "deleted": sum(1 for m in msgs if m.get("deleted")),
            "first_id": msgs[0]["id"] if msgs else None, "last_id": msgs[-1]["id"] if msgs else None,
            "first_timestamp": msgs[0]["timestamp"] if msgs else None,
            "last_timestamp": msgs[-1]["timestamp"] if msgs else None}


def iso_ms(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03d000+00:00" % (ms % 1000)


async def fill_history(self, request):
    """A channel's past, in bulk, without gateway events: {count, end_ms?
    (default now - 1 s), interval_ms? (60000), start_ms? (instead of
    interval: spread evenly from start_ms to end_ms), authors? [user ids]
    (default the guild's members who are not bots), bot_every? n (every
    n-th message is a bot's), bot_user_id? (default a member "helper-bot",
    bot: true, added when missing), content? prefix}. Ids are snowflakes
    of the timestamps, so before=/after= paging sees them in time order.
    Messages are stored lean (public_message fills Discord's defaults)."""
    st = self.state
    cid = request.match_info["cid"]
    ch = st.channels[cid]
    gid = ch.get("guild_id")
    b = await self.body(request)
    n = int(b["count"])
    end = int(b.get("end_ms", time.time() * 1000 - 1000))
    if "start_ms" in b:
        start = int(b["start_ms"])
        step = (end - start) / max(n - 1, 1)
    else:
        step = float(b.get("interval_ms", 60000))
        start = end - step * (n - 1)
    authors = [str(a) for a in b.get("authors") or []]
    if not authors:
        authors = [uid for uid, m in st.members.get(gid, {}).items() if not m["user"].get("bot")]
    if not authors:
        raise ValueError("no authors: give authors or add members")
    users = [st.user(a) for a in authors]
    bot_every = int(b.get("bot_every", 0))
    bot = None
    if bot_every:
        bid = str(b.get("bot_user_id", HELPER_BOT_ID))
        if gid and st.member_of(gid, bid) is None and bid not in st.users:
            st.add_member(gid, {"user": {"id": bid, "username": "helper-bot", "bot": True}})
        bot = st.user(bid)
    prefix = b.get("content", "message")
    out = []
    prev = 0
    for i in range(n):
        ms = int(start + step * i)
        mid = ((ms - S.DISCORD_EPOCH_MS) << 22) | (1 << 17) | (i & 0xFFF)
        if mid <= prev:
            mid = prev + 1
        while str(mid) in st.message_index:
            mid += 1
        prev = mid
        author = bot if bot_every and (i + 1) % bot_every == 0 else users[i % len(users)]
        m = {"id": str(mid), "channel_id": cid, "author": author, "content": "%s %d" % (prefix, i + 1),
             "timestamp": iso_ms(ms)}
        if gid:
            m["guild_id"] = gid
        out.append(m)
    st.store_history(cid, out)
    return jresp({**self.history_summary(out), "total": len(st.messages[cid])})


async def inject_messages(self, request):
    """Many users' messages now, each stored and sent as MESSAGE_CREATE (the
    live counterpart of history): {count, channel_id?, user_ids? (default
    the guild's non-bot members, in turn), bot_every? n (every n-th by the
    helper bot), content? prefix}. Answers {ids, sessions}."""
    st = self.state
    b = await self.body(request)
    gid, cid, _ = self.where(b)
    users = [str(u) for u in b.get("user_ids") or []] or \
        [uid for uid, m in st.members.get(gid, {}).items() if not m["user"].get("bot")]
    bot_every = int(b.get("bot_every", 0))
    if bot_every and gid and st.member_of(gid, HELPER_BOT_ID) is None:
        st.add_member(gid, {"user": {"id": HELPER_BOT_ID, "username": "helper-bot", "bot": True}})
    ids, sessions = [], 0
    for i in range(int(b["count"])):
        uid = HELPER_BOT_ID if bot_every and (i + 1) % bot_every == 0 else users[i % len(users)]
        msg = self.rest.build_message(cid, {"content": "%s %d" % (b.get("content", "live"), i + 1)},
                                      author=copy.deepcopy(st.user(uid)))
        st.store_message(msg)
        sessions = await self.gw.dispatch("MESSAGE_CREATE", self.rest.public_message(msg))
        ids.append(msg["id"])
    return jresp({"ids": ids, "sessions": sessions})


for _f in (history_summary, fill_history, inject_messages):
    setattr(Control, _f.__name__, _f)
Control.iso_ms = staticmethod(iso_ms)


# ------------------------------------------------------------------ benchmark streams (bench.py)
from . import bench as _bench  # noqa: E402

for _f in (_bench.bench_stream, _bench.bench_stream_state, _bench.bench_dispatch, _bench.add_bench_routes):
    setattr(Control, _f.__name__, _f)
