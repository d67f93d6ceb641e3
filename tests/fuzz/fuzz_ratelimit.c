/* fuzz_ratelimit — Discord's rate-limit headers and the limiter's
 * arithmetic, from the bytes of real responses.
 *
 * Input: byte 0 picks the mode.
 *  - Even: the arithmetic alone (ratelimit.c, no I/O, fast). The rest is
 *    read as a script of 12-byte steps: a route (one of six, two sharing a
 *    bucket hash), a clock advance, and either an acquire or a done with a
 *    response built from the bytes (status, limit, remaining, reset, bucket,
 *    retry_after, global, scope). Checks: acquire answers GO, a wait > 0,
 *    WAIT_RESPONSE or -2; a wait is never longer than what any response
 *    said (plus a day of slack for the global second); the invalid count
 *    never goes negative.
 *  - Odd: the headers as Discord's bytes. The rest is HTTP responses
 *    separated by 0x1E; a real rest client (public API) sends three
 *    requests to a loopback server that answers the k-th request with the
 *    k-th response, closing the connection after each (bit 1 clear) or
 *    keeping it for the next request (bit 1 set) until they run out.
 *    read_limits, the 429/Cloudflare paths, retries and ratelimit_done run
 *    as they do for Discord. Every callback must run exactly once: during
 *    the run or at rest_free. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz_peer.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "ratelimit.h"
#include "rest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const routes[][2] = {
        {"GET", "/channels/111/messages/5"},
        {"PATCH", "/channels/111/messages/6"},
        {"POST", "/channels/222/messages"},
        {"DELETE", "/channels/111/messages/7"},
        {"POST", "/interactions/333/tok-en/callback"},
        {"GET", "/guilds/444/channels"},
};
#define ROUTES (sizeof routes / sizeof routes[0])

static void
arithmetic(const uint8_t *d, size_t n)
{
	struct ratelimit *rl = ratelimit_new(1 + d[0] % 60);
	if (!rl)
		return;
	struct ratelimit_route r[ROUTES];
	for (size_t i = 0; i < ROUTES; i++)
		if (ratelimit_route_of(routes[i][0], routes[i][1], &r[i]) < 0)
			abort();
	int64_t now = 1000000, longest = 0;
	for (size_t at = 1; at + 12 <= n; at += 12) {
		const uint8_t *s = d + at;
		const struct ratelimit_route *route = &r[s[0] % ROUTES];
		now += s[1] * (s[2] & 0x80 ? 100 : 1); /* never backwards */
		if (s[2] & 1) {
			int64_t w = ratelimit_acquire(rl, route, now);
			if (w != RATELIMIT_GO && w != RATELIMIT_WAIT_RESPONSE && w != -2 && w <= 0)
				abort();
			if (w > longest + 86400000 + 2000)
				abort();
			continue;
		}
		struct ratelimit_response resp;
		memset(&resp, 0, sizeof resp);
		static const int statuses[] = {200, 204, 400, 401, 403, 404, 429, 500, 502};
		resp.status = statuses[s[3] % 9];
		resp.has_limit_headers = s[2] & 2;
		resp.limit = (long)(int8_t)s[4];
		resp.remaining = (long)(int8_t)s[5];
		resp.reset_after_ms = (int64_t)(s[6] | s[7] << 8) * (s[2] & 4 ? 1000 : 1);
		snprintf(resp.bucket, sizeof resp.bucket, "%s",
		         s[8] & 1   ? ""
		         : s[8] & 2 ? "b1"
		                    : "b2");
		resp.retry_after_ms = (int64_t)(s[9] | s[10] << 8) * (s[2] & 8 ? 100 : 1);
		resp.global = s[11] & 1;
		resp.scope_shared = s[11] & 2;
		if (resp.reset_after_ms > longest)
			longest = resp.reset_after_ms;
		if (resp.retry_after_ms > longest)
			longest = resp.retry_after_ms;
		ratelimit_done(rl, route, s[11] & 4 ? NULL : &resp, now);
		if (ratelimit_invalid_count(rl, now) < 0)
			abort();
	}
	ratelimit_free(rl);
}

struct run {
	const uint8_t *data;
	size_t size;
	int keep_alive;
	int next;      /* the response for the next request */
	size_t offset; /* where the next request starts in the peer's input */
	int callbacks[3];
	struct loop *loop;
};

/* The k-th response of the input (k from 0), or NULL past the last. */
static const uint8_t *
response(const struct run *r, int k, size_t *len)
{
	const uint8_t *at = r->data, *stop = r->data + r->size;
	for (int i = 0; at <= stop; i++) {
		const uint8_t *sep = memchr(at, 0x1e, (size_t)(stop - at));
		const uint8_t *e = sep ? sep : stop;
		if (i == k) {
			*len = (size_t)(e - at);
			return at;
		}
		at = e + 1;
	}
	return NULL;
}

