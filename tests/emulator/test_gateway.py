"""Gateway self-tests with a raw client: HELLO/IDENTIFY/READY/GUILD_CREATE,
heartbeats, zlib-stream framing, RESUME and its failures, and every fault
the control API can inject (op 7, op 9 true/false, close codes, drops,
zombie, heartbeat requests, split payloads)."""

import asyncio

from tests.emulator.testlib import SUFFIX, Gateway, run

GUILD = "1200000000000000001"
GENERAL = "1220000000000000002"
CATEGORY = "1220000000000000001"


def test_hello_identify_ready_guild_create(emu):
    async def go():
        async with Gateway(emu) as gw:
            hello = await gw.identify(513)
            assert hello["d"]["heartbeat_interval"] == 300
            ready = await gw.wait_event("READY")
            d = ready["d"]
            assert ready["s"] == 1 and d["v"] == 10 and d["user"]["bot"] is True
            assert d["guilds"] == [{"id": GUILD, "unavailable": True}]
            assert d["resume_gateway_url"].endswith("/resume") and d["resume_gateway_url"].startswith("wss://")
            assert d["application"]["id"] == "1100000000000000001" and "flags" in d["application"]
            assert len(d["session_id"]) >= 16
            gc = await gw.wait_event("GUILD_CREATE")
            assert gc["s"] == 2
            chans = {c["id"]: c for c in gc["d"]["channels"]}
            assert chans[CATEGORY]["type"] == 4 and chans[GENERAL]["type"] == 0
            assert chans[GENERAL]["parent_id"] == CATEGORY
            assert {r["name"] for r in gc["d"]["roles"]} >= {"@everyone", "Moderator"}
            # no GUILD_MEMBERS intent: only the bot's own member
            assert [m["user"]["id"] for m in gc["d"]["members"]] == ["1100000000000000001"]
            # every binary message is one whole payload ending in the sync-flush suffix
            assert all(kind == "binary" and data.endswith(SUFFIX) for kind, data in gw.ws_messages)
        g = emu.gateway()
        assert g["identifies"][0]["payload"]["intents"] == 513
        assert g["identifies"][0]["payload"]["token"] == "<ok>"
    run(go())


def test_members_with_intent_and_message_content_stripping(emu):
    async def go():
        emu.config(privileged_intents=(1 << 1) | (1 << 15))
        async with Gateway(emu) as gw:
            await gw.identify(513 | 2)
            gc = await gw.wait_event("GUILD_CREATE")
            assert len(gc["d"]["members"]) == 3
            emu.inject_message("secret words")
            m = await gw.wait_event("MESSAGE_CREATE")
            assert m["d"]["content"] == "", "no MESSAGE_CONTENT intent: content withheld"
            emu.inject_message("<@1100000000000000001> hello bot")
            m = await gw.wait_event("MESSAGE_CREATE")
            assert m["d"]["content"].endswith("hello bot"), "mentions of the bot keep their content"
        async with Gateway(emu) as gw:
            await gw.identify(513 | (1 << 15))
            await gw.wait_event("GUILD_CREATE")
            emu.inject_message("visible")
            assert (await gw.wait_event("MESSAGE_CREATE"))["d"]["content"] == "visible"
    run(go())


def test_uncompressed_connection_uses_text_frames(emu):
    async def go():
        async with Gateway(emu, compress=False) as gw:
            await gw.ready()
            assert all(kind == "text" for kind, _ in gw.ws_messages)
    run(go())


def test_identify_failures(emu):
    async def go():
        async with Gateway(emu) as gw:
            await gw.identify(513, token="wrong")
            assert await gw.wait_closed() == 4004
        async with Gateway(emu) as gw:
            await gw.identify(513 | (1 << 15))  # MESSAGE_CONTENT not enabled for the app
            assert await gw.wait_closed() == 4014
        async with Gateway(emu) as gw:
            await gw.identify("513")
            assert await gw.wait_closed() == 4013
        async with Gateway(emu) as gw:
            await gw.wait_op(10)
            await gw.send(3, {"status": "online"})  # before IDENTIFY
            assert await gw.wait_closed() == 4003
        async with Gateway(emu) as gw:
            await gw.wait_op(10)
            await gw.ws.send_str("{not json")
            assert await gw.wait_closed() == 4002
        async with Gateway(emu) as gw:
            await gw.wait_op(10)
            await gw.send(42, None)
            assert await gw.wait_closed() == 4001
        async with Gateway(emu) as gw:
            await gw.ready()
            await gw.send(2, {"token": emu.token, "intents": 513, "properties": {}})
            assert await gw.wait_closed() == 4005
    run(go())


