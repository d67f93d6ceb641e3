"""REST self-tests: auth, Discord's limits and error format, channels,
emoji, commands, messages, DMs, injected REST faults."""

import base64

from tests.emulator.client import Control
from tests.emulator.testlib import form_errors, leaf_codes, rest

GUILD = "1200000000000000001"
CATEGORY = "1220000000000000001"
GENERAL = "1220000000000000002"
APP = "1100000000000000001"
ALICE = "1300000000000000001"


def post_msg(emu, body, channel=GENERAL, **kw):
    return rest(emu, "POST", "/channels/%s/messages" % channel, body, **kw)


def test_unauthorized_is_401_and_counted(emu):
    r = rest(emu, "GET", "/users/@me", token="wrong")
    assert r.status == 401 and r.json == {"message": "401: Unauthorized", "code": 0}
    r = rest(emu, "GET", "/users/@me", token=None)
    assert r.status == 401
    assert emu.counters()["401"] == 2
    assert rest(emu, "GET", "/users/@me").status == 200


def test_requests_are_recorded_with_headers_and_body(emu):
    r = rest(emu, "POST", "/guilds/%s/channels" % GUILD, {"name": "Proposal 1", "parent_id": CATEGORY},
             headers={"X-Audit-Log-Reason": "proposal%201"})
    assert r.status == 201 and r.json["name"] == "proposal-1" and r.json["parent_id"] == CATEGORY
    rec = emu.requests(path="/guilds/")[-1]
    assert rec["method"] == "POST" and rec["body"]["name"] == "Proposal 1"
    assert rec["audit_log_reason"] == "proposal%201"
    assert rec["user_agent"].startswith("DiscordBot (")
    assert rec["route"] == "POST /guilds/{guild_id}/channels" and rec["status"] == 201


def test_gateway_bot(emu):
    r = rest(emu, "GET", "/gateway/bot")
    assert r.status == 200
    assert r.json["url"] == emu.gateway_url and r.json["shards"] == 1
    assert set(r.json["session_start_limit"]) == {"total", "remaining", "reset_after", "max_concurrency"}
    assert r.headers["Content-Type"] == "application/json"


def test_content_limit_2000(emu):
    assert post_msg(emu, {"content": "x" * 2000}).status == 200
    r = post_msg(emu, {"content": "x" * 2001})
    assert form_errors(r) == {"content": {"_errors": [
        {"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 2000 or fewer in length."}]}}


def test_empty_message_50006(emu):
    r = post_msg(emu, {"content": ""})
    assert r.status == 400 and r.json == {"message": "Cannot send an empty message", "code": 50006}


