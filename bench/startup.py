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
              outage; the peak includes parsing it. Measured in every run
              of the first layout (each a new process), medians printed.
              The gateway prunes such a payload as it streams
              (jsonkeep.h) to what the guild cache reads; the pruned size
              comes from the bot's log.
  binary      ./agora's size (stripped, static, everything linked in).

  Two layouts, RUNS starts each: as the suite runs (REST and gateway on
  the emulator's one address, so the gateway resumes the TLS session of
  the REST connection: tls.c caches sessions per host and port), and
  with the gateway on a second host name (localhost), as Discord's
  gateway is another host than its API: there the gateway's handshake is
  a full one and its name is looked up.

  The start's breakdown comes from the bot's own log (LOG_LEVEL DEBUG):
  its CPU clock at the first READY (all threads, no polling delay) with
  its page faults, libpq's CPU in the PostgreSQL login (SCRAM) and each
  TLS handshake's; what is left is exec, config, Redis, the migrations
  check, the loads, HTTP, WebSocket and IDENTIFY. Then bench_startup
  (bench/bench_startup.c; BENCH_STARTUP, default build/musl/bench_startup)
  times the costly steps alone: SCRAM's PBKDF2 before and after, a whole
  PostgreSQL login, BearSSL's curve code, a TLS handshake with the
  emulator.

    ./build.sh bench runs it; needs the AGORA_TEST_* services.
"""
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlparse

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


def breakdown(log):
    """The bot's own figures before its first READY, from its log."""
    head = log.split("first READY after", 1)
    ready = re.match(r" ([0-9.]+) ms CPU since exec \((\d+) page faults\)", head[1]) if len(head) > 1 else None
    login = re.search(r"login ([0-9.]+) ms CPU", head[0])
    tls = re.findall(r"tls: handshake with (\S+) done \((full|session resumed)\): ([0-9.]+) ms CPU", head[0])
    if not ready or not login or len(tls) != 2:
        raise RuntimeError("the log lacks the start's figures (READY %s, login %s, %d handshakes)"
                           % (bool(ready), bool(login), len(tls)))
    return {"ready": float(ready.group(1)), "faults": int(ready.group(2)), "login": float(login.group(1)),
            "tls_rest": float(tls[0][2]), "tls_gateway": float(tls[1][2]),
            "how": "REST %s %s, gateway %s %s" % (tls[0][0], tls[0][1], tls[1][0], tls[1][1])}


def print_breakdown(parts):
    med = {k: statistics.median(p[k] for p in parts) for k in parts[0] if k != "how"}
    other = med["ready"] - med["login"] - med["tls_rest"] - med["tls_gateway"]
    hows = sorted(set(p["how"] for p in parts))
    print("  the bot's own CPU clock at its first READY %.1f ms (median of %d), %d page faults; handshakes: %s"
          % (med["ready"], len(parts), med["faults"], "; ".join(hows)))
    print("    PostgreSQL login (libpq, SCRAM-SHA-256)    %5.2f ms" % med["login"])
    print("    TLS handshake, REST (GET /gateway/bot)     %5.2f ms" % med["tls_rest"])
    print("    TLS handshake, gateway                     %5.2f ms" % med["tls_gateway"])
    print("    (TLS_CA_FILE here is the emulator's one CA; Debian's bundle of 144 roots, the image's default,"
          " adds its\n    load: 'trust store' below)")
    print("    the rest                                   %5.2f ms: exec (a static binary alone: about 0.6 ms"
          " here), config," % other)
    print("        Redis, migrations check, loads, HTTP, WebSocket, IDENTIFY, page faults (about 11 us each"
          " here)")


