"""Run the real ./agora against the Discord emulator and the test services.

    from agora import World, Agora
    with Emulator(tmp, heartbeat_interval=1000) as emu:
        world = World(emu)                  # the guild, channels and ids Agora needs
        with Agora(tmp, emu, world) as bot:  # fresh database, config, secrets, ./agora
            bot.wait_online()
            ...
        # leaving the block sends SIGTERM; bot.status is the exit status

The PostgreSQL and Redis started by ./build.sh test (tests/services.sh) are
found through AGORA_TEST_* variables; each Agora gets a fresh database so
tests do not see each other's rows. The binary is $AGORA_BIN or ./agora.
"""

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, ROOT)

from tests.emulator.client import Control  # noqa: E402

GUILD = "1200000000000000001"
ADMIN_USER = "1300000000000000001"   # alice, Moderator in the default world
MEMBER_USER = "1300000000000000002"  # bob
# every permission bit an Administrator has: what Discord sends for admins
ADMIN_PERMISSIONS = str((1 << 41) - 1)


def need_env(name):
    value = os.environ.get(name)
    if not value:
        print("SKIP: %s is not set (run under ./build.sh test, which starts the services)" % name)
        sys.exit(0 if not os.environ.get("AGORA_TEST_REQUIRE_SERVICES") else 1)
    return value


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class World:
    """The channels the config names, added to the emulator's default guild."""

    CHANNELS = {
        "ADMIN_NOTIFICATION_CHANNEL_ID": ("1220000000000000003", "admin-notifications", 0),
        "QUEUE_CHANNEL_ID": ("1220000000000000010", "queue", 0),
        "PUBLIC_ANNOUNCEMENT_CHANNEL_ID": ("1220000000000000011", "announcements", 0),
        "PROPOSED_CHANNEL_CATEGORY_ID": ("1220000000000000020", "Proposed", 4),
        "PERMANENT_CHANNEL_CATEGORY_ID": ("1220000000000000030", "Permanent", 4),
        "PROPOSED_ACTIVITY_REPORT_CHANNEL_ID": ("1220000000000000012", "proposed-activity", 0),
        "PERMANENT_ACTIVITY_REPORT_CHANNEL_ID": ("1220000000000000013", "permanent-activity", 0),
    }

    def __init__(self, emu):
        self.emu = emu
        self.ids = {"GUILD_ID": GUILD}
        for key, (cid, name, ctype) in self.CHANNELS.items():
            if key != "ADMIN_NOTIFICATION_CHANNEL_ID":
                emu.add_channel(GUILD, {"id": cid, "name": name, "type": ctype, "announce": False})
            self.ids[key] = cid
        # a channel in the proposed category, for activity tests
        self.proposed_channel = "1220000000000000021"
        emu.add_channel(GUILD, {"id": self.proposed_channel, "name": "idea-one", "type": 0,
                                "parent_id": self.ids["PROPOSED_CHANNEL_CATEGORY_ID"],
                                "announce": False})

    @property
    def admin_channel(self):
        return self.ids["ADMIN_NOTIFICATION_CHANNEL_ID"]


def psql(sql, db=None):
    env = dict(os.environ, PGPASSWORD=need_env("AGORA_TEST_PG_PASSWORD"))
    args = ["psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
            "-h", need_env("AGORA_TEST_PG_HOST"), "-p", need_env("AGORA_TEST_PG_PORT"),
            "-U", need_env("AGORA_TEST_PG_USER"), "-d", db or need_env("AGORA_TEST_PG_DB"),
            "-c", sql]
    return subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout.strip()


def redis(*args):
    cmd = ["redis-cli", "-h", need_env("AGORA_TEST_REDIS_HOST"), "-p", need_env("AGORA_TEST_REDIS_PORT")]
    return subprocess.run(cmd + [str(a) for a in args], check=True, capture_output=True,
                          text=True).stdout.strip()


def services(*args):
    """tests/services.sh stop|start|restart pg|redis."""
    subprocess.run([need_env("AGORA_TEST_SERVICES"), *args], check=True, capture_output=True)


