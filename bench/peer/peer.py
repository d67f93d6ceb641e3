#!/usr/bin/python3
"""peer.py — the same counting as Agora, written the way most bots are:
discord.py (Debian's python3-discord) on asyncio (issue 13.5).

For every MESSAGE_CREATE in the tracked channel whose author is not a
bot, the message is counted into the keys Agora uses, with Agora's
exactly-once rule (ZADD NX of the message id gates HINCRBY + HSET, one
Lua script per batch): channel_stats:{id} total_messages and
last_message_timestamp, channel_activity:{id} scored by the snowflake's
Unix time. Batches are what accumulated while the previous script ran,
on one asyncio Redis connection (a minimal RESP client: Debian has no
asyncio Redis client for this Python). discord.py parses and caches each
message as it always does; nothing in it is tuned.

Environment: PEER_CA (the emulator's CA), PEER_API (REST base), PEER_TOKEN,
PEER_CHANNEL (the tracked channel), AGORA_TEST_REDIS_HOST/PORT.
Prints READY once connected; runs until SIGTERM.
"""
import asyncio
import os
import ssl
import sys

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket

DISCORD_EPOCH_MS = 1420070400000
SCRIPT = """local counted = 0
for i = 1, #KEYS, 2 do
  if redis.call('ZADD', KEYS[i+1], 'NX', ARGV[i+1], ARGV[i]) == 1 then
    redis.call('HINCRBY', KEYS[i], 'total_messages', 1)
    redis.call('HSET', KEYS[i], 'last_message_timestamp', ARGV[i+1])
    counted = counted + 1
  end
end
return counted
"""


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Counter:
    def __init__(self):
        self.pending = []
        self.wake = asyncio.Event()

    async def run(self):
        reader, writer = await asyncio.open_connection(os.environ["AGORA_TEST_REDIS_HOST"],
                                                       int(os.environ["AGORA_TEST_REDIS_PORT"]))
        while True:
            await self.wake.wait()
            self.wake.clear()
            batch, self.pending = self.pending, []
            if not batch:
                continue
            keys, argv = [], []
            for cid, mid in batch:
                keys += ["channel_stats:%d" % cid, "channel_activity:%d" % cid]
                argv += [mid, ((mid >> 22) + DISCORD_EPOCH_MS) // 1000]
            writer.write(resp("EVAL", SCRIPT, len(keys), *keys, *argv))
            line = await reader.readline()
            if not line.startswith(b":"):
                print("redis: %r" % line, flush=True)

    def add(self, cid, mid):
        self.pending.append((cid, mid))
        self.wake.set()


class Peer(discord.Client):
    def __init__(self):
        super().__init__(intents=discord.Intents(guilds=True, guild_messages=True))
        self.http.connector = aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=os.environ["PEER_CA"]),
                                                   limit=0)
        self.tracked = {int(os.environ["PEER_CHANNEL"])}
        self.counter = Counter()

    async def setup_hook(self):
        _, url = await self.http.get_bot_gateway()
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url).with_query(None)
        asyncio.get_running_loop().create_task(self.counter.run())

    async def before_identify_hook(self, shard_id, *, initial=False):
        pass

    async def on_ready(self):
        print("READY", flush=True)

    async def on_message(self, message):
        if message.channel.id in self.tracked and not message.author.bot:
            self.counter.add(message.channel.id, message.id)


async def amain():
    # the client (and aiohttp's connector) are made inside the running loop
    async with Peer() as peer:
        await peer.start(os.environ["PEER_TOKEN"])


def main():
    discord.http.Route.BASE = os.environ["PEER_API"]
    try:
        asyncio.run(amain())
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
