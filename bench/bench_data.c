/* bench_data — round trips of db.c and the write path of cache.c against
 * the real services, driven by the loop as the bot drives them.
 *
 *     eval "$(tests/services.sh start)"; ./build.sh bench; tests/services.sh stop
 *
 * Prints figures only (no assertions); says "skipped" without the
 * AGORA_TEST_* variables. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "db.h"
#include "log.h"
#include "loop.h"

static int64_t
bench_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct bench {
	struct loop *loop;
	struct db *db;
	struct cache *cache;
	int remaining, errors;
	struct loop_timer tick;
	int (*done)(struct bench *b);
};

static void
bench_tick(struct loop *loop, struct loop_timer *t)
{
	struct bench *b = t->data;
	if (b->done(b))
		loop_stop(loop);
	else
		loop_timer_start(loop, t, 1);
}

static void
bench_run_until(struct bench *b, int (*done)(struct bench *b))
{
	b->done = done;
	loop_timer_init(&b->tick, bench_tick, b);
	loop_timer_start(b->loop, &b->tick, 0);
	loop_run(b->loop);
	loop_timer_stop(b->loop, &b->tick);
}

static int
bench_db_ready(struct bench *b)
{
	return db_connected(b->db);
}
static int
bench_cache_ready(struct bench *b)
{
	return cache_connected(b->cache);
}
static int
bench_no_remaining(struct bench *b)
{
	return b->remaining == 0;
}
static int
bench_cache_flushed(struct bench *b)
{
	return cache_buffered(b->cache) == 0;
}

static void bench_next_query(struct bench *b);

static void
bench_query_done(void *data, const struct db_reply *reply)
{
	struct bench *b = data;
	if (reply->error)
		b->errors++;
	b->remaining--;
}

static void
bench_sequential_done(void *data, const struct db_reply *reply)
{
	bench_query_done(data, reply);
	bench_next_query(data);
}

static void
bench_next_query(struct bench *b)
{
	if (b->remaining <= 0)
		return;
	char n[16];
	snprintf(n, sizeof n, "%d", b->remaining);
	const char *p[] = {n};
	db_query(b->db, "SELECT $1::int", 1, p, 0, bench_sequential_done, b);
}

int
main(void)
{
	const char *pg_port = getenv("AGORA_TEST_PG_PORT");
	const char *redis_port = getenv("AGORA_TEST_REDIS_PORT");
	if (!pg_port || !redis_port) {
		printf("bench_data: skipped (no AGORA_TEST_* services; see the header)\n");
		return 0;
	}
	log_set_level(LOG_WARNING);
	struct bench b;
	memset(&b, 0, sizeof b);
	b.loop = loop_new();
	struct db_config dc = {.host = getenv("AGORA_TEST_PG_HOST"),
	                       .port = (uint16_t)strtol(pg_port, NULL, 10),
	                       .dbname = getenv("AGORA_TEST_PG_DB"),
	                       .user = getenv("AGORA_TEST_PG_USER"),
	                       .password = getenv("AGORA_TEST_PG_PASSWORD")};
	int64_t t0 = bench_now_us();
	b.db = db_new(b.loop, &dc);
	bench_run_until(&b, bench_db_ready);
	printf("db: connect (resolve + TCP + scram-sha-256): %.2f ms\n",
	       (double)(bench_now_us() - t0) / 1000.0);

	const int n = 5000;
	b.remaining = n;
	t0 = bench_now_us();
	bench_next_query(&b);
	bench_run_until(&b, bench_no_remaining);
	int64_t us = bench_now_us() - t0;
	printf("db: %d sequential parameterized round trips: %.1f us each, %.0f queries/s "
	       "(%d errors)\n",
	       n, (double)us / n, n * 1e6 / (double)us, b.errors);

	b.remaining = n;
	b.errors = 0;
	t0 = bench_now_us();
	for (int i = 0; i < n && i < DB_MAX_QUEUE; i++)
		db_query(b.db, "SELECT 1", 0, NULL, 0, bench_query_done, &b);
	b.remaining = n < DB_MAX_QUEUE ? n : DB_MAX_QUEUE;
	int queued = b.remaining;
	bench_run_until(&b, bench_no_remaining);
	us = bench_now_us() - t0;
	printf("db: %d queued at once (FIFO, one in flight): %.0f queries/s (%d errors)\n", queued,
	       queued * 1e6 / (double)us, b.errors);

	struct cache_config cc = {.host = getenv("AGORA_TEST_REDIS_HOST"),
	                          .port = (uint16_t)strtol(redis_port, NULL, 10),
	                          .buffer_max = 100000};
	b.cache = cache_new(b.loop, &cc);
	bench_run_until(&b, bench_cache_ready);
	const int records = 50000;
	t0 = bench_now_us();
	for (int i = 0; i < records; i++)
		cache_record_message(b.cache, 424242, (uint64_t)i + 1, 1700000000 + i);
	bench_run_until(&b, bench_cache_flushed);
	us = bench_now_us() - t0;
	printf("cache: %d message records (MULTI/HINCRBY/HSET/ZADD/EXEC each, pipelined): "
	       "%.0f records/s\n",
	       records, records * 1e6 / (double)us);

	cache_free(b.cache);
	db_free(b.db);
	loop_free(b.loop);
	return 0;
}
