/* gateway — one Discord gateway session (Discord docs: Gateway, Gateway
 * Events, Opcodes and Status Codes).
 *
 * What it does: connects to the gateway URL (from GET /gateway/bot) with
 * `?v=10&encoding=json&compress=zlib-stream`, inflates every payload
 * (zstream.h), answers HELLO by heartbeating at the given interval (the
 * first beat jittered) and by IDENTIFYing or RESUMEing, hands every dispatch
 * to the owner, and keeps the session alive:
 *  - a heartbeat without an ACK since the previous one is a zombie
 *    connection: close with 4000 (not 1000/1001, which end the session) and
 *    RESUME through resume_gateway_url;
 *  - op 7 RECONNECT: close with 4000 and RESUME;
 *  - op 9 INVALID_SESSION: RESUME if d is true, else wait 1-5 s and
 *    IDENTIFY anew;
 *  - op 1 from the server: heartbeat at once;
 *  - close codes 4004 and 4010-4014 are fatal (GATEWAY_FATAL, no retry);
 *    4007 and 4009 start a new session; others RESUME, 1000 and 1001 from
 *    the server included;
 *  - when resume_gateway_url fails 3 times in a row before HELLO (refused,
 *    TLS failure, bad URL), the session is given up and a new one
 *    IDENTIFYs on the gateway URL (the owner is asked for a fresh one from
 *    GET /gateway/bot, else the one given at start), so the bot never stays
 *    offline;
 *  - reconnects back off exponentially with full jitter (backoff.h: 1 s
 *    doubling to 60 s), reset by READY/RESUMED.
 * IDENTIFY is rationed: never more often than once per 5 s
 * (max_concurrency 1), never when session_start_limit says none remain
 * (waits for its reset), and with a doubling pause after each identify that
 * did not reach READY, so no fault can make it loop: Discord allows 1,000 a
 * day and resets the token of a bot that goes over.
 *
 * What it does not: sharding, ETF, presence updates, voice. Intents are
 * the caller's (Agora: GUILDS | GUILD_MESSAGES, no privileged ones). */
#ifndef AGORA_GATEWAY_H
#define AGORA_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

struct gateway;
struct json_span;
struct json_value;
struct jsonkeep_rule;
struct loop;
struct tls_trust;

#define GATEWAY_INTENT_GUILDS         (1u << 0)
#define GATEWAY_INTENT_GUILD_MESSAGES (1u << 9)

/* Asks the owner for a fresh gateway URL (Discord: GET /gateway/bot) when
 * the session is given up for an unreachable resume URL. The owner answers
 * with gateway_set_url, at once or later; the new session waits for it at
 * most GATEWAY_URL_WAIT_MS, then uses the URL it has. */
typedef void gateway_url_fn(struct gateway *g, void *data);

/* Receives a dispatch named in gateway_options.raw_events: its name, d's
 * JSON text (the raw value, unparsed; d NULL and d_len 0 when the payload
 * has none) and values[i], the raw value at raw_paths[i] inside d (p NULL
 * when absent), all borrowed for the call. No DOM is built for it: the
 * gateway read the payload in one pass (json_scan_paths: structure and
 * scalars checked, json.h), finding op, s, t, d and the paths as they
 * came. The callback may call gateway_close, not gateway_free. */
typedef void gateway_raw_fn(struct gateway *g, const char *name, const char *d, size_t d_len,
                            const struct json_span *values, void *data);

/* At most this many raw_paths, each at most GATEWAY_RAW_PATH_MAX bytes. */
#define GATEWAY_RAW_PATHS    8
#define GATEWAY_RAW_PATH_MAX 60

/* How long a new session waits for the owner's fresh URL. */
#define GATEWAY_URL_WAIT_MS 10000

