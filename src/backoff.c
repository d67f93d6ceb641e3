/* backoff — see backoff.h. */
#include "backoff.h"

#include <time.h>
#include <unistd.h>

unsigned
backoff_delay(unsigned attempt, unsigned initial_ms, unsigned max_ms, uint32_t *rng)
{
	/* the ceiling: initial * 2^(attempt-1), capped (doubling stops at the
	 * cap, so it cannot overflow) */
	unsigned ceiling = initial_ms < max_ms ? initial_ms : max_ms;
	for (unsigned i = 1; i < attempt && ceiling < max_ms; i++)
		ceiling = ceiling > max_ms / 2 ? max_ms : ceiling * 2;
	/* xorshift32: jitter needs spread, not quality */
	uint32_t x = *rng ? *rng : 0x9e3779b9u;
	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*rng = x;
	/* full jitter: uniform in [0, ceiling] */
	return (unsigned)(x % ((uint64_t)ceiling + 1));
}

static void
backoff_fire(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct backoff *b = t->data;
	b->retry(b->data);
}

void
backoff_init(struct backoff *b, struct loop *loop, const char *component, unsigned initial_ms,
             unsigned max_ms, backoff_retry_fn *retry, void *data)
{
	b->loop = loop;
	b->component = component;
	b->initial_ms = initial_ms ? initial_ms : 500;
	b->max_ms = max_ms ? max_ms : 30000;
	if (b->max_ms < b->initial_ms)
		b->max_ms = b->initial_ms;
	b->retry = retry;
	b->data = data;
	b->attempt = 0;
	b->healthy_since_ms = -1;
	b->retries = 0;
	b->log = (struct log_limit){0, 0, 0};
	/* seeded per process and per object, so two clients of one process
	 * do not share a jitter sequence either */
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	b->rng = (uint32_t)ts.tv_nsec ^ ((uint32_t)getpid() << 16) ^ (uint32_t)(uintptr_t)b ^
	         0x85ebca6bu;
	if (!b->rng)
		b->rng = 1;
	loop_timer_init(&b->timer, backoff_fire, b);
}

static void
backoff_schedule(struct backoff *b, unsigned delay)
{
	b->retries++;
	loop_timer_start(b->loop, &b->timer, delay);
}

unsigned
backoff_failed(struct backoff *b, const char *what, const char *why)
{
	b->healthy_since_ms = -1;
	b->attempt++;
	unsigned delay = backoff_delay(b->attempt, b->initial_ms, b->max_ms, &b->rng);
	log_limited(&b->log, BACKOFF_LOG_INTERVAL_MS, LOG_WARNING, b->component,
	            "%s: %s (attempt %u, next in %u ms)", what, why, b->attempt, delay);
	backoff_schedule(b, delay);
	return delay;
}

void
backoff_healthy(struct backoff *b, const char *what)
{
	b->healthy_since_ms = loop_now(b->loop);
	log_limit_end(&b->log, LOG_WARNING, b->component, what);
}

unsigned
backoff_lost(struct backoff *b, const char *what, const char *why)
{
	int stable = b->healthy_since_ms >= 0 &&
	             loop_now(b->loop) - b->healthy_since_ms >= BACKOFF_STABLE_MS;
	if (!stable)
		return backoff_failed(b, what, why);
	b->healthy_since_ms = -1;
	b->attempt = 0;
	log_limited(&b->log, BACKOFF_LOG_INTERVAL_MS, LOG_WARNING, b->component, "%s: %s", what,
	            why);
	backoff_schedule(b, 0);
	return 0;
}

void
backoff_stop(struct backoff *b)
{
	loop_timer_stop(b->loop, &b->timer);
}

int
backoff_pending(const struct backoff *b)
{
	return loop_timer_active(&b->timer);
}
