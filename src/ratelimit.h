/* ratelimit — Discord's REST rate limits as pure arithmetic: no I/O, no
 * clock reads (every call is given the time), so every rule is unit-tested
 * with made-up clocks. rest.c asks before each request and reports each
 * response. Rules, from Discord's "Rate Limits" page:
 *
 *  - Per-route buckets: a route is the method plus the path with its ids
 *    replaced, except the top-level ("major") resource: channel, guild, or
 *    webhook id + token. Responses name the bucket (X-RateLimit-Bucket);
 *    routes that share a bucket hash share its limit, per major id.
 *    Limit/Remaining/Reset-After tell the state; nothing is hard-coded.
 *  - A route never seen has one request in flight at a time until its first
 *    response tells its limit, so no request is sent that the known state
 *    says would get a 429.
 *  - The global limit (50 requests/s by default), from which interaction
 *    callbacks are exempt; a global 429 (or a Cloudflare block) holds
 *    every route but those for retry_after.
 *    The server counts arrivals, which fall anywhere between a request's
 *    start and its answer: a request counts against the global second from
 *    its start until one second (and 50 ms for our clock's error) after its
 *    answer, so a request held up on its way never lands in the same
 *    server-side second as the 50 after it.
 *  - Answers overtake each other on different connections: within one
 *    window a bucket's count only goes down and its reset is the earliest
 *    answer's; a window rolls over only once its requests have answered.
 *  - Invalid requests (401, 403, and 429 except X-RateLimit-Scope: shared)
 *    are counted over 10 minutes: 10,000 gets the IP banned by Cloudflare.
 *
 * What it does not: queue requests (rest.c does), or decide about retries. */
#ifndef AGORA_RATELIMIT_H
#define AGORA_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

/* Route identity: "PATCH /channels/{}/messages/:id" plus the major id. */
#define RATELIMIT_ROUTE_MAX 160
#define RATELIMIT_MAJOR_MAX 160

struct ratelimit_route {
	char route[RATELIMIT_ROUTE_MAX]; /* method + path with ids replaced */
	char major[RATELIMIT_MAJOR_MAX]; /* the top-level resource's id, or "" */
	int global_exempt;               /* interaction callbacks */
};

/* What a response said about limits. Absent headers: has_bucket 0 etc. */
struct ratelimit_response {
	int status;            /* HTTP status */
	int has_limit_headers; /* X-RateLimit-Limit/Remaining/Reset-After were present */
	long limit;
	long remaining;
	int64_t reset_after_ms;
	char bucket[64]; /* X-RateLimit-Bucket, "" when absent */
	/* on 429 */
	int64_t retry_after_ms; /* from the JSON body or Retry-After */
	int global;             /* body "global": true or X-RateLimit-Global */
	int scope_shared;       /* X-RateLimit-Scope: shared */
};

/* Result of ratelimit_acquire. */
#define RATELIMIT_GO            0
#define RATELIMIT_WAIT_RESPONSE (-1) /* wait until a request on this route completes */

struct ratelimit;

/* A limiter allowing global_per_second requests/s (Discord: 50). NULL when
 * out of memory. */
struct ratelimit *ratelimit_new(int global_per_second);
void ratelimit_free(struct ratelimit *rl);

/* Splits "METHOD /path" into its route and major id (path without the
 * /api/vN prefix and without the query). Returns 0, or -1 if too long. */
int ratelimit_route_of(const char *method, const char *path, struct ratelimit_route *out);

/* May a request on route be sent at now_ms? RATELIMIT_GO: yes, and it is
 * counted as in flight (report it with ratelimit_done). > 0: milliseconds to
 * wait. RATELIMIT_WAIT_RESPONSE: wait for an in-flight request's answer
 * (the route's, or any, when the global limit's worth are in flight).
 * -2: out of memory. Times passed in must never go backwards. */
int64_t ratelimit_acquire(struct ratelimit *rl, const struct ratelimit_route *route,
                          int64_t now_ms);
/* Reports the response (or failure: resp NULL) of a request that acquire
 * let go, and learns from its headers. */
void ratelimit_done(struct ratelimit *rl, const struct ratelimit_route *route,
                    const struct ratelimit_response *resp, int64_t now_ms);
/* Blocks every request but the global-exempt ones (interaction callbacks)
 * until until_ms (a Cloudflare block). */
void ratelimit_block_all(struct ratelimit *rl, int64_t until_ms);
/* Invalid requests (401, 403, non-shared 429) in the last 10 minutes. */
long ratelimit_invalid_count(struct ratelimit *rl, int64_t now_ms);

#endif
