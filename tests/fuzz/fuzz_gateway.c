/* fuzz_gateway — arbitrary gateway payloads into a real gateway session,
 * through its public API (gateway_new, gateway_start) over a loopback
 * WebSocket, exactly as Discord's bytes reach it: zlib-stream, binary
 * frames, HELLO first.
 *
 * Input: byte 0 holds flags (bit 0: no HELLO before the payloads; bit 1:
 * the payloads go as uncompressed text frames, which a zlib-stream session
 * must survive), the rest is the payloads, separated by 0x1E (ASCII record
 * separator, never valid inside JSON). After them comes a last dispatch,
 * FUZZ_END: the run ends when it arrives, when the session reports the
 * connection down, or when the gateway closes the socket. Besides memory
 * errors (ASan), the fuzzer fails when an event breaks the documented
 * contract: a DISPATCH without a name, or READY/RESUMED/DISPATCH after the
 * gateway said the connection was down. MESSAGE_CREATE is taken raw (as
 * bot.c takes it: gateway_options.raw_events, no DOM), so the envelope
 * scan is fuzzed too: a raw event's d must be one whole JSON value (it
 * scans to exactly its length), and its head is read as bot.c reads it. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "discord.h"
#include "fuzz_peer.h"
#include "gateway.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char hello[] =
        "{\"op\":10,\"d\":{\"heartbeat_interval\":45000},\"s\":null,\"t\":null}";
static const char end[] = "{\"op\":0,\"s\":2000000000,\"t\":\"FUZZ_END\",\"d\":{}}";

struct run {
	const uint8_t *data;
	size_t size;
	int flags;
	int handshaken;
	size_t pos; /* where the client's next frame starts in the peer's input */
	int down;
	int ended;
	z_stream z;
};

/* One unmasked server frame (RFC 6455 5.2) around payload. */
static void
put_frame(struct buf *out, int opcode, const void *payload, size_t len)
{
	uint8_t head[10];
	size_t n = 0;
	head[n++] = (uint8_t)(0x80 | opcode);
	if (len < 126) {
		head[n++] = (uint8_t)len;
	} else if (len < 65536) {
		head[n++] = 126;
		head[n++] = (uint8_t)(len >> 8);
		head[n++] = (uint8_t)len;
	} else {
		head[n++] = 127;
		for (int i = 7; i >= 0; i--)
			head[n++] = (uint8_t)((uint64_t)len >> (8 * i));
	}
	buf_append(out, head, n);
	buf_append(out, payload, len);
}

/* One payload as the session expects it: deflated into the one zlib
 * stream and flushed (Discord's zlib-stream), in a binary frame. */
static void
put_payload(struct run *r, struct buf *out, const void *text, size_t len)
{
	if (r->flags & 2) {
		put_frame(out, 1, text, len);
		return;
	}
	static uint8_t packed[1 << 17];
	r->z.next_in = (Bytef *)(uintptr_t)text;
	r->z.avail_in = (uInt)len;
	r->z.next_out = packed;
	r->z.avail_out = sizeof packed;
	if (deflate(&r->z, Z_SYNC_FLUSH) != Z_OK)
		return;
	put_frame(out, 2, packed, sizeof packed - r->z.avail_out);
}

