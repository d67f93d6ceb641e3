"""The gateway: one WebSocket per connection, sessions that outlive them.

Protocol from the Discord docs (Topics: Gateway, Gateway Events, Opcodes
and Status Codes):
  server -> HELLO (op 10) -> client IDENTIFY (op 2) or RESUME (op 6)
  READY / GUILD_CREATE ... dispatches (op 0) carry increasing `s`
  client heartbeat (op 1, d = last s) -> HEARTBEAT_ACK (op 11)
  server op 1 asks for an immediate heartbeat; op 7 asks to reconnect;
  op 9 INVALID_SESSION d=true (resumable) / d=false (identify again)
With compress=zlib-stream every payload is deflated through ONE zlib
context per connection and flushed with Z_SYNC_FLUSH, so each payload ends
in 00 00 ff ff; a client must buffer binary messages until that suffix.
"""

import asyncio
import json
import logging
import os
import secrets
import socket
import struct
import time
import zlib

from aiohttp import WSMsgType, web

from . import state as S

log = logging.getLogger("emulator.gateway")

OP_DISPATCH, OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE, OP_VOICE = 0, 1, 2, 3, 4
OP_RESUME, OP_RECONNECT, OP_REQUEST_MEMBERS, OP_INVALID_SESSION = 6, 7, 8, 9
OP_HELLO, OP_HEARTBEAT_ACK = 10, 11
CLIENT_OPS = (OP_HEARTBEAT, OP_IDENTIFY, OP_PRESENCE, OP_VOICE, OP_RESUME, OP_REQUEST_MEMBERS, 31)

# Close codes after which Discord does not let the session be resumed.
NOT_RESUMABLE = (4004, 4007, 4009, 4010, 4011, 4012, 4013, 4014)
MAX_CLIENT_PAYLOAD = 4096        # docs: "payloads ... max 4096 bytes"
SEND_LIMIT, SEND_WINDOW = 120, 60.0  # docs: 120 gateway events per 60 s -> 4008

# Which intent each dispatch needs (docs: Gateway, "List of Intents").
EVENT_INTENT = {
    "GUILD_CREATE": S.INTENT_GUILDS, "GUILD_UPDATE": S.INTENT_GUILDS, "GUILD_DELETE": S.INTENT_GUILDS,
    "CHANNEL_CREATE": S.INTENT_GUILDS, "CHANNEL_UPDATE": S.INTENT_GUILDS,
    "CHANNEL_DELETE": S.INTENT_GUILDS, "GUILD_ROLE_CREATE": S.INTENT_GUILDS,
    "GUILD_ROLE_UPDATE": S.INTENT_GUILDS, "GUILD_ROLE_DELETE": S.INTENT_GUILDS,
    "GUILD_MEMBER_ADD": S.INTENT_GUILD_MEMBERS, "GUILD_MEMBER_UPDATE": S.INTENT_GUILD_MEMBERS,
    "GUILD_MEMBER_REMOVE": S.INTENT_GUILD_MEMBERS, "GUILD_EMOJIS_UPDATE": S.INTENT_GUILD_EXPRESSIONS,
    "PRESENCE_UPDATE": S.INTENT_GUILD_PRESENCES,
}
MESSAGE_EVENTS = ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK")


def ws_frame(opcode, payload, fin):
    """A server (unmasked) WebSocket frame, RFC 6455 section 5.2."""
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


class MaskCheck:
    """RFC 6455 5.1: a client MUST mask every frame it sends and a server
    MUST close the connection when one is not. aiohttp's reader accepts
    both, so this wrapper around it follows frame boundaries in the raw
    byte stream and reports the first unmasked frame."""

    def __init__(self, inner, on_unmasked):
        self.inner, self.on_unmasked = inner, on_unmasked
        self.head = bytearray()
        self.skip = 0
        self.tripped = False

    def feed_eof(self):
        return self.inner.feed_eof()

    def feed_data(self, data):
        if not self.tripped:
            self.scan(data)
        return self.inner.feed_data(data)

    def scan(self, data):
        i, n = 0, len(data)
        while i < n:
            if self.skip:
                k = min(self.skip, n - i)
                self.skip -= k
                i += k
                continue
            self.head.append(data[i])
            i += 1
            h = self.head
            if len(h) < 2:
                continue
            masked = h[1] & 0x80
            code = h[1] & 0x7F
            ext = 2 if code == 126 else 8 if code == 127 else 0
            if len(h) < 2 + ext + (4 if masked else 0):
                continue
            self.skip = int.from_bytes(h[2:2 + ext], "big") if ext else code
            self.head = bytearray()
            if not masked:
                self.tripped = True
                self.on_unmasked()
                return


