/* test_ws.c — the WebSocket codec: URLs, the opening handshake, UTF-8, the
 * frame parser (data-driven from tests/data/ws/frames.txt, fed whole, byte
 * by byte and in random splits), limits, the frame encoder, allocation
 * failures. The client against a real server is in test_ws_client.c. */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"
#include "mem.h"
#include "test.h"
#include "ws.h"

TEST(base64_rfc4648_vectors)
{
	/* RFC 4648 section 10 */
	static const char *const want[] = {"",         "Zg==",     "Zm8=",    "Zm9v",
	                                   "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	char out[16];
	for (size_t n = 0; n <= 6; n++) {
		CHECK_INT(base64_encode("foobar", n, out, sizeof out), strlen(want[n]));
		CHECK_STR(out, want[n]);
	}
	CHECK_INT(base64_encode("foobar", 6, out, 8), -1);
	CHECK_STR(out, "");
	CHECK_INT(base64_encode("foobar", 6, out, 9), 8);
}

/* ---- URLs */

TEST(ws_url_parse_cases)
{
	static const struct {
		const char *url;
		int ok, secure;
		const char *host;
		unsigned port;
		const char *path;
	} cases[] = {
	        {"wss://gateway.discord.gg/?v=10&encoding=json&compress=zlib-stream", 1, 1,
	         "gateway.discord.gg", 443, "/?v=10&encoding=json&compress=zlib-stream"},
	        {"wss://gateway.discord.gg", 1, 1, "gateway.discord.gg", 443, "/"},
	        {"wss://gateway.discord.gg?v=10", 1, 1, "gateway.discord.gg", 443, "/?v=10"},
	        {"ws://127.0.0.1:8765/echo", 1, 0, "127.0.0.1", 8765, "/echo"},
	        {"WS://Example.COM/", 1, 0, "example.com", 80, "/"},
	        {"ws://[::1]:9000/x", 1, 0, "::1", 9000, "/x"},
	        {"ws://[::1]/", 1, 0, "::1", 80, "/"},
	        {"http://example.com/", 0, 0, NULL, 0, NULL},
	        {"wss://", 0, 0, NULL, 0, NULL},
	        {"wss://:443/", 0, 0, NULL, 0, NULL},
	        {"wss://host:0/", 0, 0, NULL, 0, NULL},
	        {"wss://host:65536/", 0, 0, NULL, 0, NULL},
	        {"wss://host:12a/", 0, 0, NULL, 0, NULL},
	        {"wss://host:/", 0, 0, NULL, 0, NULL},
	        {"wss://host/path#frag", 0, 0, NULL, 0, NULL},
	        {"wss://user@host/", 0, 0, NULL, 0, NULL},
	        {"wss://host/a b", 0, 0, NULL, 0, NULL},
	        {"ws://[::1/", 0, 0, NULL, 0, NULL},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct url u;
		char err[256] = "";
		int rc = ws_url_parse(&u, cases[i].url, err, sizeof err);
		if (!CHECK_INT(rc, cases[i].ok ? 0 : -1))
			printf("      url %s: %s\n", cases[i].url, err);
		if (rc == 0 && cases[i].ok) {
			CHECK_INT(u.secure, cases[i].secure);
			CHECK_STR(u.host, cases[i].host);
			CHECK_INT(u.port, cases[i].port);
			CHECK_STR(u.target, cases[i].path);
		}
		if (!cases[i].ok)
			CHECK(err[0] != '\0');
	}
	/* a host name longer than any DNS name */
	char long_url[400] = "wss://";
	memset(long_url + 6, 'a', 300);
	long_url[306] = '\0';
	struct url u;
	char err[256];
	CHECK_INT(ws_url_parse(&u, long_url, err, sizeof err), -1);
}

/* ---- handshake */

TEST(ws_handshake_rfc_example)
{
	/* RFC 6455 1.3 and 4.1: the sample nonce and its accept value */
	char key[25], accept[29];
	ws_handshake_key(key, (const uint8_t *)"the sample nonce");
	CHECK_STR(key, "dGhlIHNhbXBsZSBub25jZQ==");
	ws_handshake_accept(accept, key);
	CHECK_STR(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

TEST(ws_handshake_request_text)
{
	struct url u;
	char err[100];
	struct buf b;
	buf_init(&b, 4096);
	CHECK_INT(ws_url_parse(&u, "wss://gateway.discord.gg/?v=10", err, sizeof err), 0);
	CHECK_INT(ws_handshake_request(&b, &u, "dGhlIHNhbXBsZSBub25jZQ=="), 0);
	CHECK_STR(buf_str(&b), "GET /?v=10 HTTP/1.1\r\n"
	                       "Host: gateway.discord.gg\r\n"
	                       "Upgrade: websocket\r\n"
	                       "Connection: Upgrade\r\n"
	                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	                       "Sec-WebSocket-Version: 13\r\n"
	                       "User-Agent: agora\r\n"
	                       "\r\n");
	buf_reset(&b);
	CHECK_INT(ws_url_parse(&u, "ws://[::1]:8080/echo", err, sizeof err), 0);
	CHECK_INT(ws_handshake_request(&b, &u, "k"), 0);
	CHECK(strstr(buf_str(&b), "\r\nHost: [::1]:8080\r\n") != NULL);
	buf_reset(&b);
	CHECK_INT(ws_url_parse(&u, "wss://example.com:443/", err, sizeof err), 0);
	CHECK_INT(ws_handshake_request(&b, &u, "k"), 0);
	CHECK(strstr(buf_str(&b), "\r\nHost: example.com\r\n") != NULL);
	buf_free(&b);
}

#define WT_KEY "dGhlIHNhbXBsZSBub25jZQ=="

/* Feeds a response in pieces of `step` bytes (0: whole); returns the
 * result and where the head ended. */
static enum ws_parse
wt_handshake(const char *resp, size_t len, size_t step, size_t *head_end, char *err, size_t err_len)
{
	struct ws_handshake h;
	ws_handshake_init(&h, WT_KEY);
	size_t at = 0;
	enum ws_parse r = WS_PARSE_MORE;
	while (at < len && r == WS_PARSE_MORE) {
		size_t n = step ? step : len;
		if (step == (size_t)-1)
			n = 1 + test_rand() % 20;
		if (n > len - at)
			n = len - at;
		size_t used;
		r = ws_handshake_feed(&h, resp + at, n, &used);
		CHECK(used <= n);
		at += used;
	}
	*head_end = at;
	snprintf(err, err_len, "%s", h.error);
	if (r == WS_PARSE_DONE)
		CHECK_INT(h.status, 101);
	return r;
}

TEST(ws_handshake_responses)
{
	static const struct {
		const char *resp;
		int ok;
		const char *error_part;
	} cases[] = {
	        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
	         "Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	         1, NULL},
	        /* names and the Upgrade/Connection values are case-insensitive */
	        {"HTTP/1.1 101 OK\r\nupgrade:WebSocket\r\nCONNECTION: keep-alive, UPGRADE \r\n"
	         "sec-websocket-accept:  s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nServer: x\r\n\r\n",
	         1, NULL},
	        {"HTTP/1.1 101\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	         "Sec-WebSocket-Extensions: \r\n\r\n",
	         1, NULL},
	        {"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n", 0, "403 Forbidden"},
	        {"HTTP/1.1 200 OK\r\nUpgrade: websocket\r\n\r\n", 0, "200"},
	        {"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	         0, "Upgrade"},
	        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	         0, "h2c"},
	        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: close\r\n"
	         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
	         0, "Connection"},
	        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo+\r\n\r\n",
	         0, "Accept"},
	        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
	         "Upgrade\r\n\r\n",
	         0, "Accept"},
	        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	         "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
	         0, "permessage-deflate"},
	        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
	         "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
	         "Sec-WebSocket-Protocol: chat\r\n\r\n",
	         0, "chat"},
	        {"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n folded\r\n\r\n", 0,
	         "folded"},
	        {"HTTP/1.1 101 Switching Protocols\r\nno colon here\r\n\r\n", 0, "no colon"},
	        {"SSH-2.0-OpenSSH_9.2\r\n\r\n", 0, "not an HTTP response"},
	        {"HTTP/1.1 1x1 Huh\r\n\r\n", 0, "not an HTTP response"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		for (int mode = 0; mode < 3; mode++) {
			size_t step = mode == 0 ? 0 : mode == 1 ? 1 : (size_t)-1;
			/* frame bytes right behind the head must be left over */
			char resp[1024];
			snprintf(resp, sizeof resp, "%s\x81\x02hi", cases[i].resp);
			size_t end;
			char err[256];
			enum ws_parse r =
			        wt_handshake(resp, strlen(resp), step, &end, err, sizeof err);
			if (!CHECK_INT(r, cases[i].ok ? WS_PARSE_DONE : WS_PARSE_ERR))
				printf("      case %zu mode %d: %s\n", i, mode, err);
			if (cases[i].ok)
				CHECK_INT(end, strlen(cases[i].resp));
			else if (!CHECK(strstr(err, cases[i].error_part) != NULL))
				printf("      case %zu: error \"%s\"\n", i, err);
		}
	}
}

