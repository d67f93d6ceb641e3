/* test_cache_stats — cache_pipeline and the activity reads and rebuilds
 * of src/cache_stats.c against the real Redis of tests/services.sh. */
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cache.h"
#include "cache_stats.h"
#include "loop.h"
#include "mem.h"
#include "services.h"
#include "test.h"

static long long
run3(struct loop *loop, struct cache *c, const char *a, const char *b, const char *d)
{
	const char *argv[] = {a, b, d};
	return services_cache_int(loop, c, d ? 3 : 2, argv);
}

/* ------------------------------------------------------------ pipeline */

struct pipe {
	char key[64];
	size_t fail_at; /* index of a command made to fail (WRONGTYPE); SIZE_MAX: none */
	size_t seen;    /* each() calls */
	int in_order;
	long long last;
	int done;
	size_t replies;
	char error[256];
};

static int
pipe_build(void *data, size_t index, const char **argv)
{
	struct pipe *p = data;
	if (index == p->fail_at) {
		argv[0] = "HINCRBY"; /* on a string key */
		argv[1] = p->key;
		argv[2] = "f";
		argv[3] = "1";
		return 4;
	}
	argv[0] = "INCR";
	argv[1] = p->key;
	return 2;
}

static void
pipe_each(void *data, size_t index, const struct redisReply *reply)
{
	struct pipe *p = data;
	if (index != p->seen)
		p->in_order = 0;
	p->seen++;
	if (reply && reply->type == REDIS_REPLY_INTEGER)
		p->last = reply->integer;
}

static void
pipe_done(void *data, size_t replies, const char *error)
{
	struct pipe *p = data;
	p->done++;
	p->replies = replies;
	snprintf(p->error, sizeof p->error, "%s", error ? error : "");
}

TEST(cache_pipeline_replies_in_order_once)
{
	struct loop *loop = loop_new();
	struct cache *c = services_cache(loop, "cache_pipeline_replies_in_order_once", 0);
	if (!c) {
		loop_free(loop);
		return;
	}
	struct pipe p;
	memset(&p, 0, sizeof p);
	snprintf(p.key, sizeof p.key, "pipeline_test:%d", (int)getpid());
	run3(loop, c, "DEL", p.key, NULL);
	p.fail_at = SIZE_MAX;
	p.in_order = 1;
	CHECK_INT(cache_pipeline(c, 10000, pipe_build, pipe_each, pipe_done, &p), 0);
	CHECK_INT(p.done, 0); /* never inside the call */
	services_wait(loop, &p.done, 10000);
	CHECK_INT(p.done, 1);
	CHECK_INT(p.replies, 10000);
	CHECK_INT(p.seen, 10000);
	CHECK(p.in_order);
	CHECK_INT(p.last, 10000);
	CHECK_STR(p.error, "");

	/* one refused command: every reply still comes, the error is told */
	memset(&p.seen, 0, sizeof p - offsetof(struct pipe, seen));
	p.fail_at = 5;
	p.in_order = 1;
	CHECK_INT(cache_pipeline(c, 10, pipe_build, pipe_each, pipe_done, &p), 0);
	services_wait(loop, &p.done, 5000);
	CHECK_INT(p.done, 1);
	CHECK_INT(p.seen, 10);
	CHECK(strstr(p.error, "WRONGTYPE") != NULL);
	CHECK_INT(run3(loop, c, "GET", p.key, NULL), 10009);
	run3(loop, c, "DEL", p.key, NULL);

	/* bad arguments: -1 and no callback */
	CHECK_INT(cache_pipeline(c, 0, pipe_build, pipe_each, pipe_done, &p), -1);
	CHECK_INT(cache_pipeline(c, 1, NULL, pipe_each, pipe_done, &p), -1);
	cache_free(c);
	loop_free(loop);
}