/* Where the head of the request at in[from..len) ends, with its body
 * (Content-Length), or 0 while it is incomplete. */
static size_t
request_end(const char *in, size_t from, size_t len)
{
	for (size_t i = from; i + 4 <= len; i++) {
		if (memcmp(in + i, "\r\n\r\n", 4) != 0)
			continue;
		size_t body = 0;
		for (size_t j = from; j + 16 <= i; j++)
			if (strncasecmp(in + j, "\r\nContent-Length:", 17) == 0)
				body = strtoul(in + j + 17, NULL, 10);
		return i + 4 + body <= len ? i + 4 + body : 0;
	}
	return 0;
}

static void
on_accept(struct fuzz_peer *p)
{
	struct run *r = p->data;
	r->offset = 0;
}

/* Answers each complete request with the next response of the input. One
 * mode closes after every response (the client must reconnect); the other
 * keeps the connection for the next request, closing it only when the
 * responses run out. */
static void
on_input(struct fuzz_peer *p)
{
	struct run *r = p->data;
	size_t end;
	while (!p->shut_when_sent && (end = request_end(p->in.data, r->offset, p->in.len))) {
		r->offset = end;
		size_t len = 0;
		const uint8_t *resp = response(r, r->next++, &len);
		if (resp)
			buf_append(&p->out, resp, len);
		/* past the last response nothing more will come: an incomplete
		 * one then ends at EOF instead of the client's timeout */
		size_t next_len;
		if (!resp || !r->keep_alive || !response(r, r->next, &next_len))
			p->shut_when_sent = 1;
	}
}

static struct run *current; /* the run of through_rest, for on_done */

static void
on_done(int status, const struct json_value *body, const char *error, void *data)
{
	(void)status;
	(void)body;
	int *count = data;
	(*count)++;
	if (*count != 1)
		abort(); /* a callback runs exactly once */
	if (status >= 200 && status < 300 && error)
		abort();
	struct run *r = current;
	if (r && r->loop && r->callbacks[0] && r->callbacks[1] && r->callbacks[2])
		loop_stop(r->loop); /* all answered: the exchange is over */
}

static void
through_rest(const uint8_t *d, size_t n, int keep_alive)
{
	struct loop *loop = loop_new();
	if (!loop)
		return;
	struct run r;
	memset(&r, 0, sizeof r);
	r.data = d;
	r.size = n;
	r.loop = loop;
	r.keep_alive = keep_alive;
	current = &r;
	struct fuzz_peer p;
	fuzz_peer_init(&p, loop);
	/* a Retry-After or a reset is waited out on purpose: after this the
	 * run ends, and rest_free must answer whatever is still waiting */
	fuzz_peer_set_guard(&p, 60);
	p.data = &r;
	p.on_input = on_input;
	p.on_accept = on_accept;
	struct rest *rest = NULL;
	if (fuzz_peer_listen(&p) == 0) {
		char url[64], err[200];
		snprintf(url, sizeof url, "http://127.0.0.1:%u/api/v10",
		         (unsigned)fuzz_peer_port());
		struct rest_options opt = {
		        .api_url = url,
		        .token = "fuzz.token",
		        .version = "0.0.0",
		        .max_in_flight = 1,
		        .max_retries = 1,
		        .timeout_ms = 1000,
		        .retry_base_ms = 1,
		        .cloudflare_block_ms = 5,
		};
		rest = rest_new(loop, &opt, err, sizeof err);
	}
	if (rest) {
		for (int i = 0; i < 3; i++)
			if (rest_request(rest, routes[i][0], routes[i][1],
			                 routes[i][0][0] == 'G' ? NULL : "{\"content\":\"x\"}",
			                 NULL, on_done, &r.callbacks[i]) < 0)
				r.callbacks[i] = 1; /* refused at once: never called */
		loop_run(loop);
		rest_free(rest);
		for (int i = 0; i < 3; i++)
			if (r.callbacks[i] != 1)
				abort();
	}
	current = NULL;
	fuzz_peer_free(&p);
	loop_free(loop);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	enum log_level level = log_get_level();
	if (!getenv("FUZZ_LOG"))
		log_set_level(LOG_CRITICAL);
	if (data[0] & 1)
		through_rest(data + 1, size - 1, data[0] & 2);
	else
		arithmetic(data + 1, size - 1);
	log_set_level(level);
	return 0;
}