TEST(ws_handshake_head_limit)
{
	size_t len = WS_HANDSHAKE_MAX + 100;
	char *resp = malloc(len);
	memcpy(resp, "HTTP/1.1 101 OK\r\nX: ", 20);
	memset(resp + 20, 'a', len - 20);
	size_t end;
	char err[256];
	CHECK_INT(wt_handshake(resp, len, 0, &end, err, sizeof err), WS_PARSE_ERR);
	CHECK(strstr(err, "longer") != NULL);
	free(resp);
}

/* ---- UTF-8 */

TEST(ws_utf8_cases)
{
	CHECK(ws_utf8_valid("", 0));
	CHECK(ws_utf8_valid("plain ascii", 11));
	CHECK(ws_utf8_valid("\xc2\x80\xdf\xbf", 4));
	CHECK(ws_utf8_valid("\xe0\xa0\x80\xef\xbf\xbf\xee\x80\x80", 9));
	CHECK(ws_utf8_valid("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf", 8));
	CHECK(ws_utf8_valid("\xed\x9f\xbf", 3)); /* U+D7FF, just below the surrogates */
	CHECK(!ws_utf8_valid("\xc1\xbf", 2));
	CHECK(!ws_utf8_valid("\xe0\x9f\xbf", 3));
	CHECK(!ws_utf8_valid("\xed\xbf\xbf", 3));
	CHECK(!ws_utf8_valid("\xf0\x8f\xbf\xbf", 4));
	CHECK(!ws_utf8_valid("\xf4\x90\x80\x80", 4));
	CHECK(!ws_utf8_valid("\xff", 1));
	CHECK(!ws_utf8_valid("\xe2\x82", 2));
	CHECK(!ws_utf8_valid("\xe2\x28\xa1", 3));
	CHECK(!ws_utf8_valid("a\x80", 2));
}