TEST(cache_pipeline_fails_later_when_down_and_on_close)
{
	struct loop *loop = loop_new();
	struct cache_config cfg = {
	        .host = "127.0.0.1", .port = 1, .backoff_initial_ms = 50, .backoff_max_ms = 100};
	struct cache *c = cache_new(loop, &cfg);
	int never = 0;
	services_wait(loop, &never, 100);
	struct pipe p;
	memset(&p, 0, sizeof p);
	snprintf(p.key, sizeof p.key, "x");
	p.fail_at = SIZE_MAX;
	CHECK_INT(cache_pipeline(c, 3, pipe_build, pipe_each, pipe_done, &p), 0);
	CHECK_INT(p.done, 0);
	services_wait(loop, &p.done, 2000);
	CHECK_INT(p.done, 1);
	CHECK(strstr(p.error, "redis unavailable") != NULL);
	/* one queued, then the cache closes: exactly one "cache closed" */
	memset(&p, 0, sizeof p);
	p.fail_at = SIZE_MAX;
	CHECK_INT(cache_pipeline(c, 3, pipe_build, pipe_each, pipe_done, &p), 0);
	cache_free(c);
	CHECK_INT(p.done, 1);
	CHECK_STR(p.error, "cache closed");
	loop_free(loop);
}

/* ------------------------------------------------------------ read */

struct read_result {
	int done;
	size_t n;
	struct cache_stats_row rows[4];
	char error[256];
};

static void
read_fn(void *data, const struct cache_stats_row *rows, size_t n, const char *error)
{
	struct read_result *r = data;
	r->done++;
	r->n = n;
	for (size_t i = 0; i < n && i < 4; i++)
		r->rows[i] = rows[i];
	snprintf(r->error, sizeof r->error, "%s", error ? error : "");
}

static void
zadd(struct loop *loop, struct cache *c, uint64_t ch, int64_t t, uint64_t id)
{
	char key[64], score[32], member[32];
	snprintf(key, sizeof key, "channel_activity:%llu", (unsigned long long)ch);
	snprintf(score, sizeof score, "%lld", (long long)t);
	snprintf(member, sizeof member, "%llu", (unsigned long long)id);
	const char *argv[] = {"ZADD", key, score, member};
	services_cache_int(loop, c, 4, argv);
}

static void
wipe(struct loop *loop, struct cache *c, uint64_t ch)
{
	char a[64], b[64], d[64], e[64];
	snprintf(a, sizeof a, "channel_stats:%llu", (unsigned long long)ch);
	snprintf(b, sizeof b, "channel_activity:%llu", (unsigned long long)ch);
	snprintf(d, sizeof d, "channel_stats_rebuild:%llu", (unsigned long long)ch);
	snprintf(e, sizeof e, "channel_activity_rebuild:%llu", (unsigned long long)ch);
	const char *argv[] = {"DEL", a, b, d, e};
	services_cache_int(loop, c, 5, argv);
}

