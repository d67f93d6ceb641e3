#!/usr/bin/python3
"""http_server.py — a real HTTP/1.1 server (aiohttp) for Agora's http client tests.

Started by tests/unit/test_http.c on loopback ports chosen by the kernel; prints
one line "READY <http-port> <https-port> <silent-port> <http-port-on-::1>"
and serves until its
stdin closes (so it never outlives the test run) or it gets SIGTERM.

  --cert/--key   serve HTTPS too, with this certificate (made by the test
                 with the openssl CLI, signed by a CA it trusts)

The silent port accepts TCP connections and never says a word (connect and
TLS-handshake timeouts). Routes (GET also answers HEAD, as aiohttp does):

  /cl?n=N        N bytes of body with Content-Length (default "hello")
  /chunked?n=K   K chunks "chunk-i;" with Transfer-Encoding: chunked
  /close         a body, then Connection: close
  /nocontent     204 No Content
  /silent        never answers (read timeouts)
  /echo          any method: body echoed; X-Method, X-Host, X-Test echoed
  /drop-next     answers, and marks this connection so that the NEXT request
                 on it is met by closing the connection without a response
                 (a keep-alive connection timed out by the server as we write)
  /stats         requests seen per path so far, as "path=count" lines

Every response carries X-Peer-Port (the client's port: one connection, one
port) and X-Connections (distinct connections accepted so far).
"""
import argparse
import asyncio
import collections
import signal
import ssl
import sys

from aiohttp import web

peers = set()          # (host, port) of every connection that sent a request
drop_next = set()      # peers whose next request is answered by a close
seen = collections.Counter()


def tag(request, response):
    peer = request.transport.get_extra_info("peername")
    response.headers["X-Peer-Port"] = str(peer[1])
    response.headers["X-Connections"] = str(len(peers))
    return response


@web.middleware
async def bookkeeping(request, handler):
    peer = request.transport.get_extra_info("peername")
    peers.add(peer)
    seen[request.path] += 1
    if peer in drop_next:
        drop_next.discard(peer)
        request.transport.abort()
        await asyncio.sleep(3600)
    return tag(request, await handler(request))


async def cl(request):
    n = request.query.get("n")
    body = b"hello" if n is None else b"x" * int(n)
    return web.Response(body=body, content_type="text/plain")


async def chunked(request):
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    resp.enable_chunked_encoding()
    tag(request, resp)
    await resp.prepare(request)
    try:
        for i in range(int(request.query.get("n", "5"))):
            await resp.write(b"chunk-%d;" % i)
        await resp.write_eof()
    except ConnectionResetError:
        pass  # the client hung up (its body cap), as some tests want
    return resp


async def close(request):
    resp = web.Response(text="bye")
    resp.force_close()
    return resp


async def nocontent(request):
    return web.Response(status=204)


async def silent(request):
    await asyncio.sleep(3600)
    return web.Response(text="too late")


async def echo(request):
    body = await request.read()
    return web.Response(body=body, headers={"X-Method": request.method,
                                            "X-Host": request.headers.get("Host", ""),
                                            "X-Test": request.headers.get("X-Test", "")})


async def drop_next_route(request):
    drop_next.add(request.transport.get_extra_info("peername"))
    return web.Response(text="armed")


async def stats(request):
    return web.Response(text="".join("%s=%d\n" % kv for kv in sorted(seen.items())))


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert")
    ap.add_argument("--key")
    args = ap.parse_args()

    app = web.Application(middlewares=[bookkeeping])
    app.router.add_get("/cl", cl)
    app.router.add_get("/chunked", chunked)
    app.router.add_get("/close", close)
    app.router.add_get("/nocontent", nocontent)
    app.router.add_get("/silent", silent)
    app.router.add_route("*", "/echo", echo)
    app.router.add_route("*", "/drop-next", drop_next_route)
    app.router.add_get("/stats", stats)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]
    site6 = web.TCPSite(runner, "::1", 0)
    await site6.start()
    http6_port = site6._server.sockets[0].getsockname()[1]
    https_port = 0
    if args.cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.cert, args.key)
        tls_site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
        await tls_site.start()
        https_port = tls_site._server.sockets[0].getsockname()[1]

    silent_conns = []

    async def mute(reader, writer):
        silent_conns.append(writer)  # keep it open, say nothing

    mute_server = await asyncio.start_server(mute, "127.0.0.1", 0)
    silent_port = mute_server.sockets[0].getsockname()[1]

    print("READY %d %d %d %d" % (http_port, https_port, silent_port, http6_port), flush=True)

    loop = asyncio.get_running_loop()
    done = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, done.set)
    # stdin closing means the test process is gone
    loop.add_reader(sys.stdin.fileno(), lambda: sys.stdin.buffer.read1(1) or done.set())
    await done.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
