"""Attachments on the emulator's CDN, and guild emojis: registering,
signed URLs, Content-Type/Length, faults, resolved attachments in an
interaction, bot uploads served back; emoji checks and limits."""

import base64
import hashlib
import ssl
import struct
import time
import urllib.error
import urllib.request
import zlib

from tests.emulator.cdn import gif_bytes, png_bytes
from tests.emulator.testlib import Gateway, form_errors, rest, run

GUILD = "1200000000000000001"
GENERAL = "1220000000000000002"


def fetch(emu, url, method="GET"):
    """(status, headers, body) of a CDN URL, over the emulator's TLS."""
    ctx = ssl.create_default_context(cafile=emu.ca_file)
    req = urllib.request.Request(url, method=method, headers={"User-Agent": "selftest"})
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_registered_attachment_is_served_with_type_and_length(emu):
    data = bytes(range(256)) * 40
    a = emu.add_attachment("proof.bin", data_b64=base64.b64encode(data).decode(),
                           content_type="application/octet-stream")
    assert a["size"] == len(data) and a["data_size"] == len(data) and a["ephemeral"] is True
    assert "/ephemeral-attachments/%s/%s/proof.bin?ex=" % (GENERAL, a["id"]) in a["url"]
    assert a["proxy_url"].startswith(emu.api_base[:-len("/api/v10")] + "/media/ephemeral-attachments/")
    status, headers, body = fetch(emu, a["url"])
    assert status == 200 and body == data
    assert headers["Content-Type"] == "application/octet-stream"
    assert headers["Content-Length"] == str(len(data))
    status, headers, body = fetch(emu, a["proxy_url"])
    assert status == 200 and body == data
    status, headers, body = fetch(emu, a["url"], method="HEAD")
    assert status == 200 and headers["Content-Length"] == str(len(data)) and body == b""
    assert emu.attachment(a["id"])["fetches"] == 3
    assert [r["status"] for r in emu.cdn_requests()] == [200, 200, 200]


def test_unsigned_expired_or_unknown_urls_are_gone(emu):
    a = emu.add_attachment("a.png", png={"width": 8, "height": 8})
    bare = a["url"].split("?")[0]
    for url in (bare, a["url"].replace("hm=", "hm=0"), a["url"].replace("/a.png?", "/b.png?"),
                a["url"].replace(a["id"], "1" * 19)):
        status, headers, body = fetch(emu, url)
        assert status == 404 and body == b"This content is no longer available.", url
    old = emu.add_attachment("old.png", png={"width": 8, "height": 8}, expires_in=-1)
    assert fetch(emu, old["url"])[0] == 404
    assert emu.attachment(a["id"])["fetches"] == 0


def test_declared_size_png_gif_chunked_and_faults(emu):
    p = emu.add_attachment("e.png", png={"width": 128, "height": 128}, size=999999)
    assert p["size"] == 999999 and p["width"] == 128 and p["content_type"] == "image/png"
    status, headers, body = fetch(emu, p["url"])
    assert status == 200 and len(body) == p["data_size"] != 999999  # the declared size may lie
    assert body == png_bytes(128, 128)
    # the PNG decodes: IHDR says 128x128 and the IDAT inflates to 128 rows
    w, h = struct.unpack(">II", body[16:24])
    idat_len = struct.unpack(">I", body[33:37])[0]
    assert (w, h) == (128, 128) and len(zlib.decompress(body[41:41 + idat_len])) == 128 * (1 + 4 * 128)
    g = emu.add_attachment("spin.gif", gif={"width": 32, "height": 32, "frames": 3})
    status, headers, body = fetch(emu, g["url"])
    assert status == 200 and headers["Content-Type"] == "image/gif" and body.startswith(b"GIF89a")
    assert body == gif_bytes(32, 32, 3) and body.count(b"\x21\xf9\x04") == 3
    c = emu.add_attachment("big.bin", fill_size=100000, chunked=True)
    status, headers, body = fetch(emu, c["url"])
    assert status == 200 and len(body) == 100000 and "Content-Length" not in headers
    assert headers["Transfer-Encoding"] == "chunked"
    f = emu.add_attachment("down.png", png={"width": 4, "height": 4}, status=503)
    assert fetch(emu, f["url"])[0] == 503
    d = emu.add_attachment("slow.png", png={"width": 4, "height": 4}, delay=0.3)
    t0 = time.monotonic()
    assert fetch(emu, d["url"])[0] == 200 and time.monotonic() - t0 >= 0.3


def test_interaction_carries_a_registered_attachment(emu):
    a = emu.add_attachment("party.png", png={"width": 64, "height": 64})

    async def go():
        async with Gateway(emu) as gw:
            await gw.ready()
            emu.inject_slash("propose_emoji", {"name": "party", "file": {"type": 11, "value": a["id"]}})
            p = (await gw.wait_event("INTERACTION_CREATE"))["d"]
            got = p["data"]["resolved"]["attachments"][a["id"]]
            assert {k: got[k] for k in ("id", "filename", "size", "url", "proxy_url", "content_type",
                                        "width", "height")} == \
                {k: a[k] for k in ("id", "filename", "size", "url", "proxy_url", "content_type", "width", "height")}
            return got["url"]
    url = run(go())
    status, _, body = fetch(emu, url)
    assert status == 200 and hashlib.sha256(body).hexdigest() == a["sha256"]