/* ---- frames, data-driven */

/* Appends item m in the notation of frames.txt. */
static void
wt_describe(struct buf *out, const struct ws_message *m)
{
	static const char *const names[] = {[WS_OP_TEXT] = "text",
	                                    [WS_OP_BINARY] = "binary",
	                                    [WS_OP_CLOSE] = "close",
	                                    [WS_OP_PING] = "ping",
	                                    [WS_OP_PONG] = "pong"};
	if (out->len)
		buf_putc(out, ' ');
	buf_printf(out, "%s=", names[m->opcode]);
	if (m->opcode == WS_OP_CLOSE)
		buf_printf(out, "%d:", m->close_code);
	const uint8_t *d = (const uint8_t *)m->data;
	int same = m->len > 16;
	for (size_t i = 1; same && i < m->len; i++)
		same = d[i] == d[0];
	if (same) {
		buf_printf(out, "%zux%02x", m->len, d[0]);
		return;
	}
	for (size_t i = 0; i < m->len; i++)
		buf_printf(out, "%02x", d[i]);
}

/* Runs the parser over bytes split by mode (0 whole, 1 bytes, 2 random)
 * and returns the items seen in the notation of frames.txt. */
/* 1: the parser streams binary messages (ws_set_stream_binary); the
 * pieces are joined here, so every case must read the same either way */
static int wt_stream;

