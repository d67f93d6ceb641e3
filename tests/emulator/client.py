"""What tests use: start an emulator process, talk to its control API, poll.

    from tests.emulator.client import Emulator
    with Emulator(tmpdir, heartbeat_interval=500) as emu:
        emu.ca_file, emu.api_base, emu.gateway_url, emu.token
        emu.inject_slash("ping")
        emu.wait_for(lambda: emu.interactions()[-1]["responses"], timeout=5)

Standard library only (urllib), synchronous: run the bot under test in its
own process or thread and poll from the test.
"""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class ControlError(Exception):
    pass


def make_ca(directory, key_type="ec"):
    """Generate the test CA + server certificate in directory (openssl CLI)."""
    if not os.path.exists(os.path.join(directory, "server.pem")):
        subprocess.run([os.path.join(HERE, "make_ca.sh"), directory], check=True,
                       env={**os.environ, "KEY_TYPE": key_type})
    return os.path.join(directory, "ca.pem")


class Control:
    """A thin JSON client of the control API."""

    def __init__(self, url):
        self.url = url.rstrip("/")

    def call(self, method, path, body=None, timeout=10):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            raise ControlError("%s %s -> %d %s" % (method, path, e.code, e.read().decode(errors="replace")))
        return json.loads(raw) if raw else None

    def get(self, _path, **query):
        if query:
            _path += "?" + urllib.parse.urlencode(query)
        return self.call("GET", _path)

    def post(self, path, body=None):
        return self.call("POST", path, body if body is not None else {})

    # ---- convenience wrappers, one per control endpoint
    def reset(self, **kw):
        return self.post("/reset", kw)

    def config(self, **kw):
        return self.post("/config", kw) if kw else self.get("/config")

    def state(self):
        return self.get("/state")

    def add_guild(self, guild):
        return self.post("/guilds", guild)

    def guild(self, gid):
        return self.get("/guilds/%s" % gid)

    def add_channel(self, gid, channel):
        return self.post("/guilds/%s/channels" % gid, channel)

    def add_member(self, gid, member):
        return self.post("/guilds/%s/members" % gid, member)

    def add_role(self, gid, role):
        return self.post("/guilds/%s/roles" % gid, role)

    def update_guild(self, gid, **kw):
        return self.call("PATCH", "/guilds/%s" % gid, kw)

    def update_role(self, gid, rid, **kw):
        return self.call("PATCH", "/guilds/%s/roles/%s" % (gid, rid), kw)

    def update_member(self, gid, uid, **kw):
        return self.call("PATCH", "/guilds/%s/members/%s" % (gid, uid), kw)

    def remove_member(self, gid, uid, announce=True):
        return self.call("DELETE", "/guilds/%s/members/%s%s" % (gid, uid, "" if announce else "?announce=false"))

    def update_channel(self, cid, **kw):
        return self.call("PATCH", "/channels/%s" % cid, kw)

    def messages(self, channel_id=None):
        return self.get("/channels/%s/messages" % channel_id) if channel_id else self.get("/messages")

    def ratelimits(self, **kw):
        return self.post("/ratelimits", kw) if kw else self.get("/ratelimits")

    def wait_global_clear(self, timeout=5.0, settle=0.1):
        """Waits until no request is left in the emulator's global window:
        Discord counts it per bot token, across processes, so a bot started
        within a second of another using the token (the migration run of a
        test) would inherit the requests the other spent. The window must
        stay empty, with nothing newly counted, for `settle` seconds: a
        request the other process sent just before it exited may still be
        on its way into the emulator. Returns the count found at first."""
        first = self.ratelimits()["global"]["in_window"]

        def clear():
            a = self.ratelimits()["global"]
            if a["in_window"]:
                return False
            time.sleep(settle)
            b = self.ratelimits()["global"]
            return b["in_window"] == 0 and b["counted"] == a["counted"]

        Control.wait_for(clear, timeout=timeout, interval=0.05, what="the emulator's global window to empty")
        return first

    def rest_fault(self, **kw):
        return self.post("/faults/rest", kw)

    def gateway_fault(self, action, **kw):
        return self.post("/faults/gateway", {"action": action, **kw})

    def dispatch(self, event, data, session_id=None):
        return self.post("/inject/dispatch", {"event": event, "data": data, "session_id": session_id})

    def inject_message(self, content, **kw):
        return self.post("/inject/message", {"content": content, **kw})

    def inject_slash(self, name, options=None, **kw):
        return self.post("/inject/slash", {"name": name, "options": options or [], **kw})

    def inject_component(self, custom_id, **kw):
        return self.post("/inject/component", {"custom_id": custom_id, **kw})

    def inject_modal(self, custom_id, fields, shape="action_row", **kw):
        return self.post("/inject/modal", {"custom_id": custom_id, "fields": fields, "shape": shape, **kw})

    def requests(self, **query):
        return self.get("/requests", **query)

    def gateway(self):
        return self.get("/gateway")

    def interactions(self):
        return self.get("/interactions")

    def interaction(self, iid):
        return self.get("/interactions/%s" % iid)

    def commands(self):
        return self.get("/commands")

    def tokens(self):
        return self.get("/tokens")

    def counters(self):
        return self.get("/counters")

    # attachments and the CDN, emojis (control.py add_media_routes)
    def add_attachment(self, filename, **spec):
        """Register an attachment the CDN serves; returns its object (url,
        proxy_url, size, ...) plus data_size, sha256, fetches."""
        return self.post("/attachments", {"filename": filename, **spec})

    def attachments(self):
        return self.get("/attachments")

    def attachment(self, aid):
        return self.get("/attachments/%s" % aid)

    def cdn_requests(self):
        return self.get("/cdn/requests")

    def emojis(self, gid):
        return self.get("/guilds/%s/emojis" % gid)

    def add_emojis(self, gid, name, **kw):
        return self.post("/guilds/%s/emojis" % gid, {"name": name, **kw})

    def emoji_limits(self, gid, **kw):
        return self.post("/guilds/%s/emoji_limits" % gid, kw)

    def fill_history(self, channel_id, count, **kw):
        """Bulk-fill a channel's past (no gateway events); returns a summary."""
        return self.post("/channels/%s/history" % channel_id, {"count": count, **kw})

    def inject_messages(self, count, **kw):
        """count users' messages now, each a MESSAGE_CREATE; returns {ids, sessions}."""
        return self.post("/inject/messages", {"count": count, **kw})

    def history_summary(self, channel_id):
        return self.get("/channels/%s/messages" % channel_id, summary=1)

    @staticmethod
    def wait_for(predicate, timeout=5.0, interval=0.02, what=None):
        """Poll predicate() until it returns something truthy; returns it.
        Raises TimeoutError naming `what` (or the predicate) on timeout."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            try:
                last = predicate()
            except ControlError as e:
                last = e
                if time.monotonic() >= deadline:
                    raise
            else:
                if last:
                    return last
            if time.monotonic() >= deadline:
                raise TimeoutError("timed out after %.1fs waiting for %s (last: %r)"
                                   % (timeout, what or getattr(predicate, "__name__", "condition"), last))
            time.sleep(interval)


class Emulator(Control):
    """Starts `python3 -m tests.emulator` on loopback with a fresh test CA;
    stops it with SIGTERM (and checks it exits 0) on close()."""

    def __init__(self, workdir, heartbeat_interval=41250, interaction_timeout=3.0, token="emulator-bot-token",
                 tls=True, extra_args=(), config=None):
        self.workdir = os.path.abspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        self.token = token
        self.ca_file = make_ca(os.path.join(self.workdir, "ca")) if tls else None
        ready = os.path.join(self.workdir, "emulator-ready.json")
        if os.path.exists(ready):
            os.unlink(ready)
        args = [PYTHON, "-m", "tests.emulator", "--port", "0", "--control-port", "0",
                "--log-dir", self.workdir, "--ready-file", ready, "--token", token,
                "--heartbeat-interval", str(heartbeat_interval),
                "--interaction-timeout", str(interaction_timeout), *extra_args]
        if tls:
            args += ["--cert", os.path.join(self.workdir, "ca", "server.pem"),
                     "--key", os.path.join(self.workdir, "ca", "server.key")]
        if config is not None:
            cfg = os.path.join(self.workdir, "emulator-config.json")
            with open(cfg, "w") as f:
                json.dump(config, f)
            args += ["--config", cfg]
        self.stderr = open(os.path.join(self.workdir, "emulator.stderr"), "w")
        self.proc = subprocess.Popen(args, cwd=ROOT, stdout=self.stderr, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while not os.path.exists(ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("emulator did not start; see %s" % self.stderr.name)
            time.sleep(0.02)
        with open(ready) as f:
            self.info = json.load(f)
        super().__init__(self.info["control_url"])
        self.port = self.info["port"]
        self.api_base = self.info["api_base"]
        self.gateway_url = self.info["gateway_url"]
        self.log_file = os.path.join(self.workdir, "emulator.log")

    def close(self):
        """SIGTERM, then wait; returns the exit status (0 on a clean stop)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.stderr.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
