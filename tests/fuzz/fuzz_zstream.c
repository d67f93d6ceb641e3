/* fuzz_zstream — the zlib-stream inflater under hostile and valid input.
 *
 * Input layout: byte 0 picks the mode, byte 1 seeds the split points.
 *   mode even: the rest is fed raw to the inflater, cut into WebSocket
 *              messages of pseudo-random sizes; anything may come back but
 *              a crash, a leak, or output past the limit.
 *   mode odd:  round trip. The rest is cut into payloads at every 0xfe
 *              byte, each compressed on one deflate context with
 *              Z_SYNC_FLUSH (as Discord does), the compressed bytes are cut
 *              at pseudo-random points and fed; what comes out must be
 *              exactly the payloads, each ending with ZSTREAM_DONE. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "zstream.h"

#define FUZZ_LIMIT (1 << 20) /* keep the fuzzer's memory small */

static uint32_t
fuzz_next(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 16;
}

static void
fuzz_raw(const uint8_t *data, size_t size, uint32_t seed)
{
	struct zstream zs;
	zstream_init(&zs, FUZZ_LIMIT);
	size_t at = 0;
	while (at < size) {
		size_t n = 1 + fuzz_next(&seed) % 64;
		if (n > size - at)
			n = size - at;
		enum zstream_result r = zstream_feed(&zs, data + at, n);
		at += n;
		if (r == ZSTREAM_DONE) {
			size_t len;
			zstream_data(&zs, &len);
			if (len > FUZZ_LIMIT)
				abort();
		} else if (r == ZSTREAM_ERR) {
			if (zstream_error(&zs)[0] == '\0')
				abort();
			/* a reconnect: the same object starts over */
			zstream_reset(&zs);
		}
	}
	zstream_free(&zs);
}

/* spill mode: what the sink got of the payload under way */
struct fuzz_sink {
	uint8_t *got;
	size_t len, cap;
};

static void
fuzz_sink_fn(void *ctx, const char *data, size_t len)
{
	struct fuzz_sink *s = ctx;
	if (len == 0 || len > s->cap - s->len)
		abort(); /* empty pieces, or more than the payload */
	memcpy(s->got + s->len, data, len);
	s->len += len;
}

/* mode bit 1: each payload's compressed bytes are the pieces of one
 * WebSocket message (zstream_feed_part), so exactly one DONE, at the last;
 * bit 2: spill mode with a small threshold, the payload joined from the
 * sink's pieces. */
static void
fuzz_round_trip(const uint8_t *data, size_t size, uint32_t seed, int mode)
{
	z_stream d;
	memset(&d, 0, sizeof d);
	if (deflateInit(&d, (int)(seed % 10)) != Z_OK)
		return;
	struct zstream zs;
	zstream_init(&zs, FUZZ_LIMIT);
	size_t cap = deflateBound(&d, (uLong)size) + 64;
	uint8_t *c = malloc(cap);
	uint8_t *got = malloc(size + 1);
	struct fuzz_sink sink = {got, 0, size + 1};
	if (mode & 4)
		zstream_set_sink(&zs, 1 + seed % 700, fuzz_sink_fn, &sink);
	size_t start = 0;
	while (start <= size && c && got) {
		size_t end = start;
		while (end < size && data[end] != 0xfe)
			end++;
		d.next_in = (Bytef *)(uintptr_t)(data + start);
		d.avail_in = (uInt)(end - start);
		d.next_out = c;
		d.avail_out = (uInt)cap;
		deflate(&d, Z_SYNC_FLUSH);
		size_t clen = cap - d.avail_out;
		if (clen == 0) {
			/* zlib emits nothing for an empty payload flushed twice */
			start = end + 1;
			continue;
		}
		/* Several DONEs may come inside one payload when a cut falls just
		 * after 00 00 ff ff inside stored data (the format cannot tell);
		 * joined, the pieces must still be the payload. */
		size_t got_len = 0, at = 0;
		sink.len = 0;
		enum zstream_result r = ZSTREAM_MORE;
		while (at < clen) {
			size_t n = 1 + fuzz_next(&seed) % 48;
			if (n > clen - at)
				n = clen - at;
			int more = (mode & 2) && at + n < clen;
			r = zstream_feed_part(&zs, c + at, n, more);
			at += n;
			if (r == ZSTREAM_ERR)
				abort();
			if (r == ZSTREAM_DONE && more)
				abort();
			if (r == ZSTREAM_DONE) {
				size_t len;
				const char *out = zstream_data(&zs, &len);
				if (zstream_spilled(&zs)) {
					/* the sink has it all; the buffer is given back */
					if (len != 0 || zs.out.cap != 0)
						abort();
					got_len = sink.len;
					continue;
				}
				if (got_len + len > end - start)
					abort();
				memcpy(got + got_len, out, len);
				got_len += len;
				sink.len = got_len;
			}
		}
		if (r != ZSTREAM_DONE || got_len != end - start ||
		    memcmp(got, data + start, got_len) != 0)
			abort();
		start = end + 1;
	}
	free(c);
	free(got);
	zstream_free(&zs);
	deflateEnd(&d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint32_t seed = data[1];
	if (data[0] & 1)
		fuzz_round_trip(data + 2, size - 2, seed, data[0]);
	else
		fuzz_raw(data + 2, size - 2, seed);
	return 0;
}
