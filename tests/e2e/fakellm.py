"""The fake Open WebUI endpoint (tests/peers/fake_llm.py) for e2e tests.

    with FakeLLM() as llm:
        extra = {"OPEN_WEB_UI_URL": llm.url, "OPEN_WEB_UI_MODEL": "e2e-model"}
        llm.control(mode="500") / llm.control(name="retro-gaming")
        llm.requests()  # every completion request: path, authorization, body
"""
import json
import os
import subprocess
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class FakeLLM:
    def __init__(self, mode="ok"):
        # stdin stays open: the peer exits when it closes, so it never
        # outlives the test even if the test dies
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(ROOT, "tests/peers/fake_llm.py"),
                                      "--mode", mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode().split()
        assert line and line[0] == "READY", line
        self.port = int(line[1])
        self.base = "http://127.0.0.1:%d" % self.port
        self.url = self.base + "/chat/completions"

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def control(self, **kw):
        return self.call("POST", "/control", kw)

    def requests(self):
        return self.call("GET", "/requests")

    def close(self):
        if self.proc.poll() is None:
            # closing stdin stops it (a signal too would race its shutdown)
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
