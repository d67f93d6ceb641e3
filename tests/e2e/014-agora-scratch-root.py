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
"""

import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agora import ROOT, Agora, World  # noqa: E402
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
        with Agora(os.path.join(tmp, "bot"), emu, world, scratch=True) as bot:
            present = sorted(os.path.relpath(os.path.join(d, f), bot.root)
                             for d, _, files in os.walk(bot.root) for f in files)
            assert present == ["agora", "agora.conf", "dev/null", "dev/urandom",
                               "etc/ssl/certs/ca-certificates.crt",
                               "run/secrets/db_password", "run/secrets/discord_bot_token"], present
            bot.wait_online()
            it = bot.slash("status")
            assert it["responses"][0]["data"]["content"] == \
                "Status: OK. DB: Connected. Redis: Connected.", it["responses"][0]
            code, out = bot.healthcheck()
            assert code == 0, (code, out)
            status, took = bot.stop()
            assert status == 0 and took < 5.0, (status, took)
    print("ok")


if __name__ == "__main__":
    main()
