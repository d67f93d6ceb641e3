"""Autocomplete (interaction type 4, callback type 8) and modals built from
Label components: the injected payloads and the callback checks."""

from tests.emulator.testlib import Gateway, form_errors, rest, run

GUILD = "1200000000000000001"
APP = "1100000000000000001"


def callback(emu, inj, body):
    return rest(emu, "POST", "/interactions/%s/%s/callback" % (inj["id"], inj["token"]), body, token=None)


def register(emu):
    cmds = [{"name": "resolve_report", "description": "Close a report", "type": 1, "options": [
        {"name": "report", "description": "which", "type": 4, "required": True, "autocomplete": True},
        {"name": "note", "description": "why", "type": 3, "autocomplete": True}]}]
    r = rest(emu, "PUT", "/applications/%s/guilds/%s/commands" % (APP, GUILD), cmds)
    assert r.status == 200, r


def test_autocomplete_payload_has_one_focused_string_option(emu):
    register(emu)

    async def go():
        async with Gateway(emu) as gw:
            await gw.ready()
            emu.inject_slash("resolve_report", {"report": 12}, autocomplete=True)
            p = (await gw.wait_event("INTERACTION_CREATE"))["d"]
            assert p["type"] == 4 and p["data"]["name"] == "resolve_report"
            assert p["data"]["options"] == [{"name": "report", "type": 4, "value": "12", "focused": True}]
            emu.inject_slash("resolve_report", {"report": 3, "note": "sp"}, autocomplete=True, focused="report")
            p = (await gw.wait_event("INTERACTION_CREATE"))["d"]
            opts = {o["name"]: o for o in p["data"]["options"]}
            assert opts["report"].get("focused") is True and "focused" not in opts["note"]
            emu.inject_slash("resolve_report", {"report": 3, "note": "sp"}, autocomplete=True)
            p = (await gw.wait_event("INTERACTION_CREATE"))["d"]
            # every string/integer option is a string in autocomplete; the last one is focused
            assert p["data"]["options"] == [{"name": "report", "type": 4, "value": "3"},
                                            {"name": "note", "type": 3, "value": "sp", "focused": True}]
    run(go())


def test_autocomplete_choices_are_checked_and_recorded(emu):
    register(emu)
    inj = emu.inject_slash("resolve_report", {"report": ""}, autocomplete=True)
    # a message is not an answer to autocomplete
    r = callback(emu, inj, {"type": 4, "data": {"content": "no"}})
    assert form_errors(r)["type"]["_errors"][0]["code"] == "INTERACTION_RESPONSE_TYPE_INVALID"
    too_many = [{"name": "#%d" % i, "value": i} for i in range(26)]
    tree = form_errors(callback(emu, inj, {"type": 8, "data": {"choices": too_many}}))
    assert tree["data"]["choices"]["_errors"][0] == {"code": "BASE_TYPE_MAX_LENGTH",
                                                    "message": "Must be 25 or fewer in length."}
    tree = form_errors(callback(emu, inj, {"type": 8, "data": {"choices": [{"name": "x" * 101, "value": 1},
                                                                          {"name": "", "value": 2},
                                                                          {"name": "ok", "value": "3"}]}}))
    assert tree["data"]["choices"]["0"]["name"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    assert tree["data"]["choices"]["1"]["name"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    # the focused option is an integer: a string value does not fit
    assert tree["data"]["choices"]["2"]["value"]["_errors"][0]["code"] == "NUMBER_TYPE_COERCE"
    assert not emu.interaction(inj["id"])["acknowledged"], "a refused callback does not acknowledge"
    good = [{"name": "#%d %s" % (i, "x" * 90), "value": i} for i in range(25)]
    assert callback(emu, inj, {"type": 8, "data": {"choices": good}}).status == 204
    it = emu.interaction(inj["id"])
    assert it["choices"] == good and it["responses"][0]["type"] == 8 and it["original"] is None
    assert callback(emu, inj, {"type": 8, "data": {"choices": []}}).json["code"] == 40060
    # string option: values are strings of 1-100
    inj = emu.inject_slash("resolve_report", {"report": 1, "note": "s"}, autocomplete=True, focused="note")
    tree = form_errors(callback(emu, inj, {"type": 8, "data": {"choices": [{"name": "a", "value": "v" * 101}]}}))
    assert tree["data"]["choices"]["0"]["value"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    assert callback(emu, inj, {"type": 8, "data": {"choices": []}}).status == 204
    assert emu.interaction(inj["id"])["choices"] == []


def test_autocomplete_and_choices_cannot_mix_in_a_command(emu):
    cmds = [{"name": "x", "description": "x", "type": 1, "options": [
        {"name": "o", "description": "o", "type": 3, "autocomplete": True, "choices": [{"name": "a", "value": "a"}]},
        {"name": "b", "description": "b", "type": 5, "autocomplete": True}]}]
    tree = form_errors(rest(emu, "PUT", "/applications/%s/guilds/%s/commands" % (APP, GUILD), cmds))
    assert tree["0"]["options"]["0"]["autocomplete"]["_errors"][0]["code"] == \
        "APPLICATION_COMMAND_OPTION_AUTOCOMPLETE_INVALID"
    assert "autocomplete" in tree["0"]["options"]["1"]


def test_label_modal_round_trip(emu):
    """/report-style flow: a command answered with a Label modal (type 9),
    then the submit delivered in the Label shape and in the classic one."""
    inj = emu.inject_slash("report")
    modal = {"type": 9, "data": {"custom_id": "report_modal", "title": "Report", "components": [
        {"type": 18, "label": "What happened?", "description": "Be specific",
         "component": {"type": 4, "custom_id": "what", "style": 2, "min_length": 10, "max_length": 4000,
                       "required": True}},
        {"type": 1, "components": [{"type": 4, "custom_id": "who", "label": "Who?", "style": 1}]}]}}
    assert callback(emu, inj, modal).status == 204
    assert emu.interaction(inj["id"])["modal"]["components"][0]["type"] == 18
    bad = {"type": 9, "data": {**modal["data"], "components": [
        {"type": 18, "label": "x" * 46, "component": {"type": 4, "custom_id": "a", "style": 1, "label": "no"}}]}}
    tree = form_errors(callback(emu, emu.inject_slash("report"), bad))
    comp = tree["data"]["components"]["0"]
    assert comp["label"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    assert comp["component"]["label"]["_errors"][0]["code"] == "COMPONENT_LABEL_NOT_ALLOWED"

    async def go():
        async with Gateway(emu) as gw:
            await gw.ready()
            emu.inject_modal("report_modal", {"what": "a scam link", "who": "mallory"}, shape="label")
            d = (await gw.wait_event("INTERACTION_CREATE"))["d"]["data"]
            assert [c["type"] for c in d["components"]] == [18, 18]
            assert d["components"][0]["component"] == {"type": 4, "id": 2, "custom_id": "what",
                                                       "value": "a scam link"}
            emu.inject_modal("report_modal", {"kind": ["scam", "spam"]}, shape="label")
            d = (await gw.wait_event("INTERACTION_CREATE"))["d"]["data"]
            assert d["components"][0]["component"] == {"type": 3, "id": 2, "custom_id": "kind",
                                                       "values": ["scam", "spam"]}
            emu.inject_modal("report_modal", {"what": "again"}, shape="action_row")
            d = (await gw.wait_event("INTERACTION_CREATE"))["d"]["data"]
            assert d["components"][0]["type"] == 1 and d["components"][0]["components"][0]["value"] == "again"
    run(go())