class Session:
    """A gateway session: identify payload, sequence, replay buffer."""

    def __init__(self, gw, identify):
        self.id = secrets.token_hex(16)
        self.identify = identify
        self.intents = identify.get("intents", 0)
        shard = identify.get("shard") or [0, 1]
        self.shard = (int(shard[0]), int(shard[1]))
        self.seq = 0
        self.events = []          # dispatched payloads, for RESUME replay
        self.conn = None          # the live Connection, if any
        self.resumable = True
        self.created = time.time()
        self.resumes = 0

    def wants(self, event, data):
        need = EVENT_INTENT.get(event)
        if event in MESSAGE_EVENTS:
            need = S.INTENT_DIRECT_MESSAGES if not (data or {}).get("guild_id") else S.INTENT_GUILD_MESSAGES
        if need is not None and not self.intents & need:
            return False
        data = data or {}
        gid = data.get("guild_id")
        if gid is None and event in ("GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE"):
            gid = data.get("id")
        if gid and self.shard[1] > 1 and (int(gid) >> 22) % self.shard[1] != self.shard[0]:
            return False
        return True

    def describe(self):
        return {"session_id": self.id, "identify": self.identify, "intents": self.intents,
                "shard": list(self.shard), "seq": self.seq, "resumable": self.resumable,
                "resumes": self.resumes, "connected": self.conn is not None,
                "connection_id": self.conn.id if self.conn else None}


