"""The emulator's world: guilds, channels, members, messages, interactions,
registered commands, and everything the bot did (recorded for tests).

All of it lives in one asyncio loop, so nothing here locks. Objects are kept
as plain dicts shaped like Discord's JSON so REST and gateway hand them out
unchanged.
"""

import bisect
import copy
import itertools
import secrets
import time

# Discord's epoch (docs: Reference, "Snowflakes"): 2015-01-01T00:00:00Z in ms.
DISCORD_EPOCH_MS = 1420070400000

# Gateway intents (docs: Gateway, "List of Intents").
INTENT_GUILDS = 1 << 0
INTENT_GUILD_MEMBERS = 1 << 1
INTENT_GUILD_EXPRESSIONS = 1 << 3
INTENT_GUILD_PRESENCES = 1 << 8
INTENT_GUILD_MESSAGES = 1 << 9
INTENT_DIRECT_MESSAGES = 1 << 12
INTENT_MESSAGE_CONTENT = 1 << 15
PRIVILEGED_INTENTS = INTENT_GUILD_MEMBERS | INTENT_GUILD_PRESENCES | INTENT_MESSAGE_CONTENT
ALL_INTENTS = (1 << 26) - 1

# Channel types (docs: Channel, "Channel Types").
CHANNEL_TEXT = 0
CHANNEL_DM = 1
CHANNEL_VOICE = 2
CHANNEL_CATEGORY = 4
CHANNEL_ANNOUNCEMENT = 5
CHANNEL_STAGE = 13
CHANNEL_FORUM = 15
CHANNEL_MEDIA = 16
GUILD_CHANNEL_TYPES = (CHANNEL_TEXT, CHANNEL_VOICE, CHANNEL_CATEGORY,
                       CHANNEL_ANNOUNCEMENT, CHANNEL_STAGE, CHANNEL_FORUM, CHANNEL_MEDIA)
TEXT_LIKE = (CHANNEL_TEXT, CHANNEL_DM, CHANNEL_ANNOUNCEMENT, CHANNEL_VOICE)

# Message flags (docs: Message, "Message Flags").
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

# How many past dispatches a session keeps for RESUME replay; Discord keeps
# a bounded buffer too, so an over-long outage ends in op 9.
REPLAY_BUFFER = 5000

_counter = itertools.count(1)


def snowflake(at_ms=None):
    """A fresh snowflake: timestamp << 22 | worker/process 0 | increment."""
    ms = int(time.time() * 1000) if at_ms is None else at_ms
    return str(((ms - DISCORD_EPOCH_MS) << 22) | (next(_counter) & 0xFFF))


def iso_now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06d+00:00" % int((t % 1) * 1e6)


def make_user(uid, username, bot=False, global_name=None):
    return {
        "id": str(uid), "username": username, "discriminator": "0",
        "global_name": global_name if global_name is not None else (None if bot else username),
        "avatar": None, "bot": bot, "system": False, "public_flags": 0, "flags": 0,
    }


DEFAULT_BOT_ID = "1100000000000000001"
DEFAULT_GUILD_ID = "1200000000000000001"


def default_guild(bot_user):
    """The guild every emulator starts with unless configured otherwise."""
    gid = DEFAULT_GUILD_ID
    return {
        "id": gid, "name": "Agora Test Guild", "owner_id": "1300000000000000001",
        "roles": [
            {"id": gid, "name": "@everyone", "permissions": "1071698660929", "position": 0},
            {"id": "1210000000000000001", "name": "Moderator", "permissions": "8", "position": 1},
        ],
        "channels": [
            {"id": "1220000000000000001", "name": "General", "type": CHANNEL_CATEGORY, "position": 0},
            {"id": "1220000000000000002", "name": "general", "type": CHANNEL_TEXT,
             "parent_id": "1220000000000000001", "position": 0},
            {"id": "1220000000000000003", "name": "admin-notifications", "type": CHANNEL_TEXT,
             "parent_id": "1220000000000000001", "position": 1},
        ],
        "members": [
            {"user": bot_user, "roles": []},
            {"user": make_user("1300000000000000001", "alice"), "roles": ["1210000000000000001"]},
            {"user": make_user("1300000000000000002", "bob"), "roles": []},
        ],
    }


def normalize_role(gid, role, position):
    r = {
        "id": str(role.get("id") or snowflake()), "name": role.get("name", "role"),
        "color": role.get("color", 0), "colors": {"primary_color": role.get("color", 0),
                                                  "secondary_color": None, "tertiary_color": None},
        "hoist": role.get("hoist", False), "icon": None, "unicode_emoji": None,
        "position": role.get("position", position), "permissions": str(role.get("permissions", "0")),
        "managed": role.get("managed", False), "mentionable": role.get("mentionable", False),
        "flags": 0,
    }
    return r


