/* fuzz_ws — server bytes into the WebSocket handshake reader, frame parser
 * and reassembler.
 *
 * Input layout: byte 0 seeds the split points; if bit 0 of byte 1 is set
 * the rest first goes through the handshake reader (whatever follows a
 * valid head is frame data), else straight to the frame parser. The frame
 * bytes are parsed twice, whole and in pseudo-random pieces: both runs must
 * see the same items and the same end (split-independence), and twice more
 * with binary messages streamed (their pieces joined must be the messages
 * reassembly gives, ended the same way), every text
 * message must be valid UTF-8, nothing may pass the message limit, and an
 * error must carry a close code the client may send. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

#define FUZZ_MAX_MESSAGE 4096 /* small, so the limit is reached often */

static uint32_t
fuzz_next(uint32_t *state)
{
	*state = *state * 1103515245u + 12345u;
	return *state >> 16;
}

/* Parses data in pieces (of 1 to 40 bytes, or whole when seed is 0) and
 * returns a digest of the items seen and the way it ended. */
static uint64_t
fuzz_parse(const uint8_t *data, size_t size, uint32_t seed, int stream)
{
	struct ws_parser p;
	ws_parser_init(&p, FUZZ_MAX_MESSAGE);
	p.stream_binary = stream;
	uint64_t digest = 1469598103934665603ULL;
	/* a streamed binary message is joined here and counts once its last
	 * piece is in, in the order reassembly would hand it out (controls
	 * between its frames come first), and not at all if an error cuts it */
	static uint8_t joined[FUZZ_MAX_MESSAGE];
	size_t streamed = 0;
	size_t at = 0;
	while (at < size) {
		size_t n = size - at;
		if (seed) {
			size_t want = 1 + fuzz_next(&seed) % 40;
			if (want < n)
				n = want;
		}
		size_t used;
		enum ws_parse r = ws_parser_feed(&p, data + at, n, &used);
		if (used > n)
			abort();
		at += used;
		if (r == WS_PARSE_ERR) {
			int c = p.error_code;
			if (c != 1002 && c != 1007 && c != 1009 && c != 1011)
				abort();
			digest = (digest ^ (uint64_t)c) * 1099511628211ULL;
			break;
		}
		if (r == WS_PARSE_MORE) {
			if (used != n)
				abort();
			continue;
		}
		const struct ws_message *m = &p.item;
		if (m->more && !stream)
			abort();
		if (stream && m->opcode == WS_OP_BINARY) {
			if (m->len > FUZZ_MAX_MESSAGE - streamed || (m->more && m->len == 0))
				abort();
			memcpy(joined + streamed, m->data, m->len);
			streamed += m->len;
			if (m->more)
				continue;
			digest = (digest ^ (uint64_t)m->opcode) * 1099511628211ULL;
			digest = (digest ^ (uint64_t)m->close_code) * 1099511628211ULL;
			for (size_t i = 0; i < streamed; i++)
				digest = (digest ^ joined[i]) * 1099511628211ULL;
			digest = (digest ^ 0x100) * 1099511628211ULL;
			streamed = 0;
			continue;
		}
		if (m->len > FUZZ_MAX_MESSAGE || m->data[m->len] != '\0')
			abort();
		if (m->opcode == WS_OP_TEXT && !ws_utf8_valid(m->data, m->len))
			abort();
		if ((m->opcode == WS_OP_PING || m->opcode == WS_OP_PONG) && m->len > 125)
			abort();
		digest = (digest ^ (uint64_t)m->opcode) * 1099511628211ULL;
		digest = (digest ^ (uint64_t)m->close_code) * 1099511628211ULL;
		for (size_t i = 0; i < m->len; i++)
			digest = (digest ^ (uint8_t)m->data[i]) * 1099511628211ULL;
		digest = (digest ^ 0x100) * 1099511628211ULL;
	}
	ws_parser_free(&p);
	return digest;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	uint32_t seed = data[0] | 0x100u; /* never 0: 0 means whole */
	int handshake = data[1] & 1;
	data += 2;
	size -= 2;
	if (handshake) {
		struct ws_handshake h;
		ws_handshake_init(&h, "dGhlIHNhbXBsZSBub25jZQ==");
		size_t used;
		enum ws_parse r = ws_handshake_feed(&h, data, size, &used);
		if (used > size || (r == WS_PARSE_ERR && h.error[0] == '\0'))
			abort();
		if (r != WS_PARSE_DONE)
			return 0;
		data += used;
		size -= used;
	}
	uint64_t whole = fuzz_parse(data, size, 0, 0);
	if (whole != fuzz_parse(data, size, seed, 0))
		abort();
	/* binary messages streamed in pieces (ws_set_stream_binary), joined,
	 * are the reassembled ones */
	if (whole != fuzz_parse(data, size, 0, 1) || whole != fuzz_parse(data, size, seed, 1))
		abort();
	return 0;
}