static void
wt_parse_all(const uint8_t *bytes, size_t len, int mode, size_t max, struct buf *out)
{
	struct ws_parser p;
	ws_parser_init(&p, max);
	p.stream_binary = wt_stream;
	struct buf joined; /* the streamed pieces of the binary message so far */
	buf_init(&joined, SIZE_MAX);
	int joining = 0;
	size_t at = 0;
	while (at < len) {
		size_t n = len - at;
		if (mode == 1)
			n = 1;
		else if (mode == 2)
			n = 1 + test_rand() % (n < 300 ? n : 300);
		size_t chunk_end = at + n;
		/* one read may hold several items: feed until it is used up */
		while (at < chunk_end) {
			size_t used;
			enum ws_parse r = ws_parser_feed(&p, bytes + at, chunk_end - at, &used);
			CHECK(used <= chunk_end - at);
			at += used;
			if (r == WS_PARSE_ERR) {
				if (out->len)
					buf_putc(out, ' ');
				buf_printf(out, "err=%d", p.error_code);
				CHECK(p.error[0] != '\0');
				ws_parser_free(&p);
				buf_free(&joined);
				return;
			}
			if (r == WS_PARSE_DONE && p.item.opcode == WS_OP_BINARY && wt_stream) {
				/* a piece: never empty unless the last; nothing reassembled */
				CHECK(p.item.len > 0 || !p.item.more);
				CHECK_INT(p.message.len, 0);
				buf_append(&joined, p.item.data, p.item.len);
				joining = p.item.more;
				if (!p.item.more) {
					struct ws_message whole = p.item;
					whole.data = buf_str(&joined);
					whole.len = joined.len;
					wt_describe(out, &whole);
					buf_reset(&joined);
				}
			} else if (r == WS_PARSE_DONE) {
				CHECK_INT(p.item.more, 0);
				wt_describe(out, &p.item);
			} else
				CHECK_INT(at, chunk_end);
		}
	}
	if (!out->len)
		buf_puts(out, "-");
	(void)joining;
	ws_parser_free(&p);
	buf_free(&joined);
}

static char *
wt_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

TEST(ws_parser_frames_data)
{
	char *text = test_read_file("tests/data/ws/frames.txt", NULL);
	CHECK(text != NULL);
	if (!text)
		return;
	int cases = 0;
	char *save = text;
	for (char *line = save; line && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *l = wt_trim(line);
		line = next;
		if (!*l || *l == '#')
			continue;
		char *bar1 = strchr(l, '|'), *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
		if (!CHECK(bar2 != NULL))
			continue;
		*bar1 = *bar2 = '\0';
		char *name = wt_trim(l), *hex = wt_trim(bar1 + 1), *want = wt_trim(bar2 + 1);
		/* decode "hh" and "hh*N" */
		struct buf bytes;
		buf_init(&bytes, 1 << 20);
		for (char *tok = hex; *tok;) {
			unsigned v;
			int used = 0;
			if (sscanf(tok, "%2x%n", &v, &used) != 1)
				break;
			tok += used;
			size_t repeat = 1;
			if (*tok == '*') {
				repeat = strtoul(tok + 1, &tok, 10);
			}
			for (size_t i = 0; i < repeat; i++)
				buf_putc(&bytes, (char)v);
			while (*tok == ' ')
				tok++;
		}
		for (int mode = 0; mode < 6; mode++) {
			struct buf got;
			buf_init(&got, 1 << 20);
			wt_stream = mode >= 3;
			wt_parse_all((const uint8_t *)bytes.data, bytes.len, mode % 3, 100000,
			             &got);
			if (!CHECK_STR(buf_str(&got), want))
				printf("      case %s, mode %d%s\n", name, mode % 3,
				       wt_stream ? ", binary streamed" : "");
			buf_free(&got);
		}
		wt_stream = 0;
		buf_free(&bytes);
		cases++;
	}
	CHECK(cases > 60);
	free(text);
}

/* ---- limits */

