/* rest — see rest.h. */
#include "rest.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "backoff.h"
#include "buf.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "ratelimit.h"
#include "url.h"

/* Backoff after 5xx/transport errors stops doubling here: Discord's
 * outages are minutes, and a retry every 30 s is enough to notice the end. */
#define RETRY_MAX_MS 30000
/* A bucket's reset (and a 429's retry_after) is waited out this much
 * longer. Our clock for an answer is the loop's, read once per iteration:
 * an answer read late in a busy iteration is stamped early by up to the
 * iteration's length, and the headers are rounded to the millisecond.
 * Without a margin the emulator saw requests 5 ms before its window reset
 * (and sent 429s); discord.js adds 50 ms for the same reasons. */
#define RESET_MARGIN_MS 50
/* A 429 without any retry hint (neither body nor header): wait a second. */
#define RETRY_AFTER_FALLBACK_MS 1000

static const char FATAL_401[] = "Discord rejected the bot token (401)";
static const char CLOSED[] = "rest client closed";

struct rest_queue;

/* One request from rest_request to its callback. */
struct rest_req {
	struct rest_req *next; /* in its queue while waiting */
	struct rest_queue *queue;
	char method[8];
	char *url; /* api_url + path, owned */
	/* the path with any webhook or interaction token masked: the only
	 * form that reaches a log (tokens are 15-minute credentials) */
	char path[REST_LOG_PATH_MAX];
	char *body; /* owned JSON text, or NULL */
	size_t body_len;
	char *audit_reason; /* owned, already percent-encoded, or NULL */
	rest_done_fn *fn;
	void *data;
	int rate_limited;   /* 429s so far */
	int failures;       /* 5xx or transport errors so far */
	int64_t not_before; /* backoff: not sent before this loop time */
	int idempotent;     /* may be sent again after a 5xx or transport error */
};

/* The requests of one route + major id, oldest first. */
struct rest_queue {
	struct rest_queue *next;
	struct rest *rest;
	struct ratelimit_route route;
	struct rest_req *head, *tail;
	int in_flight;
};

struct rest {
	struct loop *loop;
	struct http_client *http;
	struct ratelimit *limits;
	char *api_url;
	char *authorization; /* "Bot TOKEN" */
	int max_in_flight, max_retries;
	int64_t timeout_ms, retry_base_ms, cloudflare_block_ms;

	struct rest_queue *queues;
	size_t pending; /* requests queued or in flight */
	int in_flight;
	struct loop_timer wake; /* the next pump: a wait ended or something changed */

	struct json_doc doc; /* the body of the response being handed over */
	int fatal, closing;
	uint32_t rng; /* backoff jitter */
	struct rest_stats stats;
	char error[REST_ERROR_MAX];
};

/* ------------------------------------------------------------ pure parts */

int
rest_encode_reason(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t len = 0, chars = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		/* count characters, not bytes: continuation bytes are 10xxxxxx */
		if ((*p & 0xC0) != 0x80 && ++chars > REST_AUDIT_REASON_MAX_CHARS)
			break;
		int keep = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		           (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' ||
		           *p == '~';
		size_t need = keep ? 1 : 3;
		if (len + need + 1 > cap)
			return -1;
		if (keep) {
			out[len++] = (char)*p;
		} else {
			out[len++] = '%';
			out[len++] = hex[*p >> 4];
			out[len++] = hex[*p & 15];
		}
	}
	if (len + 1 > cap)
		return -1;
	out[len] = '\0';
	return (int)len;
}

void
rest_log_path(const char *path, char *out, size_t cap)
{
	if (cap == 0)
		return;
	size_t len = 0;
	const char *p = path;
	/* the segment after /webhooks/{id}/ or /interactions/{id}/ is a token */
	int token_at =
	        strncmp(p, "/webhooks/", 10) == 0 || strncmp(p, "/interactions/", 14) == 0 ? 3 : -1;
	int segment = 0;
	while (*p && len + 1 < cap) {
		if (*p == '/') {
			segment++;
			out[len++] = *p++;
			if (segment == token_at && *p && *p != '/' && *p != '?') {
				static const char mask[] = "{token}";
				for (const char *m = mask; *m && len + 1 < cap; m++)
					out[len++] = *m;
				while (*p && *p != '/' && *p != '?')
					p++;
			}
			continue;
		}
		if (*p == '?')
			token_at = -1; /* the query holds no token segment */
		out[len++] = *p++;
	}
	out[len] = '\0';
}

