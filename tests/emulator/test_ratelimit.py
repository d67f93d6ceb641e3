"""Rate-limit self-tests: headers on every response, per-route buckets with
major parameters, real 429s (user and global), interaction exemption,
counters."""

import time

from tests.emulator.testlib import rest

GUILD = "1200000000000000001"
GENERAL = "1220000000000000002"
ADMIN = "1220000000000000003"
ROUTE = "POST /channels/{channel_id}/messages"


def post(emu, channel=GENERAL):
    return rest(emu, "POST", "/channels/%s/messages" % channel, {"content": "x"})


def test_headers_on_every_response(emu):
    r = rest(emu, "GET", "/users/@me")
    for h in ("X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset",
              "X-RateLimit-Reset-After", "X-RateLimit-Bucket"):
        assert h in r.headers, h
    assert r.headers["X-RateLimit-Limit"] == "50" and r.headers["X-RateLimit-Remaining"] == "49"
    assert abs(float(r.headers["X-RateLimit-Reset"]) - time.time() - 1.0) < 0.5
    assert 0 < float(r.headers["X-RateLimit-Reset-After"]) <= 1.0
    assert "X-RateLimit-Scope" not in r.headers


def test_bucket_429_and_reset(emu):
    emu.ratelimits(routes={ROUTE: {"limit": 3, "window": 0.6}})
    seen = [post(emu) for _ in range(3)]
    assert [r.headers["X-RateLimit-Remaining"] for r in seen] == ["2", "1", "0"]
    r = post(emu)
    assert r.status == 429
    assert r.json["message"] == "You are being rate limited." and r.json["global"] is False
    assert 0 < r.json["retry_after"] <= 0.6
    assert r.headers["X-RateLimit-Scope"] == "user" and r.headers["Retry-After"] == "1"
    assert r.headers["X-RateLimit-Remaining"] == "0"
    # major parameter: another channel has its own count but the same bucket hash
    other = post(emu, ADMIN)
    assert other.status == 200 and other.headers["X-RateLimit-Remaining"] == "2"
    assert other.headers["X-RateLimit-Bucket"] == seen[0].headers["X-RateLimit-Bucket"]
    # a different route has a different bucket
    assert rest(emu, "GET", "/users/@me").headers["X-RateLimit-Bucket"] != other.headers["X-RateLimit-Bucket"]
    time.sleep(float(r.headers["X-RateLimit-Reset-After"]) + 0.05)
    assert post(emu).status == 200
    c = emu.counters()
    assert c["429"] == 1 and c["429_global"] == 0
    # minor ids are replaced: edits of two messages share one count
    emu.ratelimits(routes={"PATCH /channels/{channel_id}/messages/{id}": {"limit": 1, "window": 5}})
    ids = [m["id"] for m in emu.messages(GENERAL)][:2]
    assert rest(emu, "PATCH", "/channels/%s/messages/%s" % (GENERAL, ids[0]), {"content": "a"}).status == 200
    assert rest(emu, "PATCH", "/channels/%s/messages/%s" % (GENERAL, ids[1]), {"content": "b"}).status == 429


def test_global_limit_and_interaction_exemption(emu):
    emu.ratelimits(**{"global": {"limit": 5, "window": 1.0}})
    inj = emu.inject_slash("vote")
    codes = [rest(emu, "GET", "/guilds/%s" % GUILD).status for _ in range(5)]
    assert codes == [200] * 5
    r = rest(emu, "GET", "/users/@me")
    assert r.status == 429 and r.json["global"] is True
    assert r.headers["X-RateLimit-Global"] == "true" and r.headers["X-RateLimit-Scope"] == "global"
    # interaction callbacks are not bound to the global limit
    cb = rest(emu, "POST", "/interactions/%s/%s/callback" % (inj["id"], inj["token"]),
              {"type": 4, "data": {"content": "ok"}}, token=None)
    assert cb.status == 204
    c = emu.counters()
    assert c["429"] == 1 and c["429_global"] == 1


def test_global_window_is_per_token_across_clients(emu):
    """Discord counts the global limit per bot token, whoever sends: a
    second process using the token (a restart, a test's migration run)
    inherits what the first spent within the window. The window's count
    is visible (GET /ratelimits) and wait_global_clear waits it out."""
    emu.ratelimits(**{"global": {"limit": 5, "window": 1.0}})
    assert emu.ratelimits()["global"]["in_window"] == 0
    # "the predecessor": two requests, then gone
    assert [rest(emu, "GET", "/guilds/%s" % GUILD).status for _ in range(2)] == [200, 200]
    g = emu.ratelimits()["global"]
    assert g["in_window"] == 2 and 0 < g["clear_in"] <= 1.0, g
    # "the successor" (its own connections, the same token): 3 go, the 4th
    # is the 6th in the window
    other = {"User-Agent": "DiscordBot (https://example.invalid, 2.0) successor"}
    codes = [rest(emu, "GET", "/guilds/%s" % GUILD, headers=other).status for _ in range(4)]
    assert codes == [200, 200, 200, 429], codes
    assert emu.wait_global_clear(timeout=3) == 5
    assert emu.ratelimits()["global"]["in_window"] == 0
    codes = [rest(emu, "GET", "/guilds/%s" % GUILD, headers=other).status for _ in range(5)]
    assert codes == [200] * 5, codes
    assert emu.counters()["429_global"] == 1
