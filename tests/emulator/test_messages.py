"""Message creation with nonce/enforce_nonce, message history paging over
a bulk-filled channel, and channel moves between categories."""

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
