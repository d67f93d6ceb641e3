/* fuzz_redis — arbitrary bytes as Redis's replies, into the real cache
 * client (public API: cache_new and its requests) over loopback: hiredis's
 * reader as the cache uses it, and the cache's own reply handling (stats
 * from HMGET + ZCOUNT, integers, errors, the record batches).
 *
 * Input: byte 0 holds flags (bit 0: close the connection once the bytes are
 * sent; else keep it open, so an incomplete reply meets the command
 * timeout), the rest is what the server answers, all of it, as soon as the
 * first command arrives. The cache sends a PING, a stats read, a trim, a
 * wipe, a raw GET and two message records. Besides memory errors (ASan),
 * the fuzzer fails when a callback does not run exactly once (during the
 * run or at cache_free), or a stats callback gets neither stats nor an
 * error. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "fuzz_peer.h"
#include "log.h"
#include "loop.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CALLS 5

struct run {
	const uint8_t *data;
	size_t size;
	int close_after;
	int answered;
	int calls[CALLS];
	struct loop *loop;
};

static void
count(struct run *r, int i)
{
	if (++r->calls[i] != 1)
		abort(); /* exactly once */
	for (int k = 0; k < CALLS; k++)
		if (!r->calls[k])
			return;
	loop_stop(r->loop); /* every request answered: the exchange is over */
}

static struct run *current;

static void
on_done(void *data, long long value, const char *error)
{
	(void)value;
	(void)error;
	count(current, (int)(intptr_t)data);
}

static void
on_stats(void *data, const struct cache_channel_stats *stats, const char *error)
{
	if (!stats == !error)
		abort(); /* stats or an error, never both or neither */
	count(current, (int)(intptr_t)data);
}

static void
on_reply(void *data, const struct redisReply *reply, const char *error)
{
	if (!reply && !error)
		abort();
	count(current, (int)(intptr_t)data);
}

static void
on_input(struct fuzz_peer *p)
{
	struct run *r = p->data;
	if (r->answered)
		return;
	r->answered = 1;
	buf_append(&p->out, r->data, r->size);
	p->shut_when_sent = r->close_after;
}

/* Later connections (the cache reconnecting) get nothing and are closed. */
static void
on_accept(struct fuzz_peer *p)
{
	struct run *r = p->data;
	if (p->accepted > 1) {
		r->answered = 1;
		p->shut_when_sent = 1;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum log_level level = log_get_level();
	if (!getenv("FUZZ_LOG"))
		log_set_level(LOG_CRITICAL);
	struct loop *loop = loop_new();
	if (!loop) {
		log_set_level(level);
		return 0;
	}
	struct run r;
	memset(&r, 0, sizeof r);
	r.data = data + 1;
	r.size = size - 1;
	r.close_after = data[0] & 1;
	r.loop = loop;
	current = &r;
	struct fuzz_peer p;
	fuzz_peer_init(&p, loop);
	fuzz_peer_set_guard(&p, 300);
	p.data = &r;
	p.on_input = on_input;
	p.on_accept = on_accept;
	struct cache *c = NULL;
	if (fuzz_peer_listen(&p) == 0) {
		struct cache_config cfg = {
		        .host = "127.0.0.1",
		        .port = fuzz_peer_port(),
		        .connect_timeout_ms = 200,
		        .command_timeout_ms = 100,
		        .backoff_initial_ms = 10,
		        .backoff_max_ms = 20,
		};
		c = cache_new(loop, &cfg);
	}
	if (c) {
		const char *argv[] = {"GET", "fuzz"};
		cache_record_message(c, 111, 5001, 1700000000);
		if (cache_ping(c, on_done, (void *)(intptr_t)0) < 0)
			r.calls[0] = 1;
		if (cache_channel_stats(c, 111, 1699990000, on_stats, (void *)(intptr_t)1) < 0)
			r.calls[1] = 1;
		if (cache_trim_activity(c, 111, 1699000000, on_done, (void *)(intptr_t)2) < 0)
			r.calls[2] = 1;
		if (cache_wipe_channel(c, 222, on_done, (void *)(intptr_t)3) < 0)
			r.calls[3] = 1;
		cache_record_message(c, 111, 5002, 1700000001);
		if (cache_command(c, 2, argv, on_reply, (void *)(intptr_t)4) < 0)
			r.calls[4] = 1;
		loop_run(loop);
		cache_free(c);
		for (int k = 0; k < CALLS; k++)
			if (r.calls[k] != 1)
				abort();
	}
	current = NULL;
	fuzz_peer_free(&p);
	loop_free(loop);
	log_set_level(level);
	return 0;
}
