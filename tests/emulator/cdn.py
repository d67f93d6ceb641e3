"""Attachments and the CDN that serves them.

Discord hands a bot attachment objects (docs: Channel, "Attachment Object":
id, filename, size, url, proxy_url, content_type, width, height, ephemeral)
whose `url` points at its CDN (cdn.discordapp.com/attachments/{channel}/{id}/
{filename}, ephemeral-attachments/... for files given to a slash command) and
`proxy_url` at its media proxy (media.discordapp.net/...). Since the end of
2023 those URLs are signed: `?ex=` (expiry, hex epoch seconds), `is=` (issued,
hex) and `hm=` (an HMAC); a URL without a valid signature, or past `ex`,
answers 404 "This content is no longer available.".

Here the CDN is the emulator's own HTTPS port:
    https://127.0.0.1:P/attachments/{channel}/{id}/{filename}?ex=..&is=..&hm=..
    https://127.0.0.1:P/ephemeral-attachments/...   (slash-command files)
    https://127.0.0.1:P/media/...                   (proxy_url: same bytes)
Tests register an attachment (bytes, filename, content type, declared size,
optional faults) through the control API; files the bot uploads with a
message are registered too, so both can be fetched back.
"""

import base64
import hashlib
import hmac
import mimetypes
import re
import secrets
import struct
import time
import zlib
import asyncio

from aiohttp import web

from . import state as S

_SECRET = secrets.token_bytes(16)
GONE = "This content is no longer available."
PATH = re.compile(r"^/(?:media/)?(ephemeral-attachments|attachments)/(\d+)/(\d+)/([^/]+)$")


def sign(aid, ex):
    return hmac.new(_SECRET, ("%s:%x" % (aid, ex)).encode(), hashlib.sha256).hexdigest()


