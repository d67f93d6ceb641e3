"""Per-route buckets and the global limit (docs: Topics, "Rate Limits").

A route is the method plus the path with its top-level ("major") resource
ids kept -- channels/{channel_id}, guilds/{guild_id}, webhooks/{id}/{token}
-- and every other id replaced. The bucket hash (X-RateLimit-Bucket) names
the route template, so /channels/1/messages and /channels/2/messages share
a hash but count separately, as on Discord.
"""

import hashlib
import math
import re
import time

MAJOR = {"channels": "{channel_id}", "guilds": "{guild_id}", "webhooks": "{webhook_id}"}
ID = re.compile(r"^\d{1,20}$")


def route_of(method, path):
    """(template, major) for a path below /api/v10.

    template: "POST /channels/{channel_id}/messages/{id}"; major: the kept
    ids joined ("123" or "app:token"), empty when there is none."""
    parts = path.strip("/").split("/")
    out, major = [], []
    i = 0
    while i < len(parts):
        seg = parts[i]
        prev = parts[i - 1] if i else ""
        if prev in MAJOR and i == 1 and (ID.match(seg) or seg.startswith("@")):
            out.append(MAJOR[prev] if ID.match(seg) else seg)
            major.append(seg)
            if prev == "webhooks" and i + 1 < len(parts):  # webhooks/{id}/{token}
                out.append("{webhook_token}")
                major.append(parts[i + 1])
                i += 1
        elif prev == "interactions" and i + 1 < len(parts):
            # interactions/{id}/{token}/callback: its own bucket per interaction
            out += ["{interaction_id}", "{interaction_token}"]
            major += [seg, parts[i + 1]]
            i += 1
        elif ID.match(seg):
            out.append("{id}")
        else:
            out.append(seg)
        i += 1
    return "%s /%s" % (method, "/".join(out)), ":".join(major)


def exempt_from_global(template):
    """Interaction endpoints (the callback, and /webhooks/{application_id}/
    {interaction_token}/...) are not bound to the global limit."""
    return template.startswith("POST /interactions/") or "{webhook_token}" in template


# Discord publishes no per-route numbers (they come in the headers); these
# are the ones clients observe, for tests that want Discord's pace:
# `POST /ratelimits {"profile": "discord"}` (POST /reset goes back to start-up).
PROFILES = {
    "discord": {
        "POST /channels/{channel_id}/messages": (5, 5.0),      # "0/5" with a ~5 s reset
        "GET /channels/{channel_id}/messages": (5, 5.0),       # history: 5 per 5 s per channel
        "PATCH /channels/{channel_id}": (10, 15.0),            # the channel-edit bucket
        "PATCH /channels/{channel_id} name/topic": (2, 600.0),  # renames: 2 per 10 minutes
        "DELETE /channels/{channel_id}/messages/{id}": (5, 1.0),
        "PATCH /channels/{channel_id}/messages/{id}": (5, 5.0),
    },
}


class Bucket:
    __slots__ = ("limit", "window", "count", "reset_at")

    def __init__(self, limit, window):
        self.limit, self.window, self.count, self.reset_at = limit, window, 0, 0.0


class RateLimiter:
    """Fixed windows per (template, major); a sliding 1-window global count."""

    def __init__(self, default_limit=50, default_window=1.0, global_limit=50, global_window=1.0):
        self.default = (default_limit, default_window)
        self.routes = {}  # template -> (limit, window)
        self.global_limit, self.global_window = global_limit, global_window
        self.buckets = {}
        self.global_hits = []
        self.global_counted = 0  # every request ever counted in the global window
        self.initial = (self.default, global_limit, global_window)

    def restore(self):
        """Back to the start-up settings, with fresh buckets (POST /reset)."""
        self.default, self.global_limit, self.global_window = self.initial
        self.routes.clear()
        self.buckets.clear()
        self.global_hits.clear()

    def configure(self, cfg):
        if "profile" in cfg:
            if cfg["profile"] not in PROFILES:
                raise ValueError("unknown rate-limit profile %r (known: %s)" % (cfg["profile"], ", ".join(PROFILES)))
            self.routes.update(PROFILES[cfg["profile"]])
        if "default" in cfg:
            self.default = (int(cfg["default"]["limit"]), float(cfg["default"]["window"]))
        if "global" in cfg:
            self.global_limit = int(cfg["global"]["limit"])
            self.global_window = float(cfg["global"].get("window", 1.0))
        for template, v in (cfg.get("routes") or {}).items():
            self.routes[template] = (int(v["limit"]), float(v["window"]))
        if cfg.get("reset"):
            self.buckets.clear()
            self.global_hits.clear()

    def global_window_state(self):
        """(requests counted in the global window now, seconds until the
        newest leaves it). Discord counts the global limit per bot token
        (docs: Rate Limits, "Limits are applied to individual bots ...
        determined using a request's authentication"), so every process
        using the token spends the same window: a bot started right after
        another (a restart, a migration run) cannot see what its
        predecessor spent. Tests that start one after another wait for
        this to empty (client.Control.wait_global_clear)."""
        now = time.time()
        live = [t for t in self.global_hits if t > now - self.global_window]
        return len(live), (max(live) + self.global_window - now) if live else 0.0

    def describe(self):
        in_window, clear_in = self.global_window_state()
        return {"default": {"limit": self.default[0], "window": self.default[1]},
                "global": {"limit": self.global_limit, "window": self.global_window,
                           "in_window": in_window, "clear_in": round(clear_in, 3),
                           "counted": self.global_counted},
                "routes": {k: {"limit": l, "window": w} for k, (l, w) in self.routes.items()}}

    @staticmethod
    def bucket_hash(template):
        return hashlib.sha1(template.encode()).hexdigest()[:32]

    def check(self, template, major):
        """Count one request. Returns (headers, limited) where limited is None
        or {"global": bool, "retry_after": seconds}."""
        now = time.time()
        if not exempt_from_global(template):
            cut = now - self.global_window
            self.global_hits = [t for t in self.global_hits if t > cut]
            if len(self.global_hits) >= self.global_limit:
                retry = self.global_hits[0] + self.global_window - now
                return ({"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global",
                         "Retry-After": str(max(1, math.ceil(retry)))},
                        {"global": True, "retry_after": round(max(retry, 0.001), 3)})
        limit, window = self.routes.get(template, self.default)
        key = (template, major)
        b = self.buckets.get(key)
        if b is None or b.limit != limit or b.window != window:
            b = self.buckets[key] = Bucket(limit, window)
        if now >= b.reset_at:
            b.count, b.reset_at = 0, now + window
        reset_after = b.reset_at - now
        headers = {
            "X-RateLimit-Limit": str(limit),
            "X-RateLimit-Reset": "%.3f" % b.reset_at,
            "X-RateLimit-Reset-After": "%.3f" % reset_after,
            "X-RateLimit-Bucket": self.bucket_hash(template),
        }
        if b.count >= limit:
            headers.update({"X-RateLimit-Remaining": "0", "X-RateLimit-Scope": "user",
                            "Retry-After": str(max(1, math.ceil(reset_after)))})
            return headers, {"global": False, "retry_after": round(max(reset_after, 0.001), 3)}
        b.count += 1
        if not exempt_from_global(template):
            self.global_hits.append(now)
            self.global_counted += 1
        headers["X-RateLimit-Remaining"] = str(limit - b.count)
        return headers, None
