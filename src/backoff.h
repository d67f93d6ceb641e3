/* backoff — the one retry rule, and the one reconnect skeleton, for every
 * client that keeps a connection up by itself (db, cache; gateway and rest
 * may adopt it).
 *
 * The rule: retry number n (n >= 1) waits a uniform pick in
 * [0, min(max_ms, initial_ms * 2^(n-1))] — exponential backoff with "full
 * jitter" (AWS Architecture Blog, "Exponential Backoff And Jitter", 2015):
 * of the usual schemes it spreads a crowd of clients restarting against one
 * server the most, so they never retry in lockstep.
 *
 * The skeleton (struct backoff) owns the retry timer and decides WHEN the
 * owner's connect function runs again; the owner only reports what
 * happened:
 *   backoff_failed   an attempt failed, or a connection broke before the
 *                    server ever answered on it (refused, accepted and
 *                    closed at once, "max number of clients reached");
 *   backoff_healthy  the server answered on the connection;
 *   backoff_lost     a healthy connection broke. If it stayed healthy for
 *                    at least BACKOFF_STABLE_MS the next attempt comes at
 *                    once and the count starts over; a connection that
 *                    breaks sooner counts as one more failure, so a server
 *                    that accepts, answers and drops cannot make a client
 *                    spin either.
 * Failure lines are rate-limited (log.h's log_limit): the first, then at
 * most one per BACKOFF_LOG_INTERVAL_MS with the count of those held back,
 * and a summary when the connection is healthy again. */
#ifndef AGORA_BACKOFF_H
#define AGORA_BACKOFF_H

#include <stdint.h>

#include "log.h"
#include "loop.h"

/* How long a connection must have been healthy for its loss to count as a
 * new outage (retry at once) rather than one more failure. */
#define BACKOFF_STABLE_MS 5000
/* At most one failure line per this long while failures repeat. */
#define BACKOFF_LOG_INTERVAL_MS 60000

/* The wait before retry number attempt (1 = first retry), as described
 * above; *rng is the caller's xorshift32 state (never 0). Pure. */
unsigned backoff_delay(unsigned attempt, unsigned initial_ms, unsigned max_ms, uint32_t *rng);

typedef void backoff_retry_fn(void *data);

struct backoff {
	struct loop *loop;
	struct loop_timer timer;
	backoff_retry_fn *retry;
	void *data;
	unsigned initial_ms, max_ms;
	unsigned attempt;         /* failures since the last stable connection */
	uint32_t rng;             /* jitter */
	int64_t healthy_since_ms; /* -1 while not healthy */
	unsigned long retries;    /* every retry scheduled, for logs and tests */
	struct log_limit log;     /* the failure lines */
	const char *component;    /* log component ("db", "cache"), static */
};

/* Prepares b (allocates nothing); retry(data) runs from the retry timer.
 * initial_ms 0 = 500, max_ms 0 = 30000 (raised to initial_ms if lower). */
void backoff_init(struct backoff *b, struct loop *loop, const char *component, unsigned initial_ms,
                  unsigned max_ms, backoff_retry_fn *retry, void *data);
/* An attempt failed (why: one line, for the log): schedules retry after
 * the next delay, which it returns. */
unsigned backoff_failed(struct backoff *b, const char *what, const char *why);
/* The server answered: the connection counts as healthy from now. */
void backoff_healthy(struct backoff *b, const char *what);
/* A healthy connection broke: schedules retry (at once, or after the next
 * delay, see above) and returns the delay. */
unsigned backoff_lost(struct backoff *b, const char *what, const char *why);
/* Cancels a scheduled retry (teardown). */
void backoff_stop(struct backoff *b);
/* 1 while a retry is scheduled. */
int backoff_pending(const struct backoff *b);

#endif
