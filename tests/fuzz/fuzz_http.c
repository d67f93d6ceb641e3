/* fuzz_http — arbitrary bytes as an HTTP/1.1 response.
 *
 * Input: byte 0 holds flags (bit 0: the request was HEAD; bit 1: a 64-byte
 * body cap, so the cap paths are reached), bytes 1-4 seed the split, the
 * rest is the response. The response is parsed twice: whole, and in pieces
 * whose sizes come from the seed. Besides memory errors (ASan), the fuzzer
 * fails if the two parses disagree on anything the application can see:
 * the parser must not depend on how bytes arrive. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

struct result {
	enum http_parse r;
	size_t consumed;
};

static struct result
parse(struct http_parser *p, const uint8_t *data, size_t size, uint32_t seed)
{
	struct result out = {HTTP_MORE, 0};
	size_t pos = 0;
	while (pos < size && out.r == HTTP_MORE) {
		size_t n = size - pos;
		if (seed) {
			/* xorshift32 picks piece sizes 1..32 */
			seed ^= seed << 13;
			seed ^= seed >> 17;
			seed ^= seed << 5;
			n = 1 + seed % 32;
			if (n > size - pos)
				n = size - pos;
		}
		size_t used = 0;
		out.r = http_parser_feed(p, data + pos, n, &used);
		if (used > n)
			abort();
		out.consumed += used;
		pos += n;
	}
	if (out.r == HTTP_MORE)
		out.r = http_parser_finish(p);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 5)
		return 0;
	int head = data[0] & 1;
	size_t max_body = data[0] & 2 ? 64 : 0;
	uint32_t seed = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 |
	                (uint32_t)data[4] << 24;
	seed |= 1; /* never 0: 0 means "whole" below */
	data += 5;
	size -= 5;

	struct http_parser whole, split;
	http_parser_init(&whole, max_body, head);
	http_parser_init(&split, max_body, head);
	struct result a = parse(&whole, data, size, 0);
	struct result b = parse(&split, data, size, seed);
	if (a.r != b.r)
		abort();
	if (strcmp(http_parser_error(&whole), http_parser_error(&split)) != 0)
		abort();
	if (a.r == HTTP_DONE) {
		struct http_response ra, rb;
		http_parser_response(&whole, &ra);
		http_parser_response(&split, &rb);
		if (a.consumed != b.consumed || ra.status != rb.status ||
		    ra.keep_alive != rb.keep_alive || ra.body_len != rb.body_len ||
		    memcmp(ra.body, rb.body, ra.body_len) != 0 || strcmp(ra.reason, rb.reason) != 0)
			abort();
		if (ra.body[ra.body_len] != '\0' || (max_body && ra.body_len > max_body))
			abort();
		size_t count = http_response_header_count(&ra);
		if (count != http_response_header_count(&rb) || count > HTTP_FIELDS_MAX)
			abort();
		for (size_t i = 0; i < count; i++) {
			const char *na, *va, *nb, *vb;
			http_response_header_at(&ra, i, &na, &va);
			http_response_header_at(&rb, i, &nb, &vb);
			if (strcmp(na, nb) != 0 || strcmp(va, vb) != 0)
				abort();
			/* lookup by name finds a field with that name */
			if (!http_response_header(&ra, na))
				abort();
		}
	}
	http_parser_free(&whole);
	http_parser_free(&split);
	return 0;
}
