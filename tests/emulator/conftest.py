"""One emulator process for the whole self-test session; each test starts
from a reset world (POST /reset)."""

import os
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tests.emulator.client import Emulator  # noqa: E402


@pytest.fixture(scope="session")
def emulator_process(request):
    workdir = tempfile.mkdtemp(prefix="emulator-selftest-")
    emu = Emulator(workdir, heartbeat_interval=300)
    yield emu
    code = emu.close()
    assert code == 0, "emulator did not exit 0 on SIGTERM (%s)" % code
    if request.session.testsfailed == 0:
        shutil.rmtree(workdir, ignore_errors=True)  # kept (with emulator.log) on failure


@pytest.fixture
def emu(emulator_process):
    emulator_process.reset()
    emulator_process.config(heartbeat_interval=300, interaction_timeout=3.0, privileged_intents=0,
                            category_max_channels=50, shards=1)
    emulator_process.ratelimits(default={"limit": 50, "window": 1.0}, **{"global": {"limit": 50, "window": 1.0}})
    return emulator_process