def test_embed_limits(emu):
    ok = {"title": "t" * 256, "description": "d" * 4096, "footer": {"text": "f" * 100},
          "author": {"name": "a" * 256}, "fields": [{"name": "n" * 256, "value": "v" * 1024}]}
    assert post_msg(emu, {"embeds": [ok]}).status == 200
    cases = [
        ({"title": "t" * 257}, ["embeds", "0", "title"]),
        ({"description": "d" * 4097}, ["embeds", "0", "description"]),
        ({"fields": [{"name": "n", "value": "v"}] * 26}, ["embeds", "0", "fields"]),
        ({"fields": [{"name": "n" * 257, "value": "v"}]}, ["embeds", "0", "fields", "0", "name"]),
        ({"fields": [{"name": "n", "value": "v" * 1025}]}, ["embeds", "0", "fields", "0", "value"]),
        ({"footer": {"text": "f" * 2049}}, ["embeds", "0", "footer", "text"]),
        ({"author": {"name": "a" * 257}}, ["embeds", "0", "author", "name"]),
    ]
    for embed, path in cases:
        tree = form_errors(post_msg(emu, {"embeds": [embed]}))
        node = tree
        for k in path:
            node = node[k]
        assert node["_errors"][0]["code"] == "BASE_TYPE_MAX_LENGTH", (embed, tree)
    tree = form_errors(post_msg(emu, {"embeds": [{"title": "x"}] * 11}))
    assert tree["embeds"]["_errors"][0]["message"] == "Must be 10 or fewer in length."
    # 2 x (4096 - ok alone) = 8192 > 6000 in total
    tree = form_errors(post_msg(emu, {"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]}))
    assert tree["embeds"]["_errors"][0]["code"] == "MAX_EMBED_SIZE_EXCEEDED"


def test_allowed_mentions_recorded(emu):
    body = {"content": "<@%s> hi" % ALICE, "allowed_mentions": {"parse": [], "users": [ALICE]}}
    r = post_msg(emu, body)
    assert r.status == 200 and "allowed_mentions" not in r.json
    stored = emu.messages(GENERAL)[-1]
    assert stored["allowed_mentions"] == {"parse": [], "users": [ALICE]}
    assert stored["mentions"][0]["id"] == ALICE
    tree = form_errors(post_msg(emu, {"content": "x", "allowed_mentions": {"parse": ["users"], "users": [ALICE]}}))
    assert "allowed_mentions" in tree


def test_message_get_edit_delete_and_history(emu):
    ids = [post_msg(emu, {"content": "m%d" % i}).json["id"] for i in range(5)]
    r = rest(emu, "GET", "/channels/%s/messages?limit=2" % GENERAL)
    assert [m["content"] for m in r.json] == ["m4", "m3"]
    r = rest(emu, "GET", "/channels/%s/messages?before=%s&limit=10" % (GENERAL, ids[2]))
    assert [m["content"] for m in r.json] == ["m1", "m0"]
    r = rest(emu, "GET", "/channels/%s/messages?after=%s&limit=2" % (GENERAL, ids[1]))
    assert sorted(m["content"] for m in r.json) == ["m2", "m3"]
    assert rest(emu, "GET", "/channels/%s/messages?limit=101" % GENERAL).status == 400
    assert form_errors(rest(emu, "GET", "/channels/%s/messages?before=abc" % GENERAL))["before"]
    r = rest(emu, "PATCH", "/channels/%s/messages/%s" % (GENERAL, ids[0]), {"content": "edited"})
    assert r.status == 200 and r.json["content"] == "edited" and r.json["edited_timestamp"]
    assert rest(emu, "GET", "/channels/%s/messages/%s" % (GENERAL, ids[0])).json["content"] == "edited"
    assert rest(emu, "DELETE", "/channels/%s/messages/%s" % (GENERAL, ids[0])).status == 204
    r = rest(emu, "GET", "/channels/%s/messages/%s" % (GENERAL, ids[0]))
    assert r.status == 404 and r.json["code"] == 10008
    r = post_msg(emu, {"content": "x"}, channel="999")
    assert r.status == 404 and r.json == {"message": "Unknown Channel", "code": 10003}
    r = post_msg(emu, {"content": "x"}, channel=CATEGORY)
    assert r.status == 400 and r.json["code"] == 50008


def test_forbidden_channel_403_counted(emu):
    emu.add_channel(GUILD, {"id": "1230000000000000001", "name": "locked", "forbidden": True})
    r = post_msg(emu, {"content": "x"}, channel="1230000000000000001")
    assert r.status == 403 and r.json == {"message": "Missing Permissions", "code": 50013}
    assert emu.counters()["403"] == 1


def test_dm_channel(emu):
    r = rest(emu, "POST", "/users/@me/channels", {"recipient_id": ALICE})
    assert r.status == 200 and r.json["type"] == 1 and r.json["recipients"][0]["id"] == ALICE
    again = rest(emu, "POST", "/users/@me/channels", {"recipient_id": ALICE})
    assert again.json["id"] == r.json["id"]
    assert post_msg(emu, {"content": "hello"}, channel=r.json["id"]).status == 200
    emu.add_member(GUILD, {"user": {"id": "1300000000000000009", "username": "closed"}, "dm_closed": True})
    dm = rest(emu, "POST", "/users/@me/channels", {"recipient_id": "1300000000000000009"}).json
    r = post_msg(emu, {"content": "hello"}, channel=dm["id"])
    assert r.status == 403 and r.json["code"] == 50007


def test_channel_names_and_full_category(emu):
    tree = form_errors(rest(emu, "POST", "/guilds/%s/channels" % GUILD, {"name": ""}))
    assert tree["name"]["_errors"][0]["message"] == "Must be between 1 and 100 in length."
    form_errors(rest(emu, "POST", "/guilds/%s/channels" % GUILD, {"name": "x" * 101}))
    emu.config(category_max_channels=4)  # the default category already holds 2
    for i in range(2):
        assert rest(emu, "POST", "/guilds/%s/channels" % GUILD, {"name": "c%d" % i, "parent_id": CATEGORY}).status == 201
    r = rest(emu, "POST", "/guilds/%s/channels" % GUILD, {"name": "c9", "parent_id": CATEGORY})
    assert form_errors(r) == {"parent_id": {"_errors": [{
        "code": "CHANNEL_PARENT_MAX_CHANNELS", "message": "Maximum number of channels in category reached (4)"}]}}
    # moving a channel into the full category fails the same way; out of it works
    other = rest(emu, "POST", "/guilds/%s/channels" % GUILD, {"name": "Archive", "type": 4}).json
    free = rest(emu, "POST", "/guilds/%s/channels" % GUILD, {"name": "free", "parent_id": other["id"]}).json
    r = rest(emu, "PATCH", "/channels/%s" % free["id"], {"parent_id": CATEGORY})
    assert leaf_codes(form_errors(r)) == ["CHANNEL_PARENT_MAX_CHANNELS"]
    r = rest(emu, "PATCH", "/channels/%s" % GENERAL, {"parent_id": other["id"]})
    assert r.status == 200 and r.json["parent_id"] == other["id"]
    listed = rest(emu, "GET", "/guilds/%s/channels" % GUILD).json
    assert {c["id"]: c["parent_id"] for c in listed}[GENERAL] == other["id"]
    assert emu.config()["category_max_channels"] == 4


def test_emoji(emu):
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 100).decode()
    r = rest(emu, "POST", "/guilds/%s/emojis" % GUILD, {"name": "agora_yes", "image": "data:image/png;base64," + png})
    assert r.status == 201 and r.json["name"] == "agora_yes" and r.json["id"]
    stored = emu.guild(GUILD)["emojis"][0]
    assert stored["image_size"] == 108 and stored["image_type"] == "image/png"
    tree = form_errors(rest(emu, "POST", "/guilds/%s/emojis" % GUILD, {"name": "a", "image": "data:image/png;base64," + png}))
    assert "name" in tree
    tree = form_errors(rest(emu, "POST", "/guilds/%s/emojis" % GUILD, {"name": "bad-name", "image": "data:image/png;base64," + png}))
    assert tree["name"]["_errors"][0]["code"] == "STRING_TYPE_REGEX"
    big = base64.b64encode(b"\0" * (256 * 1024 + 1)).decode()
    tree = form_errors(rest(emu, "POST", "/guilds/%s/emojis" % GUILD, {"name": "big", "image": "data:image/png;base64," + big}))
    assert tree["image"]["_errors"][0]["code"] == "BINARY_TYPE_MAX_SIZE"
    just = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (256 * 1024 - 8)).decode()
    assert rest(emu, "POST", "/guilds/%s/emojis" % GUILD, {"name": "just", "image": "data:image/png;base64," + just}).status == 201
    tree = form_errors(rest(emu, "POST", "/guilds/%s/emojis" % GUILD, {"name": "notimg", "image": "hello"}))
    assert tree["image"]["_errors"][0]["code"] == "IMAGE_INVALID"


def cmd(name="vote", description="Vote on a proposal", options=None, **kw):
    return {"name": name, "description": description, "type": 1, "options": options or [], **kw}


def test_command_bulk_overwrite_validation(emu):
    path = "/applications/%s/guilds/%s/commands" % (APP, GUILD)
    good = [cmd(options=[{"name": "proposal", "description": "which", "type": 4, "required": True},
                         {"name": "choice", "description": "for or against", "type": 3,
                          "choices": [{"name": "For", "value": "for"}, {"name": "Against", "value": "against"}]}]),
            cmd("propose", "Make a proposal"), cmd("ünïcode-ok_1", "letters of any script")]
    r = rest(emu, "PUT", path, good)
    assert r.status == 200 and [c["name"] for c in r.json] == ["vote", "propose", "ünïcode-ok_1"]
    assert all(c["id"] and c["application_id"] == APP and c["guild_id"] == GUILD for c in r.json)
    again = rest(emu, "PUT", path, good).json
    assert [c["id"] for c in again] == [c["id"] for c in r.json], "ids stable across overwrites"
    assert emu.commands()[GUILD][0]["name"] == "vote"

    def codes(cmds):
        return leaf_codes(form_errors(rest(emu, "PUT", path, cmds)))
    assert codes([cmd("Vote")]) == ["APPLICATION_COMMAND_INVALID_NAME"]
    assert codes([cmd("has space")]) == ["APPLICATION_COMMAND_INVALID_NAME"]
    assert codes([cmd("x" * 33)]) == ["APPLICATION_COMMAND_INVALID_NAME"]
    assert codes([cmd(description="")]) == ["BASE_TYPE_BAD_LENGTH"]
    assert codes([cmd(description="d" * 101)]) == ["BASE_TYPE_BAD_LENGTH"]
    assert codes([cmd(options=[{"name": "a", "description": "a", "type": 3},
                               {"name": "b", "description": "b", "type": 3, "required": True}])]) == \
        ["APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID"]
    assert codes([cmd(options=[{"name": "a", "description": "a", "type": 12}])]) == ["BASE_TYPE_CHOICES"]
    assert codes([cmd(options=[{"name": "a", "description": "a", "type": 5,
                                "choices": [{"name": "x", "value": "x"}]}])]) == ["APPLICATION_COMMAND_OPTION_CHOICES_INVALID"]
    assert codes([cmd(), cmd()]) == ["APPLICATION_COMMANDS_DUPLICATE_NAME"]
    tree = form_errors(rest(emu, "PUT", path, [cmd(), cmd("Bad")]))
    assert list(tree) == ["1"], "errors keyed by the command's index"
    r = rest(emu, "PUT", "/applications/999/guilds/%s/commands" % GUILD, good)
    assert r.status == 403


def test_rest_faults(emu):
    emu.rest_fault(route="POST /channels/{channel_id}/messages", count=2, status=502)
    assert post_msg(emu, {"content": "a"}).status == 502
    assert post_msg(emu, {"content": "a"}).status == 502
    assert post_msg(emu, {"content": "a"}).status == 200
    emu.rest_fault(route="*", count=1, status=429, html=True)
    r = rest(emu, "GET", "/users/@me")
    assert r.status == 429 and r.headers["Content-Type"].startswith("text/html") and b"Error 1015" in r.raw
    assert r.json is None and r.headers["Retry-After"]
    assert "Via" not in r.headers and r.headers["Server"] == "cloudflare"
    assert rest(emu, "GET", "/users/@me").headers["Via"] == "1.1 google"
    assert emu.counters()["faults"] == 3


def test_unknown_route_404(emu):
    r = rest(emu, "GET", "/nothing/here")
    assert r.status == 404 and r.json == {"message": "404: Not Found", "code": 0}
    r = rest(emu, "DELETE", "/gateway/bot")
    assert r.status == 405


def test_body_needs_json_content_type_and_valid_json(emu):
    import ssl
    import urllib.request

    def raw(data, ctype, ua="DiscordBot (https://example.invalid, 1.0)"):
        h = {"Authorization": "Bot " + emu.token, "User-Agent": ua}
        if ctype:
            h["Content-Type"] = ctype
        req = urllib.request.Request(emu.api_base + "/channels/%s/messages" % GENERAL, data=data,
                                     method="POST", headers=h)
        try:
            with urllib.request.urlopen(req, context=ssl.create_default_context(cafile=emu.ca_file)) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
    import urllib.error
    # no Content-Type: Discord does not read the body -> an empty message
    status, body = raw(b'{"content": "hi"}', None)
    assert status == 400 and b"50006" in body
    assert emu.requests()[-1]["body_ignored"] == '{"content": "hi"}'
    status, body = raw(b'{"content": ', "application/json")
    assert status == 400 and b"50109" in body
    assert raw(b'{"content": "hi"}', "application/json; charset=utf-8")[0] == 200
    assert emu.counters()["bad_user_agent"] == 0
    raw(b'{"content": "hi"}', "application/json", ua="curl/8")
    assert emu.counters()["bad_user_agent"] == 1


def test_stall_then_serve_or_drop(emu):
    """A stall fault holds a request until released; "serve" then carries
    it out (a client that died meanwhile still gets its channel), "drop"
    answers nothing and changes nothing."""
    import threading

    route = "POST /guilds/{guild_id}/channels"
    out = {}

    def create(key, name):
        try:
            out[key] = rest(emu, "POST", "/guilds/1200000000000000001/channels", {"name": name, "type": 0})
        except Exception as e:  # noqa: BLE001 - the dropped connection
            out[key] = e

    for then, name in (("serve", "stalled-served"), ("drop", "stalled-dropped")):
        emu.rest_fault(route=route, stall=30, then=then, count=1)
        t = threading.Thread(target=create, args=(then, name))
        t.start()
        Control.wait_for(lambda: any(r.get("stalled") for r in emu.requests(path="/guilds/1200000000000000001/channels")
                                     if r["body"] and r["body"].get("name") == name), what="the stalled request")
        assert not [c for c in emu.guild("1200000000000000001")["channels"] if c["name"] == name]
        assert emu.post("/faults/rest/release")["released"] == 1
        t.join(10)
    assert out["serve"].status == 201 or out["serve"].status == 200, out["serve"]
    names = [c["name"] for c in emu.guild("1200000000000000001")["channels"]]
    assert "stalled-served" in names and "stalled-dropped" not in names, names
    assert not hasattr(out["drop"], "status"), out["drop"]
    assert emu.counters()["stalled"] == 2
