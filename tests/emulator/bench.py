"""Benchmark streams: many realistic MESSAGE_CREATEs at the wire's speed.

POST /bench/stream {count, channel_id, guild_id?, rate? (msgs/s; 0 = all
at once), seed?, session_id?} builds `count` MESSAGE_CREATE
dispatches of about 1.5 KB each (author, member, mentions, embeds,
content: what a bot with the MESSAGE_CONTENT intent gets; the payloads go
as they are, whatever the session's intents), compresses them through the
connection's zlib-stream context (one Z_SYNC_FLUSH per payload, as
Discord does) and frames them, all BEFORE anything is written: the
emulator is not the bottleneck of a timed window.

rate 0 (burst): everything is written to the TLS transport in one call
(encrypted by OpenSSL in 16 KiB records, drained by asyncio as fast as
the client reads), the answer comes once it is handed over.
rate > 0 (trickle): each payload is its own write (one TLS record, as
Discord sends them), paced to `rate`; the answer comes at once and
GET /bench/stream tells when the pacing task has finished.

The connection's send lock is held from the first compression to the
last write, so a heartbeat ACK cannot land in the middle of the stream.
Messages are not stored in the channel nor kept for RESUME replay: this
is a wire-speed source, not a history. Answers {count, json_bytes,
wire_bytes, prepare_s, session_id}.
"""

import asyncio
import json
import random
import time
import zlib

from aiohttp import web

from .gateway import ws_frame

DISCORD_EPOCH_MS = 1420070400000
WORDS = ("the a to and of is it you that in for this on was with but have are not be what "
         "just like so do if can me my we they all at one your about out get there know up "
         "think would don't good time people when how im yeah now really more some because "
         "channel proposal vote server discord emoji report moderator idea music game "
         "tonight weekend stream release patch build deploy redis postgres latency issue "
         "anyone thanks lol nice agree maybe later tomorrow link check here new old").split()
AVATARS = "0123456789abcdef"


def snowflake(ms, n):
    return ((ms - DISCORD_EPOCH_MS) << 22) | (n & 0x3FFFFF)


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03d000+00:00" % (ms % 1000)


def sentence(rng, lo, hi):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def user(rng, uid, bot=False):
    name = "user%s" % str(uid)[-6:]
    u = {"username": name, "public_flags": rng.choice((0, 0, 64, 128, 256)), "id": str(uid),
         "global_name": name.capitalize() + " " + rng.choice(WORDS), "discriminator": "0",
         "avatar_decoration_data": None,
         "avatar": "".join(rng.choice(AVATARS) for _ in range(32))}
    if bot:
        u["bot"] = True
    return u


def member(rng, ms, roles):
    return {"roles": rng.sample(roles, rng.randint(0, 3)), "premium_since": None, "pending": False,
            "nick": rng.choice((None, None, sentence(rng, 1, 2))), "mute": False,
            "joined_at": iso(ms - rng.randint(10**7, 10**11)), "flags": 0, "deaf": False,
            "communication_disabled_until": None, "avatar": None}


def embed(rng):
    host = rng.choice(("github.com", "youtube.com", "example.org", "news.site"))
    e = {"type": rng.choice(("link", "article", "video")), "url": "https://%s/%s" % (host, rng.randint(1, 10**9)),
         "title": sentence(rng, 3, 10), "description": sentence(rng, 10, 40),
         "provider": {"name": host.split(".")[0].capitalize()},
         "thumbnail": {"url": "https://%s/thumb/%d.png" % (host, rng.randint(1, 10**6)),
                       "proxy_url": "https://images-ext-1.discordapp.net/external/%x/%s/thumb.png"
                       % (rng.getrandbits(64), host), "width": 400, "height": 225}}
    if e["type"] == "video":
        e["video"] = {"url": e["url"], "width": 1280, "height": 720}
    return e


POOL = 1000  # distinct bodies; each message is one of them with its own id


def build_pool(channel_id, guild_id, seed):
    """POOL message bodies as (before id, after id) JSON byte pairs."""
    rng = random.Random(seed)
    users = [1300000000000000100 + i for i in range(200)]
    roles = [str(1250000000000000000 + i) for i in range(12)]
    base_ms = int(time.time() * 1000)
    pool = []
    for i in range(POOL):
        ms = base_ms + i
        mentions = []
        for _ in range(rng.choice((0, 0, 0, 1, 1, 2))):
            mu = user(rng, rng.choice(users))
            mu["member"] = member(rng, ms, roles)
            mentions.append(mu)
        d = {"type": rng.choice((0, 0, 0, 19)), "tts": False, "timestamp": iso(ms),
             "referenced_message": None, "pinned": False, "nonce": str(snowflake(ms - 5, i)),
             "mentions": mentions, "mention_roles": rng.sample(roles, rng.choice((0, 0, 0, 1))),
             "mention_everyone": False, "member": member(rng, ms, roles), "id": "\x00", "flags": 0,
             "embeds": [embed(rng) for _ in range(rng.choice((0, 0, 1, 1, 2)))],
             "edited_timestamp": None, "content": sentence(rng, 3, 60), "components": [],
             "channel_id": str(channel_id), "author": user(rng, rng.choice(users)), "attachments": []}
        if guild_id:
            d["guild_id"] = str(guild_id)
        before, after = json.dumps(d, separators=(",", ":")).encode().split(b"\\u0000")
        pool.append((before, after))
    return pool