def test_injected_message_attachments_and_bot_uploads_are_served(emu):
    m = emu.inject_message("look", attachments=[{"filename": "x.txt", "data": "hello"}])
    att = m["attachments"][0]
    assert att["filename"] == "x.txt" and att["size"] == 5 and "ephemeral" not in att
    assert "/attachments/%s/" % GENERAL in att["url"]
    assert fetch(emu, att["url"])[2] == b"hello"
    # a multipart upload by the bot is stored and served back
    boundary = "agoraboundary"
    body = ("--%s\r\nContent-Disposition: form-data; name=\"payload_json\"\r\nContent-Type: application/json\r\n\r\n"
            "{\"content\": \"file\"}\r\n--%s\r\nContent-Disposition: form-data; name=\"files[0]\"; "
            "filename=\"r.png\"\r\nContent-Type: application/octet-stream\r\n\r\n" % (boundary, boundary)).encode()
    body += png_bytes(2, 2) + ("\r\n--%s--\r\n" % boundary).encode()
    ctx = ssl.create_default_context(cafile=emu.ca_file)
    req = urllib.request.Request(emu.api_base + "/channels/%s/messages" % GENERAL, data=body, method="POST",
                                 headers={"Authorization": "Bot " + emu.token,
                                          "User-Agent": "DiscordBot (x, 1) t",
                                          "Content-Type": "multipart/form-data; boundary=" + boundary})
    import json
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        sent = json.loads(r.read())
    up = sent["attachments"][0]
    assert up["filename"] == "r.png" and up["content_type"] == "image/png" and up["size"] == len(png_bytes(2, 2))
    assert fetch(emu, up["url"])[2] == png_bytes(2, 2)


def png_uri(n=0):
    return "data:image/png;base64," + base64.b64encode(png_bytes(8 + n, 8 + n)).decode()


def emoji(emu, name, image):
    return rest(emu, "POST", "/guilds/%s/emojis" % GUILD, {"name": name, "image": image})


def test_emoji_image_must_be_an_image_and_gif_is_animated(emu):
    r = emoji(emu, "fake", "data:image/png;base64," + base64.b64encode(b"\0" * 50).decode())
    assert form_errors(r)["image"]["_errors"][0] == {"code": "IMAGE_INVALID", "message": "Invalid image data"}
    r = emoji(emu, "spin", "data:image/gif;base64," + base64.b64encode(gif_bytes(16, 16)).decode())
    assert r.status == 201 and r.json["animated"] is True
    r = emoji(emu, "flat", png_uri())
    assert r.status == 201 and r.json["animated"] is False
    # names need not be unique
    r2 = emoji(emu, "flat", png_uri(1))
    assert r2.status == 201 and r2.json["id"] != r.json["id"]
    listed = rest(emu, "GET", "/guilds/%s/emojis" % GUILD).json
    assert [e["name"] for e in listed] == ["spin", "flat", "flat"]
    assert rest(emu, "GET", "/guilds/%s/emojis/%s" % (GUILD, r.json["id"])).json["name"] == "flat"
    assert rest(emu, "GET", "/guilds/%s/emojis/1" % GUILD).json["code"] == 10014
    ctl = emu.emojis(GUILD)
    assert ctl["limits"] == {"static": 50, "animated": 50, "premium_tier": 0}
    assert ctl["emojis"][0]["image_kind"] == "gif" and "image_size" in ctl["emojis"][1]


def test_emoji_limits_static_and_animated_apart(emu):
    emu.add_emojis(GUILD, "pre", count=49)
    assert emoji(emu, "fiftieth", png_uri()).status == 201
    r = emoji(emu, "one_more", png_uri())
    assert r.status == 400 and r.json == {"message": "Maximum number of emojis reached (50)", "code": 30008}
    gif = "data:image/gif;base64," + base64.b64encode(gif_bytes(8, 8)).decode()
    assert emoji(emu, "anim", gif).status == 201  # animated slots are counted apart
    emu.add_emojis(GUILD, "moving", count=49, animated=True)
    r = emoji(emu, "anim2", gif)
    assert r.status == 400 and r.json == {"message": "Maximum number of animated emojis reached (50)", "code": 30018}
    # boost tier 1: 100 each; an explicit override wins
    lim = emu.emoji_limits(GUILD, premium_tier=1)["limits"]
    assert lim == {"static": 100, "animated": 100, "premium_tier": 1}
    assert emoji(emu, "boosted", png_uri()).status == 201
    emu.emoji_limits(GUILD, static=51)
    assert emoji(emu, "again", png_uri()).json["code"] == 30008
    assert emu.counters()["400"] == 3


def test_emoji_update_events(emu):
    async def go():
        async with Gateway(emu) as gw:
            await gw.ready(intents=1 | 8)
            r = emoji(emu, "evt", png_uri())
            ev = (await gw.wait_event("GUILD_EMOJIS_UPDATE"))["d"]
            assert ev["guild_id"] == GUILD and [e["name"] for e in ev["emojis"]] == ["evt"]
            assert "image_size" not in ev["emojis"][0]
            assert rest(emu, "DELETE", "/guilds/%s/emojis/%s" % (GUILD, r.json["id"])).status == 204
            ev = (await gw.wait_event("GUILD_EMOJIS_UPDATE"))["d"]
            assert ev["emojis"] == []
    run(go())