struct gateway_options {
	const char *token;             /* the bot token (copied) */
	uint32_t intents;              /* GATEWAY_INTENT_* */
	const char *url;               /* wss://... from GET /gateway/bot (copied) */
	gateway_url_fn *refresh_url;   /* optional: see gateway_url_fn */
	const struct tls_trust *trust; /* borrowed; must outlive the gateway */
	/* session_start_limit from GET /gateway/bot */
	long identify_remaining;
	int64_t identify_reset_after_ms;
	/* tests shorten these; 0 means the default noted */
	int64_t connect_timeout_ms; /* 15 s: connect + TLS + WebSocket handshake */
	int64_t hello_timeout_ms;   /* 20 s: from open to HELLO */
	int64_t identify_gap_ms;    /* 5 s between identifies */
	int64_t backoff_max_ms;     /* 60 s */
	/* optional: what to keep of a payload whose inflated text passes
	 * GATEWAY_SPILL_AT (a GUILD_CREATE of a MiB), by event name
	 * (jsonkeep.h; borrowed, must outlive the gateway). Such a payload is
	 * pruned as it is inflated and only what is kept is parsed, so the
	 * owner sees d with the kept members only; events without a rule, and
	 * every smaller payload, arrive whole. NULL: every payload whole. */
	const struct jsonkeep_rule *keep;
	/* optional: dispatch names (op 0 "t") handed to `raw` instead of the
	 * event callback, without a DOM: the hot path (MESSAGE_CREATE).
	 * NULL-terminated, borrowed (must outlive the gateway); READY and
	 * RESUMED are never raw (the gateway reads them itself). A raw
	 * event's s is tracked as any other's. The scan does not check
	 * UTF-8 inside strings, so a raw event with a bad byte in a string is
	 * delivered, where json_parse would drop the payload as unreadable. */
	const char *const *raw_events;
	gateway_raw_fn *raw;
	/* optional, with raw: paths inside d (json_scan_paths syntax,
	 * "author.bot") whose values come with each raw event; NULL-
	 * terminated, copied. More than GATEWAY_RAW_PATHS, or one longer than
	 * GATEWAY_RAW_PATH_MAX, makes gateway_new fail. */
	const char *const *raw_paths;
};

/* Inflated payloads larger than this are pruned as they stream when the
 * owner gave keep rules (the hot path, a MESSAGE_CREATE of 1.5 KB, is far
 * below and never pays for it). */
#define GATEWAY_SPILL_AT (64 * 1024)

enum gateway_event {
	GATEWAY_READY,    /* a new session: name "READY", d the READY data */
	GATEWAY_RESUMED,  /* the session resumed; missed events were replayed */
	GATEWAY_DISPATCH, /* an event: name ("MESSAGE_CREATE", ...) and d */
	GATEWAY_DOWN,     /* the connection is lost; the gateway reconnects by itself */
	GATEWAY_CLOSED,   /* gateway_close finished; nothing more comes */
	GATEWAY_FATAL,    /* Discord refused for good (bad token, intents, ...):
	                     gateway_error says why; nothing more comes */
};

/* Receives every event; name and d are borrowed for the call (NULL when the
 * event has none). The callback may call gateway_close, not gateway_free. */
typedef void gateway_event_fn(struct gateway *g, enum gateway_event ev, const char *name,
                              const struct json_value *d, void *data);

/* Allocates a session (not connected); NULL when out of memory. */
struct gateway *gateway_new(struct loop *loop, const struct gateway_options *opt,
                            gateway_event_fn *fn, void *data);
/* Closes without ceremony and frees; no event follows. */
void gateway_free(struct gateway *g);
/* Connects and identifies. Returns 0, or -1 (bad URL) with gateway_error. */
int gateway_start(struct gateway *g);
/* Ends the session for good: close code 1000, then GATEWAY_CLOSED (at once
 * when not connected). Discord then shows the bot offline. */
void gateway_close(struct gateway *g);
/* Back-pressure from the owner (cache full while Redis is up): on = 1
 * stops reading the socket after the current event, on = 0 reads on (see
 * ws_pause_reading). Heartbeats still go out; a pause longer than the
 * heartbeat interval would read as a zombie, so the owner keeps it short. */
void gateway_pause_reading(struct gateway *g, int on);
/* Replaces the gateway URL used for new sessions (not for resuming: that
 * is READY's resume_gateway_url); a new session waiting for it goes now.
 * Returns 0, or -1 (not ws:// or wss://, too long, out of memory) keeping
 * the old one. */
int gateway_set_url(struct gateway *g, const char *url);
/* 1 between READY/RESUMED and the loss of the connection. */
int gateway_is_ready(const struct gateway *g);
/* The last error or the reason for GATEWAY_FATAL; "" when none. */
const char *gateway_error(const struct gateway *g);

/* Counters for logs and tests. */
struct gateway_stats {
	long connects, identifies, resumes, heartbeats, acks, zombies, dispatches;
	long resume_url_fallbacks;     /* sessions given up for an unreachable resume URL */
	long pruned;                   /* payloads past GATEWAY_SPILL_AT, pruned as they streamed */
	long parsed;                   /* payloads parsed into a DOM (json_parse) */
	long raw_dispatches;           /* of the dispatches, those handed to raw (no DOM) */
	int64_t last_heartbeat_rtt_ms; /* -1 until the first ACK */
};
void gateway_get_stats(const struct gateway *g, struct gateway_stats *out);

#endif