def test_heartbeats_ack_zombie_and_server_request(emu):
    async def go():
        async with Gateway(emu) as gw:
            await gw.ready()
            await gw.wait_event("GUILD_CREATE")
            await gw.send(1, gw.last_seq())
            assert (await gw.wait_op(11))["d"] is None
            emu.gateway_fault("heartbeat_request")
            assert (await gw.wait_op(1))["op"] == 1
            emu.gateway_fault("zombie")
            await gw.send(1, gw.last_seq())
            try:
                await gw.wait_op(11, timeout=0.5)
                raise AssertionError("a zombie connection must not ACK")
            except asyncio.TimeoutError:
                pass
        conn = emu.gateway()["connections"][-1]
        assert conn["heartbeats"] == 2 and conn["heartbeat_acks"] == 1 and conn["zombie"]
        assert conn["heartbeat_seqs"][0] == 2
    run(go())


def test_sequence_numbers_increase(emu):
    async def go():
        async with Gateway(emu) as gw:
            await gw.ready()
            await gw.wait_event("GUILD_CREATE")
            for i in range(3):
                emu.inject_message("m%d" % i)
            for _ in range(3):
                await gw.wait_event("MESSAGE_CREATE")
            seqs = [p["s"] for p in gw.payloads if p["op"] == 0]
            assert seqs == list(range(1, len(seqs) + 1))
            assert all(p["s"] is None for p in gw.payloads if p["op"] != 0)
    run(go())


def test_resume_replays_missed_events(emu):
    async def go():
        async with Gateway(emu) as gw:
            ready = await gw.ready()
            await gw.wait_event("GUILD_CREATE")
            sid, url, seq = ready["d"]["session_id"], ready["d"]["resume_gateway_url"], gw.last_seq()
            await gw.ws.close(code=4000)  # not 1000/1001: the session survives
        await asyncio.sleep(0.05)
        emu.inject_message("missed one")
        emu.inject_message("missed two")
        assert url.endswith("/resume")
        async with Gateway(emu, path="/resume") as gw:
            await gw.wait_op(10)
            await gw.send(6, {"token": emu.token, "session_id": sid, "seq": seq})
            a = await gw.wait_event("MESSAGE_CREATE")
            b = await gw.wait_event("MESSAGE_CREATE")
            r = await gw.wait_event("RESUMED")
            assert (a["s"], b["s"], r["s"]) == (seq + 1, seq + 2, seq + 3)
            assert a["d"]["author"]["username"] == "alice"
            emu.inject_message("live again")
            assert (await gw.wait_event("MESSAGE_CREATE"))["s"] == seq + 4
        g = emu.gateway()
        assert g["resumes"][0]["outcome"] == "resumed" and g["resumes"][0]["replayed"] == 2
        assert len(g["identifies"]) == 1
        assert g["connections"][0]["close_code_from_client"] == 4000
    run(go())


def test_resume_failures(emu):
    async def go():
        async with Gateway(emu) as gw:
            await gw.wait_op(10)
            await gw.send(6, {"token": emu.token, "session_id": "no-such-session", "seq": 1})
            assert (await gw.wait_op(9))["d"] is False
        async with Gateway(emu) as gw:
            ready = await gw.ready()
            sid = ready["d"]["session_id"]
            await gw.ws.close(code=1000)  # a clean close ends the session
        async with Gateway(emu) as gw:
            await gw.wait_op(10)
            await gw.send(6, {"token": emu.token, "session_id": sid, "seq": 1})
            assert (await gw.wait_op(9))["d"] is False
        async with Gateway(emu) as gw:
            ready = await gw.ready()
            sid = ready["d"]["session_id"]
            await gw.ws.close(code=4000)
        async with Gateway(emu) as gw:
            await gw.wait_op(10)
            await gw.send(6, {"token": emu.token, "session_id": sid, "seq": 99})
            assert await gw.wait_closed() == 4007
        outcomes = [r["outcome"] for r in emu.gateway()["resumes"]]
        assert outcomes == ["invalid session", "invalid session", "invalid seq"]
    run(go())


