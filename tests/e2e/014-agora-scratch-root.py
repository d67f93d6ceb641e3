#!/usr/bin/python3
"""014 — ./agora runs in a root holding only what the scratch image holds.

Proves: under chroot in a directory with nothing but /agora, the CA bundle
at its default path (/etc/ssl/certs/ca-certificates.crt), the config at
/agora.conf, the secrets at /run/secrets and the two device nodes every
container runtime provides (/dev/null, /dev/urandom: libpq's SCRAM nonce
comes from it) — no libc, no shell, no /etc/hosts, no /etc/passwd — the
static binary starts with the default
TLS_CA_FILE and SECRETS_DIR, reaches PostgreSQL, Redis and the emulator,
answers /status, passes `--healthcheck` (run the same way as the image's
HEALTHCHECK), and stops on SIGTERM with status 0 within 5 seconds.
Host names are resolved as in a container on the dbnet network: the root's
/etc/resolv.conf (which Docker provides) names a DNS server (tests/e2e/dns.py,
standing in for Docker's embedded DNS at 127.0.0.11), and the config says
DB_HOST = postgres, REDIS_HOST = redis and DISCORD_API_URL = https://localhost:P
(the emulator's certificate names localhost); the DNS server must have been
asked for postgres and redis.
"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ROOT, Agora, World, need_env  # noqa: E402
from dns import Dns  # noqa: E402
from tests.emulator.client import Emulator  # noqa: E402


def main():
    if os.geteuid() != 0:
        print("SKIP: chroot needs root")
        return
    binary = os.environ.get("AGORA_BIN", os.path.join(ROOT, "agora"))
    kind = subprocess.run(["file", "-b", binary], capture_output=True, text=True).stdout
    if "statically linked" not in kind:
        # the sanitizer build links glibc dynamically; the shipped one is static
        print("SKIP: %s is not static (%s)" % (binary, kind.strip()))
        return
    tmp = tempfile.mkdtemp(prefix="agora-e2e-014-")
    with Emulator(os.path.join(tmp, "emu"), heartbeat_interval=1000) as emu:
        world = World(emu)
        names = {"postgres": need_env("AGORA_TEST_PG_HOST"), "redis": need_env("AGORA_TEST_REDIS_HOST"),
                 "localhost": "127.0.0.1"}
        by_name = {"DB_HOST": "postgres", "REDIS_HOST": "redis",
                   "DISCORD_API_URL": emu.api_base.replace("127.0.0.1", "localhost")}
        with Dns(names) as dns, Agora(os.path.join(tmp, "bot"), emu, world, scratch=True,
                                      extra=by_name, start=False) as bot:
            with open(os.path.join(bot.root, "etc", "resolv.conf"), "w") as f:
                f.write("nameserver %s\n" % dns.address)
            bot.start()
            present = sorted(os.path.relpath(os.path.join(d, f), bot.root)
                             for d, _, files in os.walk(bot.root) for f in files)
            assert present == ["agora", "agora.conf", "dev/null", "dev/urandom",
                               "etc/resolv.conf", "etc/ssl/certs/ca-certificates.crt",
                               "run/secrets/db_password", "run/secrets/discord_bot_token"], present
            bot.wait_online()
            it = bot.slash("status")
            assert it["responses"][0]["data"]["content"] == \
                "Status: OK. DB: Connected. Redis: Connected.", it["responses"][0]
            code, out = bot.healthcheck()
            assert code == 0, (code, out)
            status, took = bot.stop()
            assert status == 0 and took < 5.0, (status, took)
            asked = {name for name, _ in dns.queries}
            assert {"postgres", "redis"} <= asked, dns.queries
    print("ok")


if __name__ == "__main__":
    main()
