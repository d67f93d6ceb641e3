"""Helpers for the emulator's self-tests: a raw REST caller and a raw
gateway client (aiohttp + zlib), so the tests see bytes, headers and close
codes exactly as a client would."""

import asyncio
import json
import ssl
import urllib.error
import urllib.request
import zlib

import aiohttp

SUFFIX = b"\x00\x00\xff\xff"


class Reply:
    def __init__(self, status, headers, raw):
        self.status, self.headers, self.raw = status, headers, raw
        try:
            self.json = json.loads(raw) if raw else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<Reply %d %s>" % (self.status, self.raw[:300])


def rest(emu, method, path, body=None, token="default", headers=None):
    """One REST call; returns Reply (never raises on HTTP errors)."""
    h = {"User-Agent": "DiscordBot (https://example.invalid, 1.0) selftest"}
    if token == "default":
        token = emu.token
    if token is not None:
        h["Authorization"] = "Bot " + token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    h.update(headers or {})
    req = urllib.request.Request(emu.api_base + path, data=data, method=method, headers=h)
    ctx = ssl.create_default_context(cafile=emu.ca_file)
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


def form_errors(reply):
    """The errors tree of a 50035 reply (asserting the envelope)."""
    assert reply.status == 400, reply
    assert reply.json["code"] == 50035 and reply.json["message"] == "Invalid Form Body", reply
    return reply.json["errors"]


def leaf_codes(tree):
    out = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            if k == "_errors":
                out += [e["code"] for e in v]
            else:
                out += leaf_codes(v)
    return out


class Gateway:
    """A raw gateway client. Records every payload and how it arrived."""

    def __init__(self, emu, compress=True, path="/"):
        self.emu, self.compress, self.path = emu, compress, path
        self.payloads = []       # decoded payloads in arrival order
        self.ws_messages = []    # (type, bytes) of every WebSocket message
        self.close_code = None
        self.inflate = zlib.decompressobj()
        self.buffer = bytearray()
        self.queue = asyncio.Queue()

    async def __aenter__(self):
        self.session = aiohttp.ClientSession()
        tls = ssl.create_default_context(cafile=self.emu.ca_file)
        url = self.emu.gateway_url.rstrip("/") + self.path + "?v=10&encoding=json"
        if self.compress:
            url += "&compress=zlib-stream"
        self.ws = await self.session.ws_connect(url, ssl=tls, autoclose=False, max_msg_size=0)
        self.reader = asyncio.ensure_future(self.read())
        return self

    async def __aexit__(self, *exc):
        self.reader.cancel()
        if not self.ws.closed:
            await self.ws.close(code=4000)
        await self.session.close()

    async def read(self):
        while True:
            msg = await self.ws.receive()
            if msg.type == aiohttp.WSMsgType.BINARY:
                self.ws_messages.append(("binary", msg.data))
                self.buffer += msg.data
                if self.buffer[-4:] != SUFFIX:
                    continue
                text = self.inflate.decompress(bytes(self.buffer)).decode()
                self.buffer.clear()
            elif msg.type == aiohttp.WSMsgType.TEXT:
                self.ws_messages.append(("text", msg.data))
                text = msg.data
            else:
                if msg.type == aiohttp.WSMsgType.CLOSE:
                    self.close_code = msg.data
                    await self.ws.close()
                elif self.close_code is None:
                    self.close_code = self.ws.close_code
                await self.queue.put(None)
                return
            p = json.loads(text)
            self.payloads.append(p)
            await self.queue.put(p)

    async def send(self, op, d):
        await self.ws.send_str(json.dumps({"op": op, "d": d}))

    async def next(self, timeout=3.0):
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def wait(self, pred, timeout=3.0):
        """Next payload satisfying pred; None in the queue means closed."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            p = await asyncio.wait_for(self.queue.get(), max(0.01, end - loop.time()))
            if p is None:
                raise ConnectionError("closed with %s before the expected payload" % self.close_code)
            if pred(p):
                return p

    async def wait_op(self, op, timeout=3.0):
        return await self.wait(lambda p: p["op"] == op, timeout)

    async def wait_event(self, t, timeout=3.0):
        return await self.wait(lambda p: p.get("t") == t, timeout)

    async def wait_closed(self, timeout=3.0):
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while True:
            p = await asyncio.wait_for(self.queue.get(), max(0.01, end - loop.time()))
            if p is None:
                return self.close_code

    async def identify(self, intents=513, token=None, **extra):
        hello = await self.wait_op(10)
        await self.send(2, {"token": token or self.emu.token, "intents": intents,
                            "properties": {"os": "linux", "browser": "selftest", "device": "selftest"}, **extra})
        return hello

    async def ready(self, intents=513):
        await self.identify(intents)
        return await self.wait_event("READY")

    def last_seq(self):
        seqs = [p["s"] for p in self.payloads if p and p.get("s") is not None]
        return seqs[-1] if seqs else None


def run(coro):
    return asyncio.run(coro)
