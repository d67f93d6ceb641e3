/* test_zstream.c — the zlib-stream inflater: payloads compressed here with
 * zlib's deflate + Z_SYNC_FLUSH on one context (as Discord's gateway does),
 * fed whole, byte by byte and in random splits; corrupt streams; the limit;
 * reset; allocation failures. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "mem.h"
#include "test.h"
#include "zstream.h"

/* a small deterministic generator, so failures reproduce */
static uint64_t zt_seed = 0x9e3779b97f4a7c15ULL;
static uint32_t
zt_rand(void)
{
	zt_seed ^= zt_seed << 13;
	zt_seed ^= zt_seed >> 7;
	zt_seed ^= zt_seed << 17;
	return (uint32_t)(zt_seed >> 16);
}

/* One deflate context standing in for the gateway: each call compresses
 * one payload and flushes with Z_SYNC_FLUSH. */
struct zt_deflater {
	z_stream z;
};

static void
zt_deflater_init(struct zt_deflater *d)
{
	memset(d, 0, sizeof *d);
	deflateInit(&d->z, Z_DEFAULT_COMPRESSION);
}

/* Returns a malloc'd compressed chunk of *out_len bytes. */
static uint8_t *
zt_deflate(struct zt_deflater *d, const void *data, size_t len, int flush, size_t *out_len)
{
	size_t cap = deflateBound(&d->z, (uLong)len) + 64;
	uint8_t *out = malloc(cap);
	d->z.next_in = (Bytef *)(uintptr_t)data;
	d->z.avail_in = (uInt)len;
	d->z.next_out = out;
	d->z.avail_out = (uInt)cap;
	deflate(&d->z, flush);
	*out_len = cap - d->z.avail_out;
	return out;
}

static void
zt_deflater_free(struct zt_deflater *d)
{
	deflateEnd(&d->z);
}

/* payload i of a session: JSON-like text that repeats across payloads, so
 * later payloads lean on the shared window as real gateway traffic does */
static char *
zt_payload(int i, size_t *len)
{
	size_t want = (size_t)(40 + (i * 977) % 3000);
	char *p = malloc(want + 1);
	size_t n = 0;
	while (n < want) {
		char piece[96];
		int k = snprintf(
		        piece, sizeof piece,
		        "{\"op\":0,\"s\":%d,\"t\":\"MESSAGE_CREATE\",\"d\":{\"id\":\"%u\"}}", i,
		        zt_rand() % 1000);
		size_t take = (size_t)k < want - n ? (size_t)k : want - n;
		memcpy(p + n, piece, take);
		n += take;
	}
	p[n] = '\0';
	*len = n;
	return p;
}

enum zt_split { ZT_WHOLE, ZT_BYTES, ZT_RANDOM };

/* Sends count payloads through one deflate context and one zstream, each
 * compressed payload fed in the given way; checks every payload comes back. */
static void
zt_session(enum zt_split split, int count)
{
	struct zt_deflater d;
	zt_deflater_init(&d);
	struct zstream zs;
	zstream_init(&zs, 1 << 20);
	for (int i = 0; i < count; i++) {
		size_t plen, clen;
		char *payload = zt_payload(i, &plen);
		uint8_t *c = zt_deflate(&d, payload, plen, Z_SYNC_FLUSH, &clen);
		CHECK(clen >= 4 && memcmp(c + clen - 4, "\x00\x00\xff\xff", 4) == 0);
		size_t at = 0;
		int done = 0, bad = 0;
		while (at < clen) {
			size_t n = clen - at;
			if (split == ZT_BYTES)
				n = 1;
			else if (split == ZT_RANDOM)
				n = 1 + zt_rand() % (n < 40 ? n : 40);
			/* an empty WebSocket message changes nothing */
			if (split == ZT_RANDOM && zt_rand() % 8 == 0)
				CHECK_INT(zstream_feed(&zs, "", 0), ZSTREAM_MORE);
			enum zstream_result r = zstream_feed(&zs, c + at, n);
			at += n;
			if (r == ZSTREAM_DONE)
				done = at == clen;
			else if (r != ZSTREAM_MORE || at == clen)
				bad = 1;
		}
		CHECK(done);
		CHECK(!bad);
		size_t got_len;
		const char *got = zstream_data(&zs, &got_len);
		CHECK_INT(got_len, plen);
		CHECK(got_len == plen && memcmp(got, payload, plen) == 0);
		free(payload);
		free(c);
	}
	CHECK_STR(zstream_error(&zs), "");
	zstream_free(&zs);
	zt_deflater_free(&d);
}