TEST(ws_parser_message_limit)
{
	uint8_t frames[64];
	struct buf got;
	buf_init(&got, 4096);
	/* exactly the limit passes, one more fails with 1009 */
	memcpy(frames, "\x82\x0a", 2);
	memset(frames + 2, 'x', 11);
	wt_parse_all(frames, 12, 0, 10, &got);
	CHECK_STR(buf_str(&got), "binary=78787878787878787878");
	buf_reset(&got);
	memcpy(frames, "\x82\x0b", 2);
	wt_parse_all(frames, 13, 0, 10, &got);
	CHECK_STR(buf_str(&got), "err=1009");
	/* the limit counts the whole reassembled message, not one frame */
	buf_reset(&got);
	memcpy(frames, "\x01\x06xxxxxx\x80\x05yyyyy", 15);
	wt_parse_all(frames, 15, 1, 10, &got);
	CHECK_STR(buf_str(&got), "err=1009");
	/* control frames are not counted against it */
	buf_reset(&got);
	memcpy(frames, "\x01\x06xxxxxx\x89\x05ppppp\x80\x04yyyy", 22);
	wt_parse_all(frames, 22, 1, 10, &got);
	CHECK_STR(buf_str(&got), "ping=7070707070 text=78787878787879797979");
	/* streamed binary messages count against the limit the same way */
	wt_stream = 1;
	buf_reset(&got);
	memcpy(frames, "\x02\x06xxxxxx\x89\x05ppppp\x80\x04yyyy", 22);
	wt_parse_all(frames, 22, 1, 10, &got);
	CHECK_STR(buf_str(&got), "ping=7070707070 binary=78787878787879797979");
	buf_reset(&got);
	memcpy(frames, "\x02\x06xxxxxx\x80\x05yyyyy", 15);
	wt_parse_all(frames, 15, 2, 10, &got);
	CHECK_STR(buf_str(&got), "err=1009");
	buf_reset(&got);
	memcpy(frames, "\x82\x0a", 2);
	memset(frames + 2, 'x', 10);
	memcpy(frames + 12, "\x82\x0a", 2);
	memset(frames + 14, 'z', 10);
	wt_parse_all(frames, 24, 1, 10, &got);
	CHECK_STR(buf_str(&got), "binary=78787878787878787878 binary=7a7a7a7a7a7a7a7a7a7a");
	wt_stream = 0;
	buf_free(&got);
}

/* A 1 MiB message in random splits, and allocation failures on the way:
 * each fails cleanly with 1011 and leaks nothing. */
TEST(ws_parser_alloc_failures)
{
	size_t len = 300000;
	uint8_t *frame = malloc(len + 10);
	memcpy(frame, "\x82\x7f\x00\x00\x00\x00\x00\x04\x93\xe0", 10);
	for (size_t i = 0; i < len; i++)
		frame[10 + i] = (uint8_t)(i * 7);
	int succeeded = 0;
	for (long n = 0; n < 100 && !succeeded; n++) {
		struct ws_parser p;
		ws_parser_init(&p, 1 << 20);
		mem_fail_after(n);
		size_t at = 0, used;
		enum ws_parse r = WS_PARSE_MORE;
		while (at < len + 10 && r == WS_PARSE_MORE) {
			size_t step = 1 + test_rand() % 70000;
			if (step > len + 10 - at)
				step = len + 10 - at;
			r = ws_parser_feed(&p, frame + at, step, &used);
			at += used;
		}
		mem_fail_after(-1);
		if (r == WS_PARSE_DONE) {
			CHECK_INT(p.item.len, len);
			CHECK(memcmp(p.item.data, frame + 10, len) == 0);
			succeeded = 1;
		} else {
			CHECK_INT(r, WS_PARSE_ERR);
			CHECK_INT(p.error_code, WS_CLOSE_INTERNAL);
		}
		ws_parser_free(&p);
	}
	CHECK(succeeded);
	free(frame);
}

/* ---- encoder */

TEST(ws_frame_encode_rfc_example)
{
	/* RFC 6455 5.7: a masked "Hello" */
	static const uint8_t mask[4] = {0x37, 0xfa, 0x21, 0x3d};
	struct buf b;
	buf_init(&b, 1024);
	CHECK_INT(ws_frame_encode(&b, WS_OP_TEXT, "Hello", 5, mask), 0);
	CHECK_INT(b.len, 11);
	CHECK(memcmp(b.data, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11) == 0);
	buf_free(&b);
}

