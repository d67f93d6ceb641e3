"""Interaction self-tests: the callback rules (once, within 3 s, valid types
and modal shapes), original response and followups, and the payloads of
injected slash commands, component clicks and modal submits."""

import time

from tests.emulator.testlib import Gateway, form_errors, leaf_codes, rest, run

APP = "1100000000000000001"
GENERAL = "1220000000000000002"
ALICE = "1300000000000000001"


def callback(emu, inj, body):
    return rest(emu, "POST", "/interactions/%s/%s/callback" % (inj["id"], inj["token"]), body, token=None)


def test_callback_only_once(emu):
    inj = emu.inject_slash("vote")
    assert callback(emu, inj, {"type": 4, "data": {"content": "hi", "flags": 64}}).status == 204
    r = callback(emu, inj, {"type": 4, "data": {"content": "again"}})
    assert r.status == 400 and r.json == {"message": "Interaction has already been acknowledged.", "code": 40060}
    it = emu.interaction(inj["id"])
    assert len(it["responses"]) == 1 and it["original"]["flags"] == 64


def test_callback_after_three_seconds_is_unknown(emu):
    inj = emu.inject_slash("vote")
    time.sleep(3.05)  # the real window, on purpose
    r = callback(emu, inj, {"type": 4, "data": {"content": "late"}})
    assert r.status == 404 and r.json == {"message": "Unknown interaction", "code": 10062}
    assert emu.interaction(inj["id"])["late_callbacks"] == 1
    # a wrong token is unknown too
    inj = emu.inject_slash("vote")
    r = callback(emu, {"id": inj["id"], "token": "nope"}, {"type": 5})
    assert r.status == 404 and r.json["code"] == 10062
    # and the window is configurable for faster tests
    emu.config(interaction_timeout=0.2)
    inj = emu.inject_slash("vote")
    time.sleep(0.25)
    assert callback(emu, inj, {"type": 5}).status == 404


def test_callback_type_validation(emu):
    inj = emu.inject_slash("vote")
    assert leaf_codes(form_errors(callback(emu, inj, {"type": 3}))) == ["BASE_TYPE_CHOICES"]
    # 6 / 7 update a component's message: not valid for a slash command
    assert leaf_codes(form_errors(callback(emu, inj, {"type": 7, "data": {"content": "x"}}))) == \
        ["INTERACTION_RESPONSE_TYPE_INVALID"]
    assert leaf_codes(form_errors(callback(emu, inj, {"type": 4, "data": {"content": "x" * 2001}}))) == \
        ["BASE_TYPE_MAX_LENGTH"]
    r = callback(emu, inj, {"type": 4, "data": {"content": ""}})
    assert r.status == 400 and r.json["code"] == 50006
    assert not emu.interaction(inj["id"])["acknowledged"], "failed callbacks do not acknowledge"
    assert callback(emu, inj, {"type": 5, "data": {"flags": 64}}).status == 204


def modal(components, title="Propose"):
    return {"type": 9, "data": {"custom_id": "propose_modal", "title": title, "components": components}}


ROW = {"type": 1, "components": [{"type": 4, "custom_id": "text", "style": 2, "label": "Your proposal"}]}
LABEL = {"type": 18, "label": "Your proposal", "component": {"type": 4, "custom_id": "text", "style": 2}}


def test_modal_response_validation(emu):
    for good in ([ROW], [LABEL], [LABEL, ROW]):
        inj = emu.inject_slash("propose")
        assert callback(emu, inj, modal(good)).status == 204
        assert emu.interaction(inj["id"])["modal"]["custom_id"] == "propose_modal"
    bad = [
        (modal([ROW], title="t" * 46), "BASE_TYPE_BAD_LENGTH"),
        (modal([ROW] * 6), "BASE_TYPE_BAD_LENGTH"),
        (modal([{"type": 1, "components": [{"type": 4, "custom_id": "t", "style": 1}]}]), "BASE_TYPE_REQUIRED"),
        (modal([{"type": 18, "label": "x", "component": {"type": 4, "custom_id": "t", "style": 1, "label": "no"}}]),
         "COMPONENT_LABEL_NOT_ALLOWED"),
        (modal([{"type": 2}]), "COMPONENT_TYPE_INVALID"),
    ]
    for body, code in bad:
        inj = emu.inject_slash("propose")
        assert code in leaf_codes(form_errors(callback(emu, inj, body))), body
    # a modal cannot answer a modal submit
    inj = emu.inject_modal("propose_modal", {"text": "x"})
    assert leaf_codes(form_errors(callback(emu, inj, modal([ROW])))) == ["INTERACTION_RESPONSE_TYPE_INVALID"]