TEST(zstream_whole_payloads)
{
	zt_session(ZT_WHOLE, 40);
}

TEST(zstream_byte_by_byte)
{
	zt_session(ZT_BYTES, 12);
}

TEST(zstream_random_splits)
{
	for (int round = 0; round < 20; round++)
		zt_session(ZT_RANDOM, 15);
}

/* A stream made by Python's zlib (tests/data/zstream/make.py) with a real
 * MESSAGE_CREATE among gateway payloads, fed as one chunk per payload. */
TEST(zstream_data_four_payloads)
{
	size_t len;
	char *stream = test_read_file("tests/data/zstream/four_payloads.bin", &len);
	CHECK(stream != NULL);
	if (!stream)
		return;
	struct zstream zs;
	zstream_init(&zs, 64 * 1024);
	size_t at = 0;
	for (int i = 1; i <= 4; i++) {
		char path[128];
		snprintf(path, sizeof path, "tests/data/zstream/four_payloads.%d.json", i);
		size_t want_len;
		char *want = test_read_file(path, &want_len);
		CHECK(want != NULL);
		/* find the end of this payload: the next sync-flush marker */
		size_t end = at + 4;
		while (end <= len && memcmp(stream + end - 4, "\x00\x00\xff\xff", 4) != 0)
			end++;
		/* and feed it in two WebSocket messages, split in the middle */
		size_t mid = at + (end - at) / 2;
		CHECK_INT(zstream_feed(&zs, stream + at, mid - at), ZSTREAM_MORE);
		CHECK_INT(zstream_feed(&zs, stream + mid, end - mid), ZSTREAM_DONE);
		size_t got_len;
		const char *got = zstream_data(&zs, &got_len);
		CHECK_INT(got_len, want_len);
		CHECK(want && got_len == want_len && memcmp(got, want, want_len) == 0);
		free(want);
		at = end;
	}
	CHECK_INT(at, len);
	zstream_free(&zs);
	free(stream);
}

TEST(zstream_large_payload)
{
	/* bigger than one output step and than the 32 KiB window */
	size_t plen = 700 * 1024;
	char *payload = malloc(plen);
	for (size_t i = 0; i < plen; i++)
		payload[i] = (char)('a' + zt_rand() % 7);
	struct zt_deflater d;
	zt_deflater_init(&d);
	size_t clen;
	uint8_t *c = zt_deflate(&d, payload, plen, Z_SYNC_FLUSH, &clen);
	struct zstream zs;
	zstream_init(&zs, plen);
	CHECK_INT(zstream_feed(&zs, c, clen), ZSTREAM_DONE);
	size_t got_len;
	const char *got = zstream_data(&zs, &got_len);
	CHECK(got_len == plen && memcmp(got, payload, plen) == 0);
	zstream_free(&zs);
	zt_deflater_free(&d);
	free(c);
	free(payload);
}

TEST(zstream_limit)
{
	char payload[1001];
	memset(payload, 'x', sizeof payload);
	for (int over = 0; over <= 1; over++) {
		struct zt_deflater d;
		zt_deflater_init(&d);
		size_t clen;
		uint8_t *c = zt_deflate(&d, payload, 1000 + (size_t)over, Z_SYNC_FLUSH, &clen);
		struct zstream zs;
		zstream_init(&zs, 1000);
		enum zstream_result r = zstream_feed(&zs, c, clen);
		if (over) {
			CHECK_INT(r, ZSTREAM_ERR);
			CHECK(strstr(zstream_error(&zs), "limit") != NULL);
		} else {
			CHECK_INT(r, ZSTREAM_DONE);
			size_t n;
			zstream_data(&zs, &n);
			CHECK_INT(n, 1000);
		}
		zstream_free(&zs);
		zt_deflater_free(&d);
		free(c);
	}
}