class Connection:
    def __init__(self, gw, ws, request, cid):
        self.gw, self.ws, self.request, self.id = gw, ws, request, cid
        q = request.query
        self.compress = q.get("compress") == "zlib-stream"
        self.zctx = zlib.compressobj() if self.compress else None
        self.session = None
        self.send_lock = asyncio.Lock()
        self.ack_heartbeats = True
        self.closing = None       # set while the server closes this connection
        self.split = None         # {"parts": n, "mode": "messages"|"frames", "count": payloads}
        self.recv_times = []
        self.record = {
            "id": cid, "path": request.path, "query": dict(q), "opened": time.time(),
            "user_agent": request.headers.get("User-Agent"), "compress": self.compress,
            "identified": False, "resumed": False, "session_id": None,
            "heartbeats": 0, "heartbeat_acks": 0, "heartbeat_seqs": [],
            "heartbeat_times": [],  # seconds since the connection opened
            "received_ops": [], "sent": 0, "split_payloads": 0,
            "closed": None, "close_code_from_client": None, "close_code_from_server": None,
            "dropped_by_server": False, "zombie": False, "unmasked_frame": False,
        }

    async def send(self, payload):
        data = json.dumps(payload, separators=(",", ":")).encode()
        async with self.send_lock:
            if self.ws.closed:
                return False
            self.record["sent"] += 1
            if not self.compress:
                await self.ws.send_str(data.decode())
                return True
            blob = self.zctx.compress(data) + self.zctx.flush(zlib.Z_SYNC_FLUSH)
            split = self.split
            if split and split["count"] > 0 and len(blob) >= 2:
                split["count"] -= 1
                if split["count"] == 0:
                    self.split = None
                self.record["split_payloads"] += 1
                n = max(2, min(int(split["parts"]), len(blob)))
                step = -(-len(blob) // n)
                chunks = [blob[i:i + step] for i in range(0, len(blob), step)]
                if split["mode"] == "frames":
                    # one WebSocket message in several frames: a binary frame
                    # with FIN=0, continuation frames, FIN on the last
                    # (RFC 6455 5.4); written together so nothing interleaves
                    raw = b"".join(ws_frame(0x2 if i == 0 else 0x0, c, i == len(chunks) - 1)
                                   for i, c in enumerate(chunks))
                    self.request.transport.write(raw)
                else:
                    for c in chunks:  # several binary messages, one payload
                        await self.ws.send_bytes(c)
                return True
            await self.ws.send_bytes(blob)
            return True


class Gateway:
    def __init__(self, state, config):
        self.state = state
        self.config = config
        self.sessions = {}        # id -> Session
        self.connections = {}     # id -> Connection (live)
        self.records = []         # every connection's record, in order
        self.identifies = []      # every IDENTIFY payload (token masked)
        self.resumes = []         # every RESUME attempt and its outcome
        self.next_conn = 1
        self.handshake_lock = asyncio.Lock()
        # resume_url faults: the URL READY gives instead of the real one,
        # and the sockets/servers kept open to make it fail as asked
        self.resume_override = None
        self.fault_socks = []
        self.fault_servers = []
        self.fault_hits = 0       # connections the bad-TLS listener saw

    # ----------------------------------------------------------- URLs
    def url(self):
        return self.config["gateway_url"]

    def resume_url(self):
        return self.resume_override or self.config["resume_gateway_url"]

    async def set_resume_fault(self, mode):
        """READY's resume_gateway_url becomes unusable: "refused" (a bound
        port that does not listen), "bad_tls" (a listener that answers a
        TLS ClientHello with plain text and closes), "bad_url" (a URL no
        client can parse: port out of range); "off" restores it."""
        await self.clear_resume_fault()
        if mode == "off":
            return
        host = self.config.get("host", "127.0.0.1")
        scheme = self.config["resume_gateway_url"].split("://")[0]
        if mode == "refused":
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))  # bound, never listening: connect() is refused
            self.fault_socks.append(sock)
            port = sock.getsockname()[1]
        elif mode == "bad_tls":
            async def garbage(reader, writer):
                self.fault_hits += 1
                try:
                    await asyncio.wait_for(reader.read(512), 2)
                    writer.write(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\nnot TLS\n")
                    await writer.drain()
                except (OSError, asyncio.TimeoutError):
                    pass
                writer.close()
            srv = await asyncio.start_server(garbage, host, 0)
            self.fault_servers.append(srv)
            port = srv.sockets[0].getsockname()[1]
        elif mode == "bad_url":
            self.resume_override = "%s://%s:99999/resume" % (scheme, host)
            return
        else:
            raise ValueError("resume_url mode must be refused, bad_tls, bad_url or off")
        self.resume_override = "%s://%s:%d/resume" % (scheme, host, port)

    async def clear_resume_fault(self):
        self.resume_override = None
        for sock in self.fault_socks:
            sock.close()
        self.fault_socks.clear()
        for srv in self.fault_servers:
            srv.close()
        self.fault_servers.clear()

    # ----------------------------------------------------------- dispatch
    async def dispatch(self, event, data, session_id=None):
        """Send (or buffer for RESUME) one dispatch to every live session
        that the event concerns. Returns the number of sessions reached."""
        n = 0
        for s in list(self.sessions.values()):
            if session_id and s.id != session_id:
                continue
            if not s.resumable or not s.wants(event, data):
                continue
            d = data
            if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
                d = self.message_view(s, data)
            elif event == "GUILD_CREATE" and not s.intents & S.INTENT_GUILD_MEMBERS:
                me = self.state.bot_user["id"]
                d = {**data, "members": [m for m in data.get("members", []) if m["user"]["id"] == me]}
            await self.send_dispatch(s, event, d)
            n += 1
        return n

    def message_view(self, s, msg):
        """Without the MESSAGE_CONTENT intent a bot gets empty content,
        embeds, attachments and components, except in DMs, its own messages
        and messages that mention it (docs: Gateway, "Message Content
        Intent")."""
        if s.intents & S.INTENT_MESSAGE_CONTENT or not msg.get("guild_id"):
            return msg
        me = self.state.bot_user["id"]
        if msg.get("author", {}).get("id") == me or any(u.get("id") == me for u in msg.get("mentions", [])):
            return msg
        return {**msg, "content": "", "embeds": [], "attachments": [], "components": []}

    async def send_dispatch(self, s, event, d):
        s.seq += 1
        payload = {"op": OP_DISPATCH, "t": event, "s": s.seq, "d": d}
        s.events.append(payload)
        if len(s.events) > S.REPLAY_BUFFER:
            del s.events[: len(s.events) - S.REPLAY_BUFFER]
        if s.conn is not None:
            await s.conn.send(payload)

    # ----------------------------------------------------------- the socket
    async def handle(self, request):
        # compress=False: Discord offers no permessage-deflate (RFC 7692)
        ws = web.WebSocketResponse(autoping=True, max_msg_size=1 << 20, compress=False)
        await ws.prepare(request)
        cid = self.next_conn
        self.next_conn += 1
        conn = Connection(self, ws, request, cid)
        proto = request.protocol
        if getattr(proto, "_payload_parser", None) is not None:
            proto._payload_parser = MaskCheck(proto._payload_parser, lambda: self.unmasked(conn))
        self.connections[cid] = conn
        self.records.append(conn.record)
        log.info("conn %d open path=%s query=%s", cid, request.path, dict(request.query))
        try:
            if request.query.get("encoding", "json") != "json":
                await self.close(conn, 4002, "encoding must be json")
                return ws
            if request.query.get("v") not in (None, "10"):
                await self.close(conn, 4012, "Invalid API version")
                return ws
            await conn.send({"op": OP_HELLO, "d": {"heartbeat_interval": self.config["heartbeat_interval"]}, "s": None, "t": None})
            while True:
                msg = await ws.receive()
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    raw = msg.data if isinstance(msg.data, str) else msg.data.decode("utf-8", "replace")
                    if not await self.on_payload(conn, raw):
                        break
                elif msg.type == WSMsgType.CLOSE:
                    conn.record["close_code_from_client"] = msg.data
                    if msg.data in (1000, 1001) and conn.session is not None:
                        conn.session.resumable = False  # see detach()
                    log.info("conn %d client closed with %s %r", cid, msg.data, msg.extra)
                    await ws.close()
                    break
                else:  # CLOSING, CLOSED, ERROR: the transport went away
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.detach(conn)
            if conn.closing is not None:
                try:
                    await asyncio.wait_for(conn.closing.wait(), 5)
                except asyncio.TimeoutError:
                    pass
        return ws

    def unmasked(self, conn):
        conn.record["unmasked_frame"] = True
        log.info("conn %d sent an unmasked frame", conn.id)
        asyncio.ensure_future(self.close(conn, 1002, "client frames must be masked"))

    def detach(self, conn):
        conn.record["closed"] = time.time()
        self.connections.pop(conn.id, None)
        s = conn.session
        if s is not None and s.conn is conn:
            s.conn = None
            # docs: closing with 1000 or 1001 invalidates the session
            if conn.record["close_code_from_client"] in (1000, 1001):
                s.resumable = False
        log.info("conn %d detached (client code %s, server code %s)", conn.id,
                 conn.record["close_code_from_client"], conn.record["close_code_from_server"])

    async def close(self, conn, code, reason=""):
        conn.record["close_code_from_server"] = code
        if conn.session is not None and code in NOT_RESUMABLE:
            conn.session.resumable = False
        log.info("conn %d server closes with %d %s", conn.id, code, reason)
        # handle() waits for this before it returns: aiohttp closes a
        # WebSocketResponse with 1000 when its handler ends
        conn.closing = asyncio.Event()
        try:
            async with conn.send_lock:
                await conn.ws.close(code=code, message=reason.encode())
        finally:
            conn.closing.set()

    async def on_payload(self, conn, raw):
        """Handle one client payload; False ends the connection."""
        now = time.time()
        conn.recv_times = [t for t in conn.recv_times if t > now - SEND_WINDOW] + [now]
        if len(conn.recv_times) > SEND_LIMIT:
            await self.close(conn, 4008, "Rate limited.")
            return False
        if len(raw.encode()) > MAX_CLIENT_PAYLOAD:
            await self.close(conn, 4002, "Decode error")
            return False
        try:
            p = json.loads(raw)
            op = p["op"]
        except (ValueError, KeyError, TypeError):
            await self.close(conn, 4002, "Decode error")
            return False
        conn.record["received_ops"].append(op)
        d = p.get("d")
        if op not in CLIENT_OPS:
            await self.close(conn, 4001, "Unknown opcode")
            return False
        if op == OP_HEARTBEAT:
            conn.record["heartbeats"] += 1
            conn.record["heartbeat_seqs"].append(d)
            conn.record["heartbeat_times"].append(round(time.time() - conn.record["opened"], 3))
            if conn.ack_heartbeats:
                conn.record["heartbeat_acks"] += 1
                await conn.send({"op": OP_HEARTBEAT_ACK, "d": None, "s": None, "t": None})
            return True
        if op == OP_IDENTIFY:
            return await self.on_identify(conn, d or {})
        if op == OP_RESUME:
            return await self.on_resume(conn, d or {})
        if conn.session is None:
            await self.close(conn, 4003, "Not authenticated.")
            return False
        return True  # presence/voice/member requests: accepted, ignored

    def token_ok(self, token):
        t = token or ""
        if t.startswith("Bot "):
            t = t[4:]
        return t == self.config["token"]

    async def on_identify(self, conn, d):
        masked = {**d, "token": "<ok>" if self.token_ok(d.get("token")) else "<bad>"}
        self.identifies.append({"connection_id": conn.id, "time": time.time(), "payload": masked})
        conn.record["identified"] = True
        if conn.session is not None:
            await self.close(conn, 4005, "Already authenticated.")
            return False
        if not self.token_ok(d.get("token")):
            await self.close(conn, 4004, "Authentication failed.")
            return False
        intents = d.get("intents")
        if not isinstance(intents, int) or isinstance(intents, bool) or intents < 0 or intents & ~S.ALL_INTENTS:
            await self.close(conn, 4013, "Invalid intent(s).")
            return False
        if intents & S.PRIVILEGED_INTENTS & ~self.config["privileged_intents"]:
            await self.close(conn, 4014, "Disallowed intent(s).")
            return False
        shard = d.get("shard")
        if shard is not None:
            if (not isinstance(shard, list) or len(shard) != 2 or not 0 <= shard[0] < shard[1]):
                await self.close(conn, 4010, "Invalid shard.")
                return False
        if self.config["shards"] > 1 and (shard is None or shard[1] < self.config["shards"]):
            await self.close(conn, 4011, "Sharding required.")
            return False
        s = Session(self, masked)
        self.sessions[s.id] = s
        s.conn = conn
        conn.session = s
        conn.record["session_id"] = s.id
        st = self.state
        guilds = [g for g in st.guilds if s.shard[1] == 1 or (int(g) >> 22) % s.shard[1] == s.shard[0]]
        ready = {
            "v": 10, "user": {**st.bot_user, "verified": True, "mfa_enabled": False, "email": None},
            "guilds": [{"id": g, "unavailable": True} for g in guilds],
            "session_id": s.id, "session_type": "normal",
            "resume_gateway_url": self.resume_url(),
            "application": {"id": self.config["application_id"], "flags": self.config["application_flags"]},
            "private_channels": [], "relationships": [], "presences": [],
            "guild_join_requests": [], "geo_ordered_rtc_regions": ["local"],
            "user_settings": {}, "auth_session_id_hash": "", "_trace": ["[\"emulator\"]"],
        }
        if shard is not None:
            ready["shard"] = list(shard)
        await self.send_dispatch(s, "READY", ready)
        if s.intents & S.INTENT_GUILDS:
            for g in guilds:
                await self.send_dispatch(s, "GUILD_CREATE", st.guild_create_payload(
                    g, all_members=bool(s.intents & S.INTENT_GUILD_MEMBERS)))
        log.info("conn %d identified: session %s intents %d", conn.id, s.id, s.intents)
        return True

    async def on_resume(self, conn, d):
        rec = {"connection_id": conn.id, "time": time.time(), "session_id": d.get("session_id"),
               "seq": d.get("seq"), "token_ok": self.token_ok(d.get("token")), "outcome": None,
               "replayed": 0, "path": conn.record["path"]}
        self.resumes.append(rec)
        conn.record["resumed"] = True
        if conn.session is not None:
            rec["outcome"] = "already authenticated"
            await self.close(conn, 4005, "Already authenticated.")
            return False
        if not rec["token_ok"]:
            rec["outcome"] = "authentication failed"
            await self.close(conn, 4004, "Authentication failed.")
            return False
        s = self.sessions.get(d.get("session_id"))
        if s is None or not s.resumable:
            rec["outcome"] = "invalid session"
            await conn.send({"op": OP_INVALID_SESSION, "d": False, "s": None, "t": None})
            return True
        seq = d.get("seq")
        if not isinstance(seq, int) or seq > s.seq or (s.events and seq < s.events[0]["s"] - 1):
            rec["outcome"] = "invalid seq"
            s.resumable = False
            await self.close(conn, 4007, "Invalid seq.")
            return False
        if s.conn is not None and s.conn is not conn:
            # the old connection is a zombie: the new one takes over
            old = s.conn
            old.session = None
            asyncio.ensure_future(self.drop(old))
        s.conn = conn
        conn.session = s
        s.resumes += 1
        conn.record["session_id"] = s.id
        missed = [e for e in s.events if e["s"] > seq]
        rec["replayed"] = len(missed)
        rec["outcome"] = "resumed"
        for e in missed:
            await conn.send(e)
        await self.send_dispatch(s, "RESUMED", {"_trace": ["[\"emulator\"]"]})
        log.info("conn %d resumed session %s from seq %s (%d replayed)", conn.id, s.id, seq, len(missed))
        return True

    # ----------------------------------------------------------- faults
    def targets(self, session_id=None):
        return [c for c in list(self.connections.values())
                if session_id is None or (c.session and c.session.id == session_id)]

    async def drop(self, conn):
        """Cut the TCP connection with no close frame (a network failure)."""
        conn.record["dropped_by_server"] = True
        tr = conn.request.transport
        if tr is not None:
            tr.abort()

    async def tls_garbage(self, conn):
        """Bytes that are not a TLS record, written under the TLS layer
        straight into the socket, then the connection cut: the client's
        TLS engine fails mid-stream (a middlebox or memory fault)."""
        conn.record["dropped_by_server"] = True
        conn.record["tls_garbage"] = True
        tr = conn.request.transport
        sock = tr.get_extra_info("socket") if tr is not None else None
        if sock is not None:
            try:
                os.write(sock.fileno(), b"\x17\x03\x03\x00\x20" + os.urandom(32) + b"garbage, not TLS")
            except OSError:
                pass
        if tr is not None:
            tr.abort()

    async def fault(self, action, body):
        if action == "resume_url":
            await self.set_resume_fault(body.get("mode", "refused"))
            return 0
        conns = self.targets(body.get("session_id"))
        for c in conns:
            if action == "drop":
                await self.drop(c)
            elif action == "tls_garbage":
                await self.tls_garbage(c)
            elif action == "close":
                await self.close(c, int(body.get("code", 4000)), body.get("reason", ""))
            elif action == "reconnect":
                await c.send({"op": OP_RECONNECT, "d": None, "s": None, "t": None})
            elif action == "invalid_session":
                resumable = bool(body.get("resumable", False))
                if c.session is not None and not resumable:
                    c.session.resumable = False
                await c.send({"op": OP_INVALID_SESSION, "d": resumable, "s": None, "t": None})
            elif action == "zombie":
                c.ack_heartbeats = False
                c.record["zombie"] = True
            elif action == "heartbeat_request":
                await c.send({"op": OP_HEARTBEAT, "d": None, "s": None, "t": None})
            elif action == "split":
                c.split = {"parts": int(body.get("parts", 3)), "mode": body.get("mode", "messages"),
                           "count": int(body.get("count", 1))}
            else:
                raise ValueError("unknown gateway fault %r" % action)
        return len(conns)

    async def shutdown(self):
        for c in list(self.connections.values()):
            try:
                await self.close(c, 1001, "emulator shutting down")
            except Exception:  # noqa: BLE001 - best effort at exit
                pass

    def describe(self):
        return {"connections": self.records, "sessions": [s.describe() for s in self.sessions.values()],
                "identifies": self.identifies, "resumes": self.resumes,
                "live_connections": sorted(self.connections),
                "resume_gateway_url": self.resume_url(), "bad_tls_connections": self.fault_hits}