def test_original_response_and_followups(emu):
    inj = emu.inject_slash("vote")
    base = "/webhooks/%s/%s" % (APP, inj["token"])
    r = rest(emu, "PATCH", base + "/messages/@original", {"content": "x"}, token=None)
    assert r.status == 404 and r.json["code"] == 10008, "no original before the callback"
    assert rest(emu, "POST", base, {"content": "early"}, token=None).status == 404
    assert callback(emu, inj, {"type": 5}).status == 204
    loading = rest(emu, "GET", base + "/messages/@original", token=None)
    assert loading.status == 200 and loading.json["flags"] & 128
    r = rest(emu, "PATCH", base + "/messages/@original", {"content": "done", "embeds": [{"title": "t"}]}, token=None)
    assert r.status == 200 and r.json["content"] == "done" and not r.json["flags"] & 128
    f = rest(emu, "POST", base, {"content": "private followup", "flags": 64}, token=None)
    assert f.status == 200 and f.json["flags"] == 64
    it = emu.interaction(inj["id"])
    assert [m["content"] for m in it["followup_messages"]] == ["private followup"]
    assert it["edits"][0]["body"]["content"] == "done"
    assert rest(emu, "DELETE", base + "/messages/@original", token=None).status == 204
    assert rest(emu, "GET", base + "/messages/@original", token=None).status == 404
    r = rest(emu, "GET", "/webhooks/%s/%s/messages/@original" % (APP, "bad-token"), token=None)
    assert r.status == 404 and r.json["code"] == 10015


def test_component_update_message(emu):
    msg = rest(emu, "POST", "/channels/%s/messages" % GENERAL, {"content": "vote here", "components": [
        {"type": 1, "components": [{"type": 2, "style": 1, "label": "For", "custom_id": "vote:1:for"}]}]}).json
    inj = emu.inject_component("vote:1:for")
    p = inj["payload"]
    assert p["type"] == 3 and p["data"] == {"custom_id": "vote:1:for", "component_type": 2}
    assert p["message"]["id"] == msg["id"]
    assert callback(emu, inj, {"type": 7, "data": {"content": "voted"}}).status == 204
    stored = [m for m in emu.messages(GENERAL) if m["id"] == msg["id"]][0]
    assert stored["content"] == "voted"
    inj = emu.inject_component("vote:1:for")
    assert callback(emu, inj, {"type": 6}).status == 204


def test_injected_payload_shapes_reach_the_gateway(emu):
    async def go():
        async with Gateway(emu) as gw:
            await gw.ready()
            inj = emu.inject_slash("vote", {"proposal": 7, "choice": "for", "who": {"value": ALICE, "type": 6}})
            p = (await gw.wait_event("INTERACTION_CREATE"))["d"]
            assert p["id"] == inj["id"] and p["type"] == 2 and p["token"] == inj["token"]
            assert p["data"]["name"] == "vote" and p["guild_id"] and p["member"]["user"]["id"] == ALICE
            opts = {o["name"]: (o["type"], o["value"]) for o in p["data"]["options"]}
            assert opts == {"proposal": (4, 7), "choice": (3, "for"), "who": (6, ALICE)}
            assert p["data"]["resolved"]["users"][ALICE]["username"] == "alice"

            emu.inject_modal("propose_modal", {"title": "A", "body": "B"}, shape="action_row")
            d = (await gw.wait_event("INTERACTION_CREATE"))["d"]
            assert d["type"] == 5 and d["data"]["custom_id"] == "propose_modal"
            rows = d["data"]["components"]
            assert [r["type"] for r in rows] == [1, 1]
            assert [(c["type"], c["custom_id"], c["value"]) for r in rows for c in r["components"]] == \
                [(4, "title", "A"), (4, "body", "B")]

            emu.inject_modal("propose_modal", {"title": "A", "body": "B"}, shape="label")
            d = (await gw.wait_event("INTERACTION_CREATE"))["d"]
            labels = d["data"]["components"]
            assert [c["type"] for c in labels] == [18, 18] and all("components" not in c for c in labels)
            assert [(c["component"]["type"], c["component"]["custom_id"], c["component"]["value"])
                    for c in labels] == [(4, "title", "A"), (4, "body", "B")]
    run(go())


def test_ephemeral_deferral_stays_ephemeral_and_hidden(emu):
    inj = emu.inject_slash("vote")
    assert callback(emu, inj, {"type": 5, "data": {"flags": 64}}).status == 204
    base = "/webhooks/%s/%s/messages/@original" % (APP, inj["token"])
    r = rest(emu, "PATCH", base, {"content": "only you", "flags": 4}, token=None)
    assert r.status == 200 and r.json["flags"] == 64 | 4, r.json
    history = rest(emu, "GET", "/channels/%s/messages" % GENERAL).json
    assert all(m["id"] != r.json["id"] for m in history), "ephemeral messages are not in channel history"
    assert [m for m in emu.messages(GENERAL) if m["id"] == r.json["id"]], "but the control API shows them"


def test_attachment_option_is_resolved(emu):
    async def go():
        async with Gateway(emu) as gw:
            await gw.ready()
            emu.inject_slash("report", {"text": "hi", "file": {"type": 11, "value": "555"},
                                        "other": {"type": 11, "value": "556"}},
                             attachments={"555": {"filename": "shot.jpg", "size": 2048}})
            p = (await gw.wait_event("INTERACTION_CREATE"))["d"]
            opts = {o["name"]: (o["type"], o["value"]) for o in p["data"]["options"]}
            assert opts["file"] == (11, "555") and opts["other"] == (11, "556"), opts
            att = p["data"]["resolved"]["attachments"]
            assert att["555"]["filename"] == "shot.jpg" and att["555"]["size"] == 2048, att
            assert att["555"]["url"].startswith(emu.api_base[:-len("/api/v10")]) and \
                "/555/shot.jpg?ex=" in att["555"]["url"], att
            assert att["556"]["filename"] == "file.png" and att["556"]["content_type"] == "image/png"
    run(go())