def normalize_member(member):
    user = member.get("user") or {}
    if "username" not in user:
        user = make_user(user.get("id") or snowflake(), member.get("username", "user"))
    else:
        user = {**make_user(user["id"], user["username"], user.get("bot", False)), **user}
    return {
        "user": user, "nick": member.get("nick"), "avatar": None, "banner": None,
        "roles": [str(r) for r in member.get("roles", [])],
        "joined_at": member.get("joined_at", "2025-01-01T00:00:00.000000+00:00"),
        "premium_since": None, "deaf": False, "mute": False, "flags": 0, "pending": False,
        "communication_disabled_until": None,
        # emulator-only: DMs to this user fail with 50007 when true
        **({"dm_closed": True} if member.get("dm_closed") else {}),
    }


def normalize_channel(gid, ch, position):
    ctype = int(ch.get("type", CHANNEL_TEXT))
    c = {
        "id": str(ch.get("id") or snowflake()), "type": ctype, "guild_id": str(gid),
        "name": ch.get("name", "channel"), "position": ch.get("position", position),
        "permission_overwrites": ch.get("permission_overwrites", []),
        "parent_id": str(ch["parent_id"]) if ch.get("parent_id") else None,
        "nsfw": bool(ch.get("nsfw", False)), "flags": 0,
    }
    if ctype != CHANNEL_CATEGORY:
        c.update({"topic": ch.get("topic"), "last_message_id": None,
                  "rate_limit_per_user": ch.get("rate_limit_per_user", 0)})
    if ch.get("forbidden"):
        c["forbidden"] = True  # emulator-only: the bot gets 403 50013 here
    return c


def public_channel(c):
    return {k: v for k, v in c.items() if k != "forbidden"}


def public_member(m):
    return {k: v for k, v in m.items() if k != "dm_closed"}