/* Unmasks a client frame: returns the payload length, or -1. */
static long
wt_unmask(const uint8_t *f, size_t flen, uint8_t *op, uint8_t *payload)
{
	if (flen < 6 || !(f[0] & 0x80) || !(f[1] & 0x80))
		return -1;
	*op = f[0] & 0x0f;
	size_t len = f[1] & 0x7f, at = 2;
	if (len == 126) {
		len = (size_t)f[2] << 8 | f[3];
		at = 4;
	} else if (len == 127) {
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | f[i];
		at = 10;
	}
	const uint8_t *mask = f + at;
	at += 4;
	if (flen != at + len)
		return -1;
	for (size_t i = 0; i < len; i++)
		payload[i] = f[at + i] ^ mask[i % 4];
	return (long)len;
}

TEST(ws_frame_encode_lengths)
{
	static const size_t lengths[] = {0, 1, 125, 126, 127, 65535, 65536, 1 << 20};
	static const size_t head[] = {6, 6, 6, 8, 8, 8, 14, 14};
	uint8_t *payload = malloc(1 << 20), *back = malloc(1 << 20);
	for (size_t i = 0; i < (1 << 20); i++)
		payload[i] = (uint8_t)test_rand();
	for (size_t i = 0; i < sizeof lengths / sizeof lengths[0]; i++) {
		uint8_t mask[4];
		for (int k = 0; k < 4; k++)
			mask[k] = (uint8_t)test_rand();
		struct buf b;
		buf_init(&b, 2 << 20);
		CHECK_INT(ws_frame_encode(&b, WS_OP_BINARY, payload, lengths[i], mask), 0);
		CHECK_INT(b.len, head[i] + lengths[i]);
		uint8_t op = 0;
		CHECK_INT(wt_unmask((uint8_t *)b.data, b.len, &op, back), lengths[i]);
		CHECK_INT(op, WS_OP_BINARY);
		CHECK(memcmp(back, payload, lengths[i]) == 0);
		buf_free(&b);
	}
	/* control frames stay within 125 bytes */
	struct buf b;
	buf_init(&b, 4096);
	static const uint8_t mask[4] = {1, 2, 3, 4};
	CHECK_INT(ws_frame_encode(&b, WS_OP_PING, payload, 125, mask), 0);
	CHECK_INT(ws_frame_encode(&b, WS_OP_PING, payload, 126, mask), -1);
	CHECK_INT(b.len, 131);
	/* a frame that does not fit leaves the buffer as it was */
	struct buf small;
	buf_init(&small, 100);
	CHECK_INT(ws_frame_encode(&small, WS_OP_BINARY, payload, 200, mask), -1);
	CHECK_INT(small.len, 0);
	buf_free(&small);
	buf_free(&b);
	free(payload);
	free(back);
}

TEST(ws_frame_encode_close_reason)
{
	static const uint8_t mask[4] = {0, 0, 0, 0};
	struct buf b;
	buf_init(&b, 4096);
	CHECK_INT(ws_frame_encode_close(&b, 1000, "bye", mask), 0);
	CHECK_INT(b.len, 11);
	CHECK(memcmp(b.data,
	             "\x88\x85\0\0\0\0\x03\xe8"
	             "bye",
	             11) == 0);
	buf_reset(&b);
	CHECK_INT(ws_frame_encode_close(&b, 0, "ignored", mask), 0);
	CHECK_INT(b.len, 6);
	/* a long reason is cut to 123 bytes, not inside a UTF-8 sequence:
	 * 61 two-byte characters = 122 bytes fit, the 62nd does not */
	char reason[200];
	for (int i = 0; i < 80; i++)
		memcpy(reason + 2 * i, "\xc3\xa9", 2);
	reason[160] = '\0';
	buf_reset(&b);
	CHECK_INT(ws_frame_encode_close(&b, 4000, reason, mask), 0);
	CHECK_INT(b.len, 6 + 2 + 122);
	CHECK(ws_utf8_valid(b.data + 8, b.len - 8));
	buf_free(&b);
}
