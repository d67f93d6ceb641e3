/* test_hotpath.c — the message hot path allocates nothing per message once
 * warm and builds no DOM (issue 13.3).
 *
 * The real pieces, end to end: the emulator's /bench/stream sends
 * realistic MESSAGE_CREATEs over TLS + zlib-stream + WebSocket, the
 * gateway hands each over raw (gateway_options.raw_events, as bot.c asks:
 * scanned, never json_parse'd), and what bot.c and activity.c do with one
 * (the head read in the gateway's one pass: channel_id, id, author.bot, then
 * cache_record_message) runs here, into the test Redis. The gateway's
 * counters show the DOM untouched by messages: its json_parse count grows
 * only by the other payloads (heartbeat ACKs) meanwhile.
 * Every allocation is counted: ours through mem.c (mem_allocations), and
 * every malloc/calloc/realloc of the process (hiredis's sds strings and
 * replies, libc's) through the --wrap counters below. After a warm-up
 * stream, a second stream of HOTPATH_STREAM messages must be counted with
 * fewer than one allocation of ours per 1,000 messages, and fewer than
 * one in all per 10 (hiredis allocates for each batch of up to 256
 * records: its command, callback and reply; about 15). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "discord.h"
#include "emulator.h"
#include "gateway.h"
#include "json.h"
#include "loop.h"
#include "mem.h"
#include "services.h"
#include "test.h"
#include "tls.h"

/* Every malloc, calloc and realloc of the unit runner comes here (the
 * Makefile links it with --wrap): ours, hiredis's (its sds strings and
 * replies call libc directly) and libc's own. */
void *__real_malloc(size_t size);
void *__real_calloc(size_t nmemb, size_t size);
void *__real_realloc(void *ptr, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t nmemb, size_t size);
void *__wrap_realloc(void *ptr, size_t size);

static unsigned long long hotpath_allocs;

void *
__wrap_malloc(size_t size)
{
	hotpath_allocs++;
	return __real_malloc(size);
}

void *
__wrap_calloc(size_t nmemb, size_t size)
{
	hotpath_allocs++;
	return __real_calloc(nmemb, size);
}

void *
__wrap_realloc(void *ptr, size_t size)
{
	hotpath_allocs++;
	return __real_realloc(ptr, size);
}

#define HOTPATH_CHANNEL 1220000000000000002ull /* #general */
#define HOTPATH_WARM    2000
#define HOTPATH_STREAM  6000

struct hotpath {
	struct loop *loop;
	struct tls_trust *trust;
	struct gateway *g;
	struct cache *c;
	int ready;
	unsigned long messages, recorded;
	unsigned long dom_messages; /* MESSAGE_CREATEs that came as a DOM: none */
	unsigned long dom_events;   /* every dispatch that came as a DOM */
};

static void
hotpath_event(struct gateway *g, enum gateway_event ev, const char *name,
              const struct json_value *d, void *data)
{
	(void)g;
	struct hotpath *h = data;
	(void)d;
	if (ev == GATEWAY_READY)
		h->ready = 1;
	if (ev == GATEWAY_READY || ev == GATEWAY_RESUMED || ev == GATEWAY_DISPATCH)
		h->dom_events++;
	if (ev == GATEWAY_DISPATCH && strcmp(name, "MESSAGE_CREATE") == 0)
		h->dom_messages++;
}

static const char *const hotpath_raw_events[] = {"MESSAGE_CREATE", NULL};

/* bot.c on_gateway_raw + activity.c activity_message, minus the tracked
 * set (a bot's fixture) */
static void
hotpath_raw(struct gateway *g, const char *name, const char *d, size_t d_len,
            const struct json_span *values, void *data)
{
	(void)g;
	(void)d_len;
	struct hotpath *h = data;
	struct discord_message_head m;
	if (strcmp(name, "MESSAGE_CREATE") != 0)
		return;
	h->messages++;
	if (!d || discord_message_head_read(values, &m) < 0)
		return;
	if (m.channel_id != HOTPATH_CHANNEL || m.author_bot)
		return;
	h->recorded++;
	cache_record_message(h->c, m.channel_id, m.id,
	                     (int64_t)(((m.id >> 22) + 1420070400000ull) / 1000));
}

static int
hotpath_ready(void *arg)
{
	return ((struct hotpath *)arg)->ready;
}

static uint64_t hotpath_want;
static int
hotpath_counted(void *arg)
{
	struct cache_stats st;
	cache_get_stats(((struct hotpath *)arg)->c, &st);
	return st.counted >= hotpath_want;
}

