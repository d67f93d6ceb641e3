#!/usr/bin/python3
"""fake_llm.py — an Open WebUI chat-completions endpoint for Agora's tests.

Started by tests/unit/test_llm.c and the e2e tests on a loopback port the
kernel picks; prints "READY <port>" and serves until stdin closes (so it
never outlives its test) or SIGTERM.

  POST /chat/completions        answers in the current mode (below)
  POST /<mode>/chat/completions answers in <mode>, whatever the current one
  POST /control                 JSON {"mode": ..., "name": ..., "delay": s}
                                sets the current mode / the name "ok" gives
                                (default: the idea text, unsanitised) / the
                                delay of "slow" (default 30 s)
  GET  /requests                every completion request so far, as a JSON
                                list of {"path", "authorization", "body"}

Modes:
  ok        a tool call suggest_channel_name with {"name": NAME}
  garbage   200 with a body that is not JSON
  slow      waits `delay` seconds, then answers as ok
  500       HTTP 500 with an OpenAI-style error body
  notool    a plain prose answer, no tool call
  content   no tool call, but JSON {"name": NAME} in message.content (fenced)
  badargs   a tool call whose arguments string is not JSON
  emptyname a tool call with {"name": "!!!"} (nothing usable)
  othertool a tool call of a different function
"""
import argparse
import asyncio
import json
import os
import re
import signal
import sys

from aiohttp import web

state = {"mode": "ok", "name": None, "delay": 30.0}
requests = []


def idea_of(body):
    try:
        text = body["messages"][-1]["content"]
    except (KeyError, IndexError, TypeError):
        return "no idea"
    m = re.search(r'"""(.*?)"""', text, re.S)
    return (m.group(1) if m else text)[:60]


def tool_answer(arguments, name="suggest_channel_name"):
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": "fake",
        "choices": [{
            "index": 0,
            "finish_reason": "tool_calls",
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [{
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": name, "arguments": arguments},
                }],
            },
        }],
    }


def content_answer(content):
    return {"choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}]}


async def completions(request):
    raw = await request.read()
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    requests.append({"path": request.path,
                     "authorization": request.headers.get("Authorization"),
                     "body": body})
    mode = request.match_info.get("mode") or state["mode"]
    name = state["name"] or idea_of(body)
    if mode == "slow":
        await asyncio.sleep(state["delay"])
        mode = "ok"
    if mode == "ok":
        return web.json_response(tool_answer(json.dumps({"name": name})))
    if mode == "garbage":
        return web.Response(text="<html>Bad Gateway</html>{", content_type="application/json")
    if mode == "500":
        return web.json_response({"error": {"message": "model crashed", "type": "server"}},
                                 status=500)
    if mode == "notool":
        return web.json_response(content_answer("I think 'retro' would be a nice name!"))
    if mode == "content":
        return web.json_response(content_answer(
            "```json\n" + json.dumps({"name": name}) + "\n```"))
    if mode == "badargs":
        return web.json_response(tool_answer('{"name": "unterminated'))
    if mode == "emptyname":
        return web.json_response(tool_answer(json.dumps({"name": "!!!"})))
    if mode == "othertool":
        return web.json_response(tool_answer(json.dumps({"x": 1}), name="other"))
    return web.json_response({"error": {"message": "unknown mode " + mode}}, status=400)


async def control(request):
    data = await request.json()
    for k in ("mode", "name", "delay"):
        if k in data:
            state[k] = data[k]
    return web.json_response(state)


async def list_requests(request):
    return web.json_response(requests)


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", default="ok")
    args = ap.parse_args()
    state["mode"] = args.mode
    app = web.Application(client_max_size=4 * 1024 * 1024)
    app.router.add_post("/chat/completions", completions)
    app.router.add_post("/{mode}/chat/completions", completions)
    app.router.add_post("/control", control)
    app.router.add_get("/requests", list_requests)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", args.port)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print("READY %d" % port, flush=True)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    # stdin closing (the test ended, or died) stops us too
    loop.add_reader(0, lambda: stop.set() if not os.read(0, 64) else None)
    # and so does the death of the process that started us (a test killed
    # before it could close our stdin)
    parent = os.getppid()

    async def watch_parent():
        while os.getppid() == parent:
            await asyncio.sleep(0.5)
        stop.set()
    watcher = asyncio.ensure_future(watch_parent())
    await stop.wait()
    watcher.cancel()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