def test_faults_reconnect_invalid_session_close_drop(emu):
    async def go():
        async with Gateway(emu) as gw:
            ready = await gw.ready()
            sid = ready["d"]["session_id"]
            emu.gateway_fault("reconnect")
            assert (await gw.wait_op(7))["d"] is None
            emu.gateway_fault("invalid_session", resumable=True)
            assert (await gw.wait_op(9))["d"] is True
            emu.gateway_fault("close", code=4009, reason="Session timed out")
            assert await gw.wait_closed() == 4009
        async with Gateway(emu) as gw:  # 4009 is not resumable
            await gw.wait_op(10)
            await gw.send(6, {"token": emu.token, "session_id": sid, "seq": 1})
            assert (await gw.wait_op(9))["d"] is False
        async with Gateway(emu) as gw:
            ready = await gw.ready()
            sid = ready["d"]["session_id"]
            emu.gateway_fault("invalid_session", resumable=False)
            assert (await gw.wait_op(9))["d"] is False
        assert not [s for s in emu.gateway()["sessions"] if s["session_id"] == sid][0]["resumable"]
        async with Gateway(emu) as gw:
            await gw.ready()
            emu.gateway_fault("drop")
            code = await gw.wait_closed()
            assert code not in (1000, 4000), code  # no close frame: abnormal closure
        conn = emu.gateway()["connections"][-1]
        assert conn["dropped_by_server"]
    run(go())


def test_split_payloads_messages_and_frames(emu):
    async def go():
        async with Gateway(emu) as gw:
            await gw.ready()
            await gw.wait_event("GUILD_CREATE")
            n0 = len(gw.ws_messages)
            emu.gateway_fault("split", parts=3, mode="messages", count=1)
            emu.inject_message("split into messages")
            m = await gw.wait_event("MESSAGE_CREATE")
            assert m["d"]["content"] == ""  # no MESSAGE_CONTENT intent
            parts = gw.ws_messages[n0:]
            assert len(parts) == 3 and not parts[0][1].endswith(SUFFIX) and parts[-1][1].endswith(SUFFIX)
            n1 = len(gw.ws_messages)
            emu.gateway_fault("split", parts=3, mode="frames", count=1)
            emu.inject_message("split into frames")
            await gw.wait_event("MESSAGE_CREATE")
            # aiohttp reassembles continuation frames into one message
            assert len(gw.ws_messages) == n1 + 1 and gw.ws_messages[-1][1].endswith(SUFFIX)
            emu.inject_message("whole again")
            await gw.wait_event("MESSAGE_CREATE")
            assert len(gw.ws_messages) == n1 + 2
        assert emu.gateway()["connections"][-1]["split_payloads"] == 2
    run(go())


def test_bot_rest_actions_reach_the_gateway(emu):
    from tests.emulator.testlib import rest

    async def go():
        async with Gateway(emu) as gw:
            await gw.ready()
            await gw.wait_event("GUILD_CREATE")
            rest(emu, "POST", "/channels/%s/messages" % GENERAL, {"content": "from the bot"})
            m = await gw.wait_event("MESSAGE_CREATE")
            assert m["d"]["content"] == "from the bot", "own messages keep their content"
            rest(emu, "POST", "/guilds/%s/channels" % GUILD, {"name": "new", "parent_id": CATEGORY})
            c = await gw.wait_event("CHANNEL_CREATE")
            assert c["d"]["parent_id"] == CATEGORY
            emu.dispatch("GUILD_ROLE_CREATE", {"guild_id": GUILD, "role": {"id": "5", "name": "x"}})
            assert (await gw.wait_event("GUILD_ROLE_CREATE"))["d"]["role"]["name"] == "x"
    run(go())


