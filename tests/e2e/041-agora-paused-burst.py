#!/usr/bin/python3
"""041 — no count lost at any rate while Redis is up (issue 13.1).

The bot is frozen (SIGSTOP) while the emulator sends 50,000 MESSAGE_CREATE
events into a tracked channel: they queue in the emulator's send buffer
and the sockets, as they would behind a stalled process or a large RESUME
replay. The bot is thawed (SIGCONT) and must count every one of them,
exactly: reading the gateway stops while the Redis write buffer is full
(back-pressure) instead of dropping records past its 10,000-record bound.

Before the fix, 12,000 queued messages lost 2,000 and 20,000 lost 10,000
(with the pause switched off, this test counts 10,000 of 50,000). It fits
run.py's 120 s per file: queueing takes 20-30 s, counting 3-5 s.
Printed: how many were queued before the thaw, the time from the thaw to
the last count, and the rate.
"""

import os
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import World, counting_agora, redis, wait_count  # noqa: E402
from tests.emulator.client import Emulator  # noqa: E402

TOTAL = 50000
CHUNK = 5000


def cpu_seconds(pid):
    """utime + stime of a process, from /proc (proc(5): fields 14 and 15)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def redis_pid():
    try:
        with open(os.path.join(os.environ["AGORA_TEST_SERVICES_DIR"], "redis.pid")) as f:
            return int(f.read().strip())
    except (KeyError, OSError, ValueError):
        return None


def sent_on_gateway(emu):
    return sum(c["sent"] for c in emu.gateway()["connections"])


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-041-")
    with Emulator(os.path.join(tmp, "emu")) as emu:
        world = World(emu)
        bot, key = counting_agora(tmp, emu, world)
        with bot:
            bot.wait_log("loaded 1 tracked channels")
            bot.wait_online()
            base = sent_on_gateway(emu)
            os.kill(bot.proc.pid, signal.SIGSTOP)
            errors = []

            def inject():
                try:
                    for _ in range(TOTAL // CHUNK):
                        emu.call("POST", "/inject/messages",
                                 {"count": CHUNK, "channel_id": world.proposed_channel,
                                  "content": "burst"}, timeout=600)
                except Exception as e:  # reported by the main thread
                    errors.append(e)

            t_inject = time.monotonic()
            th = threading.Thread(target=inject)
            th.start()
            # queue as much as the emulator can while the bot is frozen: all
            # of it, or until its sends stall on the full socket for 2 s
            last, still = -1, 0
            while th.is_alive() and still < 20:
                now = sent_on_gateway(emu)
                still = still + 1 if now == last else 0
                last = now
                time.sleep(0.1)
            queued = sent_on_gateway(emu) - base
            rpid = redis_pid()
            bot_cpu0 = cpu_seconds(bot.proc.pid)
            redis_cpu0 = cpu_seconds(rpid) if rpid else None
            t0 = time.monotonic()
            os.kill(bot.proc.pid, signal.SIGCONT)
            th.join(timeout=90)
            assert not th.is_alive(), "the emulator never finished sending"
            assert not errors, errors
            wait_count(key, TOTAL, timeout=60)
            took = time.monotonic() - t0
            bot_cpu1 = cpu_seconds(bot.proc.pid)
            redis_cpu1 = cpu_seconds(rpid) if rpid else None
            zcard = int(redis("ZCARD", "channel_activity:%s" % world.proposed_channel))
            log = bot.log_text()
            print("041: %d messages, %d queued on a frozen bot (%.1f s to queue); all %d "
                  "counted %.2f s after the thaw (%.0f msgs/s including the emulator's "
                  "sending); ZCARD %d" % (TOTAL, queued, t0 - t_inject, TOTAL, took,
                                          TOTAL / took, zcard))
            if bot_cpu0 is not None and bot_cpu1 is not None:
                print("041: bot CPU %.1f us per message from the thaw to the last count "
                      "(TLS, inflate, JSON, Redis batches; the emulator's sending is "
                      "interleaved)" % ((bot_cpu1 - bot_cpu0) * 1e6 / TOTAL))
            if redis_cpu0 is not None and redis_cpu1 is not None:
                print("041: Redis server CPU %.1f us per message (one Lua script per "
                      "batch of up to 256)" % ((redis_cpu1 - redis_cpu0) * 1e6 / TOTAL))
            assert zcard == TOTAL, zcard
            assert "dropping" not in log and "dropped" not in log, \
                [line for line in log.splitlines() if "drop" in line][:5]
            assert bot.proc.poll() is None, "the bot exited"
    print("041 passed")


if __name__ == "__main__":
    main()
