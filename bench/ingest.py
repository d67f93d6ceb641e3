#!/usr/bin/python3
"""ingest.py — the message hot path, measured from outside (issue 13.4, 13.5).

The Discord emulator (tests/emulator, its /bench/stream route) streams N
realistic MESSAGE_CREATE events (about 1.6 KB of JSON each: author,
member, mentions, embeds, content; about 17% after zlib) over TLS +
zlib-stream to the real ./agora, which counts them in a real Redis
(tests/services.sh). The whole compressed stream is built before the
timed window, so the emulator is not what is measured.

  burst    the bot is SIGSTOPped, the stream is written (it queues in the
           socket and the emulator's send buffer), the bot is SIGCONTed;
           timed from SIGCONT to the last count in Redis
  trickle  10,000 msgs/s, one TLS record per message, as Discord sends;
           timed from the first write to the last count

Printed per mode, medians of RUNS runs: messages/s, the bot's CPU µs per
message (/proc/PID/stat utime + stime), Redis's CPU µs per message (INFO
cpu, the whole server), and for the burst the recv/read syscalls per
message (one extra run of each mode counted by perf stat
 on the syscall tracepoints, or strace -c, not timed). The parts alone
(bench_ingest_parts over the same payloads, in the same run) and the
peer (bench/peer/peer.py, discord.py doing the same counting into the same
keys, same emulator and workload) are printed beside, with ratios.

    ./build.sh bench          (builds, starts the services, runs this)
    bench/ingest.py [--burst N] [--trickle N] [--runs R] [--no-peer]
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, ROOT)

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class Redis:
    """A minimal RESP client on one socket: polling must be cheap."""

    def __init__(self, host, port):
        self.s = socket.create_connection((host, int(port)))
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.s.makefile("rb")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.reply()

    def reply(self):
        line = self.f.readline()
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            return [self.reply() for _ in range(int(rest))]
        raise RuntimeError("bad reply %r" % line)

    def cpu(self):
        info = self.cmd("INFO", "cpu")
        vals = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
        return float(vals["used_cpu_sys"]) + float(vals["used_cpu_user"])


def proc_cpu(pid):
    """utime + stime of the whole process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_status(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])  # kB
    return 0


class Target:
    """A counting bot under test: pid, its session id in the emulator."""

    def __init__(self, name, pid, session_id):
        self.name, self.pid, self.session_id = name, pid, session_id


def count(r, key):
    v = r.cmd("HGET", key, "total_messages")
    return int(v) if v else 0


def wait_total(r, key, expected, timeout):
    deadline = time.monotonic() + timeout
    while True:
        n = count(r, key)
        if n >= expected:
            return time.monotonic(), n
        if time.monotonic() > deadline:
            raise TimeoutError("counted %d of %d" % (n, expected))
        time.sleep(0.001)


def reset_keys(r, world):
    r.cmd("DEL", "channel_stats:%s" % world.proposed_channel, "channel_activity:%s" % world.proposed_channel)


def burst(emu, r, world, tgt, n, key, strace=False):
    reset_keys(r, world)
    os.kill(tgt.pid, signal.SIGSTOP)
    try:
        info = emu.call("POST", "/bench/stream", {"count": n, "channel_id": world.proposed_channel,
                                                  "guild_id": world.ids["GUILD_ID"], "rate": 0,
                                                  "session_id": tgt.session_id}, timeout=600)
        time.sleep(0.3)  # the emulator pushes what the socket takes
    finally:
        tracer = None
        if strace:
            tracer = start_tracer(tgt.pid, strace)
            time.sleep(0.5)
        cpu0, rcpu0 = proc_cpu(tgt.pid), r.cpu()
        t0 = time.monotonic()
        os.kill(tgt.pid, signal.SIGCONT)
    t1, got = wait_total(r, key, n, timeout=300)
    cpu1, rcpu1 = proc_cpu(tgt.pid), r.cpu()
    if tracer:
        time.sleep(0.2)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(10)
    assert got == n, "%s counted %d of %d" % (tgt.name, got, n)
    took = t1 - t0
    return {"rate": n / took, "cpu_us": (cpu1 - cpu0) * 1e6 / n, "redis_us": (rcpu1 - rcpu0) * 1e6 / n,
            "took": took, "info": info}