/* A compression bomb hits the limit without memory growing past it. */
TEST(zstream_bomb)
{
	size_t plen = 16 << 20;
	char *zeros = calloc(1, plen);
	struct zt_deflater d;
	zt_deflater_init(&d);
	size_t clen;
	uint8_t *c = zt_deflate(&d, zeros, plen, Z_SYNC_FLUSH, &clen);
	CHECK(clen < 64 * 1024);
	struct zstream zs;
	zstream_init(&zs, 1 << 20);
	CHECK_INT(zstream_feed(&zs, c, clen), ZSTREAM_ERR);
	CHECK(zs.out.cap <= (1 << 20) + 1);
	zstream_free(&zs);
	zt_deflater_free(&d);
	free(c);
	free(zeros);
}

TEST(zstream_corrupt)
{
	/* not zlib at all */
	struct zstream zs;
	zstream_init(&zs, 4096);
	CHECK_INT(zstream_feed(&zs, "{\"op\":10}\x00\x00\xff\xff", 13), ZSTREAM_ERR);
	CHECK(strstr(zstream_error(&zs), "corrupt") != NULL);
	/* sticky until reset */
	CHECK_INT(zstream_feed(&zs, "x", 1), ZSTREAM_ERR);
	zstream_reset(&zs);
	CHECK_STR(zstream_error(&zs), "");

	/* a good first payload, then damaged bytes in the second: every
	 * single-byte corruption either fails cleanly or inflates something */
	struct zt_deflater d;
	zt_deflater_init(&d);
	size_t l1, l2;
	const char *p1 = "{\"op\":10,\"d\":{\"heartbeat_interval\":41250}}";
	const char *p2 = "{\"op\":0,\"t\":\"READY\",\"d\":{\"v\":10,\"session_id\":\"abc\"}}";
	uint8_t *c1 = zt_deflate(&d, p1, strlen(p1), Z_SYNC_FLUSH, &l1);
	uint8_t *c2 = zt_deflate(&d, p2, strlen(p2), Z_SYNC_FLUSH, &l2);
	int errors = 0;
	for (size_t i = 0; i < l2; i++) {
		for (int bit = 0; bit < 8; bit++) {
			zstream_reset(&zs);
			CHECK_INT(zstream_feed(&zs, c1, l1), ZSTREAM_DONE);
			c2[i] ^= (uint8_t)(1 << bit);
			enum zstream_result r = zstream_feed(&zs, c2, l2);
			c2[i] ^= (uint8_t)(1 << bit);
			if (r == ZSTREAM_ERR) {
				errors++;
				CHECK(zstream_error(&zs)[0] != '\0');
			}
		}
	}
	CHECK(errors > 0);
	/* a damaged zlib header is caught at once */
	zstream_reset(&zs);
	c1[0] ^= 0x01;
	CHECK_INT(zstream_feed(&zs, c1, l1), ZSTREAM_ERR);
	CHECK(strstr(zstream_error(&zs), "header") != NULL);
	free(c1);
	free(c2);
	zt_deflater_free(&d);
	zstream_free(&zs);
}

/* A reconnect starts a new zlib stream: after reset, a fresh stream with
 * its own header inflates again. */
TEST(zstream_reset_on_reconnect)
{
	struct zstream zs;
	zstream_init(&zs, 4096);
	for (int conn = 0; conn < 3; conn++) {
		struct zt_deflater d;
		zt_deflater_init(&d);
		for (int i = 0; i < 3; i++) {
			char p[64];
			snprintf(p, sizeof p, "{\"connection\":%d,\"payload\":%d}", conn, i);
			size_t clen;
			uint8_t *c = zt_deflate(&d, p, strlen(p), Z_SYNC_FLUSH, &clen);
			CHECK_INT(zstream_feed(&zs, c, clen), ZSTREAM_DONE);
			size_t n;
			CHECK_STR(zstream_data(&zs, &n), p);
			free(c);
		}
		zt_deflater_free(&d);
		zstream_reset(&zs);
	}
	zstream_free(&zs);
}

/* A stream the peer finishes (Z_FINISH) ends the payload; more bytes after
 * the end are an error. */
