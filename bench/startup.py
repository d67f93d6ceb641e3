#!/usr/bin/python3
"""startup.py — start CPU, memory with a large guild, binary size (issue 13.6).

  start CPU   the bot's CPU (every thread's /proc/PID/task/*/schedstat, ns)
              from exec until its log says "ready: session" (read every
              millisecond, so a little of what follows READY is included):
              config, PostgreSQL with SCRAM, Redis, TLS handshakes with the
              emulator (REST and gateway), IDENTIFY. Median of RUNS starts.
  memory      VmRSS and VmHWM (peak) after READY, and after a GUILD_CREATE
              of about 1 MB (500 channels with topics and overwrites, 2,000
              members) sent whole to the bot as Discord does after a guild
              outage; the peak includes parsing it.
  binary      ./agora's size (stripped, static, everything linked in).

    ./build.sh bench runs it; needs the AGORA_TEST_* services.
"""
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, ROOT)

from agora import GUILD, Agora, World, psql  # noqa: E402
from tests.emulator.client import Emulator  # noqa: E402


def cpu_ns(pid):
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total


def status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def main():
    runs = int(os.environ.get("BENCH_RUNS", 3))
    tmp = tempfile.mkdtemp(prefix="agora-bench-startup-")
    binary = os.environ.get("AGORA_BIN", os.path.join(ROOT, "agora"))
    with Emulator(os.path.join(tmp, "emu")) as emu:
        world = World(emu)
        with Agora(os.path.join(tmp, "migrate"), emu, world) as first:
            first.wait_log("database schema up to date")
            db = first.db
        psql("INSERT INTO tracked_channels VALUES (%s, 'proposed')" % world.proposed_channel, db=db)
        starts = []
        for i in range(runs):
            bot = Agora(os.path.join(tmp, "bot%d" % i), emu, world, db=db)
            with bot:
                pid = bot.proc.pid
                deadline = time.monotonic() + 30
                while "ready: session" not in bot.log_text():
                    if time.monotonic() > deadline or bot.proc.poll() is not None:
                        raise RuntimeError("no READY; see %s" % bot.log_path)
                    time.sleep(0.001)
                starts.append(cpu_ns(pid) / 1e6)
                bot.wait_online()
                if i < runs - 1:
                    continue
                time.sleep(0.5)
                rss_ready, hwm_ready = status_kb(pid, "VmRSS"), status_kb(pid, "VmHWM")
                sent = emu.call("POST", "/bench/dispatch", {"event": "GUILD_CREATE", "big_guild": GUILD,
                                                            "channels": 500, "members": 2000}, timeout=60)
                # the bot answers a heartbeat-independent probe only once the
                # payload is handled: wait for the loop to be idle again
                c0 = -1
                while True:
                    time.sleep(0.3)
                    c1 = cpu_ns(pid)
                    if c1 == c0:
                        break
                    c0 = c1
                rss, hwm = status_kb(pid, "VmRSS"), status_kb(pid, "VmHWM")
                # the next payload (a message) lets the parser and the
                # inflater give the big buffers back
                emu.call("POST", "/bench/stream", {"count": 1, "channel_id": world.proposed_channel,
                                                   "guild_id": GUILD, "rate": 0})
                time.sleep(0.5)
                rss_next = status_kb(pid, "VmRSS")
                assert bot.proc.poll() is None, "the bot exited"
        print("startup: CPU from exec to READY %.1f ms (median of %d: %s; goal <= 10 ms)"
              % (statistics.median(starts), len(starts), ", ".join("%.1f" % s for s in starts)))
        print("memory: after READY RSS %d kB (peak %d kB); after a %.0f KB GUILD_CREATE (%d channels, "
              "%d members) RSS %d kB, peak (VmHWM) %d kB (goal <= 2048 kB); after the next payload RSS %d kB"
              % (rss_ready, hwm_ready, sent["bytes"] / 1024, sent["channels"], sent["members"], rss, hwm,
                 rss_next))
    print("binary: %s is %d bytes (%d KiB)" % (binary, os.path.getsize(binary), os.path.getsize(binary) // 1024))


if __name__ == "__main__":
    main()
