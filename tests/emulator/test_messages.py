"""Message creation with nonce/enforce_nonce, message history paging over
a bulk-filled channel, and channel moves between categories."""

import http.client
import json
import ssl

from tests.emulator.testlib import Gateway, form_errors, rest, run

GUILD = "1200000000000000001"
CATEGORY = "1220000000000000001"
GENERAL = "1220000000000000002"


def post(emu, body, channel=GENERAL):
    return rest(emu, "POST", "/channels/%s/messages" % channel, body)


def test_enforce_nonce_returns_the_first_message(emu):
    async def go():
        async with Gateway(emu) as gw:
            await gw.ready()
            a = post(emu, {"content": "report #1", "nonce": "r-1", "enforce_nonce": True})
            b = post(emu, {"content": "report #1 (retry)", "nonce": "r-1", "enforce_nonce": True})
            assert a.status == b.status == 200 and a.json["id"] == b.json["id"]
            assert b.json["content"] == "report #1" and b.json["nonce"] == "r-1"
            creates = []
            c = post(emu, {"content": "other", "nonce": "r-2", "enforce_nonce": True})
            while True:
                ev = await gw.wait_event("MESSAGE_CREATE")
                creates.append(ev["d"]["id"])
                if ev["d"]["id"] == c.json["id"]:
                    break
            assert creates == [a.json["id"], c.json["id"]], "the retry created no message"
    run(go())
    # without enforce_nonce the same nonce makes a new message
    d = post(emu, {"content": "dup", "nonce": "r-1"})
    assert d.status == 200 and d.json["nonce"] == "r-1"
    assert len([m for m in emu.messages(GENERAL) if m["nonce"] == "r-1"]) == 2
    assert emu.counters()["nonce_deduplicated"] == 1
    assert [r.get("nonce_deduplicated") for r in emu.requests(method="POST")][:2] == [None, True]
    # integer nonces count too, and expire with the window
    e = post(emu, {"content": "n", "nonce": 123, "enforce_nonce": True})
    assert post(emu, {"content": "m", "nonce": 123, "enforce_nonce": True}).json["id"] == e.json["id"]
    emu.config(nonce_window=0)
    assert post(emu, {"content": "m", "nonce": 123, "enforce_nonce": True}).json["id"] != e.json["id"]
    emu.config(nonce_window=300)
    tree = form_errors(post(emu, {"content": "x", "nonce": "n" * 26, "enforce_nonce": True}))
    assert tree["nonce"]["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH"
    tree = form_errors(post(emu, {"content": "x", "nonce": 1.5}))
    assert "nonce" in tree


def get_page(emu, channel=GENERAL, **q):
    qs = "&".join("%s=%s" % kv for kv in q.items())
    return rest(emu, "GET", "/channels/%s/messages%s" % (channel, "?" + qs if qs else ""))


def test_bulk_history_pages_newest_first(emu):
    live = post(emu, {"content": "live, after the history"}).json
    s = emu.fill_history(GENERAL, 100000, interval_ms=1000, bot_every=10)
    assert s["count"] == 100000 and s["bots"] == 10000 and s["total"] == 100001
    assert int(s["last_id"]) < int(live["id"]), "the history is older than what the bot just sent"
    assert s["first_timestamp"] < s["last_timestamp"]
    summary = emu.history_summary(GENERAL)
    assert summary["count"] == 100001 and summary["last_id"] == live["id"]
    # newest first; limit 1-100; the default is 50
    page = get_page(emu, limit=100).json
    assert len(page) == 100 and page[0]["id"] == live["id"]
    ids = [int(m["id"]) for m in page]
    assert ids == sorted(ids, reverse=True)
    assert len(get_page(emu).json) == 50
    for bad in (0, 101, "x"):
        assert form_errors(get_page(emu, limit=bad))["limit"]
    # every field of a message object, for the lean stored ones too
    m = page[1]
    for k in ("id", "channel_id", "author", "content", "timestamp", "edited_timestamp", "type", "embeds",
              "attachments", "mentions", "flags", "components", "pinned", "tts", "mention_everyone"):
        assert k in m, k
    assert m["content"] == "message 100000" and m["author"]["bot"] is True  # every 10th is a bot's
    assert m["author"]["username"] == "helper-bot" and page[2]["author"]["bot"] is False
    assert sum(1 for x in page[1:] if x["author"]["bot"]) == 10
    # walk the whole history backwards with before=: 1001 pages, no gaps, no repeats
    # (one keep-alive connection: 1001 TLS handshakes would dominate the time;
    # limits raised: pacing is not what this test is about)
    emu.ratelimits(routes={"GET /channels/{channel_id}/messages": {"limit": 5000, "window": 1.0}},
                   **{"global": {"limit": 5000, "window": 1.0}})
    host, port = emu.api_base.split("//")[1].split("/")[0].split(":")
    conn = http.client.HTTPSConnection(host, int(port), context=ssl.create_default_context(cafile=emu.ca_file))
    headers = {"Authorization": "Bot " + emu.token, "User-Agent": "DiscordBot (x, 1) selftest"}
    seen, before, pages = 0, None, 0
    last = None
    while True:
        conn.request("GET", "/api/v10/channels/%s/messages?limit=100%s" % (GENERAL, "&before=%s" % before
                                                                             if before else ""), headers=headers)
        resp = conn.getresponse()
        assert resp.status == 200
        page = json.loads(resp.read())
        if not page:
            break
        pages += 1
        for x in page:
            assert last is None or int(x["id"]) < last
            last = int(x["id"])
        seen += len(page)
        before = page[-1]["id"]
    conn.close()
    assert seen == 100001 and pages == 1001
    # after= gives the messages right after the id, still newest first
    first = int(s["first_id"])
    page = get_page(emu, limit=3, after=first).json
    assert [m["content"] for m in page] == ["message 4", "message 3", "message 2"]
    page = get_page(emu, limit=4, around=int(page[1]["id"])).json
    assert [m["content"] for m in page] == ["message 5", "message 4", "message 3", "message 2"]


def test_history_of_a_forbidden_channel_is_missing_access(emu):
    ch = emu.add_channel(GUILD, {"name": "hidden", "type": 0, "forbidden": True})
    r = get_page(emu, channel=ch["id"])
    assert r.status == 403 and r.json == {"message": "Missing Access", "code": 50001}


def test_history_bucket_and_the_discord_profile(emu):
    emu.fill_history(GENERAL, 30, interval_ms=10)
    r = get_page(emu, limit=5)
    assert r.headers["X-RateLimit-Limit"] == "50"
    get_route = "GET /channels/{channel_id}/messages"
    assert r.headers["X-RateLimit-Bucket"] != post(emu, {"content": "x"}).headers["X-RateLimit-Bucket"]
    emu.ratelimits(profile="discord", reset=True)
    assert emu.ratelimits()["routes"][get_route] == {"limit": 5, "window": 5.0}
    codes = [get_page(emu, limit=5).status for _ in range(6)]
    assert codes == [200] * 5 + [429]
    # its own bucket: posting still works, and another channel counts apart
    assert post(emu, {"content": "still"}).status == 200
    assert get_page(emu, channel="1220000000000000003").status == 200
    # renames: 2 per 10 minutes, inside the channel-edit bucket
    patch = [rest(emu, "PATCH", "/channels/%s" % GENERAL, {"name": "n%d" % i}).status for i in range(3)]
    assert patch == [200, 200, 429]
    assert rest(emu, "PATCH", "/channels/%s" % GENERAL, {"position": 3}).status == 200
    assert emu.counters()["429"] == 2


def test_channels_create_move_delete_with_events(emu):
    async def go():
        async with Gateway(emu) as gw:
            await gw.ready()
            other = rest(emu, "POST", "/guilds/%s/channels" % GUILD, {"name": "Permanent", "type": 4}).json
            ev = (await gw.wait_event("CHANNEL_CREATE"))["d"]
            assert ev["id"] == other["id"] and ev["type"] == 4
            r = rest(emu, "POST", "/guilds/%s/channels" % GUILD,
                     {"name": "Cool Idea  Two", "type": 0, "parent_id": CATEGORY})
            assert r.status == 201 and r.json["name"] == "cool-idea-two" and r.json["parent_id"] == CATEGORY
            created = (await gw.wait_event("CHANNEL_CREATE"))["d"]
            assert created["id"] == r.json["id"] and created["guild_id"] == GUILD
            # promote: PATCH parent_id
            m = rest(emu, "PATCH", "/channels/%s" % r.json["id"], {"parent_id": other["id"]})
            assert m.status == 200 and m.json["parent_id"] == other["id"]
            up = (await gw.wait_event("CHANNEL_UPDATE"))["d"]
            assert up["id"] == r.json["id"] and up["parent_id"] == other["id"]
            # bulk positions (what discord.py's edit(position=) sends): 204 and an update per change
            b = rest(emu, "PATCH", "/guilds/%s/channels" % GUILD,
                     [{"id": r.json["id"], "position": 7, "parent_id": CATEGORY, "lock_permissions": True},
                      {"id": GENERAL, "position": 0}])
            assert b.status == 204
            up = (await gw.wait_event("CHANNEL_UPDATE"))["d"]
            assert up["id"] == r.json["id"] and up["position"] == 7 and up["parent_id"] == CATEGORY
            assert rest(emu, "PATCH", "/guilds/%s/channels" % GUILD, [{"id": "1"}]).json["code"] == 50035
            listed = {c["id"]: c for c in rest(emu, "GET", "/guilds/%s/channels" % GUILD).json}
            assert listed[r.json["id"]]["position"] == 7 and listed[other["id"]]["type"] == 4
            # deleting a category leaves its channels without one
            d = rest(emu, "DELETE", "/channels/%s" % CATEGORY)
            assert d.status == 200 and d.json["id"] == CATEGORY
            assert (await gw.wait_event("CHANNEL_DELETE"))["d"]["id"] == CATEGORY
            orphans = set()
            while len(orphans) < 3:
                u = (await gw.wait_event("CHANNEL_UPDATE"))["d"]
                assert u["parent_id"] is None
                orphans.add(u["id"])
            assert r.json["id"] in orphans and GENERAL in orphans
            assert rest(emu, "GET", "/channels/%s" % CATEGORY).json["code"] == 10003
    run(go())


def test_category_full_on_create_move_and_bulk(emu):
    emu.config(category_max_channels=3)
    full = {"parent_id": {"_errors": [{"code": "CHANNEL_PARENT_MAX_CHANNELS",
                                       "message": "Maximum number of channels in category reached (3)"}]}}
    assert rest(emu, "POST", "/guilds/%s/channels" % GUILD, {"name": "third", "parent_id": CATEGORY}).status == 201
    assert form_errors(rest(emu, "POST", "/guilds/%s/channels" % GUILD, {"name": "fourth", "parent_id": CATEGORY})) == full
    loose = rest(emu, "POST", "/guilds/%s/channels" % GUILD, {"name": "loose"}).json
    assert loose["parent_id"] is None
    assert form_errors(rest(emu, "PATCH", "/channels/%s" % loose["id"], {"parent_id": CATEGORY})) == full
    assert form_errors(rest(emu, "PATCH", "/guilds/%s/channels" % GUILD,
                            [{"id": loose["id"], "parent_id": CATEGORY}])) == {"0": full}
    # moving within the same category is no new channel in it
    assert rest(emu, "PATCH", "/channels/%s" % GENERAL, {"parent_id": CATEGORY, "position": 2}).status == 200


def test_inject_many_live_messages(emu):
    async def go():
        async with Gateway(emu) as gw:
            await gw.ready(intents=513 | (1 << 15))
            r = emu.inject_messages(30, channel_id=GENERAL, bot_every=3, content="hello")
            assert len(r["ids"]) == 30 and r["sessions"] == 1
            got = []
            while len(got) < 30:
                got.append((await gw.wait_event("MESSAGE_CREATE"))["d"])
            assert [m["id"] for m in got] == r["ids"]
            assert [m["content"] for m in got[:2]] == ["hello 1", "hello 2"]
            assert sum(1 for m in got if m["author"].get("bot")) == 10
    emu.config(privileged_intents=1 << 15)
    run(go())
    s = emu.history_summary(GENERAL)
    assert s["count"] == 30 and s["bots"] == 10