TEST(cache_stats_read_counts_days_and_trims)
{
	struct loop *loop = loop_new();
	struct cache *c = services_cache(loop, "cache_stats_read_counts_days_and_trims", 0);
	if (!c) {
		loop_free(loop);
		return;
	}
	const int64_t now = 1765000000, day = 86400;
	uint64_t a = 920000000000000000ull + (uint64_t)getpid(), b = a + 1, none = a + 2;
	wipe(loop, c, a);
	wipe(loop, c, b);
	wipe(loop, c, none);
	char key[64];
	snprintf(key, sizeof key, "channel_stats:%llu", (unsigned long long)a);
	const char *hset[] = {"HSET",      key, "total_messages", "50", "last_message_timestamp",
	                      "1764999990"};
	services_cache_int(loop, c, 6, hset);
	zadd(loop, c, a, now - 8 * day, 1);     /* older than 7 days: trimmed */
	zadd(loop, c, a, now - 7 * day - 1, 2); /* one second too old: trimmed */
	zadd(loop, c, a, now - 7 * day, 3);     /* exactly 7 days: counted, kept, day 0 */
	zadd(loop, c, a, now - 6 * day - 1, 4); /* day 0 */
	zadd(loop, c, a, now - 6 * day, 5);     /* day 1 */
	zadd(loop, c, a, now - day - 1, 6);     /* day 5 */
	zadd(loop, c, a, now - day, 7);         /* day 6 */
	zadd(loop, c, a, now + 5, 8);           /* a clock ahead: today */
	zadd(loop, c, b, now - 3 * day, 9);     /* day 4 */

	struct read_result r;
	memset(&r, 0, sizeof r);
	uint64_t ids[] = {a, b, none};
	CHECK_INT(cache_stats_read(c, ids, 3, now, read_fn, &r), 0);
	CHECK_INT(r.done, 0);
	services_wait(loop, &r.done, 5000);
	CHECK_INT(r.done, 1);
	CHECK_STR(r.error, "");
	CHECK_INT(r.n, 3);
	CHECK_INT(r.rows[0].channel_id, a);
	CHECK_INT(r.rows[0].total_messages, 50);
	CHECK_INT(r.rows[0].last_message_timestamp, 1764999990);
	CHECK_INT(r.rows[0].recent_count, 6);
	int64_t want_a[7] = {2, 1, 0, 0, 0, 1, 2};
	for (int d = 0; d < 7; d++)
		CHECK_INT(r.rows[0].daily[d], want_a[d]);
	CHECK_INT(r.rows[0].trimmed, 2);
	CHECK_INT(r.rows[1].recent_count, 1);
	CHECK_INT(r.rows[1].daily[4], 1);
	CHECK_INT(r.rows[1].total_messages, 0);
	CHECK_INT(r.rows[2].channel_id, none);
	CHECK_INT(r.rows[2].recent_count, 0);
	snprintf(key, sizeof key, "channel_activity:%llu", (unsigned long long)a);
	CHECK_INT(run3(loop, c, "ZCARD", key, NULL), 6);

	/* no channels: still one answer, later */
	memset(&r, 0, sizeof r);
	CHECK_INT(cache_stats_read(c, NULL, 0, now, read_fn, &r), 0);
	CHECK_INT(r.done, 0);
	services_wait(loop, &r.done, 5000);
	CHECK_INT(r.done, 1);
	CHECK_INT(r.n, 0);
	CHECK_STR(r.error, "");

	/* 1,000 channels: one call, every row */
	enum { MANY = 1000 };
	uint64_t *many = calloc(MANY, sizeof *many);
	for (int i = 0; i < MANY; i++)
		many[i] = b;
	memset(&r, 0, sizeof r);
	CHECK_INT(cache_stats_read(c, many, MANY, now, read_fn, &r), 0);
	services_wait(loop, &r.done, 10000);
	CHECK_INT(r.n, MANY);
	CHECK_INT(r.rows[3].recent_count, 1);
	free(many);
	wipe(loop, c, a);
	wipe(loop, c, b);
	cache_free(c);
	loop_free(loop);
}

/* ------------------------------------------------------------ rebuild */

struct done_result {
	int done;
	long long value;
	char error[256];
};

static void
done_fn(void *data, long long value, const char *error)
{
	struct done_result *d = data;
	d->done++;
	d->value = value;
	snprintf(d->error, sizeof d->error, "%s", error ? error : "");
}

static void
wait_done(struct loop *loop, struct done_result *d)
{
	services_wait(loop, &d->done, 5000);
	CHECK_INT(d->done, 1);
	CHECK_STR(d->error, "");
}

/* History holds messages 1..150 (ids 1001..1150, times base+i); live
 * counting saw 149, 150 (also in history), 151 and 152 (newer, not in
 * history) and an old 5 (counted long ago). The rebuild counts each once. */