class State:
    """Everything the emulator knows. `config` holds the knobs (see server.py)."""

    def __init__(self, config):
        self.config = config
        self.bot_user = make_user(config["bot_id"], config["bot_name"], bot=True)
        self.issued_tokens = []  # interaction tokens, never reset (GET /tokens)
        self.reset(guilds=config.get("guilds"))

    # ----------------------------------------------------------- setup
    def reset(self, guilds=None):
        self.guilds = {}       # id -> guild dict (without channels/members)
        self.channels = {}     # id -> channel dict (guild and DM)
        self.members = {}      # guild id -> {user id -> member}
        self.users = {self.bot_user["id"]: self.bot_user}
        self.messages = {}     # channel id -> [message] in id (= time) order
        self.message_keys = {}  # channel id -> [int(id)], parallel to messages, for bisect
        self.message_index = {}  # message id -> message
        self.emojis = {}       # guild id -> [emoji] (with emulator-only image fields)
        self.emoji_limits = {}  # guild id -> {static?, animated?} set by the control API
        self.commands = {}     # guild id or "global" -> [command]
        self.interactions = {}  # id -> record
        self.interactions_by_token = {}
        self.dm_channels = {}  # user id -> channel id
        self.attachments = {}  # id -> {object, data, ...} served by the CDN (cdn.py)
        self.nonces = {}       # (author id, nonce) -> (message id, time): enforce_nonce
        self.cdn_requests = []  # every CDN fetch
        self.no_commands_scope = set()  # guild ids added without applications.commands
        self.requests = []     # recorded REST requests
        self.request_seq = itertools.count(1)
        self.counters = {"requests": 0, "401": 0, "403": 0, "404": 0, "429": 0,
                         "429_global": 0, "400": 0, "faults": 0, "bad_user_agent": 0,
                         "nonce_deduplicated": 0}
        for g in (guilds if guilds is not None else [default_guild(self.bot_user)]):
            self.add_guild(g)

    def add_guild(self, g):
        gid = str(g.get("id") or snowflake())
        old = self.guilds.get(gid)
        if old is not None:  # replace: drop its channels first
            for cid in [c for c, ch in self.channels.items() if ch.get("guild_id") == gid]:
                del self.channels[cid]
        roles = [normalize_role(gid, r, i) for i, r in enumerate(g.get("roles") or [])]
        if not any(r["id"] == gid for r in roles):
            roles.insert(0, normalize_role(gid, {"id": gid, "name": "@everyone",
                                                 "permissions": "1071698660929"}, 0))
        self.guilds[gid] = {
            "id": gid, "name": g.get("name", "guild"), "icon": None, "splash": None,
            "discovery_splash": None, "owner_id": str(g.get("owner_id", self.bot_user["id"])),
            "afk_channel_id": None, "afk_timeout": 300, "verification_level": 0,
            "default_message_notifications": 0, "explicit_content_filter": 0,
            "roles": roles, "emojis": [], "features": [], "mfa_level": 0,
            "application_id": None, "system_channel_id": None, "system_channel_flags": 0,
            "rules_channel_id": None, "max_members": 500000, "vanity_url_code": None,
            "description": None, "banner": None, "premium_tier": 0,
            "premium_subscription_count": 0, "preferred_locale": "en-US",
            "public_updates_channel_id": None, "nsfw_level": 0, "stickers": [],
            "premium_progress_bar_enabled": False, "safety_alerts_channel_id": None,
        }
        self.members[gid] = {}
        members = g.get("members")
        if members is None:
            members = [{"user": self.bot_user}]
        for m in members:
            self.add_member(gid, m)
        if self.bot_user["id"] not in self.members[gid]:
            self.add_member(gid, {"user": self.bot_user})
        self.emojis.setdefault(gid, [])
        if g.get("commands_scope", True):
            self.no_commands_scope.discard(gid)
        else:
            self.no_commands_scope.add(gid)
        for i, ch in enumerate(g.get("channels") or []):
            self.add_channel(gid, ch, i)
        return self.guilds[gid]

    def add_member(self, gid, m):
        mem = normalize_member(m)
        self.members[gid][mem["user"]["id"]] = mem
        self.users[mem["user"]["id"]] = mem["user"]
        return mem

    def add_channel(self, gid, ch, position=0):
        c = normalize_channel(gid, ch, position)
        self.channels[c["id"]] = c
        self.messages.setdefault(c["id"], [])
        return c

    # ----------------------------------------------------------- views
    def guild_channels(self, gid):
        return [c for c in self.channels.values() if c.get("guild_id") == gid]

    def guild_create_payload(self, gid, all_members=True):
        """GUILD_CREATE d: the guild plus channels, members, threads (docs:
        Gateway Events, "Guild Create"). Without the GUILD_MEMBERS intent
        Discord lists only the bot's own member (all_members=False)."""
        g = copy.deepcopy(self.guilds[gid])
        members = [public_member(m) for m in self.members[gid].values()
                   if all_members or m["user"]["id"] == self.bot_user["id"]]
        g.update({
            "joined_at": "2025-01-01T00:00:00.000000+00:00", "large": False,
            "unavailable": False, "member_count": len(self.members[gid]),
            "voice_states": [], "members": copy.deepcopy(members),
            "channels": [public_channel({k: v for k, v in c.items() if k != "guild_id"})
                         for c in self.guild_channels(gid)],
            "threads": [], "presences": [], "stage_instances": [],
            "guild_scheduled_events": [], "soundboard_sounds": [],
            "emojis": [self.public_emoji(e) for e in self.emojis.get(gid, [])],
        })
        return g

    @staticmethod
    def public_emoji(e):
        return {k: v for k, v in e.items() if not k.startswith("image")}

    def member_of(self, gid, uid):
        return self.members.get(gid, {}).get(str(uid))

    def user(self, uid):
        uid = str(uid)
        if uid not in self.users:
            self.users[uid] = make_user(uid, "user%s" % uid[-4:])
        return self.users[uid]

    def new_token(self):
        token = "aW50ZXJhY3Rpb24" + secrets.token_urlsafe(48)
        # every token ever issued, kept across /reset, so a test can check
        # that none reached the bot's logs (GET /tokens)
        self.issued_tokens.append(token)
        return token

    def store_message(self, msg):
        """Keep each channel's messages in id order (ids are time-ordered):
        a bulk-filled history is older than what the bot sends, so it is
        inserted, not appended."""
        cid = msg["channel_id"]
        msgs = self.messages.setdefault(cid, [])
        keys = self.message_keys.setdefault(cid, [])
        k = int(msg["id"])
        if not keys or k > keys[-1]:
            msgs.append(msg)
            keys.append(k)
        else:
            i = bisect.bisect_left(keys, k)
            msgs.insert(i, msg)
            keys.insert(i, k)
        self.message_index[msg["id"]] = msg
        ch = self.channels.get(cid)
        if ch is not None and not (msg.get("flags", 0) & FLAG_EPHEMERAL) and \
                int(ch.get("last_message_id") or 0) < k:
            ch["last_message_id"] = msg["id"]

    def store_history(self, cid, msgs):
        """Many messages at once (already in id order): one merge, not n inserts."""
        old = self.messages.setdefault(cid, [])
        merged = sorted(old + msgs, key=lambda m: int(m["id"]))
        self.messages[cid] = merged
        self.message_keys[cid] = [int(m["id"]) for m in merged]
        for m in msgs:
            self.message_index[m["id"]] = m
        ch = self.channels.get(cid)
        if ch is not None and merged:
            ch["last_message_id"] = merged[-1]["id"]