class Agora:
    """A running ./agora with its own config, secrets and database."""

    def __init__(self, workdir, emu, world, extra=None, token=None, start=True, db=None,
                 scratch=False):
        """scratch: run in an otherwise empty root holding only what the
        scratch image holds (/agora, the CA bundle at its default path) plus
        the mounted config and secrets, under chroot."""
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.emu = emu
        self.world = world
        self.binary = os.environ.get("AGORA_BIN", os.path.join(ROOT, "agora"))
        self.db = db or "agora_e2e_" + uuid.uuid4().hex[:12]
        if not db:
            psql("CREATE DATABASE %s" % self.db)
        self.scratch = scratch
        self.root = os.path.join(self.workdir, "root") if scratch else None
        if scratch:
            secrets = os.path.join(self.root, "run", "secrets")
            os.makedirs(os.path.join(self.root, "etc", "ssl", "certs"), exist_ok=True)
            shutil.copy(emu.ca_file, os.path.join(self.root, "etc", "ssl", "certs",
                                                  "ca-certificates.crt"))
            shutil.copy(self.binary, os.path.join(self.root, "agora"))
            # what a container runtime gives even a scratch image (Docker
            # creates /dev/null, /dev/urandom, ...): libpq, built without
            # OpenSSL, reads /dev/urandom for the SCRAM nonce
            os.makedirs(os.path.join(self.root, "dev"), exist_ok=True)
            for name, minor in (("null", 3), ("urandom", 9)):
                path = os.path.join(self.root, "dev", name)
                if not os.path.exists(path):
                    os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, minor))
        else:
            secrets = os.path.join(self.workdir, "secrets")
        os.makedirs(secrets, exist_ok=True)
        with open(os.path.join(secrets, "discord_bot_token"), "w") as f:
            f.write((token or emu.token) + "\n")
        with open(os.path.join(secrets, "db_password"), "w") as f:
            f.write(need_env("AGORA_TEST_PG_PASSWORD") + "\n")
        self.health_port = free_port()
        conf = dict(world.ids)
        conf.update({
            "LOG_LEVEL": "DEBUG",
            "DB_HOST": need_env("AGORA_TEST_PG_HOST"), "DB_PORT": need_env("AGORA_TEST_PG_PORT"),
            "DB_NAME": self.db, "DB_USER": need_env("AGORA_TEST_PG_USER"),
            "REDIS_HOST": need_env("AGORA_TEST_REDIS_HOST"),
            "REDIS_PORT": need_env("AGORA_TEST_REDIS_PORT"),
            "DISCORD_API_URL": emu.api_base, "HEALTH_PORT": str(self.health_port),
            "STATS_REFRESH_INTERVAL_MINUTES": "0.05",
        })
        if not scratch:  # in the scratch root the defaults are the paths
            conf.update({"TLS_CA_FILE": emu.ca_file, "SECRETS_DIR": secrets})
        conf.update(extra or {})
        self.config = os.path.join(self.root or self.workdir, "agora.conf")
        with open(self.config, "w") as f:
            for k, v in conf.items():
                f.write("%s = %s\n" % (k, v))
        self.log_path = os.path.join(self.workdir, "agora.log")
        self.proc = None
        self.status = None
        if start:
            self.start()

    def start(self):
        self.log = open(self.log_path, "a")
        env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_CONFIG")}
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(self.command("-c", self.conf_arg()), cwd=self.workdir, env=env,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def conf_arg(self):
        return "/agora.conf" if self.scratch else self.config

    def command(self, *args):
        if self.scratch:
            return ["chroot", self.root, "/agora", *args]
        return [self.binary, *args]

    def log_text(self):
        with open(self.log_path) as f:
            return f.read()

    def wait_log(self, text, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log_text():
                return True
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        raise AssertionError("log never said %r; log:\n%s" % (text, self.log_text()[-3000:]))

    def messages(self, channel_id):
        return self.emu.messages(channel_id)

    def embeds_titled(self, channel_id, title):
        return [m for m in self.messages(channel_id)
                if any(e.get("title") == title for e in m.get("embeds") or [])]

    def wait_online(self, timeout=15):
        """Commands registered and "Bot Online" posted, by THIS bot: an
        earlier bot on the same emulator (a migration run, a restart) has
        posted its own, so its own log line is what says its session is up."""
        self.wait_log("slash commands", timeout=timeout)
        Control.wait_for(lambda: self.embeds_titled(self.world.admin_channel, "Bot Online"),
                         timeout=timeout, what="Bot Online in the admin channel")
        Control.wait_for(lambda: self.emu.commands().get(GUILD),
                         timeout=timeout, what="guild commands registered")

    def slash(self, name, options=None, admin=True, **kw):
        """Injects /name and waits for the interaction's first response."""
        kw.setdefault("user_id", ADMIN_USER if admin else MEMBER_USER)
        kw.setdefault("permissions", ADMIN_PERMISSIONS if admin else "0")
        inj = self.emu.inject_slash(name, options or {}, **kw)
        it = Control.wait_for(lambda: (lambda i: i if i["responses"] else None)(
            self.emu.interaction(inj["id"])), timeout=5, what="a response to /%s" % name)
        return it

    def healthcheck(self):
        r = subprocess.run(self.command("--healthcheck", "-c", self.conf_arg()), capture_output=True,
                           text=True, timeout=10)
        return r.returncode, (r.stdout + r.stderr).strip()

    def stop(self, sig=signal.SIGTERM, timeout=10):
        """Signals the bot and waits; returns (exit status, seconds taken)."""
        if self.proc.poll() is None:
            t0 = time.monotonic()
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            took = time.monotonic() - t0
        else:
            took = 0.0
        self.status = self.proc.returncode
        self.log.close()
        return self.status, took

    def leaked_tokens(self):
        """Credentials the emulator issued that appear in this bot's log
        (issue 9.4: interaction and webhook tokens never reach a log line)."""
        issued = self.emu.tokens()
        text = self.log_text()
        leaked = [t for t in issued["interaction_tokens"] if t in text]
        if issued["bot_token"] and issued["bot_token"] in text:
            leaked.append(issued["bot_token"])
        return leaked, len(issued["interaction_tokens"])

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc and self.proc.poll() is None:
            self.stop()
        elif self.proc:
            self.status = self.proc.returncode
            self.log.close()
        if exc[0] is not None:
            print("---- agora log (last 4000 bytes) ----\n" + self.log_text()[-4000:])
        elif self.proc:
            # every test's teardown: no token the emulator issued is in the log
            leaked, issued = self.leaked_tokens()
            print("token check: %d interaction tokens issued, %d found in %s" % (issued, len(leaked),
                                                                                 self.log_path))
            if leaked:
                lines = [line for line in self.log_text().splitlines() if any(t in line for t in leaked)]
                raise AssertionError("%d token(s) in the agora log, e.g.:\n%s" % (len(leaked), "\n".join(lines[:5])))


def counting_agora(workdir, emu, world, **kw):
    """A started Agora counting messages in world.proposed_channel: the
    database migrated by a first run, the channel tracked, its Redis keys
    empty. Returns (bot, stats_key); the caller enters the bot's `with`."""
    with Agora(os.path.join(workdir, "migrate"), emu, world) as first:
        first.wait_log("database schema up to date")
        db = first.db
    psql("INSERT INTO tracked_channels VALUES (%s, 'proposed')" % world.proposed_channel, db=db)
    key = "channel_stats:%s" % world.proposed_channel
    redis("DEL", key, "channel_activity:%s" % world.proposed_channel)
    return Agora(os.path.join(workdir, "bot"), emu, world, db=db, **kw), key


def wait_count(key, expected, timeout=15):
    """Redis's total_messages for key reaches expected, and is still exactly
    that a moment later (a count doubled by a replay would go past it)."""
    Control.wait_for(lambda: redis("HGET", key, "total_messages") == str(expected), timeout=timeout,
                     interval=0.1, what="total_messages == %d" % expected)
    time.sleep(0.3)
    got = redis("HGET", key, "total_messages")
    assert got == str(expected), "total_messages went from %d to %s" % (expected, got)


def report(emu, description, user=MEMBER_USER, options=None, **kw):
    """/report from user (a member without rights): waits for the answer and
    checks what Discord requires of it (spec 6.4: an ephemeral "Thank you
    for your report." within 3 seconds). Returns the emulator's record of
    the interaction (its "id", "responses"[0]["elapsed"], ...). kw goes to
    inject_slash (attachments=...)."""
    inj = emu.inject_slash("report", dict({"description": description}, **(options or {})),
                           user_id=user, permissions="0", **kw)
    it = Control.wait_for(lambda: (lambda i: i if i["responses"] else None)(
        emu.interaction(inj["id"])), timeout=5, what="the thank-you for %r" % description)
    r = it["responses"][0]
    assert r["type"] == 4 and r["data"]["flags"] & 64, r
    assert r["data"]["content"] == "Thank you for your report.", r
    assert r["elapsed"] < 3.0, r
    return it