def test_configured_world_via_control_and_config_file(emu, tmp_path):
    from tests.emulator.client import Emulator
    from tests.emulator.testlib import rest
    guild = {"id": "1400000000000000001", "name": "Second",
             "roles": [{"id": "1410000000000000001", "name": "Council", "permissions": "8"}],
             "channels": [{"id": "1420000000000000001", "name": "Proposals", "type": 4},
                          {"id": "1420000000000000002", "name": "p-1", "type": 0, "parent_id": "1420000000000000001"}],
             "members": [{"user": {"id": "1430000000000000001", "username": "carol"}, "roles": ["1410000000000000001"]}]}

    async def go(e, gid):
        async with Gateway(e) as gw:
            ready = await gw.ready(intents=513 | 2)
            assert {"id": gid, "unavailable": True} in ready["d"]["guilds"]
            gc = await gw.wait(lambda p: p.get("t") == "GUILD_CREATE" and p["d"]["id"] == gid)
            chans = {c["id"]: c for c in gc["d"]["channels"]}
            assert chans["1420000000000000002"]["parent_id"] == "1420000000000000001"
            assert chans["1420000000000000001"]["type"] == 4
            assert "1410000000000000001" in [r["id"] for r in gc["d"]["roles"]]
            carol = [m for m in gc["d"]["members"] if m["user"]["username"] == "carol"][0]
            assert carol["roles"] == ["1410000000000000001"]
            # live additions reach the session
            e.add_channel(gid, {"name": "late", "parent_id": "1420000000000000001"})
            assert (await gw.wait_event("CHANNEL_CREATE"))["d"]["name"] == "late"
            e.add_member(gid, {"user": {"id": "1430000000000000002", "username": "dave"}})
            assert (await gw.wait_event("GUILD_MEMBER_ADD"))["d"]["user"]["username"] == "dave"
            e.add_role(gid, {"name": "Scribe"})
            assert (await gw.wait_event("GUILD_ROLE_CREATE"))["d"]["role"]["name"] == "Scribe"
        assert rest(e, "GET", "/guilds/%s/members/1430000000000000002" % gid).status == 200

    emu.config(privileged_intents=2)
    emu.add_guild(guild)
    run(go(emu, guild["id"]))
    # the same world from a --config file at start-up, with a different token
    with Emulator(str(tmp_path), config={"guilds": [guild], "privileged_intents": 2}, token="other-token",
                  heartbeat_interval=200) as e2:
        assert [g["id"] for g in e2.state()["guilds"]] == [guild["id"]]
        run(go(e2, guild["id"]))
        assert rest(e2, "GET", "/users/@me").status == 200 and rest(e2, "GET", "/users/@me", token="x").status == 401
    assert e2.proc.returncode == 0


def test_ws_frame_lengths():
    """Server frames for split payloads (RFC 6455 5.2): FIN bit, opcode,
    7-bit / 16-bit / 64-bit lengths, no mask."""
    from tests.emulator.gateway import ws_frame
    assert ws_frame(0x2, b"a" * 125, True)[:2] == bytes([0x82, 125])
    f = ws_frame(0x0, b"a" * 126, False)
    assert f[:4] == bytes([0x00, 126, 0, 126]) and len(f) == 4 + 126
    f = ws_frame(0x0, b"a" * 65536, True)
    assert f[:2] == bytes([0x80, 127]) and int.from_bytes(f[2:10], "big") == 65536 and len(f) == 10 + 65536


def test_unmasked_client_frame_is_a_protocol_error(emu):
    """RFC 6455 5.1: the server closes with 1002 on an unmasked client frame
    (aiohttp alone would accept it). A raw socket, since real clients mask."""
    import base64
    import os
    import ssl
    import struct

    async def go():
        tls = ssl.create_default_context(cafile=emu.ca_file)
        reader, writer = await asyncio.open_connection("127.0.0.1", emu.port, ssl=tls)
        key = base64.b64encode(os.urandom(16)).decode()
        writer.write(("GET /?v=10&encoding=json HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
                      % key).encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101")
        assert b"permessage-deflate" not in head.lower()

        async def frame():
            b0, b1 = await reader.readexactly(2)
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", await reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await reader.readexactly(8))[0]
            return b0 & 0x0F, await reader.readexactly(n)
        op, data = await frame()
        assert op == 1 and b'"op":10' in data  # HELLO as a text frame
        payload = b'{"op":1,"d":null}'
        writer.write(bytes([0x81, len(payload)]) + payload)  # no mask bit
        while True:
            op, data = await asyncio.wait_for(frame(), 3)
            if op == 8:
                break
        assert struct.unpack("!H", data[:2])[0] == 1002
        writer.close()
    run(go())
    assert emu.gateway()["connections"][-1]["unmasked_frame"]