TEST(cache_stats_rebuild_swaps_in_counting_each_message_once)
{
	struct loop *loop = loop_new();
	struct cache *c =
	        services_cache(loop, "cache_stats_rebuild_swaps_in_counting_each_message_once", 0);
	if (!c) {
		loop_free(loop);
		return;
	}
	const int64_t base = 1765000000;
	uint64_t ch = 930000000000000000ull + (uint64_t)getpid();
	wipe(loop, c, ch);
	char stats[64], act[64], side[64];
	snprintf(stats, sizeof stats, "channel_stats:%llu", (unsigned long long)ch);
	snprintf(act, sizeof act, "channel_activity:%llu", (unsigned long long)ch);
	snprintf(side, sizeof side, "channel_stats_rebuild:%llu", (unsigned long long)ch);
	const char *old[] = {"HSET", stats, "total_messages", "999", "last_message_timestamp", "7"};
	services_cache_int(loop, c, 6, old);
	zadd(loop, c, ch, base + 5, 1005);

	struct done_result d;
	memset(&d, 0, sizeof d);
	CHECK_INT(cache_stats_rebuild_begin(c, ch, done_fn, &d), 0);
	wait_done(loop, &d);
	/* two pages, newest first as Discord gives them; recent = the last 100 */
	struct cache_stats_message page[100];
	for (int p = 0; p < 2; p++) {
		int n = 0;
		for (int i = 150 - p * 100; i > 150 - (p + 1) * 100 && i >= 1; i--)
			page[n++] = (struct cache_stats_message){1000 + (uint64_t)i, base + i};
		memset(&d, 0, sizeof d);
		CHECK_INT(cache_stats_rebuild_add(c, ch, page, (size_t)n, base + 51, done_fn, &d),
		          0);
		wait_done(loop, &d);
	}
	/* meanwhile, live */
	zadd(loop, c, ch, base + 149, 1149);
	zadd(loop, c, ch, base + 150, 1150);
	zadd(loop, c, ch, base + 151, 1151);
	zadd(loop, c, ch, base + 152, 1152);
	/* the real keys are untouched until the commit */
	const char *hget[] = {"HGET", stats, "total_messages"};
	CHECK_INT(services_cache_int(loop, c, 3, hget), 999);
	CHECK(run3(loop, c, "PTTL", side, NULL) > 0);

	memset(&d, 0, sizeof d);
	CHECK_INT(cache_stats_rebuild_commit(c, ch, base + 150, base + 150, done_fn, &d), 0);
	wait_done(loop, &d);
	CHECK_INT(d.value, 2); /* 151 and 152 */
	CHECK_INT(services_cache_int(loop, c, 3, hget), 152);
	const char *hlast[] = {"HGET", stats, "last_message_timestamp"};
	CHECK_INT(services_cache_int(loop, c, 3, hlast), base + 152);
	CHECK_INT(run3(loop, c, "ZCARD", act, NULL), 102); /* 51..152 */
	CHECK_INT(run3(loop, c, "PTTL", stats, NULL), -1); /* no expiry left */
	CHECK_INT(run3(loop, c, "PTTL", act, NULL), -1);
	CHECK_INT(run3(loop, c, "EXISTS", side, NULL), 0);

	/* an empty channel: the rebuild leaves total 0 and no set */
	memset(&d, 0, sizeof d);
	CHECK_INT(cache_stats_rebuild_begin(c, ch, done_fn, &d), 0);
	wait_done(loop, &d);
	memset(&d, 0, sizeof d);
	CHECK_INT(cache_stats_rebuild_add(c, ch, page, 0, base, done_fn, &d), 0);
	wait_done(loop, &d);
	memset(&d, 0, sizeof d);
	CHECK_INT(cache_stats_rebuild_commit(c, ch, 0, base + 1000, done_fn, &d), 0);
	wait_done(loop, &d);
	CHECK_INT(services_cache_int(loop, c, 3, hget), 0);
	CHECK_INT(run3(loop, c, "EXISTS", act, NULL), 0);
	wipe(loop, c, ch);
	cache_free(c);
	loop_free(loop);
}
