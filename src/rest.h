/* rest — Agora's Discord REST client: requests to DISCORD_API_URL over
 * http, paced by ratelimit, each finishing exactly once through a callback.
 *
 *     struct rest_options o = {.api_url = "https://discord.com/api/v10",
 *                              .token = token, .version = AGORA_VERSION,
 *                              .trust = trust};
 *     struct rest *rest = rest_new(loop, &o, err, sizeof err);
 *     rest_request(rest, "PATCH", "/channels/123/messages/456",
 *                  "{\"content\":\"edited\"}", NULL, on_edited, job);
 *     ...
 *     static void on_edited(int status, const struct json_value *body,
 *                           const char *error, void *data)
 *     {       // error is NULL for 2xx; body is the parsed JSON (or NULL)
 *     }
 *
 * Every request carries (docs: Reference, "Authentication", "User Agent",
 * "HTTP API"): "Authorization: Bot TOKEN", "User-Agent: DiscordBot
 * (https://github.com/agora-bot/agora, VERSION)" (Discord requires that
 * form), "Content-Type: application/json" when it has a body, and, when
 * the caller gives an audit log reason (actions that change the guild),
 * "X-Audit-Log-Reason" percent-encoded (docs: Resources, "Audit Log": the
 * header must be URL-encoded; we encode everything but RFC 3986 2.3's
 * unreserved characters, so spaces, '%' and UTF-8 survive).
 *
 * Pacing (docs: Topics, "Rate Limits"; the arithmetic is ratelimit.c's):
 *  - One FIFO queue per route + major id (ratelimit_route_of). The head of
 *    each queue asks ratelimit_acquire before it is sent; every answer (or
 *    failure) is reported with ratelimit_done. A wait arms the one wake
 *    timer; "wait for the in-flight answer" waits for a completion. Queues
 *    are independent, so a slow bucket never holds back another; at most
 *    max_in_flight requests are on the wire at once (the http pool size,
 *    so a request let go by the limiter is sent at once, not parked in
 *    http's own queue where the limiter's clock would no longer be true).
 *  - The global limit (50/s) binds every route but interaction callbacks
 *    (ratelimit marks them exempt); exempt queues are served first, since
 *    an interaction must be answered within 3 s.
 *
 * Responses:
 *  - 2xx: callback(status, body, NULL).
 *  - 429 with a JSON body: wait retry_after (seconds, a float), then send
 *    the same request again, at most max_retries times; then it fails with
 *    "gave up after N rate-limited attempts (429)". A 429 means Discord did
 *    not act on the request, so this is safe even for POST.
 *  - 429 whose body is not JSON: Cloudflare blocked us (docs: "Invalid
 *    Request Limit"). Every request but interaction answers (exempt from
 *    the global limit, and due within 3 s) is held for as long as its
 *    Retry-After says, at most cloudflare_block_ms (60 s; the cap too when
 *    there is no Retry-After), and an error is logged; the request that met
 *    it is retried after the block like any 429 (deferred, not failed: work
 *    queued during a block still matters afterwards, e.g. a queue message
 *    edit).
 *  - 401: the token is wrong or revoked. rest becomes fatal at once: every
 *    queued request fails with "Discord rejected the bot token (401)", and
 *    so does every later rest_request (it returns -1); rest_is_fatal()
 *    tells main to exit with that sentence. Nothing is retried.
 *  - 5xx and transport errors (no response) are retried with exponential
 *    backoff (backoff.h: full jitter up to retry_base_ms, doubling to 30 s)
 *    only for GET, PUT, PATCH and DELETE:
 *    GET/PUT/DELETE are idempotent (RFC 9110 9.2.2), and Discord's PATCH
 *    endpoints set the given fields to the given values, so sending one
 *    twice leaves the same state. POST creates (a message, a channel, an
 *    emoji, an interaction response): once it may have reached Discord it
 *    is never sent again; its caller gets the error. The exception is a
 *    message POST (POST /channels/{id}/messages): rest adds a random
 *    "nonce" with "enforce_nonce": true to its body (unless the caller
 *    named a nonce), so Discord answers a repeat within a few minutes with
 *    the message already created instead of posting twice; it is retried
 *    like a PATCH. (A repeated DELETE may
 *    answer 404 "Unknown Message" when the first did arrive; callers treat
 *    that as done.)
 *  - Other statuses: callback(status, body, sentence), where a Discord
 *    error body {"code", "message", "errors"} becomes one readable line:
 *    "50035 Invalid Form Body: embeds.0.title: Must be 256 or fewer in
 *    length." (docs: Reference, "Error Messages").
 *
 * What it does not: multipart uploads (nothing Agora sends needs them:
 * Discord's create-emoji takes the image as a data URI inside JSON), the
 * gateway, caching, or anything of Agora's own. */
#ifndef AGORA_REST_H
#define AGORA_REST_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct tls_trust;
struct json_value;

/* Discord's global limit for a bot: 50 requests per second. */
#define REST_GLOBAL_PER_SECOND_DEFAULT 50
/* Requests on the wire at once, and the http pool's connections to
 * Discord. Eight keeps several buckets moving (a burst of edits in one
 * channel while another channel is posted to) with few sockets. */
#define REST_IN_FLIGHT_DEFAULT 8
/* Retries of one request after 429s, and separately after 5xx or transport
 * errors. Five rate-limited attempts in a row means the limits are badly
 * out of step; the caller hears of it instead of waiting forever. */
#define REST_RETRIES_DEFAULT 5
/* One attempt, from send to the whole response. Discord answers in well
 * under a second; 15 s covers a slow moment without hanging a job. */
#define REST_TIMEOUT_MS_DEFAULT 15000
/* The ceiling of the first backoff after a 5xx or a transport error;
 * doubled each time (the wait is a random pick below it). */