TEST(zstream_stream_end)
{
	struct zt_deflater d;
	zt_deflater_init(&d);
	size_t clen;
	uint8_t *c = zt_deflate(&d, "bye", 3, Z_FINISH, &clen);
	struct zstream zs;
	zstream_init(&zs, 4096);
	CHECK_INT(zstream_feed(&zs, c, clen), ZSTREAM_DONE);
	size_t n;
	CHECK_STR(zstream_data(&zs, &n), "bye");
	CHECK_INT(zstream_feed(&zs, "x", 1), ZSTREAM_ERR);
	CHECK(strstr(zstream_error(&zs), "after the end") != NULL);
	zstream_free(&zs);
	zt_deflater_free(&d);
	free(c);
}

/* Allocation N fails, for every N, until a whole session succeeds: the
 * feed reports an error, nothing leaks (ASan), nothing crashes. */
TEST(zstream_alloc_failures)
{
	struct zt_deflater d;
	zt_deflater_init(&d);
	size_t plen, clen;
	char *payload = zt_payload(3, &plen);
	uint8_t *c = zt_deflate(&d, payload, plen, Z_SYNC_FLUSH, &clen);
	int succeeded = 0;
	for (long n = 0; n < 100 && !succeeded; n++) {
		struct zstream zs;
		zstream_init(&zs, 1 << 20);
		mem_fail_after(n);
		enum zstream_result r = zstream_feed(&zs, c, clen);
		mem_fail_after(-1);
		if (r == ZSTREAM_DONE) {
			size_t got;
			CHECK(memcmp(zstream_data(&zs, &got), payload, plen) == 0);
			succeeded = 1;
		} else {
			CHECK_INT(r, ZSTREAM_ERR);
			CHECK(strstr(zstream_error(&zs), "memory") != NULL);
		}
		zstream_free(&zs);
	}
	CHECK(succeeded);
	free(payload);
	free(c);
	zt_deflater_free(&d);
}

/* Spill mode: what a sink receives of each payload. */
struct zt_sink {
	struct buf got;
	int calls;
	size_t max_piece;
};

static void
zt_sink_fn(void *ctx, const char *data, size_t len)
{
	struct zt_sink *s = ctx;
	buf_append(&s->got, data, len);
	s->calls++;
	if (len > s->max_piece)
		s->max_piece = len;
}

/* A payload past the threshold goes to the sink in pieces, whole and in
 * order, while the buffer stays at the threshold plus a step; payloads
 * below it (before and after) come back through zstream_data as always;
 * the limit counts the spilled bytes. */
