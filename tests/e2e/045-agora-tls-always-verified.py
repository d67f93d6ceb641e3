#!/usr/bin/python3
"""045 — TLS verification cannot be switched off (issue 12.11).

Proves, with the real ./agora (PostgreSQL and Redis up, so it gets as far
as its first REST call, GET /gateway/bot):
  1. a server whose certificate is self-signed and not in TLS_CA_FILE is
     refused ("certificate not trusted"): the handshake fails, so the
     server never receives a single HTTP byte, let alone the bot token;
  2. the same with every environment variable other programs read to
     trust more or verify less (SSL_CERT_FILE naming the server's own
     certificate, NODE_TLS_REJECT_UNAUTHORIZED=0, PYTHONHTTPSVERIFY=0,
     GIT_SSL_NO_VERIFY, CURL_CA_BUNDLE, ...): Agora reads none of them;
  3. the emulator (a valid certificate from its own CA) is refused too when
     TLS_CA_FILE is the system bundle that does not hold that CA; with the
     emulator's CA it is reached (the control: this test can fail);
  4. the config has no switch: DISCORD_API_URL = http://... (which would
     be TLS off) and keys like TLS_VERIFY = 0 are refused before anything
     is sent.
"""

import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import Agora, World  # noqa: E402
from tests.emulator.client import Control, Emulator  # noqa: E402

# what other TLS stacks read to verify less or trust more
INSECURE_ENV = {
    "NODE_TLS_REJECT_UNAUTHORIZED": "0", "PYTHONHTTPSVERIFY": "0", "GIT_SSL_NO_VERIFY": "1",
    "AGORA_TLS_INSECURE": "1", "AGORA_INSECURE": "1", "TLS_INSECURE": "1", "INSECURE": "1",
    "TLS_VERIFY": "0", "SSL_VERIFY": "0", "SSL_NO_VERIFY": "1", "BEARSSL_NO_VERIFY": "1",
    "TLS_SKIP_VERIFY": "true", "INSECURE_SKIP_VERIFY": "true",
}


class SelfSignedServer:
    """A TLS server with a self-signed certificate; counts the connections
    whose handshake succeeded and the bytes of HTTP it received."""

    def __init__(self, workdir):
        self.cert = os.path.join(workdir, "self.pem")
        self.key = os.path.join(workdir, "self.key")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:127.0.0.1",
                        "-keyout", self.key, "-out", self.cert],
                       check=True, capture_output=True)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(self.cert, self.key)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.handshakes = 0
        self.received = b""
        self.lock = threading.Lock()
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.one, args=(conn,), daemon=True).start()

    def one(self, conn):
        with self.lock:
            self.connections += 1
        conn.settimeout(5)
        try:
            tls = self.ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            conn.close()
            return
        with self.lock:
            self.handshakes += 1
        try:
            data = tls.recv(65536)
            with self.lock:
                self.received += data
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        except (ssl.SSLError, OSError):
            pass
        tls.close()


def refused(bot, server=None, emu=None):
    """The bot reports an untrusted certificate, and nothing reached the peer."""
    bot.wait_log("certificate not trusted", timeout=20)
    if server:
        Control.wait_for(lambda: server.connections > 0, timeout=5, what="a connection")
        assert server.handshakes == 0 and server.received == b"", (server.handshakes, server.received)
    if emu:
        assert emu.requests() == [], emu.requests()


def main():
    tmp = tempfile.mkdtemp(prefix="agora-e2e-045-")
    server = SelfSignedServer(tmp)
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        fake_api = "https://127.0.0.1:%d/api/v10" % server.port

        # 1. a self-signed server, not in TLS_CA_FILE (the emulator's CA)
        with Agora(os.path.join(tmp, "bot1"), emu, world, extra={"DISCORD_API_URL": fake_api}) as bot:
            refused(bot, server=server)
        print("self-signed refused: %d connections, 0 handshakes" % server.connections)

        # 2. with every variable other TLS stacks read
        saved = dict(os.environ)
        os.environ.update(INSECURE_ENV)
        for name in ("SSL_CERT_FILE", "CURL_CA_BUNDLE", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS"):
            os.environ[name] = server.cert
        os.environ["SSL_CERT_DIR"] = tmp
        try:
            before = server.connections
            with Agora(os.path.join(tmp, "bot2"), emu, world, extra={"DISCORD_API_URL": fake_api}) as bot:
                refused(bot, server=server)
            assert server.connections > before
        finally:
            os.environ.clear()
            os.environ.update(saved)
        print("self-signed refused with %d insecure variables set" % (len(INSECURE_ENV) + 5))

        # 3. the emulator with the wrong anchors (the system bundle), then the right ones
        with Agora(os.path.join(tmp, "bot3"), emu, world,
                   extra={"TLS_CA_FILE": "/etc/ssl/certs/ca-certificates.crt"}) as bot:
            refused(bot, emu=emu)
        with Agora(os.path.join(tmp, "bot4"), emu, world) as bot:
            bot.wait_online()
        assert emu.requests(), "the control run reached the emulator"

        # 4. no config switch: refused before anything is sent
        before = server.connections
        http_api = "http://127.0.0.1:%d/api/v10" % server.port
        for extra, says in (({"DISCORD_API_URL": http_api}, "must start with https://"),
                            ({"TLS_VERIFY": "0"}, "unknown key 'TLS_VERIFY'"),
                            ({"TLS_INSECURE": "1"}, "unknown key 'TLS_INSECURE'"),
                            ({"TLS_CA_FILE": ""}, "TLS_CA_FILE")):
            bot = Agora(os.path.join(tmp, "bot5"), emu, world, extra=extra, start=False)
            r = subprocess.run(bot.command("--check-config", "-c", bot.conf_arg()),
                               capture_output=True, text=True, timeout=10)
            assert r.returncode == 1 and says in r.stdout + r.stderr, (extra, r.returncode, r.stdout, r.stderr)
            r = subprocess.run(bot.command("-c", bot.conf_arg()), capture_output=True, text=True, timeout=10)
            assert r.returncode == 1 and says in r.stdout + r.stderr, (extra, r.returncode, r.stdout, r.stderr)
        assert server.connections == before, "a refused config connected"
    print("ok")


if __name__ == "__main__":
    main()