static int
hotpath_stream(struct hotpath *h, int count)
{
	char body[200];
	snprintf(body, sizeof body,
	         "{\"count\": %d, \"channel_id\": \"%llu\", \"guild_id\": \"1200000000000000001\", "
	         "\"rate\": 0}",
	         count, (unsigned long long)HOTPATH_CHANNEL);
	struct cache_stats st;
	cache_get_stats(h->c, &st);
	hotpath_want = st.counted + (uint64_t)count;
	if (!CHECK_INT(emu_call("POST", "/bench/stream", body, NULL), 200))
		return -1;
	return CHECK(test_run_until(h->loop, hotpath_counted, h, 120000)) ? 0 : -1;
}

TEST(hotpath_counting_a_message_allocates_nothing_once_warm)
{
	const char *host;
	uint16_t port;
	if (services_redis("hotpath_counting_a_message_allocates_nothing_once_warm", &host, &port) <
	    0)
		return;
	if (!CHECK(emu_start() == 0))
		return;
	CHECK_INT(emu_call("POST", "/reset", "{}", NULL), 200);
	struct hotpath h;
	memset(&h, 0, sizeof h);
	char err[200];
	h.loop = loop_new();
	h.trust = tls_trust_load(emu_ca_file(), err, sizeof err);
	struct cache_config cfg = {.host = host, .port = port};
	h.c = cache_new(h.loop, &cfg);
	struct gateway_options opt = {0};
	opt.token = emu_token();
	opt.intents = GATEWAY_INTENT_GUILDS | GATEWAY_INTENT_GUILD_MESSAGES;
	opt.url = emu_gateway_url();
	opt.trust = h.trust;
	opt.identify_remaining = 1000;
	opt.raw_events = hotpath_raw_events;
	opt.raw = hotpath_raw;
	opt.raw_paths = discord_message_head_paths;
	h.g = gateway_new(h.loop, &opt, hotpath_event, &h);
	if (!CHECK(h.loop && h.trust && h.c && h.g) || !CHECK_INT(gateway_start(h.g), 0) ||
	    !CHECK(test_run_until(h.loop, hotpath_ready, &h, 10000)))
		goto out;
	if (hotpath_stream(&h, HOTPATH_WARM) < 0) /* buffers and pools grow here */
		goto out;
	unsigned long long ours = mem_allocations(), theirs = hotpath_allocs;
	unsigned long before = h.recorded, seen = h.messages, events = h.dom_events;
	struct gateway_stats st0, st1;
	gateway_get_stats(h.g, &st0);
	if (hotpath_stream(&h, HOTPATH_STREAM) < 0)
		goto out;
	ours = mem_allocations() - ours;
	theirs = hotpath_allocs - theirs;
	gateway_get_stats(h.g, &st1);
	CHECK_INT(h.messages - seen, HOTPATH_STREAM);
	CHECK_INT(h.recorded - before, HOTPATH_STREAM);
	/* no DOM for a message: every one came raw, and json_parse ran only
	 * for the other payloads meanwhile (ACKs, any other event) */
	CHECK_INT(h.dom_messages, 0);
	CHECK_INT(st1.raw_dispatches - st0.raw_dispatches, HOTPATH_STREAM);
	CHECK_INT(st1.parsed - st0.parsed, (st1.acks - st0.acks) + (long)(h.dom_events - events));
	printf("hot path: %d messages: %ld handed over raw, %ld payloads json_parse'd meanwhile "
	       "(%ld heartbeat ACKs, %lu other events)\n",
	       HOTPATH_STREAM, st1.raw_dispatches - st0.raw_dispatches, st1.parsed - st0.parsed,
	       st1.acks - st0.acks, h.dom_events - events);
	printf("hot path: %d messages counted after warm-up: %llu allocations through mem, %llu "
	       "malloc/calloc/realloc in all (%.4f per message)\n",
	       HOTPATH_STREAM, ours, theirs, (double)theirs / HOTPATH_STREAM);
	printf("hot path: %.1f allocations per %d messages, a full batch (hiredis's "
	       "command and reply)\n",
	       (double)theirs * CACHE_BATCH_MAX / HOTPATH_STREAM, CACHE_BATCH_MAX);
	CHECK(hotpath_allocs > 0); /* the counting allocators are the ones linked */
	/* ours: nothing per message (a timer or buffer may grow once) */
	CHECK(ours * 1000 < HOTPATH_STREAM);
	/* all: per batch, not per message (hiredis: about 15 per batch) */
	CHECK(theirs * 10 < HOTPATH_STREAM);
out:
	if (h.g)
		gateway_free(h.g);
	if (h.c)
		cache_free(h.c);
	tls_trust_free(h.trust);
	loop_free(h.loop);
}