def trickle(emu, r, world, tgt, n, key, rate, strace=None):
    reset_keys(r, world)
    tracer = None
    if strace:
        tracer = start_tracer(tgt.pid, strace)
        time.sleep(0.5)
    cpu0, rcpu0 = proc_cpu(tgt.pid), r.cpu()
    info = emu.call("POST", "/bench/stream", {"count": n, "channel_id": world.proposed_channel,
                                              "guild_id": world.ids["GUILD_ID"], "rate": rate,
                                              "session_id": tgt.session_id}, timeout=600)
    t0 = time.monotonic() - 0.0
    t1, got = wait_total(r, key, n, timeout=300)
    cpu1, rcpu1 = proc_cpu(tgt.pid), r.cpu()
    st = emu.call("GET", "/bench/stream")
    if tracer:
        time.sleep(0.2)
        tracer.send_signal(signal.SIGINT)
        tracer.wait(10)
    assert got == n, "%s counted %d of %d" % (tgt.name, got, n)
    took = t1 - t0
    return {"rate": n / took, "cpu_us": (cpu1 - cpu0) * 1e6 / n, "redis_us": (rcpu1 - rcpu0) * 1e6 / n,
            "took": took, "sent_in": st and st.get("took_s"), "info": info}


def med(runs, k):
    return statistics.median(x[k] for x in runs)


SYSCALLS = ("recvfrom", "read", "poll", "sendto", "write", "writev", "mmap", "munmap")


