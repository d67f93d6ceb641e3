#!/usr/bin/python3
"""030 — the gateway fault suite (issue 12.10, 12.1): each fault replayed
against a running ./agora that counts messages in a tracked channel.

For every fault the suite sends messages while the bot is away (where
Discord keeps them for a RESUME) and after it is back, and waits until the
bot is connected again and Redis's total_messages is exactly what was sent
to a session that could receive it: nothing lost, nothing counted twice.

  resumed (messages sent during the gap are replayed and counted once):
    connection dropped, op 7 RECONNECT, op 9 d=true, zombie (no heartbeat
    ACK), server close 4000, server close 1000, server close 1001, a TLS
    error mid-stream (bytes that are no TLS record);
  new session (Discord ends the session; only messages sent after the new
  READY reach the bot, and every one of them is counted):
    op 9 d=false, server close 4009, resume_gateway_url unreachable (a
    refused port: after 3 tries the bot asks GET /gateway/bot again and
    identifies on the URL it names).
It ends with "Bot Online" posted once for all the new sessions,
`agora --healthcheck` healthy, also while 300 idle
connections crowd the health port (logged as a count, not one line each),
the process never restarted, and (teardown) no emulator-issued token in
the bot's log.
"""

import os
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import World, counting_agora, wait_count  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402


def outcomes(emu):
    g = emu.gateway()
    return len(g["identifies"]), sum(1 for r in g["resumes"] if r["outcome"] == "resumed")


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-030-")
    t_start = time.monotonic()
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        bot, key = counting_agora(tmp, emu, world)
        # the migration run may have reached READY and posted its own
        online_before = len(bot.embeds_titled(world.admin_channel, "Bot Online"))
        with bot:
            bot.wait_log("loaded 1 tracked channels")
            bot.wait_online()
            sent = 0

            def send(n, label):
                nonlocal sent
                for i in range(n):
                    emu.inject_message("%s %d" % (label, i), channel_id=world.proposed_channel)
                sent += n

            send(3, "before")
            wait_count(key, sent)

            def replay(name, fault, resumed, during=3, after=2, timeout=20, setup=None):
                ids0, res0 = outcomes(emu)
                t0 = time.monotonic()
                emu.gateway_fault(fault.pop("action"), **fault)
                if resumed:
                    # Discord keeps these for the RESUME
                    send(during, name + " during")
                    Control.wait_for(lambda: outcomes(emu)[1] > res0, timeout=timeout,
                                     what="%s: the session resumed" % name)
                else:
                    Control.wait_for(lambda: outcomes(emu)[0] > ids0, timeout=timeout,
                                     what="%s: a new session identified" % name)
                took = time.monotonic() - t0
                send(after, name + " after")
                wait_count(key, sent)
                ids1, res1 = outcomes(emu)
                if resumed:
                    assert ids1 == ids0, "%s: identified anew (%d -> %d)" % (name, ids0, ids1)
                print("%-28s %-12s back in %4.1f s, total_messages %d exact" % (
                    name, "resumed" if resumed else "new session", took, sent))

            replay("drop", {"action": "drop"}, True)
            replay("op 7 reconnect", {"action": "reconnect"}, True)
            replay("op 9 resumable", {"action": "invalid_session", "resumable": True}, True)
            replay("op 9 not resumable", {"action": "invalid_session", "resumable": False}, False)
            replay("zombie (no ACK)", {"action": "zombie"}, True)
            replay("close 4000", {"action": "close", "code": 4000, "reason": "Unknown error"}, True)
            replay("close 4009", {"action": "close", "code": 4009, "reason": "Session timed out"},
                   False)
            replay("close 1000", {"action": "close", "code": 1000, "reason": "going away"}, True)
            replay("close 1001", {"action": "close", "code": 1001, "reason": "going away"}, True)
            replay("TLS error mid-stream", {"action": "tls_garbage"}, True)

            # resume_gateway_url unreachable: the next session's READY names
            # a refused port; after a drop the bot tries it, gives up after
            # 3 tries and identifies on the gateway URL
            emu.gateway_fault("resume_url", mode="refused")
            replay("(new READY, bad URL)", {"action": "close", "code": 4009, "reason": "x"}, False)
            asked = len(emu.requests(method="GET", path="/gateway/bot"))
            replay("resume URL refused", {"action": "drop"}, False, timeout=40)
            assert "failed 3 times in a row; starting a new session" in bot.log_text()
            # the gateway URL was asked for again (GET /gateway/bot) and used
            assert len(emu.requests(method="GET", path="/gateway/bot")) == asked + 1
            assert "gateway URL is now %s" % emu.gateway_url in bot.log_text()
            emu.gateway_fault("resume_url", mode="off")

            code, out = bot.healthcheck()
            assert code == 0, (code, out)

            # 300 idle connections to the health port (connected, never a
            # byte) cannot make `agora --healthcheck` fail, and are logged
            # as a count, not one line each (issue 12.8)
            idle = []
            for _ in range(300):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", bot.health_port))
                idle.append(s)
            t0 = time.monotonic()
            code, out = bot.healthcheck()
            took = time.monotonic() - t0
            lines = [line for line in bot.log_text().splitlines() if " health: " in line]
            for s in idle:
                s.close()
            assert code == 0, (code, out)
            assert 1 <= len(lines) <= 2, lines
            print("300 idle health connections: healthcheck exit 0 in %.2f s; %d health log line(s)"
                  % (took, len(lines)))
            assert bot.proc.poll() is None
            # three new sessions (three READYs) in one process: the
            # once-per-process steps ran once
            ready = bot.log_text().count("first READY after")
            online = bot.embeds_titled(world.admin_channel, "Bot Online")
            assert ready == 1 and len(online) - online_before == 1, (ready, len(online), online_before)
            print("one 'Bot Online' and one start-cost line across every new session")
            print("total: %d messages, every one counted once; %.1f s" % (sent, time.monotonic() - t_start))
            status, took = bot.stop()
            assert status == 0, status
    print("ok")


if __name__ == "__main__":
    main()
