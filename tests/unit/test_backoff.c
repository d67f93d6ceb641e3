/* test_backoff — the retry rule and the reconnect skeleton of src/backoff.c. */
#include <stdint.h>

#include "backoff.h"
#include "loop.h"
#include "test.h"

/* Full jitter: every delay lies in [0, min(max, initial * 2^(n-1))], and
 * the picks spread over the whole range (not just its upper half). */
TEST(backoff_full_jitter_doubles_up_to_the_cap)
{
	uint32_t rng = 12345;
	for (unsigned attempt = 1; attempt <= 40; attempt++) {
		unsigned ceiling = 500;
		for (unsigned i = 1; i < attempt && ceiling < 30000; i++)
			ceiling *= 2;
		if (ceiling > 30000)
			ceiling = 30000;
		unsigned lo = ceiling, hi = 0;
		for (int k = 0; k < 200; k++) {
			unsigned got = backoff_delay(attempt, 500, 30000, &rng);
			if (!CHECK(got <= ceiling))
				return;
			lo = got < lo ? got : lo;
			hi = got > hi ? got : hi;
		}
		/* 200 uniform picks: the lowest in the bottom tenth, the highest
		 * in the top tenth (fails with probability ~2 * 0.9^200) */
		CHECK(lo <= ceiling / 10);
		CHECK(hi >= ceiling - ceiling / 10);
	}
	/* no overflow at absurd attempts or caps */
	CHECK(backoff_delay(1000, 1u << 30, UINT32_MAX, &rng) <= UINT32_MAX);
	CHECK_INT(backoff_delay(5, 0, 0, &rng), 0);
}

struct skeleton {
	struct backoff b;
	int retries;
	struct loop_timer end;
};

static void
on_retry(void *data)
{
	struct skeleton *s = data;
	s->retries++;
}

static void
on_end(struct loop *loop, struct loop_timer *t)
{
	(void)t;
	loop_stop(loop);
}

/* Failures back off; a connection that broke before it was stable counts
 * as a failure too; only a stable one is retried at once. Counted: in a
 * 300 ms window with initial 100 ms, failures repeated at each retry can
 * schedule only a handful of attempts, never hundreds. */
TEST(backoff_skeleton_counts_failures)
{
	struct loop *loop = loop_new();
	static struct skeleton s;
	backoff_init(&s.b, loop, "test", 100, 10000, on_retry, &s);
	CHECK_INT(backoff_pending(&s.b), 0);
	unsigned d1 = backoff_failed(&s.b, "test", "refused");
	CHECK(d1 <= 100);
	CHECK_INT(backoff_pending(&s.b), 1);
	CHECK_INT(s.b.attempt, 1);
	unsigned d2 = backoff_failed(&s.b, "test", "refused");
	CHECK(d2 <= 200);
	CHECK_INT(s.b.attempt, 2);
	/* healthy but lost at once: still a failure (attempt 3) */
	backoff_healthy(&s.b, "test");
	backoff_lost(&s.b, "test", "closed");
	CHECK_INT(s.b.attempt, 3);
	/* healthy for longer than BACKOFF_STABLE_MS: retried at once */
	backoff_healthy(&s.b, "test");
	s.b.healthy_since_ms -= BACKOFF_STABLE_MS;
	CHECK_INT(backoff_lost(&s.b, "test", "closed"), 0);
	CHECK_INT(s.b.attempt, 0);
	loop_timer_init(&s.end, on_end, &s);
	loop_timer_start(loop, &s.end, 20);
	loop_run(loop);
	CHECK_INT(s.retries, 1);
	backoff_stop(&s.b);
	CHECK_INT(backoff_pending(&s.b), 0);
	loop_free(loop);
}