def start_tracer(pid, path):
    """Counts the bot's syscalls: perf's syscall tracepoints (in-kernel
    counters, cheap), or strace -c (slows the bot, so it batches more)."""
    probe = subprocess.run(["perf", "stat", "-x,", "-e", "syscalls:sys_enter_recvfrom", "true"],
                           capture_output=True)
    if probe.returncode == 0:
        ev = ",".join("syscalls:sys_enter_" + c for c in SYSCALLS)
        return subprocess.Popen(["perf", "stat", "-x,", "-e", ev, "-p", str(pid), "-o", path],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return subprocess.Popen(["strace", "-c", "-f", "-p", str(pid), "-o", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def strace_reads(path, n):
    """recv-family + read syscalls per message from perf stat -x, or
    strace -c output."""
    calls = {}
    with open(path) as f:
        for line in f:
            if "sys_enter_" in line:
                fields = line.split(",")
                if fields[0].strip().isdigit():
                    calls[fields[2].split("sys_enter_")[1]] = int(fields[0])
                continue
            parts = line.split()
            if len(parts) >= 5 and parts[-1].isidentifier() and parts[3].isdigit():
                calls[parts[-1]] = int(parts[3])
            elif len(parts) >= 4 and parts[-1].isidentifier() and parts[2].isdigit():
                calls[parts[-1]] = int(parts[2])
    reads = sum(v for k, v in calls.items() if k in ("recvfrom", "recvmsg", "read", "readv"))
    return reads / n, calls


def session_of(emu, before):
    """The session that identified after `before` sessions existed."""
    gw = emu.gateway()
    sessions = gw.get("sessions") or []
    if len(sessions) <= before:
        return None
    s = sessions[-1]
    return s["session_id"] if s.get("connected") else None


def run_parts(corpus, parts_bin):
    if not parts_bin or not os.path.exists(parts_bin):
        return None
    out = subprocess.run([parts_bin, corpus], capture_output=True, text=True, check=True).stdout
    print(out, end="")
    vals = {}
    for line in out.splitlines():
        if line.startswith("part "):
            _, name, ns = line.split()[:3]
            vals[name] = float(ns) / 1000.0
    return vals


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--burst", type=int, default=int(os.environ.get("BENCH_BURST", 40000)))
    ap.add_argument("--trickle", type=int, default=int(os.environ.get("BENCH_TRICKLE", 20000)))
    ap.add_argument("--rate", type=float, default=10000)
    ap.add_argument("--runs", type=int, default=int(os.environ.get("BENCH_RUNS", 3)))
    ap.add_argument("--peer-n", type=int, default=int(os.environ.get("BENCH_PEER", 6000)))
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--parts", default=os.environ.get("BENCH_PARTS"))
    args = ap.parse_args()

    from agora import World, counting_agora  # noqa: E402 (needs AGORA_TEST_*)
    from tests.emulator.client import Emulator  # noqa: E402

    r = Redis(os.environ["AGORA_TEST_REDIS_HOST"], os.environ["AGORA_TEST_REDIS_PORT"])
    tmp = tempfile.mkdtemp(prefix="agora-bench-ingest-")
    results = {}
    with Emulator(os.path.join(tmp, "emu")) as emu:
        world = World(emu)
        bot, key = counting_agora(tmp, emu, world)
        with bot:
            bot.wait_log("loaded 1 tracked channels")
            bot.wait_online()
            sid = [s for s in emu.gateway()["sessions"] if s.get("connected")][-1]["session_id"]
            tgt = Target("agora", bot.proc.pid, sid)
            rss_ready = proc_status(tgt.pid, "VmRSS")
            # warm-up: pools, buffers, the script cached in Redis
            burst(emu, r, world, tgt, 2000, key)
            runs = [burst(emu, r, world, tgt, args.burst, key) for _ in range(args.runs)]
            info = runs[0]["info"]
            print("ingest: %d MESSAGE_CREATE per run, %.0f B JSON each, %.1f%% on the wire after "
                  "zlib-stream + WebSocket framing (%.1f s to prepare, untimed)"
                  % (args.burst, info["json_bytes"] / args.burst,
                     100.0 * info["wire_bytes"] / info["json_bytes"], info["prepare_s"]))
            results["burst"] = runs
            print("agora burst   : %8.0f msgs/s  bot CPU %6.2f us/msg  redis CPU %6.2f us/msg  "
                  "(median of %d; runs %s msgs/s)" % (med(runs, "rate"), med(runs, "cpu_us"),
                                                      med(runs, "redis_us"), len(runs),
                                                      ", ".join("%.0f" % x["rate"] for x in runs)))
            truns = [trickle(emu, r, world, tgt, args.trickle, key, args.rate) for _ in range(args.runs)]
            results["trickle"] = truns
            print("agora trickle : %8.0f msgs/s  bot CPU %6.2f us/msg  redis CPU %6.2f us/msg  "
                  "(offered %.0f/s, the emulator sent at %.0f/s; median of %d)"
                  % (med(truns, "rate"), med(truns, "cpu_us"), med(truns, "redis_us"), args.rate,
                     statistics.median(args.trickle / (x["sent_in"] or 1e9) for x in truns), len(truns)))
            print("agora trickle/burst CPU per message: %.2fx (goal <= 2x)"
                  % (med(truns, "cpu_us") / med(runs, "cpu_us")))
            # syscalls, in one more burst under strace (slowed; not timed)
            sfile = os.path.join(tmp, "strace.txt")
            sn = min(args.burst, 10000)
            try:
                burst(emu, r, world, tgt, sn, key, strace=sfile)
                per, calls = strace_reads(sfile, sn)
                print("agora burst syscalls: %.3f recv/read per message (%s over %d messages)"
                      % (per, ", ".join("%s %d" % kv for kv in sorted(calls.items(), key=lambda kv: -kv[1])[:6]),
                         sn))
                trickle(emu, r, world, tgt, sn, key, args.rate, strace=sfile)
                per, calls = strace_reads(sfile, sn)
                print("agora trickle syscalls: %.3f recv/read per message (%s over %d messages)"
                      % (per, ", ".join("%s %d" % kv for kv in sorted(calls.items(), key=lambda kv: -kv[1])[:6]),
                         sn))
            except (OSError, subprocess.SubprocessError) as e:
                print("agora syscalls: not measured (%s)" % e)
            rss = proc_status(tgt.pid, "VmRSS")
            hwm = proc_status(tgt.pid, "VmHWM")
            results["agora_rss_kb"] = rss
            print("agora memory: RSS %d kB after READY, %d kB after the runs, peak (VmHWM) %d kB"
                  % (rss_ready, rss, hwm))

        guild_payload = emu.guild(world.ids["GUILD_ID"])
        if not args.no_peer:
            results["peer"] = run_peer(emu, r, world, key, args, tmp)

    # the parts alone, same payload mix
    corpus = os.path.join(tmp, "corpus.jsonl")
    from tests.emulator import bench as ebench
    pool = ebench.build_pool(world.proposed_channel, world.ids["GUILD_ID"], 1)
    with open(corpus, "wb") as f:
        for i, (a, b) in enumerate(pool):
            f.write(b'{"t":"MESSAGE_CREATE","s":%d,"op":0,"d":%s%d%s}\n'
                    % (i + 1, a, ebench.snowflake(int(time.time() * 1000), i), b))
    parts = run_parts(corpus, args.parts)
    # the JSON parsers on varied payloads: these messages, a GUILD_CREATE
    # of ~1.2 MB, heartbeat acks and a READY-sized hello
    json_bin = args.parts and os.path.join(os.path.dirname(args.parts), "bench_json_corpus")
    if json_bin and os.path.exists(json_bin):
        big = ebench.grow_guild(guild_payload, 500, 2000)
        with open(corpus, "ab") as f:
            f.write(json.dumps({"t": "GUILD_CREATE", "s": 2, "op": 0, "d": big}, separators=(",", ":")).encode()
                    + b"\n")
            for i in range(100):
                f.write(b'{"t":null,"s":null,"op":11,"d":null}\n')
                f.write(b'{"t":null,"s":null,"op":10,"d":{"heartbeat_interval":41250}}\n')
        print(subprocess.run([json_bin, corpus], capture_output=True, text=True, check=True).stdout, end="")
    cpu = med(results["burst"], "cpu_us")
    print("agora burst: %.0f messages per CPU-second of the bot (1e6 / CPU us per message; the goal's "
          "'one core' rate: the window's wall-clock rate above also waits for a shared, loaded machine)"
          % (1e6 / cpu))
    if parts:
        total = sum(parts.values())
        print("agora burst CPU per message %.2f us = %.2fx the sum of its parts (%.2f us: %s)"
              % (cpu, cpu / total, total, ", ".join("%s %.2f" % kv for kv in parts.items())))
    peer = results.get("peer")
    if peer:
        prate, pcpu, prss = peer["rate"], peer["cpu_us"], peer["rss_kb"]
        arate = med(results["burst"], "rate")
        print("peer (discord.py) burst: %8.0f msgs/s  CPU %7.2f us/msg (%.0f per CPU-second)  "
              "redis CPU %.2f us/msg  RSS %d kB" % (prate, pcpu, 1e6 / pcpu, peer["redis_us"], prss))
        print("agora vs peer: %.1fx the messages/s (same window), %.1fx per core (CPU per message), "
              "%.1fx less memory (RSS after the runs); goals 10x per core, 20x memory"
              % (arate / prate, pcpu / cpu, prss / max(results["agora_rss_kb"], 1)))
    if os.environ.get("BENCH_JSON"):
        with open(os.environ["BENCH_JSON"], "w") as f:
            json.dump(results, f, default=str)


def run_peer(emu, r, world, key, args, tmp):
    before = len(emu.gateway().get("sessions") or [])
    env = {**os.environ, "PEER_CA": emu.ca_file, "PEER_API": emu.api_base, "PEER_TOKEN": emu.token,
           "PEER_CHANNEL": world.proposed_channel}
    log = open(os.path.join(tmp, "peer.log"), "w")
    proc = subprocess.Popen(["/usr/bin/python3", os.path.join(HERE, "peer", "peer.py")], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        sid = None
        while not sid:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the peer did not connect; see %s" % log.name)
            time.sleep(0.2)
            sid = session_of(emu, before)
            if sid:
                with open(log.name) as f:
                    if "READY" not in f.read():
                        sid = None
        tgt = Target("peer", proc.pid, sid)
        burst(emu, r, world, tgt, 500, key)
        runs = [burst(emu, r, world, tgt, args.peer_n, key) for _ in range(max(1, args.runs - 1))]
        rss = proc_status(proc.pid, "VmRSS")
        return {"rate": med(runs, "rate"), "cpu_us": med(runs, "cpu_us"), "redis_us": med(runs, "redis_us"),
                "rss_kb": rss, "runs": runs}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


if __name__ == "__main__":
    main()