/* An appender into a fixed array that cuts with "..." when full. */
struct sentence {
	char *out;
	size_t cap, len;
	int cut;
};

static void
sentence_add(struct sentence *s, const char *text, size_t n)
{
	if (s->cut)
		return;
	if (s->len + n + 1 > s->cap) {
		/* keep what fits, then mark the cut with "..." */
		size_t room = s->cap - 1 - s->len;
		memcpy(s->out + s->len, text, room);
		s->len += room;
		s->out[s->len] = '\0';
		if (s->cap >= 4) {
			/* "..." goes over the last three bytes; if that cuts a
			 * UTF-8 character, it goes where the character began, so
			 * the sentence stays valid UTF-8 (it may reach a user) */
			size_t at = s->cap - 4;
			while (at > 0 && ((unsigned char)s->out[at] & 0xC0) == 0x80)
				at--;
			memcpy(s->out + at, "...", 4);
			s->len = at + 3;
		}
		s->cut = 1;
		return;
	}
	memcpy(s->out + s->len, text, n);
	s->len += n;
	s->out[s->len] = '\0';
}

static void
sentence_puts(struct sentence *s, const char *text)
{
	sentence_add(s, text, strlen(text));
}

/* Walks Discord's "errors" tree: nested objects keyed by field name or
 * array index, each leaf an "_errors" array of {code, message} (docs:
 * Reference, "Error Messages"). path holds the dotted path so far. */
static void
walk_errors(struct sentence *s, const struct json_value *v, char *path, size_t path_len,
            size_t path_cap, int *count, int depth)
{
	if (json_type(v) != JSON_OBJECT || depth > JSON_MAX_DEPTH)
		return;
	for (const struct json_value *m = json_first(v); m; m = json_next(m)) {
		size_t key_len;
		const char *key = json_key(m, &key_len);
		if (strcmp(key, "_errors") == 0 && json_type(m) == JSON_ARRAY) {
			for (const struct json_value *e = json_first(m); e; e = json_next(e)) {
				const char *message = json_string(json_get(e, "message"), NULL);
				if (!message)
					message = json_string(json_get(e, "code"), NULL);
				if (!message)
					continue;
				sentence_puts(s, (*count)++ ? "; " : ": ");
				if (path_len) {
					sentence_add(s, path, path_len);
					sentence_puts(s, ": ");
				}
				sentence_puts(s, message);
			}
			continue;
		}
		/* extend the path with ".key" (cut silently if absurdly deep) */
		size_t add = (path_len ? 1 : 0) + key_len;
		if (path_len + add + 1 > path_cap)
			continue;
		size_t at = path_len;
		if (path_len)
			path[at++] = '.';
		memcpy(path + at, key, key_len);
		path[at + key_len] = '\0';
		walk_errors(s, m, path, path_len + add, path_cap, count, depth + 1);
		path[path_len] = '\0';
	}
}

void
rest_error_sentence(int status, const char *reason, const struct json_value *root, char *out,
                    size_t cap)
{
	if (cap == 0)
		return;
	struct sentence s = {out, cap, 0, 0};
	out[0] = '\0';
	const char *message = json_string(json_get(root, "message"), NULL);
	int64_t code = 0;
	int has_code = json_int64(json_get(root, "code"), &code) == 0;
	if (!message) {
		char line[64];
		snprintf(line, sizeof line, "HTTP %d", status);
		sentence_puts(&s, line);
		if (reason && *reason) {
			sentence_puts(&s, " ");
			sentence_puts(&s, reason);
		}
		return;
	}
	/* code 0 is Discord's "general error": the status says more */
	char head[48];
	if (has_code && code != 0)
		snprintf(head, sizeof head, "%lld ", (long long)code);
	else
		snprintf(head, sizeof head, "HTTP %d: ", status);
	sentence_puts(&s, head);
	sentence_puts(&s, message);
	char path[256] = "";
	int count = 0;
	walk_errors(&s, json_get(root, "errors"), path, 0, sizeof path, &count, 0);
}