TEST(zstream_sink_spills_big_payloads_only)
{
	struct zt_deflater d;
	zt_deflater_init(&d);
	struct zstream zs;
	zstream_init(&zs, 1 << 20);
	struct zt_sink sink = {0};
	buf_init(&sink.got, 1 << 21);
	zstream_set_sink(&zs, 64 * 1024, zt_sink_fn, &sink);
	size_t big_len = 700 * 1024;
	char *big = malloc(big_len);
	for (size_t i = 0; i < big_len; i++)
		big[i] = (char)('a' + zt_rand() % 4); /* compresses about 4:1 */
	for (int round = 0; round < 3; round++) {
		/* small, big, small: the small ones are untouched */
		size_t plen, clen;
		char *small = zt_payload(round, &plen);
		uint8_t *c = zt_deflate(&d, small, plen, Z_SYNC_FLUSH, &clen);
		CHECK_INT(zstream_feed(&zs, c, clen), ZSTREAM_DONE);
		CHECK_INT(zstream_spilled(&zs), 0);
		size_t got_len;
		const char *got = zstream_data(&zs, &got_len);
		CHECK(got_len == plen && memcmp(got, small, plen) == 0);
		CHECK_INT(sink.calls, 0);
		free(c);
		free(small);

		c = zt_deflate(&d, big, big_len, Z_SYNC_FLUSH, &clen);
		size_t at = 0, max_cap = 0;
		enum zstream_result r = ZSTREAM_MORE;
		while (at < clen) {
			size_t n = 1 + zt_rand() % 30000;
			if (n > clen - at)
				n = clen - at;
			r = zstream_feed(&zs, c + at, n);
			at += n;
			if (zs.out.cap > max_cap)
				max_cap = zs.out.cap;
			if (r != ZSTREAM_MORE)
				break;
		}
		CHECK_INT(r, ZSTREAM_DONE);
		CHECK_INT(at, clen);
		CHECK_INT(zstream_spilled(&zs), 1);
		zstream_data(&zs, &got_len);
		CHECK_INT(got_len, 0);
		CHECK_INT(sink.got.len, big_len);
		CHECK(sink.got.len == big_len && memcmp(sink.got.data, big, big_len) == 0);
		CHECK(sink.calls >= 10);
		CHECK(sink.max_piece <= 64 * 1024 + ZSTREAM_STEP);
		CHECK(max_cap <= 64 * 1024 + ZSTREAM_STEP + 1);
		free(c);
		buf_reset(&sink.got);
		sink.calls = 0;
	}
	/* the next feed gives the spilled payload's buffer back */
	CHECK_INT(zstream_feed(&zs, "", 0), ZSTREAM_MORE);
	CHECK_INT(zs.out.cap, 0);

	/* over the limit: 700 KiB against 512 KiB, spilled or not */
	struct zstream small_limit;
	zstream_init(&small_limit, 512 * 1024);
	zstream_set_sink(&small_limit, 64 * 1024, zt_sink_fn, &sink);
	struct zt_deflater d2;
	zt_deflater_init(&d2);
	size_t clen;
	uint8_t *c = zt_deflate(&d2, big, big_len, Z_SYNC_FLUSH, &clen);
	CHECK_INT(zstream_feed(&small_limit, c, clen), ZSTREAM_ERR);
	CHECK(strstr(zstream_error(&small_limit), "limit") != NULL);
	CHECK(sink.got.len <= 512 * 1024);
	/* a reset keeps the sink */
	zstream_reset(&small_limit);
	CHECK(small_limit.sink == zt_sink_fn);
	free(c);
	zt_deflater_free(&d2);
	zstream_free(&small_limit);

	free(big);
	buf_free(&sink.got);
	zstream_free(&zs);
	zt_deflater_free(&d);
}

/* Pieces of one WebSocket message (ws_set_stream_binary): a payload ends
 * only with the message's last piece, even when a piece before it happens
 * to end with the sync-flush marker; an empty last piece ends it too. */
TEST(zstream_pieces_end_a_payload_only_with_the_message)
{
	struct zt_deflater d;
	zt_deflater_init(&d);
	struct zstream zs;
	zstream_init(&zs, 1 << 20);
	size_t c1_len, c2_len;
	uint8_t *c1 = zt_deflate(&d, "{\"a\":1}", 7, Z_SYNC_FLUSH, &c1_len);
	uint8_t *c2 = zt_deflate(&d, "{\"b\":2}", 7, Z_SYNC_FLUSH, &c2_len);
	CHECK(memcmp(c1 + c1_len - 4, "\x00\x00\xff\xff", 4) == 0);
	/* the marker ends piece 1, but more pieces follow */
	CHECK_INT(zstream_feed_part(&zs, c1, c1_len, 1), ZSTREAM_MORE);
	CHECK_INT(zstream_feed_part(&zs, c2, 3, 1), ZSTREAM_MORE);
	CHECK_INT(zstream_feed_part(&zs, c2 + 3, c2_len - 3, 0), ZSTREAM_DONE);
	size_t len;
	CHECK_STR(zstream_data(&zs, &len), "{\"a\":1}{\"b\":2}");
	/* an empty last piece ends a payload whose bytes came before it */
	uint8_t *c3 = zt_deflate(&d, "{\"c\":3}", 7, Z_SYNC_FLUSH, &c2_len);
	CHECK_INT(zstream_feed_part(&zs, c3, c2_len, 1), ZSTREAM_MORE);
	CHECK_INT(zstream_feed_part(&zs, "", 0, 0), ZSTREAM_DONE);
	CHECK_STR(zstream_data(&zs, &len), "{\"c\":3}");
	/* and an empty message after it is nothing */
	CHECK_INT(zstream_feed_part(&zs, "", 0, 0), ZSTREAM_MORE);
	CHECK_INT(zstream_feed(&zs, "", 0), ZSTREAM_MORE);
	free(c1);
	free(c2);
	free(c3);
	zstream_free(&zs);
	zt_deflater_free(&d);
}