/* The first needle in hay[0..len), or NULL (memmem is not POSIX). */
static const char *
find(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	for (size_t i = 0; i + n <= len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return hay + i;
	return NULL;
}

/* Reads the client's frames (heartbeats, IDENTIFY, RESUME: ignored). A
 * close frame ends the run: the session is reconnecting, and waiting for
 * its close handshake to time out would only slow the fuzzer down. */
static void
client_frames(struct fuzz_peer *p, struct run *r)
{
	const uint8_t *in = (const uint8_t *)p->in.data;
	while (p->in.len - r->pos >= 2) {
		const uint8_t *f = in + r->pos;
		size_t avail = p->in.len - r->pos, head = 2, len = f[1] & 0x7f;
		if (len == 126) {
			if (avail < 4)
				return;
			len = (size_t)f[2] << 8 | f[3];
			head = 4;
		} else if (len == 127) {
			if (avail < 10)
				return;
			len = 0;
			for (int i = 2; i < 10; i++)
				len = len << 8 | f[i];
			head = 10;
		}
		if (f[1] & 0x80)
			head += 4;
		if (len > avail || avail - len < head)
			return;
		r->pos += head + len;
		if ((f[0] & 0x0f) == 8) {
			loop_stop(p->loop);
			return;
		}
	}
}

static void
on_input(struct fuzz_peer *p)
{
	struct run *r = p->data;
	if (r->handshaken) {
		client_frames(p, r);
		return;
	}
	const char *head_end = find(p->in.data, p->in.len, "\r\n\r\n");
	if (!head_end)
		return;
	r->handshaken = 1;
	r->pos = (size_t)(head_end + 4 - p->in.data);
	const char *key = find(p->in.data, p->in.len, "Sec-WebSocket-Key: ");
	char k[25] = "";
	if (key && (size_t)(p->in.data + p->in.len - key) >= 19 + 24)
		memcpy(k, key + 19, 24);
	char accept[29];
	ws_handshake_accept(accept, k);
	buf_printf(&p->out,
	           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	           "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
	           accept);
	if (!(r->flags & 1))
		put_payload(r, &p->out, hello, sizeof hello - 1);
	const uint8_t *at = r->data, *stop = r->data + r->size;
	while (at <= stop) {
		const uint8_t *sep = memchr(at, 0x1e, (size_t)(stop - at));
		const uint8_t *e = sep ? sep : stop;
		put_payload(r, &p->out, at, (size_t)(e - at));
		at = e + 1;
	}
	put_payload(r, &p->out, end, sizeof end - 1);
}

/* A second connection is the session reconnecting: the exchange is over. */
static void
on_accept(struct fuzz_peer *p)
{
	if (p->accepted > 1)
		loop_stop(p->loop);
}

static void
on_eof(struct fuzz_peer *p)
{
	loop_stop(p->loop);
}

static void
on_event(struct gateway *g, enum gateway_event ev, const char *name, const struct json_value *d,
         void *data)
{
	(void)g;
	(void)d;
	struct fuzz_peer *p = data;
	struct run *r = p->data;
	switch (ev) {
	case GATEWAY_DISPATCH:
		if (!name)
			abort();
		/* fall through */
	case GATEWAY_READY:
	case GATEWAY_RESUMED:
		if (r->down)
			abort();
		if (ev == GATEWAY_DISPATCH && strcmp(name, "FUZZ_END") == 0) {
			r->ended = 1;
			loop_stop(p->loop);
		}
		break;
	default: /* down, closed, fatal: the exchange is over */
		r->down = 1;
		loop_stop(p->loop);
	}
}

static void
on_raw(struct gateway *g, const char *name, const char *d, size_t d_len,
       const struct json_span *values, void *data)
{
	(void)g;
	struct fuzz_peer *p = data;
	struct run *r = p->data;
	if (!name || r->down || strcmp(name, "MESSAGE_CREATE") != 0)
		abort();
	size_t pos = 0;
	if (d && (json_scan_skip(d, d_len, &pos) != 0 || pos != d_len))
		abort();
	/* the head as bot.c reads it, and read again from d alone: the same */
	struct discord_message_head m, again;
	int read = discord_message_head_read(values, &m);
	if (d && (discord_message_head_scan(d, d_len, &again) != read ||
	          (read == 0 && memcmp(&m, &again, sizeof m) != 0)))
		abort();
}

static const char *const raw_events[] = {"MESSAGE_CREATE", NULL};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	enum log_level level = log_get_level();
	if (!getenv("FUZZ_LOG"))
		log_set_level(LOG_CRITICAL); /* every bad payload is a warning */
	struct run r;
	memset(&r, 0, sizeof r);
	r.flags = data[0];
	r.data = data + 1;
	r.size = size - 1;
	struct loop *loop = loop_new();
	if (!loop || deflateInit(&r.z, Z_DEFAULT_COMPRESSION) != Z_OK) {
		if (loop)
			loop_free(loop);
		log_set_level(level);
		return 0;
	}
	struct fuzz_peer p;
	fuzz_peer_init(&p, loop);
	p.data = &r;
	p.on_input = on_input;
	p.on_accept = on_accept;
	p.on_eof = on_eof;
	char url[64];
	struct gateway *g = NULL;
	if (fuzz_peer_listen(&p) == 0) {
		snprintf(url, sizeof url, "ws://127.0.0.1:%u", (unsigned)fuzz_peer_port());
		struct gateway_options opt = {
		        .token = "fuzz.token",
		        .intents = GATEWAY_INTENT_GUILDS | GATEWAY_INTENT_GUILD_MESSAGES,
		        .url = url,
		        .identify_remaining = 1000,
		        .identify_reset_after_ms = 1000,
		        .connect_timeout_ms = 2000,
		        .hello_timeout_ms = 2000,
		        .identify_gap_ms = 1,
		        .backoff_max_ms = 10,
		        .raw_events = raw_events,
		        .raw = on_raw,
		        .raw_paths = discord_message_head_paths,
		};
		g = gateway_new(loop, &opt, on_event, &p);
	}
	if (g && gateway_start(g) == 0)
		loop_run(loop);
	if (g)
		gateway_free(g);
	fuzz_peer_free(&p);
	deflateEnd(&r.z);
	loop_free(loop);
	log_set_level(level);
	return 0;
}