/* ------------------------------------------------------------ plumbing */

/* The time for the limiter: read now, not the loop's time of this
 * iteration. An answer read late in a busy iteration (many answers, or the
 * process descheduled on a loaded machine) may have left the server after
 * the iteration's time was taken; stamped with that earlier time, the
 * bucket's reset (answer time + Reset-After) came out early, and the next
 * window's first requests met 429s. Read fresh, the stamp is never before
 * the server's, so the reset is never early. (Same clock as loop_now, so
 * timers computed from these waits fire, at worst, a little early and
 * pump again.) */
static int64_t
rest_clock(const struct rest *rest)
{
	(void)rest;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Arms the wake timer to pump in delay_ms (keeping an earlier wake).
 * 0, or -1 when the loop could not take the timer (out of memory). */
static int
schedule_pump(struct rest *rest, int64_t delay_ms)
{
	if (rest->closing)
		return 0;
	int64_t due = loop_now(rest->loop) + delay_ms;
	if (loop_timer_active(&rest->wake) && rest->wake.due_ms <= due)
		return 0;
	return loop_timer_start(rest->loop, &rest->wake, delay_ms);
}

static void
req_free(struct rest_req *req)
{
	mem_free(req->url);
	mem_free(req->body);
	mem_free(req->audit_reason);
	mem_free(req);
}

/* Runs req's callback once and frees it; req is in no queue. */
static void
finish(struct rest *rest, struct rest_req *req, int status, const struct json_value *body,
       const char *error)
{
	rest->pending--;
	if (error)
		rest->stats.failed++;
	else
		rest->stats.succeeded++;
	rest_done_fn *fn = req->fn;
	void *data = req->data;
	req_free(req);
	fn(status, body, error, data);
}

static void
queue_push_front(struct rest_queue *q, struct rest_req *req)
{
	req->next = q->head;
	q->head = req;
	if (!q->tail)
		q->tail = req;
}

static struct rest_req *
queue_pop(struct rest_queue *q)
{
	struct rest_req *req = q->head;
	q->head = req->next;
	if (!q->head)
		q->tail = NULL;
	req->next = NULL;
	return req;
}

/* Fails every queued (not in-flight) request with error. Callbacks may
 * queue more; those are failed too when rest is fatal or closing. */
static void
fail_queued(struct rest *rest, const char *error)
{
	for (struct rest_queue *q = rest->queues; q; q = q->next)
		while (q->head)
			finish(rest, queue_pop(q), 0, NULL, error);
}

/* 64 random bits, for message nonces and the backoff's jitter. */
static uint64_t
random_u64(void)
{
	uint64_t r;
	if (getrandom(&r, sizeof r, GRND_NONBLOCK) == (ssize_t)sizeof r)
		return r;
	/* no entropy yet: the clock, mixed, still differs per call */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	static uint64_t counter;
	return ((uint64_t)ts.tv_sec * 1000000007u + (uint64_t)ts.tv_nsec) ^
	       (++counter * 0x9E3779B97F4A7C15u);
}

/* A random message nonce: a 64-bit number in decimal, at most 20
 * characters (Discord allows 25). Unique enough for the few minutes
 * Discord remembers one. */
static void
message_nonce(char out[24])
{
	snprintf(out, 24, "%llu", (unsigned long long)random_u64());
}

/* docs: Message, "Create Message": with a nonce and enforce_nonce true,
 * Discord answers a second message by the same author with the same nonce
 * within a few minutes with the first, and creates nothing. A message POST
 * that carries them may therefore be sent again after a 5xx or a lost
 * answer without posting twice. Returns the new body (owned), or NULL when
 * the body is not a JSON object, already names a nonce, or out of memory:
 * then the POST is sent as given and never retried. */
static char *
with_nonce(const char *json_body)
{
	const char *p = json_body;
	while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
		p++;
	if (*p != '{' || strstr(json_body, "\"nonce\""))
		return NULL;
	p++;
	const char *q = p;
	while (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n')
		q++;
	char nonce[24];
	message_nonce(nonce);
	struct buf b;
	buf_init(&b, strlen(json_body) + 128);
	if (buf_printf(&b, "{\"nonce\":\"%s\",\"enforce_nonce\":true%s%s", nonce,
	               *q == '}' ? "" : ",", p) < 0) {
		buf_free(&b);
		return NULL;
	}
	return b.data;
}

static int
method_idempotent(const char *method)
{
	return strcmp(method, "GET") == 0 || strcmp(method, "PUT") == 0 ||
	       strcmp(method, "PATCH") == 0 || strcmp(method, "DELETE") == 0;
}

/* Seconds (bounded by the callers) to milliseconds, rounded up. */
static int64_t
ms_up(double seconds)
{
	double ms = seconds * 1000.0;
	int64_t whole = (int64_t)ms;
	return whole < ms ? whole + 1 : whole;
}

/* Seconds as text ("1.234") to milliseconds, rounded up; -1 if absent or
 * not a number. */
static int64_t
seconds_to_ms(const char *text)
{
	if (!text || !*text)
		return -1;
	char *end;
	double s = strtod(text, &end);
	if (end == text || !isfinite(s) || s < 0 || s > 86400.0 * 30)
		return -1;
	return ms_up(s);
}

static long
header_long(const struct http_response *res, const char *name, int *ok)
{
	const char *v = http_response_header(res, name);
	char *end;
	if (!v || !*v)
		return *ok = 0, 0;
	long n = strtol(v, &end, 10);
	if (*end != '\0')
		return *ok = 0, 0;
	return n;
}

/* What the response says about limits (docs: Rate Limits, "Header
 * Format" and "Rate Limit Response Structure"). */
static void
read_limits(const struct http_response *res, const struct json_value *root,
            struct ratelimit_response *rr)
{
	memset(rr, 0, sizeof *rr);
	rr->status = res->status;
	int ok = 1;
	rr->limit = header_long(res, "X-RateLimit-Limit", &ok);
	rr->remaining = header_long(res, "X-RateLimit-Remaining", &ok);
	int64_t reset = seconds_to_ms(http_response_header(res, "X-RateLimit-Reset-After"));
	if (ok && reset >= 0) {
		rr->has_limit_headers = 1;
		rr->reset_after_ms = reset + RESET_MARGIN_MS;
	}
	const char *bucket = http_response_header(res, "X-RateLimit-Bucket");
	if (bucket)
		snprintf(rr->bucket, sizeof rr->bucket, "%s", bucket);
	const char *scope = http_response_header(res, "X-RateLimit-Scope");
	rr->scope_shared = scope && strcmp(scope, "shared") == 0;
	const char *global = http_response_header(res, "X-RateLimit-Global");
	rr->global = global && strcmp(global, "true") == 0;
	if (res->status == 429) {
		/* the body's retry_after (seconds, a float) is more precise than
		 * the Retry-After header (whole seconds) */
		double after;
		if (json_double(json_get(root, "retry_after"), &after) == 0 && after >= 0 &&
		    after < 86400.0 * 30)
			rr->retry_after_ms = ms_up(after);
		else
			rr->retry_after_ms =
			        seconds_to_ms(http_response_header(res, "Retry-After"));
		if (rr->retry_after_ms <= 0)
			rr->retry_after_ms = RETRY_AFTER_FALLBACK_MS;
		else
			rr->retry_after_ms += RESET_MARGIN_MS;
		if (json_bool(json_get(root, "global")) == 1)
			rr->global = 1;
	}
}

/* ------------------------------------------------------------ sending */

static void on_http_done(const struct http_response *res, const char *error, void *data);
static void pump(struct rest *rest);

/* Puts req on the wire; ratelimit_acquire already let it go. */
static void
send_one(struct rest *rest, struct rest_queue *q, struct rest_req *req)
{
	struct http_header headers[3];
	size_t count = 0;
	headers[count++] = (struct http_header){"Authorization", rest->authorization};
	if (req->body)
		headers[count++] = (struct http_header){"Content-Type", "application/json"};
	if (req->audit_reason)
		headers[count++] = (struct http_header){"X-Audit-Log-Reason", req->audit_reason};
	if (http_request(rest->http, req->method, req->url, headers, count, req->body,
	                 req->body_len, rest->timeout_ms, on_http_done, req) < 0) {
		char why[REST_ERROR_MAX];
		snprintf(why, sizeof why, "%s", http_client_error(rest->http));
		ratelimit_done(rest->limits, &q->route, NULL, rest_clock(rest));
		log_warn("rest", "%s %s not sent: %s", req->method, req->path, why);
		finish(rest, req, 0, NULL, why);
		return;
	}
	q->in_flight++;
	rest->in_flight++;
	rest->stats.sent++;
}

/* Sends what may be sent now, oldest first in each queue. exempt_pass:
 * serve only (1) or all but (0) the queues exempt from the global limit.
 * Returns the earliest wait in ms (for the wake timer), or INT64_MAX when
 * every blocked queue waits for an answer instead. */
static int64_t
pump_pass(struct rest *rest, int exempt_pass)
{
	int64_t now = rest_clock(rest), earliest = INT64_MAX;
	for (struct rest_queue *q = rest->queues; q && !rest->closing && !rest->fatal;
	     q = q->next) {
		if (!!q->route.global_exempt != exempt_pass)
			continue;
		while (q->head && rest->in_flight < rest->max_in_flight) {
			struct rest_req *req = q->head;
			if (req->not_before > now) {
				if (req->not_before - now < earliest)
					earliest = req->not_before - now;
				break;
			}
			int64_t wait = ratelimit_acquire(rest->limits, &q->route, now);
			if (wait == RATELIMIT_WAIT_RESPONSE)
				break; /* a completion on this route pumps again */
			if (wait != RATELIMIT_GO) {
				/* > 0: the limit's wait; -2 (out of memory): try soon */
				if (wait < 0)
					wait = 100;
				if (wait < earliest)
					earliest = wait;
				break;
			}
			send_one(rest, q, queue_pop(q));
		}
	}
	return earliest;
}

static void
pump(struct rest *rest)
{
	/* forget idle queues, so one per channel ever touched does not pile up */
	for (struct rest_queue **p = &rest->queues; *p;) {
		struct rest_queue *q = *p;
		if (!q->head && q->in_flight == 0) {
			*p = q->next;
			mem_free(q);
		} else {
			p = &q->next;
		}
	}
	int64_t a = pump_pass(rest, 1);
	int64_t b = pump_pass(rest, 0);
	int64_t earliest = a < b ? a : b;
	if (earliest != INT64_MAX && schedule_pump(rest, earliest) < 0)
		log_error("rest",
		          "out of memory arming the wake timer; waiting for the next answer");
}

static void
on_wake(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	pump(t->data);
}

/* Puts req back at the head of its queue, to go again when allowed. */
static void
requeue(struct rest *rest, struct rest_req *req, int64_t not_before)
{
	(void)rest;
	req->not_before = not_before;
	queue_push_front(req->queue, req);
}

static void
become_fatal(struct rest *rest)
{
	if (rest->fatal)
		return;
	rest->fatal = 1;
	snprintf(rest->error, sizeof rest->error, "%s", FATAL_401);
	log_crit("rest", "%s: every request now fails; check DISCORD_BOT_TOKEN", FATAL_401);
	fail_queued(rest, FATAL_401);
}

/* The backoff before retry number n (1, 2, ...) after a 5xx or transport
 * error: the one backoff rule (backoff.h: a uniform pick up to base, 2
 * base, 4 base, ... capped at RETRY_MAX_MS), so the requests that failed
 * together in an outage do not all come back at the same instant. */
static int64_t
backoff_ms(struct rest *rest, int n)
{
	int64_t base = rest->retry_base_ms < RETRY_MAX_MS ? rest->retry_base_ms : RETRY_MAX_MS;
	return backoff_delay((unsigned)n, (unsigned)base, RETRY_MAX_MS, &rest->rng);
}

static void
retry_later(struct rest *rest, struct rest_req *req, const char *why, int64_t now)
{
	req->failures++;
	rest->stats.retries++;
	int64_t wait = backoff_ms(rest, req->failures);
	log_warn("rest", "%s %s: %s; retry %d of %d in %lld ms", req->method, req->path, why,
	         req->failures, rest->max_retries, (long long)wait);
	requeue(rest, req, now + wait);
}

static void
handle_answer(struct rest *rest, struct rest_req *req, const struct http_response *res,
              const char *error)
{
	struct rest_queue *q = req->queue;
	int64_t now = rest_clock(rest);

	const struct json_value *root = NULL;
	if (res && res->body_len > 0)
		root = json_parse(&rest->doc, res->body, res->body_len);
	struct ratelimit_response limits;
	int64_t block_ms = 0; /* a Cloudflare block's hold */
	if (res)
		read_limits(res, root, &limits);
	if (res && res->status == 429 && json_type(root) != JSON_OBJECT) {
		/* docs: Rate Limits, "Invalid Request Limit": Cloudflare answers
		 * a banned IP with an HTML 429. It is held for as long as its
		 * Retry-After says, capped: one stray block page must not
		 * freeze the bot for minutes (nor its route for an hour).
		 * Without a Retry-After, the cap. */
		block_ms = seconds_to_ms(http_response_header(res, "Retry-After"));
		if (block_ms <= 0 || block_ms > rest->cloudflare_block_ms)
			block_ms = rest->cloudflare_block_ms;
		limits.retry_after_ms = block_ms;
	}
	ratelimit_done(rest->limits, &q->route, res ? &limits : NULL, now);

	if (rest->closing) {
		finish(rest, req, 0, NULL, CLOSED);
		return;
	}
	if (!res) {
		if (!rest->fatal && req->idempotent && req->failures < rest->max_retries) {
			retry_later(rest, req, error, now);
			return;
		}
		log_warn("rest", "%s %s: %s", req->method, req->path, error);
		finish(rest, req, 0, NULL, rest->fatal ? FATAL_401 : error);
		return;
	}
	int status = res->status;
	if (status == 401) {
		/* docs: Opcodes and Status Codes, 401 "The Authorization header
		 * was missing or invalid": retrying only counts toward the
		 * invalid-request ban */
		become_fatal(rest);
		finish(rest, req, status, root, FATAL_401);
		return;
	}
	if (status == 429) {
		rest->stats.rate_limited++;
		if (json_type(root) != JSON_OBJECT) {
			/* a Cloudflare block (block_ms, above) */
			rest->stats.blocks++;
			ratelimit_block_all(rest->limits, now + block_ms);
			log_error("rest",
			          "%s %s: HTTP 429 without a JSON body: Cloudflare is blocking us "
			          "(%ld invalid requests in 10 min); holding every request but "
			          "interaction answers for %lld ms",
			          req->method, req->path,
			          ratelimit_invalid_count(rest->limits, now), (long long)block_ms);
		} else {
			log_warn("rest", "%s %s: rate limited (%s), retry after %lld ms",
			         req->method, req->path, limits.global ? "global" : "bucket",
			         (long long)limits.retry_after_ms);
		}
		if (rest->fatal) {
			finish(rest, req, status, root, FATAL_401);
			return;
		}
		if (++req->rate_limited > rest->max_retries) {
			char why[REST_ERROR_MAX];
			snprintf(why, sizeof why, "gave up after %d rate-limited attempts (429)",
			         req->rate_limited);
			log_warn("rest", "%s %s: %s", req->method, req->path, why);
			finish(rest, req, status, root, why);
			return;
		}
		/* ratelimit holds the route (or everything) until the wait ends */
		requeue(rest, req, 0);
		return;
	}
	char why[REST_ERROR_MAX];
	if (status >= 200 && status < 300) {
		finish(rest, req, status, root, NULL);
		return;
	}
	rest_error_sentence(status, res->reason, root, why, sizeof why);
	if (status >= 500 && !rest->fatal && req->idempotent && req->failures < rest->max_retries) {
		retry_later(rest, req, why, now);
		return;
	}
	log_warn("rest", "%s %s: %s", req->method, req->path, why);
	finish(rest, req, status, root, why);
}

static void
on_http_done(const struct http_response *res, const char *error, void *data)
{
	struct rest_req *req = data;
	struct rest *rest = req->queue->rest;
	req->queue->in_flight--;
	rest->in_flight--;
	handle_answer(rest, req, res, error);
	/* a slot is free, and this route (or a retry) may go on; if the loop
	 * cannot take the timer, pump here rather than stall */
	if (!rest->closing && schedule_pump(rest, 0) < 0)
		pump(rest);
}

/* ------------------------------------------------------------ API */

struct rest *
rest_new(struct loop *loop, const struct rest_options *opt, char *err, size_t err_len)
{
	struct url u;
	char why[256];
	if (!opt->api_url) {
		snprintf(err, err_len, "no Discord API URL given");
		return NULL;
	}
	if (url_parse(opt->api_url, &u, why, sizeof why) < 0) {
		snprintf(err, err_len, "bad Discord API URL: %s", why);
		return NULL;
	}
	if (u.scheme != URL_HTTP && u.scheme != URL_HTTPS) {
		snprintf(err, err_len, "bad Discord API URL: not http or https");
		return NULL;
	}
	if (!opt->token || !*opt->token || strpbrk(opt->token, "\r\n ")) {
		snprintf(err, err_len, "the bot token is empty or holds spaces or line breaks");
		return NULL;
	}
	struct rest *rest = mem_calloc(1, sizeof *rest);
	if (!rest)
		goto oom;
	rest->loop = loop;
	rest->max_in_flight = opt->max_in_flight > 0 ? opt->max_in_flight : REST_IN_FLIGHT_DEFAULT;
	rest->max_retries = opt->max_retries > 0 ? opt->max_retries : REST_RETRIES_DEFAULT;
	rest->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : REST_TIMEOUT_MS_DEFAULT;
	rest->retry_base_ms =
	        opt->retry_base_ms > 0 ? opt->retry_base_ms : REST_RETRY_BASE_MS_DEFAULT;
	rest->cloudflare_block_ms = opt->cloudflare_block_ms > 0 ? opt->cloudflare_block_ms
	                                                         : REST_CLOUDFLARE_BLOCK_MS_DEFAULT;
	loop_timer_init(&rest->wake, on_wake, rest);
	rest->rng = (uint32_t)random_u64() | 1;
	json_doc_init(&rest->doc, HTTP_BODY_MAX_DEFAULT);

	/* the base without a trailing '/', so "/channels/1" appends cleanly */
	size_t base_len = strlen(opt->api_url);
	while (base_len && opt->api_url[base_len - 1] == '/')
		base_len--;
	rest->api_url = mem_strndup(opt->api_url, base_len);
	struct buf b;
	buf_init(&b, 1024);
	if (buf_printf(&b, "Bot %s", opt->token) < 0)
		goto oom_free;
	rest->authorization = b.data;
	buf_init(&b, 1024);
	/* docs: Reference, "User Agent": DiscordBot ($url, $versionNumber) */
	if (buf_printf(&b, "DiscordBot (https://github.com/agora-bot/agora, %s)",
	               opt->version && *opt->version ? opt->version : "0") < 0)
		goto oom_free;
	struct http_client_options ho = {
	        .trust = opt->trust,
	        .user_agent = b.data,
	        .max_conns_per_host = rest->max_in_flight,
	};
	rest->http = http_client_new(loop, &ho);
	buf_free(&b);
	rest->limits = ratelimit_new(opt->global_per_second > 0 ? opt->global_per_second
	                                                        : REST_GLOBAL_PER_SECOND_DEFAULT);
	if (!rest->api_url || !rest->http || !rest->limits)
		goto oom_free;
	return rest;
oom_free:
	buf_free(&b);
	rest_free(rest);
oom:
	snprintf(err, err_len, "out of memory");
	return NULL;
}

void
rest_free(struct rest *rest)
{
	if (!rest)
		return;
	rest->closing = 1;
	loop_timer_stop(rest->loop, &rest->wake);
	fail_queued(rest, CLOSED);
	/* runs on_http_done for every request in flight, which sees closing */
	http_client_free(rest->http);
	while (rest->queues) {
		struct rest_queue *q = rest->queues;
		rest->queues = q->next;
		mem_free(q);
	}
	ratelimit_free(rest->limits);
	json_doc_free(&rest->doc);
	mem_free(rest->api_url);
	mem_free(rest->authorization);
	mem_free(rest);
}

static int
refuse(struct rest *rest, const char *why)
{
	snprintf(rest->error, sizeof rest->error, "%s", why);
	return -1;
}

int
rest_request(struct rest *rest, const char *method, const char *path, const char *json_body,
             const char *audit_reason, rest_done_fn *fn, void *data)
{
	if (rest->closing)
		return refuse(rest, CLOSED);
	if (rest->fatal)
		return refuse(rest, FATAL_401);
	if (!fn || !method || !path)
		return refuse(rest, "rest_request needs a method, a path and a callback");
	static const char *const methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
	int known = 0;
	for (size_t i = 0; i < sizeof methods / sizeof *methods; i++)
		known |= strcmp(method, methods[i]) == 0;
	if (!known)
		return refuse(rest, "unknown method (GET, POST, PUT, PATCH or DELETE)");
	if (path[0] != '/')
		return refuse(rest, "the path must start with '/'");
	if (rest->pending >= REST_PENDING_MAX)
		return refuse(rest, "too many Discord requests pending");
	struct ratelimit_route route;
	if (ratelimit_route_of(method, path, &route) < 0)
		return refuse(rest, "the path is too long");

	struct rest_queue *q = rest->queues, *last = NULL;
	for (; q; last = q, q = q->next)
		if (strcmp(q->route.route, route.route) == 0 &&
		    strcmp(q->route.major, route.major) == 0)
			break;
	struct rest_req *req = mem_calloc(1, sizeof *req);
	size_t base_len = strlen(rest->api_url);
	if (req) {
		req->url = mem_alloc(base_len + strlen(path) + 1);
		if (json_body && strcmp(route.route, "POST /channels/{}/messages") == 0 &&
		    (req->body = with_nonce(json_body)) != NULL) {
			/* a message POST, now safe to send again */
			req->body_len = strlen(req->body);
			req->idempotent = 1;
		} else if (json_body) {
			req->body_len = strlen(json_body);
			req->body = mem_strdup(json_body);
		}
		if (audit_reason) {
			/* each byte becomes at most "%XX" */
			size_t cap = strlen(audit_reason) * 3 + 1;
			req->audit_reason = mem_alloc(cap);
			if (req->audit_reason)
				rest_encode_reason(audit_reason, req->audit_reason, cap);
		}
	}
	if (!q) {
		q = mem_calloc(1, sizeof *q);
		if (q) {
			q->rest = rest;
			q->route = route;
			/* appended, so older queues are served first */
			if (last)
				last->next = q;
			else
				rest->queues = q;
		}
	}
	if (!req || !q || !req->url || (json_body && !req->body) ||
	    (audit_reason && !req->audit_reason)) {
		if (req)
			req_free(req);
		return refuse(rest, "out of memory");
	}
	memcpy(req->url, rest->api_url, base_len);
	memcpy(req->url + base_len, path, strlen(path) + 1);
	rest_log_path(path, req->path, sizeof req->path);
	snprintf(req->method, sizeof req->method, "%s", method);
	req->idempotent |= method_idempotent(method);
	req->fn = fn;
	req->data = data;
	req->queue = q;
	if (schedule_pump(rest, 0) < 0) {
		req_free(req);
		return refuse(rest, "out of memory");
	}
	if (q->tail)
		q->tail->next = req;
	else
		q->head = req;
	q->tail = req;
	rest->pending++;
	return 0;
}

const char *
rest_error(const struct rest *rest)
{
	return rest->error;
}

int
rest_is_fatal(const struct rest *rest)
{
	return rest->fatal;
}

void
rest_stats(const struct rest *rest, struct rest_stats *out)
{
	*out = rest->stats;
	out->pending = rest->pending;
	out->invalid_requests = ratelimit_invalid_count(rest->limits, rest_clock(rest));
}