#define REST_RETRY_BASE_MS_DEFAULT 1000
/* The longest a Cloudflare block (a non-JSON 429) holds requests, whatever
 * its Retry-After says. A stray block page (one edge node, a mistaken
 * rule) must not freeze the bot for minutes; a real ban answers the next
 * probe with another 429, and one probe a minute costs nothing. */
#define REST_CLOUDFLARE_BLOCK_MS_DEFAULT (60 * 1000)
/* Requests queued or in flight at once. Agora issues a handful per user
 * action; past this something is stuck, and new requests fail fast. */
#define REST_PENDING_MAX 1024
/* Longest path shown in a log line; longer ones are cut. */
#define REST_LOG_PATH_MAX 160
/* Longest error sentence handed to a callback (a Discord error body can
 * list many fields; the rest is cut, ending in "..."). */
#define REST_ERROR_MAX 512
/* Discord keeps at most 512 characters of an audit log reason; longer
 * reasons are cut there (on a UTF-8 boundary) before encoding. */
#define REST_AUDIT_REASON_MAX_CHARS 512

struct rest_options {
	const char *api_url;           /* e.g. "https://discord.com/api/v10"; copied */
	const char *token;             /* the bot token, without "Bot "; copied */
	const char *version;           /* Agora's version, for the User-Agent; copied */
	const struct tls_trust *trust; /* CA bundle for https; borrowed, outlives rest */
	int global_per_second;         /* 0: REST_GLOBAL_PER_SECOND_DEFAULT */
	int max_in_flight;             /* 0: REST_IN_FLIGHT_DEFAULT */
	int max_retries;               /* 0: REST_RETRIES_DEFAULT */
	int64_t timeout_ms;            /* 0: REST_TIMEOUT_MS_DEFAULT */
	int64_t retry_base_ms;         /* 0: REST_RETRY_BASE_MS_DEFAULT */
	int64_t cloudflare_block_ms;   /* cap of a block; 0: REST_CLOUDFLARE_BLOCK_MS_DEFAULT */
};

struct rest;

/* Runs exactly once per accepted request, from the loop (never inside
 * rest_request). status: the final HTTP status, 0 when no response came.
 * body: the response's JSON, NULL when it had none or it was not JSON.
 * error: NULL for a 2xx, otherwise a readable sentence. body and error are
 * borrowed: valid only during the call; copy what you keep. The callback
 * may call rest_request, but not rest_free (defer that). */
typedef void rest_done_fn(int status, const struct json_value *body, const char *error, void *data);

/* A client bound to loop. NULL with the reason in err (a bad api_url, a
 * missing token, out of memory). */
struct rest *rest_new(struct loop *loop, const struct rest_options *opt, char *err, size_t err_len);
/* Runs every queued and in-flight request's callback once, with the error
 * "rest client closed", then frees everything. Not from inside one of this
 * client's callbacks. */
void rest_free(struct rest *rest);

/* Queues method (GET, POST, PUT, PATCH, DELETE) on path, relative to
 * api_url ("/channels/123/messages", a query allowed), with json_body
 * (NUL-terminated JSON, copied; NULL for none) and audit_reason (UTF-8,
 * copied and encoded; NULL for none). fn(data) runs exactly once, later.
 * Returns 0, or -1 at once with the reason in rest_error (fn never runs):
 * a bad method or path, REST_PENDING_MAX reached, out of memory, the client
 * is fatal (a 401 was seen) or closing. */
int rest_request(struct rest *rest, const char *method, const char *path, const char *json_body,
                 const char *audit_reason, rest_done_fn *fn, void *data);
/* The reason the last rest_request returned -1 (or the fatal sentence). */
const char *rest_error(const struct rest *rest);
/* 1 once Discord rejected the token (401): nothing more will be sent and
 * main should exit with rest_error(). */
int rest_is_fatal(const struct rest *rest);

/* Counters, for tests and the health report. */
struct rest_stats {
	uint64_t sent;         /* attempts put on the wire */
	uint64_t succeeded;    /* callbacks with a 2xx */
	uint64_t failed;       /* callbacks with an error */
	uint64_t rate_limited; /* 429 responses (each one retried or failed) */
	uint64_t retries;      /* attempts after a 5xx or transport error */
	uint64_t blocks;       /* Cloudflare blocks (non-JSON 429s) */
	long invalid_requests; /* 401/403/429 in the last 10 minutes */
	size_t pending;        /* queued or in flight now */
};
void rest_stats(const struct rest *rest, struct rest_stats *out);

/* ---------------------------------------------------------------- pure */

/* Percent-encodes s (RFC 3986 2.1: "%XX", upper-case hex) keeping only
 * unreserved characters (2.3: ALPHA DIGIT - . _ ~), cut first to
 * REST_AUDIT_REASON_MAX_CHARS characters. Writes a NUL-terminated string
 * into out; returns its length, or -1 if it does not fit in cap. */
int rest_encode_reason(const char *s, char *out, size_t cap);

/* The form of a path that logs show: the token segment of
 * /webhooks/{id}/{token}... and /interactions/{id}/{token}/... replaced by
 * "{token}" (interaction and webhook tokens are 15-minute credentials and
 * never reach a log line). Always NUL-terminates out (cap > 0), cutting a
 * path too long. */
void rest_log_path(const char *path, char *out, size_t cap);

/* The readable sentence for an error response: from a Discord error body
 * (root, may be NULL) "CODE MESSAGE: path: message; path: message", else
 * "HTTP STATUS REASON". Always NUL-terminates out (cap > 0), cutting with
 * "..." when it is too long. */
void rest_error_sentence(int status, const char *reason, const struct json_value *root, char *out,
                         size_t cap);

#endif
