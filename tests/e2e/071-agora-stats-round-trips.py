#!/usr/bin/python3
"""071 — the stats task reads 10, 1,000 and 10,000 tracked channels in a
constant number of Redis round trips, and its embeds stay within
Discord's limits however many channels there are.

The bot talks to Redis through a proxy that can delay every reply by
DELAY: a read that waits for replies k times in a row takes k × DELAY
longer than without the delay, so the number of round trips is measured
from outside, not taken from the bot's word. For each size the bot is
started twice, with the proxy's delay 0 and DELAY, with the rows in
tracked_channels and a long interval, so exactly one pass runs (shortly
after READY); round trips = (read time delayed - read time undelayed) /
DELAY. Redis's INFO commandstats, reset before each start, shows the
commands that pass sent.

Proves:
  1. the READ of a pass costs at most one round trip for 10, 1,000 and
     10,000 channels alike (the 10-channel read shows the full delay once;
     a per-channel read of 1,000 channels would cost 1,000 delays); the
     figures are printed;
  2. every channel was read and trimmed: exactly 8 ZCOUNTs (7 days + the
     week), one HMGET and one ZREMRANGEBYSCORE per channel;
  3. both report embeds are accepted by the emulator (which enforces
     4096 / 25 fields / 6000) and end with "… and N more", the lines shown
     plus N adding up to the channels tracked; the description is at most
     4096 UTF-16 units.
"""

import asyncio
import os
import random
import re
import socket
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import Agora, World, need_env, psql, redis  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

DELAY = 1.0
SIZES = (10, 1000, 10000)
PASS_LINE = re.compile(r"stats pass (\d+): (\d+) proposed and (\d+) permanent channels, read in 1 "
                       r"Redis round trip of (\d+) ms, (\d+) old entries trimmed, (\d+) ms in all")


class DelayProxy:
    """TCP proxy to Redis: requests pass at once, every reply chunk is
    delivered DELAY seconds after it arrived (order kept)."""

    def __init__(self, host, port, delay):
        self.target = (host, int(port))
        self.delay = delay
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()
        self.ready.wait(5)

    def run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self.handle, "127.0.0.1", self.port))
        self.ready.set()
        self.loop.run_forever()

    async def handle(self, reader, writer):
        up_r, up_w = await asyncio.open_connection(*self.target)
        queue = asyncio.Queue()

        async def upstream():
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    break
                up_w.write(data)
                await up_w.drain()
            up_w.close()

        async def replies():
            while True:
                data = await up_r.read(1 << 16)
                await queue.put((self.loop.time() + self.delay, data))
                if not data:
                    break

        async def deliver():
            while True:
                at, data = await queue.get()
                await asyncio.sleep(max(0.0, at - self.loop.time()))
                if not data:
                    writer.close()
                    break
                writer.write(data)
                await writer.drain()

        try:
            await asyncio.gather(upstream(), replies(), deliver())
        except (ConnectionError, OSError):
            pass

    def close(self):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def commandstats():
    out = {}
    for ln in redis("INFO", "commandstats").splitlines():
        m = re.match(r"cmdstat_(\w+):calls=(\d+)", ln)
        if m:
            out[m[1]] = int(m[2])
    return out


def utf16_units(s):
    return len(s.encode("utf-16-le")) // 2


def check_embeds(bot, world, proposed, permanent):
    """3. both embeds accepted, "… and N more" adding up."""
    for key, title, count in (
            ("PROPOSED_ACTIVITY_REPORT_CHANNEL_ID", "Proposed Channel Activity", proposed),
            ("PERMANENT_ACTIVITY_REPORT_CHANNEL_ID", "Permanent Channel Activity", permanent)):
        def current():
            for m in bot.embeds_titled(world.ids[key], title):
                e = m["embeds"][0]
                if e.get("footer", {}).get("text", "").startswith("%d " % count):
                    return e
            return None
        e = Control.wait_for(current, timeout=20, what="%s for %d" % (title, count))
        desc = e["description"]
        assert utf16_units(desc) <= 4096, utf16_units(desc)
        shown = len([ln for ln in desc.split("\n") if ln.startswith("**")])
        more = re.search(r"\u2026 and (\d+) more$", desc)
        if count > 40:
            assert more, desc[-200:]
            assert shown + int(more[1]) == count, (shown, more[1], count)
        else:
            assert not more and shown == count, desc


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-071-")
    proxy = DelayProxy(need_env("AGORA_TEST_REDIS_HOST"), need_env("AGORA_TEST_REDIS_PORT"), DELAY)
    base = random.randrange(10**13, 9 * 10**13) * 100000
    figures = []
    try:
        with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
            world = World(emu)
            extra = {"REDIS_PORT": str(proxy.port), "STATS_REFRESH_INTERVAL_MINUTES": "60"}
            # a first run creates the schema
            with Agora(os.path.join(tmp, "bot0"), emu, world, extra=extra) as bot:
                bot.wait_online()
                db = bot.db
            tracked = 0
            for run, size in enumerate(SIZES):
                # half proposed, half permanent; new ids only
                psql("INSERT INTO tracked_channels SELECT %d + i, CASE WHEN i %% 2 = 0 THEN "
                     "'proposed' ELSE 'permanent' END FROM generate_series(%d, %d) i"
                     % (base, tracked, size - 1), db=db)
                tracked = size
                # a little activity so the lines differ
                redis("ZADD", "channel_activity:%d" % base, int(time.time()) - 3600, "1")
                reads = []
                for delay in (0.0, DELAY):
                    proxy.delay = delay
                    redis("CONFIG", "RESETSTAT")
                    with Agora(os.path.join(tmp, "bot%d-%d" % (run, delay > 0)), emu, world,
                               extra=extra, db=db) as bot:
                        line = Control.wait_for(lambda: PASS_LINE.search(bot.log_text()),
                                                timeout=60,
                                                what="the stats pass of %d channels" % size)
                        proposed, permanent = int(line[2]), int(line[3])
                        reads.append(int(line[4]))
                        assert proposed + permanent == size, line[0]
                        stats = commandstats()
                        # 2. every channel read and trimmed
                        assert stats.get("zcount") == 8 * size, (stats, size)
                        assert stats.get("hmget") == size, (stats, size)
                        assert stats.get("zremrangebyscore") == size, (stats, size)
                        if delay:
                            check_embeds(bot, world, proposed, permanent)
                # 1. one round trip, measured through the proxy
                trips = (reads[1] - reads[0]) / (DELAY * 1000)
                figures.append((size, reads[0], reads[1], trips))
                # at most one delay's worth of waiting; the smallest read
                # shows that the measure sees a round trip at all (bigger
                # pipelines hide part of it behind their own transfer time)
                assert trips < 1.5, (size, reads, trips)
                if size == SIZES[0]:
                    assert trips >= 0.9, (size, reads, trips)
                assert emu.counters().get("400", 0) == 0, emu.counters()
    finally:
        proxy.close()
    for size, plain, delayed, trips in figures:
        print("stats pass over %5d tracked channels: Redis read %4d ms, %4d ms with replies "
              "delayed %d ms: %.2f round trips" % (size, plain, delayed, DELAY * 1000, trips))
    print("ok")


if __name__ == "__main__":
    main()