def build_messages(self, count, channel_id, guild_id, seed, first_id_ms):
    """count `d` objects as JSON bytes, ids increasing from first_id_ms."""
    key = (str(channel_id), str(guild_id), seed)
    if getattr(self, "bench_pool_key", None) != key:
        self.bench_pool = build_pool(channel_id, guild_id, seed)
        self.bench_pool_key = key
    pool = self.bench_pool
    out = []
    size = 0
    for i in range(count):
        before, after = pool[i % POOL]
        raw = b"%s%d%s" % (before, snowflake(first_id_ms + i // 4096, i), after)
        size += len(raw)
        out.append(raw)
    return out, size


def pick_session(gw, session_id):
    live = [s for s in gw.sessions.values() if s.conn is not None and (not session_id or s.id == session_id)]
    if not live:
        raise ValueError("no connected session%s" % (" " + session_id if session_id else ""))
    return live[-1]


async def bench_stream(self, request):
    b = await self.body(request)
    count = int(b["count"])
    rate = float(b.get("rate", 0))
    s = pick_session(self.gw, b.get("session_id"))
    conn = s.conn
    if not conn.compress:
        raise ValueError("bench streams need compress=zlib-stream")
    t0 = time.monotonic()
    now_ms = int(time.time() * 1000)
    first = max(now_ms, getattr(self, "bench_next_ms", 0))
    self.bench_next_ms = first + count // 4096 + 2  # ids never repeat across streams
    bodies, json_bytes = build_messages(self, count, b["channel_id"], b.get("guild_id"), int(b.get("seed", 1)),
                                        first)
    await conn.send_lock.acquire()
    try:
        frames = []
        wire = 0
        z = conn.zctx
        for body in bodies:
            s.seq += 1
            payload = b'{"t":"MESSAGE_CREATE","s":%d,"op":0,"d":%s}' % (s.seq, body)
            blob = z.compress(payload) + z.flush(zlib.Z_SYNC_FLUSH)
            f = ws_frame(0x2, blob, True)
            wire += len(f)
            frames.append(f)
        conn.record["sent"] += count
        prepare_s = time.monotonic() - t0
        transport = conn.request.transport
        answer = {"count": count, "json_bytes": json_bytes, "wire_bytes": wire, "prepare_s": prepare_s,
                  "session_id": s.id}
        if rate <= 0:
            transport.write(b"".join(frames))
            conn.send_lock.release()
            return web.json_response(answer)
        self.bench_trickle = {"done": False, "count": count, "rate": rate, "took_s": None}
        asyncio.ensure_future(trickle(self, conn, transport, frames, rate))
        return web.json_response(answer)
    except BaseException:
        if conn.send_lock.locked():
            conn.send_lock.release()
        raise


async def trickle(self, conn, transport, frames, rate):
    """One write per payload, paced to rate; releases the send lock."""
    try:
        t0 = time.monotonic()
        sent = 0
        while sent < len(frames):
            due = min(len(frames), int((time.monotonic() - t0) * rate) + 1)
            while sent < due:
                if transport.is_closing():
                    return
                transport.write(frames[sent])
                sent += 1
            await asyncio.sleep(0.001)
        self.bench_trickle["took_s"] = time.monotonic() - t0
    finally:
        self.bench_trickle["done"] = True
        conn.send_lock.release()


async def bench_stream_state(self, request):
    return web.json_response(getattr(self, "bench_trickle", None))


async def bench_dispatch(self, request):
    """POST /bench/dispatch {event, data, session_id?}: one dispatch to the
    session exactly as given (no intent filtering: a large GUILD_CREATE
    with members reaches a bot without GUILD_MEMBERS). {bytes}."""
    b = await self.body(request)
    s = pick_session(self.gw, b.get("session_id"))
    d = b.get("data")
    if d is None:
        d = big_guild(self.state, b["big_guild"], int(b.get("channels", 500)), int(b.get("members", 2000)))
    await self.gw.send_dispatch(s, b["event"], d)
    raw = json.dumps({"op": 0, "t": b["event"], "s": s.seq, "d": d}, separators=(",", ":"))
    return web.json_response({"bytes": len(raw), "channels": len(d.get("channels", [])),
                              "members": len(d.get("members", []))})


def big_guild(state, gid, channels, members):
    """The guild's GUILD_CREATE d grown by `channels` text channels (topics,
    overwrites) and `members` members: about 1 MB for 500 and 2,000."""
    return grow_guild(state.guild_create_payload(gid), channels, members)


def grow_guild(g, channels, members):
    """g (a GUILD_CREATE d) with channels and members added (see big_guild)."""
    rng = random.Random(7)
    g.setdefault("members", [])
    roles = [r["id"] for r in g.get("roles", [])]
    for i in range(channels):
        g["channels"].append({
            "id": str(1229000000000000000 + i), "type": 0, "name": "channel-%d" % i, "position": i + 20,
            "parent_id": None, "topic": sentence(rng, 60, 120)[:1000], "nsfw": False,
            "rate_limit_per_user": 0, "last_message_id": str(1578000000000000000 + i), "flags": 0,
            "permission_overwrites": [{"id": r, "type": 0, "allow": "1024", "deny": "2048"} for r in roles[:3]]})
    for i in range(members):
        g["members"].append({
            "user": {"id": str(1301000000000000000 + i), "username": "member%d" % i,
                     "global_name": "Member %d" % i, "discriminator": "0",
                     "avatar": "%032x" % rng.getrandbits(128), "public_flags": 0},
            "roles": rng.sample(roles, min(len(roles), 2)), "joined_at": "2025-03-01T12:00:00.000000+00:00",
            "nick": None, "deaf": False, "mute": False, "flags": 0, "pending": False,
            "premium_since": None, "communication_disabled_until": None, "avatar": None})
    g["member_count"] = len(g["members"])
    return g


def add_bench_routes(self, r):
    r.add_post("/bench/dispatch", self.bench_dispatch)
    r.add_post("/bench/stream", self.bench_stream)
    r.add_get("/bench/stream", self.bench_stream_state)
