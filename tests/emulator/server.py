"""Start-up: arguments, TLS, the two listening sockets, logging, SIGTERM.

    /usr/bin/python3 -m tests.emulator --port 0 --control-port 0 \
        --cert DIR/server.pem --key DIR/server.key --log-dir DIR \
        --ready-file DIR/ready.json [--heartbeat-interval 41250] ...

One process serves REST (https://127.0.0.1:P/api/v10/...) and the gateway
(wss://127.0.0.1:P/?v=10&encoding=json&compress=zlib-stream) on port P, and
the control API (http://127.0.0.1:C/) on port C. With port 0 the kernel
picks; the chosen ports are written to --ready-file once both listen.
"""

import argparse
import asyncio
import json
import logging
import os
import signal
import ssl
import sys

from aiohttp import web

from . import state as S
from .control import Control
from .gateway import Gateway
from .ratelimit import RateLimiter
from .rest import Rest


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python3 -m tests.emulator", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="loopback address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=0, help="REST + gateway port (0: any free port)")
    p.add_argument("--control-port", type=int, default=0, help="control API port (0: any free port)")
    p.add_argument("--cert", help="server certificate (PEM); without --cert/--key: plain http/ws")
    p.add_argument("--key", help="server private key (PEM)")
    p.add_argument("--log-dir", default=".", help="directory for emulator.log")
    p.add_argument("--ready-file", help="write {port, control_port, ...} here once listening")
    p.add_argument("--config", help="JSON file: {\"guilds\": [...]} and any config keys")
    p.add_argument("--token", default="emulator-bot-token", help="the bot token REST and IDENTIFY accept")
    p.add_argument("--bot-id", default=S.DEFAULT_BOT_ID, help="bot user id (= application id)")
    p.add_argument("--bot-name", default="Agora")
    p.add_argument("--heartbeat-interval", type=int, default=41250, help="HELLO heartbeat_interval, ms")
    p.add_argument("--interaction-timeout", type=float, default=3.0,
                   help="seconds an interaction may wait for its callback (Discord: 3)")
    p.add_argument("--shards", type=int, default=1, help="shards GET /gateway/bot recommends")
    p.add_argument("--privileged-intents", type=int, default=0,
                   help="privileged intents the app may use (bits 1, 8, 15); others -> close 4014")
    p.add_argument("--rate-limit", default="50/1",
                   help="default per-route bucket LIMIT/WINDOW_SECONDS (default 50/1)")
    p.add_argument("--global-limit", type=int, default=50, help="global requests per second (default 50)")
    return p.parse_args(argv)


def build_config(args):
    cfg = {
        "host": args.host, "port": args.port, "control_port": args.control_port,
        "token": args.token, "bot_id": args.bot_id, "bot_name": args.bot_name,
        "application_id": args.bot_id, "application_flags": 0,
        "heartbeat_interval": args.heartbeat_interval, "interaction_timeout": args.interaction_timeout,
        "shards": args.shards, "privileged_intents": args.privileged_intents,
        "category_max_channels": 50, "emoji_limit": None, "guilds": None,
        "gateway_url": None, "resume_gateway_url": None,
    }
    if args.config:
        with open(args.config) as f:
            extra = json.load(f)
        cfg.update(extra)
    return cfg


async def run(args):
    cfg = build_config(args)
    st = S.State(cfg)
    limiter = RateLimiter(*(float(x) if i else int(x) for i, x in enumerate(args.rate_limit.split("/"))),
                          global_limit=args.global_limit)
    gw = Gateway(st, cfg)
    rest = Rest(st, gw, limiter, cfg)
    cdn = rest.cdn
    control = Control(st, gw, rest, limiter, cfg)

    async def main_handler(request):
        if request.path.startswith("/api/"):
            return await rest.handle(request)
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await gw.handle(request)
        if request.path.startswith(("/attachments/", "/ephemeral-attachments/", "/media/")):
            return await cdn.handle(request)  # the CDN (cdn.py)
        return web.json_response({"message": "404: Not Found", "code": 0}, status=404)

    app = web.Application(client_max_size=32 << 20)
    app.router.add_route("*", "/{tail:.*}", main_handler)
    tls = None
    if args.cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(args.cert, args.key)

    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port, ssl_context=tls)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    crunner = web.AppRunner(control.app(), access_log=None, handle_signals=False)
    await crunner.setup()
    csite = web.TCPSite(crunner, args.host, args.control_port)
    await csite.start()
    cport = csite._server.sockets[0].getsockname()[1]

    scheme = "wss" if tls else "ws"
    cfg["port"], cfg["control_port"] = port, cport
    cfg["gateway_url"] = cfg["gateway_url"] or "%s://%s:%d" % (scheme, args.host, port)
    # a distinct URL, so tests can see that a client resumes where READY said
    cfg["resume_gateway_url"] = cfg["resume_gateway_url"] or "%s://%s:%d/resume" % (scheme, args.host, port)
    cfg["cdn_base"] = "%s://%s:%d" % ("https" if tls else "http", args.host, port)
    info = {"port": port, "control_port": cport, "pid": os.getpid(),
            "api_base": "%s://%s:%d/api/v10" % ("https" if tls else "http", args.host, port),
            "gateway_url": cfg["gateway_url"], "control_url": "http://%s:%d" % (args.host, cport)}
    logging.getLogger("emulator").info("listening: %s", info)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            json.dump(info, f)
        os.replace(tmp, args.ready_file)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    logging.getLogger("emulator").info("stopping")
    await gw.shutdown()
    await crunner.cleanup()
    await runner.cleanup()
    logging.getLogger("emulator").info("stopped")


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    os.makedirs(args.log_dir, exist_ok=True)
    logging.basicConfig(filename=os.path.join(args.log_dir, "emulator.log"), level=logging.INFO,
                        format="%(asctime)s.%(msecs)03d %(name)s %(levelname)s %(message)s",
                        datefmt="%H:%M:%S")
    logging.getLogger("aiohttp").setLevel(logging.WARNING)
    asyncio.run(run(args))
