#!/usr/bin/python3
"""012 — ./agora fails clearly when it must, and never loops.

Proves:
  1. a token Discord refuses (401 on GET /gateway/bot): the bot exits 1
     within seconds with "Discord rejected the bot token (401)" in its log,
     after exactly one request (a 401 is never retried: it counts toward
     Discord's invalid-request ban), and the token never appears in the log;
  2. a gateway close code after which retrying cannot help (4011,
     sharding required): exit 1 naming it, after exactly one IDENTIFY;
  3. PostgreSQL unreachable at start: the bot waits and says so, never
     reaches Discord, `agora --healthcheck` exits 1 naming the database, and
     SIGTERM still exits 0 within 5 seconds.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import Agora, World, free_port  # noqa: E402
from tests.emulator.client import Emulator  # noqa: E402


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-012-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)

        # 1. wrong token
        with Agora(os.path.join(tmp, "badtoken"), emu, world, token="not-the-token") as bot:
            bot.proc.wait(timeout=10)
            assert bot.proc.returncode == 1, bot.proc.returncode
            log = bot.log_text()
            assert "Discord rejected the bot token (401)" in log, log[-2000:]
            assert "not-the-token" not in log
            reqs = [r for r in emu.requests() if r["status"] == 401]
            assert len(reqs) == 1, [(r["method"], r["path"]) for r in reqs]
            assert emu.gateway()["identifies"] == []

        # 2. a gateway close Discord means for good (4011: sharding
        #    required): exit 1 with the reason, after one IDENTIFY
        emu.config(shards=2)
        with Agora(os.path.join(tmp, "shards"), emu, world) as bot:
            bot.proc.wait(timeout=10)
            assert bot.proc.returncode == 1, bot.proc.returncode
            log = bot.log_text()
            assert "Discord closed the gateway with 4011: sharding required" in log, log[-2000:]
            assert len(emu.gateway()["identifies"]) == 1, emu.gateway()["identifies"]
        emu.config(shards=1)

        # 3. no database
        seen = max([r["seq"] for r in emu.requests()] or [0])
        with Agora(os.path.join(tmp, "nodb"), emu, world, extra={"DB_PORT": str(free_port())},
                   db="never_created") as bot:
            bot.wait_log("waiting for PostgreSQL")
            bot.wait_log("PostgreSQL unavailable")
            time.sleep(0.5)
            code, out = bot.healthcheck()
            assert code == 1, (code, out)
            assert "DB: Disconnected" in out and "Gateway: Disconnected" in out, out
            assert not [r for r in emu.requests() if r["seq"] > seen], emu.requests()[-1]
            status, took = bot.stop()
            assert status == 0 and took < 5.0, (status, took, bot.log_text()[-1500:])
    print("ok")


if __name__ == "__main__":
    main()