def png_bytes(width, height, rgba=(0x58, 0x65, 0xF2, 0xFF)):
    """A real, decodable RGBA PNG of one colour (for tests of image checks)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    row = b"\0" + bytes(rgba) * width
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(row * height))
            + chunk(b"IEND", b""))


def gif_bytes(width, height, frames=2):
    """A decodable animated GIF (frames of one colour each, 2-colour table):
    each frame is one LZW-coded run of index 0 (clear code + literal codes)."""
    out = bytearray(b"GIF89a" + struct.pack("<HHBBB", width, height, 0x80, 0, 0))
    out += b"\x58\x65\xf2\xff\xff\xff"  # global colour table, 2 entries
    out += b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"  # loop forever
    n = width * height
    for f in range(frames):
        out += b"!\xf9\x04\x04\x0a\x00\x00\x00"  # graphic control: 0.1 s delay
        out += b"," + struct.pack("<HHHHB", 0, 0, width, height, 0)
        # LZW with min code size 2: clear (4) then pixel codes, a clear
        # before the table would grow past 3-bit codes, then end (5)
        bits, nbits, codes = 0, 0, []
        codes.append(4)
        run = 0
        for _ in range(n):
            codes.append(f % 2)
            run += 1
            if run == 2:  # after 2 literals the next code would need 4 bits
                codes.append(4)
                run = 0
        codes.append(5)
        data = bytearray()
        for c in codes:
            bits |= c << nbits
            nbits += 3
            while nbits >= 8:
                data.append(bits & 0xFF)
                bits >>= 8
                nbits -= 8
        if nbits:
            data.append(bits & 0xFF)
        out += b"\x02"
        for i in range(0, len(data), 255):
            blk = data[i:i + 255]
            out += bytes([len(blk)]) + blk
        out += b"\x00"
    out += b";"
    return bytes(out)


class Cdn:
    """The attachment store (in State.attachments) and the HTTP handler."""

    def __init__(self, state, config):
        self.state, self.config = state, config

    def base(self):
        return self.config.get("cdn_base") or "https://cdn.discordapp.com"

    # ----------------------------------------------------------- registering
    def register(self, spec, channel_id=None, ephemeral=False):
        """spec: filename, content_type?, one of data_b64 / data (text) /
        png {width, height} / gif {width, height, frames} / fill_size (that
        many bytes), size? (the declared size, default the real one), width?,
        height?, expires_in? (s, default 86400), chunked? (no Content-Length),
        status? (the CDN answers that instead), delay? (s before the body),
        id?, description?, title?"""
        st = self.state
        if "data_b64" in spec:
            data = base64.b64decode(spec["data_b64"])
        elif "data" in spec:
            data = spec["data"].encode() if isinstance(spec["data"], str) else bytes(spec["data"])
        elif "png" in spec:
            data = png_bytes(int(spec["png"]["width"]), int(spec["png"]["height"]))
        elif "gif" in spec:
            data = gif_bytes(int(spec["gif"]["width"]), int(spec["gif"]["height"]), int(spec["gif"].get("frames", 2)))
        elif "fill_size" in spec:
            data = (b"agora-emulator-" * (int(spec["fill_size"]) // 15 + 1))[:int(spec["fill_size"])]
        else:
            raise ValueError("an attachment needs data_b64, data, png, gif or fill_size")
        filename = spec.get("filename") or "file.bin"
        ctype = spec.get("content_type") or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        dims = spec.get("png") or spec.get("gif") or {}
        width = spec.get("width", dims.get("width"))
        height = spec.get("height", dims.get("height"))
        aid = str(spec.get("id") or S.snowflake())
        cid = str(spec.get("channel_id") or channel_id or self.default_channel())
        ephemeral = bool(spec.get("ephemeral", ephemeral))
        now = int(time.time())
        ex = now + int(spec.get("expires_in", 86400))
        q = "?ex=%x&is=%x&hm=%s&" % (ex, now, sign(aid, ex))
        kind = "ephemeral-attachments" if ephemeral else "attachments"
        path = "/%s/%s/%s/%s" % (kind, cid, aid, filename)
        base = self.base()
        obj = {"id": aid, "filename": filename, "size": int(spec.get("size", len(data))),
               "url": base + path + q, "proxy_url": base + "/media" + path + q, "content_type": ctype}
        if width is not None and height is not None:
            obj.update({"width": int(width), "height": int(height)})
        if ephemeral:
            obj["ephemeral"] = True
        for k in ("description", "title"):
            if k in spec:
                obj[k] = spec[k]
        st.attachments[aid] = {
            "object": obj, "data": data, "channel_id": cid, "kind": kind, "ex": ex,
            "chunked": bool(spec.get("chunked")), "status": spec.get("status"),
            "delay": float(spec.get("delay", 0)), "fetches": 0,
            "sha256": hashlib.sha256(data).hexdigest(),
        }
        return obj

    def default_channel(self):
        for c in self.state.channels.values():
            if c["type"] == S.CHANNEL_TEXT:
                return c["id"]
        return "0"

    def public(self, aid):
        a = self.state.attachments.get(str(aid))
        return dict(a["object"]) if a else None

    def describe(self, a):
        return {**a["object"], "data_size": len(a["data"]), "sha256": a["sha256"], "fetches": a["fetches"],
                "channel_id": a["channel_id"], "expires": a["ex"], "chunked": a["chunked"],
                "status": a["status"], "delay": a["delay"]}

    # ----------------------------------------------------------- serving
    async def handle(self, request):
        st = self.state
        rec = {"time": time.time(), "method": request.method, "path": request.path,
               "query": dict(request.query), "user_agent": request.headers.get("User-Agent"),
               "status": None, "bytes": 0}
        st.cdn_requests.append(rec)
        resp = await self.serve(request, rec)
        rec["status"] = resp.status
        return resp

    @staticmethod
    def gone(rec):
        # the real CDN answers a plain-text 404 for unsigned/expired/unknown
        return web.Response(status=404, text=GONE, content_type="text/plain",
                            headers={"Server": "cloudflare", "Cache-Control": "no-store"})

    async def serve(self, request, rec):
        m = PATH.match(request.path)
        if m is None or request.method not in ("GET", "HEAD"):
            return self.gone(rec)
        kind, cid, aid, filename = m.groups()
        a = self.state.attachments.get(aid)
        q = request.query
        if a is None or a["kind"] != kind or a["channel_id"] != cid or a["object"]["filename"] != filename:
            return self.gone(rec)
        try:
            ex = int(q.get("ex", ""), 16)
        except ValueError:
            return self.gone(rec)
        if not hmac.compare_digest(q.get("hm", ""), sign(aid, ex)) or ex < time.time():
            return self.gone(rec)
        a["fetches"] += 1
        if a["status"]:
            return web.Response(status=int(a["status"]), text="emulated CDN failure", content_type="text/plain",
                                headers={"Server": "cloudflare"})
        if a["delay"]:
            await asyncio.sleep(a["delay"])
        data = a["data"]
        headers = {"Content-Type": a["object"]["content_type"], "Server": "cloudflare",
                   "Cache-Control": "public, max-age=31536000", "Accept-Ranges": "bytes",
                   "ETag": '"%s"' % a["sha256"][:32], "Via": "1.1 google"}
        if request.method == "HEAD":
            return web.Response(status=200, headers={**headers, "Content-Length": str(len(data))})
        if not a["chunked"]:
            rec["bytes"] = len(data)
            return web.Response(status=200, body=data, headers=headers)
        # no Content-Length: chunked transfer coding, in 16 KiB pieces
        resp = web.StreamResponse(status=200, headers=headers)
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(data), 16384):
            await resp.write(data[i:i + 16384])
        await resp.write_eof()
        rec["bytes"] = len(data)
        return resp