def start_once(emu, world, db, workdir, memory=False):
    """One start: (polled CPU ms, the log's breakdown, memory figures or None,
    the GUILD_CREATE sent or None)."""
    bot = Agora(workdir, emu, world, db=db)
    mem = sent = None
    with bot:
        pid = bot.proc.pid
        deadline = time.monotonic() + 30
        while "ready: session" not in bot.log_text():
            if time.monotonic() > deadline or bot.proc.poll() is not None:
                raise RuntimeError("no READY; see %s" % bot.log_path)
            time.sleep(0.001)
        polled = cpu_ns(pid) / 1e6
        bot.wait_online()
        parts = breakdown(bot.log_text())
        if memory:
            time.sleep(0.5)
            m = {"rss_ready": status_kb(pid, "VmRSS"), "hwm_ready": status_kb(pid, "VmHWM")}
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
            m["rss"], m["hwm"] = status_kb(pid, "VmRSS"), status_kb(pid, "VmHWM")
            pruned = re.findall(r"a (\d+)-byte payload was pruned to (\d+) bytes", bot.log_text())
            m["pruned"] = int(pruned[-1][1]) if pruned else -1
            # the next payload (a message) lets the parser and the
            # inflater give the big buffers back
            emu.call("POST", "/bench/stream", {"count": 1, "channel_id": world.proposed_channel,
                                               "guild_id": GUILD, "rate": 0})
            time.sleep(0.5)
            m["rss_next"] = status_kb(pid, "VmRSS")
            assert bot.proc.poll() is None, "the bot exited"
            mem = m
    return polled, parts, mem, sent


def run_parts(emu):
    parts = os.environ.get("BENCH_STARTUP", os.path.join(ROOT, "build", "musl", "bench_startup"))
    if not os.access(parts, os.X_OK):
        print("startup: %s not built; the parts alone are skipped" % parts)
        return
    u = urlparse(emu.api_base)
    out = subprocess.run([parts, u.hostname, str(u.port), emu.ca_file], capture_output=True, text=True,
                         timeout=300)
    sys.stdout.write(out.stdout)
    if out.returncode != 0:
        raise RuntimeError("bench_startup failed: %s" % out.stderr)


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
        # as the suite runs it: REST and gateway on the emulator's one
        # address, so the gateway resumes the REST connection's TLS session
        starts, parts, mem = [], [], []
        for i in range(runs):
            # memory, every run (a new process each time): medians below
            polled, p, m, sent = start_once(emu, world, db, os.path.join(tmp, "bot%d" % i), memory=True)
            starts.append(polled)
            parts.append(p)
            mem.append(m)
        # as against Discord, whose gateway is another host than its REST
        # API: the gateway on a second name for the same emulator (its
        # certificate holds both), so its handshake is a full one
        port = urlparse(emu.api_base).port
        emu.config(gateway_url="wss://localhost:%d" % port)
        starts2, parts2 = [], []
        for i in range(runs):
            polled, p, _, _ = start_once(emu, world, db, os.path.join(tmp, "bot-gw%d" % i))
            starts2.append(polled)
            parts2.append(p)
        print("startup: CPU from exec to READY %.1f ms (median of %d: %s; goal <= 10 ms), REST and gateway on"
              " the emulator's one address" % (statistics.median(starts), len(starts),
                                               ", ".join("%.1f" % s for s in starts)))
        print_breakdown(parts)
        print("startup: CPU from exec to READY %.1f ms (median of %d: %s), the gateway on a second host name"
              " (localhost: a name lookup and a full handshake, as with Discord's gateway)"
              % (statistics.median(starts2), len(starts2), ", ".join("%.1f" % s for s in starts2)))
        print_breakdown(parts2)
        run_parts(emu)
        med = {k: statistics.median(m[k] for m in mem) for k in mem[0]}
        print("memory: after READY RSS %d kB (peak %d kB); after a %.0f KB GUILD_CREATE (%d channels, "
              "%d members) RSS %d kB, peak (VmHWM) %d kB (goal <= 2048 kB); after the next payload RSS %d kB "
              "(medians of %d; peaks %s)"
              % (med["rss_ready"], med["hwm_ready"], sent["bytes"] / 1024, sent["channels"], sent["members"],
                 med["rss"], med["hwm"], med["rss_next"], len(mem), ", ".join("%d" % m["hwm"] for m in mem)))
        print("memory: the gateway pruned the GUILD_CREATE to %s as it streamed (only what the guild cache "
              "reads is parsed)" % ("%.0f KB" % (med["pruned"] / 1024) if med["pruned"] >= 0 else "-- (not pruned)"))
    print("binary: %s is %d bytes (%d KiB)" % (binary, os.path.getsize(binary), os.path.getsize(binary) // 1024))


if __name__ == "__main__":
    main()
