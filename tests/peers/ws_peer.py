#!/usr/bin/python3
"""ws_peer.py — a real WebSocket server (python3-websockets) for test_ws_client.c.

    /usr/bin/python3 tests/peers/ws_peer.py [--tls CERT KEY]

Listens on 127.0.0.1 on a free port and prints "PORT <n>" once ready. Each
connection's behaviour is chosen by its path; when a connection ends the
peer prints one line

    RESULT <path> <close code the peer received or None> <reason>

so the test can check what the server saw of our closing handshake.

Paths:
  /echo            echo every message back as it came (text or binary)
  /fragments       send fragmented messages (a ping inside one of them),
                   then "pong:<payload>" once our pong arrived, then close 1000
  /ping            ping with b"are you there?", wait for our pong, send
                   "pong:<payload>", then wait for our close
  /server-close    close at once with 4000 "server says bye"
  /oversize?n=N    send one binary message of N bytes, wait for our close
  /malformed       write a raw frame with RSV1 set (no extension agreed)
  /bad-utf8        write a raw text frame holding C0 80 (overlong NUL)
  /deaf            stop reading: our close is never answered
  /forbidden       refuse the handshake with 403
  /zlib-stream     send three gateway payloads as Discord does with
                   compress=zlib-stream: one zlib context, Z_SYNC_FLUSH after
                   each payload, the second (MESSAGE_CREATE from
                   tests/data/zstream/message_create.json) cut over three
                   binary messages; then wait for our close
"""
import asyncio
import http
import os
import ssl
import sys
import zlib

import websockets


def report(path, code, reason):
    print("RESULT %s %s %s" % (path, code, reason), flush=True)


async def fragments(ws):
    await ws.send(["Hel", "lo, ", "world"])
    await ws.send([b"\x00\x01", b"", b"\x02"])
    pong = asyncio.get_running_loop().create_future()

    async def with_ping():
        yield "x" * 50000
        # a ping between two fragments of one message (RFC 6455 5.4)
        waiter = await ws.ping(b"mid-message")
        waiter.add_done_callback(
            lambda f: f.cancelled() or f.exception() or pong.done() or pong.set_result(b"mid-message"))
        yield "y" * 50000
        yield "z" * 50000

    await ws.send(with_ping())
    payload = await asyncio.wait_for(pong, 5)
    await ws.send("pong:" + payload.decode())
    await ws.close(1000, "fragments done")


HERE = os.path.dirname(os.path.abspath(__file__))
GATEWAY_PAYLOADS = [
    b'{"op":10,"d":{"heartbeat_interval":41250}}',
    open(os.path.join(HERE, "../data/zstream/message_create.json"), "rb").read().strip(),
    b'{"op":11,"d":null}',
]


async def zlib_stream(ws):
    compressor = zlib.compressobj()
    for i, payload in enumerate(GATEWAY_PAYLOADS):
        data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        if i == 1:
            third = len(data) // 3
            parts = [data[:third], data[third:2 * third], data[2 * third:]]
        else:
            parts = [data]
        for part in parts:
            await ws.send(part)
    await ws.wait_closed()


async def handler(ws, path=None):
    path = ws.path
    route = path.split("?")[0]
    try:
        if route == "/echo":
            async for message in ws:
                await ws.send(message)
        elif route == "/fragments":
            await fragments(ws)
        elif route == "/ping":
            waiter = await ws.ping(b"are you there?")
            await asyncio.wait_for(waiter, 5)
            await ws.send("pong:are you there?")
            await ws.wait_closed()
        elif route == "/server-close":
            await ws.close(4000, "server says bye")
        elif route == "/oversize":
            n = int(path.split("n=")[1])
            await ws.send(b"\xab" * n)
            await ws.wait_closed()
        elif route == "/malformed":
            ws.transport.write(b"\xc1\x02hi")
            await ws.wait_closed()
        elif route == "/bad-utf8":
            ws.transport.write(b"\x81\x02\xc0\x80")
            await ws.wait_closed()
        elif route == "/zlib-stream":
            await zlib_stream(ws)
        elif route == "/deaf":
            ws.transport.pause_reading()
            await asyncio.sleep(30)
        else:
            await ws.close(4404, "no such path")
    except websockets.ConnectionClosed:
        pass
    except asyncio.TimeoutError:
        print("TIMEOUT %s" % path, flush=True)
    await ws.wait_closed()
    report(path, ws.close_code, ws.close_reason or "")


async def process_request(path, headers):
    if path.startswith("/forbidden"):
        return (http.HTTPStatus.FORBIDDEN, [("Content-Type", "text/plain")], b"go away\n")
    return None


async def main():
    context = None
    if len(sys.argv) == 4 and sys.argv[1] == "--tls":
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
    async with websockets.serve(handler, "127.0.0.1", 0, ssl=context, max_size=None,
                                ping_interval=None, close_timeout=3,
                                process_request=process_request) as server:
        port = server.sockets[0].getsockname()[1]
        print("PORT %d" % port, flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
