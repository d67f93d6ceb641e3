/* ws — see ws.h. The pure codec first (URL, handshake, UTF-8, frames),
 * then the client that drives it from tls events. */
#include "ws.h"

#include <bearssl_hash.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "base64.h"
#include "loop.h"
#include "mem.h"
#include "tls.h"

/* ================================================================ URL */

int
ws_url_parse(struct url *u, const char *text, char *err, size_t err_len)
{
	/* RFC 6455 3: "Fragment identifiers are meaningless ... MUST NOT be
	 * used"; url_parse would drop one silently */
	if (strchr(text, '#')) {
		snprintf(err, err_len, "WebSocket URL with a fragment: \"%.200s\"", text);
		return -1;
	}
	if (url_parse(text, u, err, err_len) < 0)
		return -1;
	if (u->scheme != URL_WS && u->scheme != URL_WSS) {
		snprintf(err, err_len, "not a ws:// or wss:// URL: \"%.200s\"", text);
		return -1;
	}
	return 0;
}

/* ========================================================== handshake */

/* RFC 6455 1.3: the GUID every server appends to the key */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

void
ws_handshake_key(char key[25], const uint8_t nonce[16])
{
	base64_encode(nonce, 16, key, 25);
}

void
ws_handshake_accept(char accept[29], const char *key)
{
	br_sha1_context sha;
	uint8_t digest[br_sha1_SIZE];
	br_sha1_init(&sha);
	br_sha1_update(&sha, key, strlen(key));
	br_sha1_update(&sha, ws_guid, sizeof ws_guid - 1);
	br_sha1_out(&sha, digest);
	base64_encode(digest, sizeof digest, accept, 29);
}

int
ws_handshake_request(struct buf *out, const struct url *u, const char *key)
{
	/* RFC 6455 4.1: Host carries the port only when it is not the
	 * scheme's default; IPv6 literals keep their brackets */
	char host[URL_HOST_MAX + 16];
	if (url_authority(u, host, sizeof host) < 0)
		return -1;
	return buf_printf(out,
	                  "GET %s HTTP/1.1\r\n"
	                  "Host: %s\r\n"
	                  "Upgrade: websocket\r\n"
	                  "Connection: Upgrade\r\n"
	                  "Sec-WebSocket-Key: %s\r\n"
	                  "Sec-WebSocket-Version: 13\r\n"
	                  "User-Agent: agora\r\n"
	                  "\r\n",
	                  u->target, host, key);
}

void
ws_handshake_init(struct ws_handshake *h, const char *key)
{
	memset(h, 0, sizeof *h);
	ws_handshake_accept(h->accept, key);
}

static enum ws_parse
ws_handshake_fail(struct ws_handshake *h, const char *fmt, const char *detail, size_t detail_len)
{
	char shown[100];
	size_t n = detail_len < sizeof shown - 1 ? detail_len : sizeof shown - 1;
	/* outside text: keep it printable so it cannot forge log lines */
	for (size_t i = 0; i < n; i++)
		shown[i] = (detail[i] >= ' ' && detail[i] < 0x7f) ? detail[i] : '?';
	shown[n] = '\0';
	snprintf(h->error, sizeof h->error, fmt, shown);
	return WS_PARSE_ERR;
}

/* 1 when the comma-separated header value lists token (RFC 7230 7),
 * compared without case. */
static int
ws_header_has_token(const char *v, size_t len, const char *token)
{
	size_t tlen = strlen(token), i = 0;
	while (i < len) {
		while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ','))
			i++;
		size_t start = i;
		while (i < len && v[i] != ',')
			i++;
		size_t end = i;
		while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t'))
			end--;
		if (end - start == tlen && strncasecmp(v + start, token, tlen) == 0)
			return 1;
	}
	return 0;
}

/* Checks a complete head (RFC 6455 4.1, the client's steps 1-6 on the
 * server's answer). */
static enum ws_parse
ws_handshake_check(struct ws_handshake *h)
{
	const char *s = h->head, *end = h->head + h->head_len;
	const char *eol = memchr(s, '\r', (size_t)(end - s));
	/* status line: HTTP/1.1 101 Switching Protocols */
	if (!eol || eol - s < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[8] != ' ' || s[9] < '1' ||
	    s[9] > '5' || s[10] < '0' || s[10] > '9' || s[11] < '0' || s[11] > '9' ||
	    (eol - s > 12 && s[12] != ' '))
		return ws_handshake_fail(h, "handshake: not an HTTP response: \"%s\"", s,
		                         eol ? (size_t)(eol - s) : (size_t)(end - s));
	h->status = (s[9] - '0') * 100 + (s[10] - '0') * 10 + (s[11] - '0');
	if (h->status != 101)
		return ws_handshake_fail(h, "handshake: the server answered \"%s\"", s,
		                         (size_t)(eol - s));

	int upgrade = 0, connection = 0, accept = 0;
	s = eol + 2;
	while (s < end) {
		eol = memchr(s, '\r', (size_t)(end - s));
		if (!eol || eol + 1 >= end || eol[1] != '\n')
			return ws_handshake_fail(h, "handshake: bad line ending%s", "", 0);
		if (eol == s)
			break;               /* the blank line */
		if (*s == ' ' || *s == '\t') /* obsolete line folding (RFC 7230 3.2.4) */
			return ws_handshake_fail(h, "handshake: folded header line \"%s\"", s,
			                         (size_t)(eol - s));
		const char *colon = memchr(s, ':', (size_t)(eol - s));
		if (!colon || colon == s)
			return ws_handshake_fail(h, "handshake: bad header line \"%s\"", s,
			                         (size_t)(eol - s));
		size_t name_len = (size_t)(colon - s);
		const char *v = colon + 1, *v_end = eol;
		while (v < v_end && (*v == ' ' || *v == '\t'))
			v++;
		while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t'))
			v_end--;
		size_t v_len = (size_t)(v_end - v);
#define WS_NAME_IS(n) (name_len == sizeof(n) - 1 && strncasecmp(s, n, name_len) == 0)
		if (WS_NAME_IS("Upgrade")) {
			/* step 2: "websocket", case-insensitive */
			if (v_len == 9 && strncasecmp(v, "websocket", 9) == 0)
				upgrade = 1;
			else
				return ws_handshake_fail(h, "handshake: Upgrade is \"%s\"", v,
				                         v_len);
		} else if (WS_NAME_IS("Connection")) {
			/* step 3: a token list containing "Upgrade" */
			if (ws_header_has_token(v, v_len, "upgrade"))
				connection = 1;
		} else if (WS_NAME_IS("Sec-WebSocket-Accept")) {
			/* step 4: base64(sha1(key + GUID)), compared exactly */
			if (v_len == 28 && memcmp(v, h->accept, 28) == 0)
				accept = 1;
			else
				return ws_handshake_fail(
				        h, "handshake: wrong Sec-WebSocket-Accept \"%s\"", v,
				        v_len);
		} else if (WS_NAME_IS("Sec-WebSocket-Extensions")) {
			/* step 5: we asked for none */
			if (v_len)
				return ws_handshake_fail(
				        h, "handshake: extension \"%s\" that was not asked for", v,
				        v_len);
		} else if (WS_NAME_IS("Sec-WebSocket-Protocol")) {
			/* step 6: we asked for no subprotocol */
			if (v_len)
				return ws_handshake_fail(
				        h, "handshake: subprotocol \"%s\" that was not asked for",
				        v, v_len);
		}
#undef WS_NAME_IS
		s = eol + 2;
	}
	if (!upgrade)
		return ws_handshake_fail(h, "handshake: no Upgrade: websocket header%s", "", 0);
	if (!connection)
		return ws_handshake_fail(h, "handshake: no Connection: Upgrade header%s", "", 0);
	if (!accept)
		return ws_handshake_fail(h, "handshake: no Sec-WebSocket-Accept header%s", "", 0);
	return WS_PARSE_DONE;
}

enum ws_parse
ws_handshake_feed(struct ws_handshake *h, const void *data, size_t len, size_t *used)
{
	const char *in = data;
	*used = 0;
	if (h->error[0])
		return WS_PARSE_ERR;
	/* copy until the blank line; frame bytes may follow it in the same
	 * read, so look at each byte rather than appending the whole chunk */
	for (size_t i = 0; i < len; i++) {
		if (h->head_len == sizeof h->head - 1)
			return ws_handshake_fail(h, "handshake: response head longer than %s bytes",
			                         "8192", 4);
		h->head[h->head_len++] = in[i];
		if (in[i] == '\n' && h->head_len >= 4 &&
		    memcmp(h->head + h->head_len - 4, "\r\n\r\n", 4) == 0) {
			h->head[h->head_len] = '\0';
			*used = i + 1;
			return ws_handshake_check(h);
		}
	}
	*used = len;
	return WS_PARSE_MORE;
}

/* =============================================================== UTF-8 */

/* One step of RFC 3629's table: returns 0, or -1 on an invalid byte. */
static int
ws_utf8_feed(struct ws_utf8 *u, const uint8_t *s, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t b = s[i];
		if (u->need) {
			if (b < u->lo || b > u->hi)
				return -1;
			u->need--;
			u->lo = 0x80;
			u->hi = 0xbf;
			continue;
		}
		if (b < 0x80)
			continue;
		u->lo = 0x80;
		u->hi = 0xbf;
		if (b >= 0xc2 && b <= 0xdf) {
			u->need = 1;
		} else if (b >= 0xe0 && b <= 0xef) {
			u->need = 2;
			if (b == 0xe0)
				u->lo = 0xa0; /* overlong */
			else if (b == 0xed)
				u->hi = 0x9f; /* UTF-16 surrogates */
		} else if (b >= 0xf0 && b <= 0xf4) {
			u->need = 3;
			if (b == 0xf0)
				u->lo = 0x90; /* overlong */
			else if (b == 0xf4)
				u->hi = 0x8f; /* past U+10FFFF */
		} else {
			return -1; /* C0, C1 (overlong), F5-FF, or a stray continuation */
		}
	}
	return 0;
}

int
ws_utf8_valid(const void *s, size_t len)
{
	struct ws_utf8 u = {0, 0x80, 0xbf};
	return ws_utf8_feed(&u, s, len) == 0 && u.need == 0;
}

/* ============================================================ frames */

void
ws_parser_init(struct ws_parser *p, size_t max_message)
{
	memset(p, 0, sizeof *p);
	p->max_message = max_message;
	buf_init(&p->message, max_message);
}

void
ws_parser_free(struct ws_parser *p)
{
	buf_free(&p->message);
}

static enum ws_parse
ws_parser_fail(struct ws_parser *p, int code, const char *msg)
{
	p->failed = 1;
	p->error_code = code;
	snprintf(p->error, sizeof p->error, "%s", msg);
	return WS_PARSE_ERR;
}

static int
ws_is_control(uint8_t opcode)
{
	return opcode & 0x8;
}

/* Checks the first two bytes of a frame (RFC 6455 5.2, 5.4, 5.5) and
 * works out how many more bytes of head follow. */
static enum ws_parse
ws_parser_head_start(struct ws_parser *p)
{
	uint8_t b0 = p->head[0], b1 = p->head[1];
	p->fin = b0 >> 7;
	p->opcode = b0 & 0x0f;
	/* 5.2: RSV1-3 MUST be 0 unless an extension was negotiated (none is) */
	if (b0 & 0x70)
		return ws_parser_fail(p, WS_CLOSE_PROTOCOL, "reserved bits set in a frame");
	/* 5.1: "a client MUST close a connection if it detects a masked frame" */
	if (b1 & 0x80)
		return ws_parser_fail(p, WS_CLOSE_PROTOCOL, "masked frame from the server");
	uint8_t len7 = b1 & 0x7f;
	switch (p->opcode) {
	case WS_OP_CONTINUATION:
		if (!p->in_message)
			return ws_parser_fail(p, WS_CLOSE_PROTOCOL,
			                      "continuation frame outside a fragmented message");
		break;
	case WS_OP_TEXT:
	case WS_OP_BINARY:
		/* 5.4: fragments of one message may not interleave with another */
		if (p->in_message)
			return ws_parser_fail(p, WS_CLOSE_PROTOCOL,
			                      "new message inside a fragmented message");
		break;
	case WS_OP_CLOSE:
	case WS_OP_PING:
	case WS_OP_PONG:
		/* 5.5: control frames are not fragmented and carry <= 125 bytes */
		if (!p->fin)
			return ws_parser_fail(p, WS_CLOSE_PROTOCOL, "fragmented control frame");
		if (len7 > 125)
			return ws_parser_fail(p, WS_CLOSE_PROTOCOL,
			                      "control frame longer than 125 bytes");
		break;
	default:
		/* 5.2: "If an unknown opcode is received, the receiving endpoint
		 * MUST _Fail the WebSocket Connection_" */
		return ws_parser_fail(p, WS_CLOSE_PROTOCOL, "frame with an unknown opcode");
	}
	p->head_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
	return WS_PARSE_MORE;
}

/* The head is complete: decode the length, check it, begin the payload. */
static enum ws_parse
ws_parser_head_done(struct ws_parser *p)
{
	uint8_t len7 = p->head[1] & 0x7f;
	uint64_t len = len7;
	if (len7 == 126) {
		len = (uint64_t)p->head[2] << 8 | p->head[3];
		/* 5.2: "the minimal number of bytes MUST be used to encode the length" */
		if (len < 126)
			return ws_parser_fail(p, WS_CLOSE_PROTOCOL,
			                      "frame length not minimally encoded");
	} else if (len7 == 127) {
		len = 0;
		for (int i = 2; i < 10; i++)
			len = len << 8 | p->head[i];
		/* 5.2: the most significant bit MUST be 0 */
		if (len >> 63)
			return ws_parser_fail(p, WS_CLOSE_PROTOCOL, "frame length over 2^63");
		if (len < 65536)
			return ws_parser_fail(p, WS_CLOSE_PROTOCOL,
			                      "frame length not minimally encoded");
	}
	if (!ws_is_control(p->opcode)) {
		if (p->opcode != WS_OP_CONTINUATION) {
			p->in_message = 1;
			p->message_opcode = (enum ws_opcode)p->opcode;
			p->utf8 = (struct ws_utf8){0, 0x80, 0xbf};
		}
		/* 7.4.1: 1009 "a message that is too big for it to process",
		 * known from the head, before any payload is taken */
		if (len > p->max_message - p->message.len - p->streamed)
			return ws_parser_fail(p, WS_CLOSE_TOO_BIG, "message larger than the limit");
	}
	p->payload_left = len;
	p->in_payload = 1;
	p->control_len = 0;
	return WS_PARSE_MORE;
}

/* The frame's payload is all in: hand out a control frame, or a message
 * whose last fragment this was. */
static enum ws_parse
ws_parser_frame_done(struct ws_parser *p)
{
	p->in_payload = 0;
	p->head_len = 0;
	struct ws_message *m = &p->item;
	memset(m, 0, sizeof *m);
	if (ws_is_control(p->opcode)) {
		p->control[p->control_len] = '\0';
		m->opcode = (enum ws_opcode)p->opcode;
		m->data = p->control;
		m->len = p->control_len;
		if (p->opcode == WS_OP_CLOSE) {
			/* 5.5.1: empty, or a 2-byte code then a UTF-8 reason */
			m->close_code = WS_CLOSE_NO_STATUS;
			if (p->control_len == 1)
				return ws_parser_fail(p, WS_CLOSE_PROTOCOL,
				                      "close frame of one byte");
			if (p->control_len >= 2) {
				int code = (uint8_t)p->control[0] << 8 | (uint8_t)p->control[1];
				/* 7.4.1, 7.4.2: codes a peer may send; 1012-1014 were
				 * registered with IANA after the RFC */
				int valid = (code >= 1000 && code <= 1003) ||
				            (code >= 1007 && code <= 1014) ||
				            (code >= 3000 && code <= 4999);
				if (!valid)
					return ws_parser_fail(p, WS_CLOSE_PROTOCOL,
					                      "invalid close code from the server");
				if (!ws_utf8_valid(p->control + 2, p->control_len - 2))
					return ws_parser_fail(p, WS_CLOSE_BAD_DATA,
					                      "close reason is not valid UTF-8");
				m->close_code = code;
				m->data = p->control + 2;
				m->len = p->control_len - 2;
			}
		}
		p->delivered = 1;
		return WS_PARSE_DONE;
	}
	if (!p->fin)
		return WS_PARSE_MORE;
	/* 8.1: a text message ending inside a UTF-8 sequence is invalid */
	if (p->message_opcode == WS_OP_TEXT && p->utf8.need)
		return ws_parser_fail(p, WS_CLOSE_BAD_DATA, "text message is not valid UTF-8");
	m->opcode = p->message_opcode;
	m->data = buf_str(&p->message);
	m->len = p->message.len;
	p->delivered = 1;
	return WS_PARSE_DONE;
}

enum ws_parse
ws_parser_feed(struct ws_parser *p, const void *data, size_t len, size_t *used)
{
	const uint8_t *in = data;
	size_t at = 0;
	*used = 0;
	if (p->failed)
		return WS_PARSE_ERR;
	if (p->delivered) {
		/* the item handed out last time is no longer borrowed */
		p->delivered = 0;
		if (!ws_is_control(p->opcode)) {
			p->in_message = 0;
			p->streamed = 0;
			buf_reset(&p->message);
		}
		memset(&p->item, 0, sizeof p->item);
	}
	for (;;) {
		if (!p->in_payload) {
			/* gather the head: 2 bytes, then the extended length */
			while (p->head_len < 2 && at < len)
				p->head[p->head_len++] = in[at++];
			if (p->head_len < 2)
				break;
			if (p->head_len == 2 && ws_parser_head_start(p) == WS_PARSE_ERR)
				goto fail;
			while (p->head_len < p->head_need && at < len)
				p->head[p->head_len++] = in[at++];
			if (p->head_len < p->head_need)
				break;
			if (ws_parser_head_done(p) == WS_PARSE_ERR)
				goto fail;
		}
		/* the payload: as much as is here */
		size_t n = len - at;
		if (n > p->payload_left)
			n = (size_t)p->payload_left;
		if (ws_is_control(p->opcode)) {
			if (n)
				memcpy(p->control + p->control_len, in + at, n);
			p->control_len += n;
		} else if (n && p->stream_binary && p->message_opcode == WS_OP_BINARY) {
			/* streaming: the piece goes out as it is, borrowed from
			 * the input, without reassembly */
			struct ws_message *m = &p->item;
			memset(m, 0, sizeof *m);
			m->opcode = WS_OP_BINARY;
			m->data = (const char *)in + at;
			m->len = n;
			at += n;
			p->payload_left -= n;
			p->streamed += n;
			if (p->payload_left == 0) {
				p->in_payload = 0;
				p->head_len = 0;
			}
			m->more = p->payload_left > 0 || !p->fin;
			/* the last piece ends the message: the next feed starts anew */
			p->delivered = !m->more;
			*used = at;
			return WS_PARSE_DONE;
		} else if (n) {
			if (p->message_opcode == WS_OP_TEXT &&
			    ws_utf8_feed(&p->utf8, in + at, n) < 0) {
				ws_parser_fail(p, WS_CLOSE_BAD_DATA,
				               "text message is not valid UTF-8");
				goto fail;
			}
			/* the limit was checked on the head: this fails only for memory */
			if (buf_append(&p->message, in + at, n) < 0) {
				ws_parser_fail(p, WS_CLOSE_INTERNAL, "out of memory for a message");
				goto fail;
			}
		}
		at += n;
		p->payload_left -= n;
		if (p->payload_left > 0)
			break;
		enum ws_parse r = ws_parser_frame_done(p);
		if (r == WS_PARSE_ERR)
			goto fail;
		if (r == WS_PARSE_DONE) {
			*used = at;
			return WS_PARSE_DONE;
		}
		if (at == len)
			break;
	}
	*used = at;
	return WS_PARSE_MORE;
fail:
	*used = at;
	return WS_PARSE_ERR;
}

/* Appends the head of a masked client frame with FIN set (RFC 6455 5.2). */
static int
ws_frame_head(struct buf *out, enum ws_opcode op, size_t len, const uint8_t mask[4])
{
	uint8_t head[14];
	size_t n = 0;
	head[n++] = (uint8_t)(0x80 | op);
	if (len < 126) {
		head[n++] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff) {
		head[n++] = 0x80 | 126;
		head[n++] = (uint8_t)(len >> 8);
		head[n++] = (uint8_t)len;
	} else {
		head[n++] = 0x80 | 127;
		for (int shift = 56; shift >= 0; shift -= 8)
			head[n++] = (uint8_t)((uint64_t)len >> shift);
	}
	memcpy(head + n, mask, 4);
	n += 4;
	return buf_append(out, head, n);
}

int
ws_frame_encode(struct buf *out, enum ws_opcode op, const void *payload, size_t len,
                const uint8_t mask[4])
{
	if (ws_is_control(op) && len > 125)
		return -1;
	size_t start = out->len;
	if (ws_frame_head(out, op, len, mask) < 0 || buf_reserve(out, len) < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return -1;
	}
	/* 5.3: octet i of the payload is XORed with octet i % 4 of the key */
	const uint8_t *in = payload;
	uint8_t *dst = (uint8_t *)out->data + out->len;
	for (size_t i = 0; i < len; i++)
		dst[i] = in[i] ^ mask[i & 3];
	out->len += len;
	out->data[out->len] = '\0';
	return 0;
}

int
ws_frame_encode_close(struct buf *out, int code, const char *reason, const uint8_t mask[4])
{
	uint8_t payload[2 + WS_CLOSE_REASON_MAX];
	size_t n = 0;
	if (code) {
		payload[n++] = (uint8_t)(code >> 8);
		payload[n++] = (uint8_t)code;
		size_t rlen = reason ? strlen(reason) : 0;
		if (rlen > WS_CLOSE_REASON_MAX) {
			/* cut before a continuation byte, so the reason stays UTF-8 */
			rlen = WS_CLOSE_REASON_MAX;
			while (rlen > 0 && ((uint8_t)reason[rlen] & 0xc0) == 0x80)
				rlen--;
		}
		memcpy(payload + n, reason, rlen);
		n += rlen;
	}
	return ws_frame_encode(out, WS_OP_CLOSE, payload, n, mask);
}

/* ============================================================ client */

/* Bound on one message we send (the stream copies it into its queue; a
 * runaway caller hits this instead of exhausting memory). Discord accepts
 * 4096-byte gateway payloads; tests echo 1 MiB. The stream's own bound,
 * TLS_SEND_MAX, is the same 16 MiB, so the largest message is a little
 * less (its frame head and whatever is still queued count too). */
#define WS_MAX_SEND (16u << 20)
/* Bytes taken from the stream per tls_read. */
#define WS_READ_CHUNK 16384

enum ws_state {
	WS_IDLE,        /* no connection: before ws_open, after WS_EV_CLOSED */
	WS_CONNECTING,  /* the stream is resolving, connecting, handshaking TLS */
	WS_HANDSHAKING, /* our GET is sent; reading the 101 */
	WS_OPEN,        /* messages flow both ways */
	WS_CLOSING,     /* our close is sent; waiting for the peer's */
	WS_DRAINING,    /* the end is decided; waiting for the stream to finish */
	WS_REPORTING,   /* the stream is gone; WS_EV_CLOSED is queued */
};

struct ws {
	struct loop *loop;
	ws_event_fn *fn;
	void *data;
	struct tls *tls; /* owned; reconnected by each ws_open */
	enum ws_state state;
	size_t max_message;
	int stream_binary; /* see ws_set_stream_binary */
	int64_t open_timeout_ms;
	struct url url;
	struct ws_handshake handshake;
	struct ws_parser parser;
	struct buf out;     /* one encoded frame, until tls_write copies it */
	uint8_t random[64]; /* getrandom() pool for masking keys */
	size_t random_left;
	struct loop_timer timer; /* open deadline, close wait, drain bound */
	struct loop_defer defer; /* delivers WS_EV_CLOSED; frees after ws_free */
	int freed;
	int close_sent;
	/* ws_pause_reading: no message is delivered and nothing read while
	 * paused; bytes already read wait in read_buf[held_off, +held_len) */
	int paused;
	size_t held_off, held_len;
	struct loop_timer resume; /* 0 ms: delivers the held bytes, reads on */
	/* how it ended, for WS_EV_CLOSED */
	int close_code;
	int close_remote;
	char close_reason[WS_CLOSE_REASON_MAX + 1];
	char error[256];
	uint8_t read_buf[WS_READ_CHUNK];
};

static void ws_tls_event(struct tls *t, enum tls_event ev, void *data);
static void ws_timer_fired(struct loop *loop, struct loop_timer *timer);
static void ws_deferred(struct loop *loop, struct loop_defer *defer);
static void ws_resume_fired(struct loop *loop, struct loop_timer *timer);

struct ws *
ws_new(struct loop *loop, ws_event_fn *fn, void *data)
{
	struct ws *w = mem_calloc(1, sizeof *w);
	if (!w)
		return NULL;
	w->tls = tls_new(loop, ws_tls_event, w);
	if (!w->tls) {
		mem_free(w);
		return NULL;
	}
	w->loop = loop;
	w->fn = fn;
	w->data = data;
	w->max_message = WS_MAX_MESSAGE_DEFAULT;
	ws_parser_init(&w->parser, w->max_message);
	buf_init(&w->out, WS_MAX_SEND + 14);
	loop_timer_init(&w->timer, ws_timer_fired, w);
	loop_timer_init(&w->resume, ws_resume_fired, w);
	loop_defer_init(&w->defer, ws_deferred, w);
	return w;
}

void
ws_free(struct ws *w)
{
	if (!w || w->freed)
		return;
	w->freed = 1;
	tls_free(w->tls);
	w->tls = NULL;
	loop_timer_stop(w->loop, &w->timer);
	loop_timer_stop(w->loop, &w->resume);
	/* the memory goes after the current callback: the caller may be
	 * inside w's own callback, with w's frames on the stack */
	loop_defer(w->loop, &w->defer);
}

void
ws_set_max_message(struct ws *w, size_t max)
{
	w->max_message = max;
}

void
ws_set_stream_binary(struct ws *w, int on)
{
	w->stream_binary = on;
}

static void ws_set_error(struct ws *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
ws_set_error(struct ws *w, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(w->error, sizeof w->error, fmt, ap);
	va_end(ap);
}

/* Keeps s as the close reason to report, cut like a sent one would be. */
static void
ws_set_reason(struct ws *w, const char *s)
{
	size_t n = strlen(s);
	if (n > WS_CLOSE_REASON_MAX) {
		n = WS_CLOSE_REASON_MAX;
		while (n > 0 && ((uint8_t)s[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(w->close_reason, s, n);
	w->close_reason[n] = '\0';
}

/* Fills mask with 4 fresh random bytes (RFC 6455 5.3: "the masking key
 * MUST be derived from a strong source of entropy"). */
static int
ws_mask_key(struct ws *w, uint8_t mask[4])
{
	if (w->random_left < 4) {
		ssize_t n = getrandom(w->random, sizeof w->random, 0);
		if (n != (ssize_t)sizeof w->random) {
			ws_set_error(w, "getrandom: %s", n < 0 ? strerror(errno) : "short read");
			return -1;
		}
		w->random_left = sizeof w->random;
	}
	w->random_left -= 4;
	memcpy(mask, w->random + w->random_left, 4);
	/* used bytes are not kept around */
	memset(w->random + w->random_left, 0, 4);
	return 0;
}

/* Encodes one frame and queues it on the stream. */
static int
ws_send_frame(struct ws *w, enum ws_opcode op, const void *payload, size_t len, int code)
{
	uint8_t mask[4];
	if (ws_mask_key(w, mask) < 0)
		return -1;
	buf_reset(&w->out);
	int rc = op == WS_OP_CLOSE ? ws_frame_encode_close(&w->out, code, payload, mask)
	                           : ws_frame_encode(&w->out, op, payload, len, mask);
	if (rc < 0) {
		ws_set_error(w, "message of %zu bytes is over the send limit or out of memory",
		             len);
		return -1;
	}
	rc = tls_write(w->tls, w->out.data, w->out.len);
	/* one big message should not pin its copy for the connection's life */
	if (w->out.cap > 64 * 1024)
		buf_free(&w->out);
	if (rc < 0) {
		ws_set_error(w, "send queue full or stream closed");
		return -1;
	}
	return 0;
}

/* The end is decided and the stream is gone: queue WS_EV_CLOSED. */
static void
ws_report(struct ws *w)
{
	loop_timer_stop(w->loop, &w->timer);
	w->state = WS_REPORTING;
	loop_defer(w->loop, &w->defer);
}

/* Ends at once without a closing handshake (handshake failures, timeouts,
 * the stream lost): 1006 "abnormal closure" (RFC 6455 7.1.5). */
static void
ws_drop(struct ws *w)
{
	tls_abort(w->tls);
	w->close_code = WS_CLOSE_ABNORMAL;
	w->close_remote = 0;
	ws_set_reason(w, w->error);
	ws_report(w);
}

/* Waits (bounded) for the stream to finish after the last close frame. */
static void
ws_drain(struct ws *w)
{
	w->state = WS_DRAINING;
	tls_close(w->tls);
	if (loop_timer_start(w->loop, &w->timer, WS_CLOSE_WAIT_MS) < 0) {
		/* unbounded waiting is worse than skipping the wait */
		tls_abort(w->tls);
		ws_report(w);
	}
}

/* _Fail the WebSocket Connection_ (RFC 6455 7.1.7) with code: send a close
 * saying why, unless one was sent already, then drop the stream. */
static void
ws_fail(struct ws *w, int code, const char *why)
{
	ws_set_error(w, "%s", why);
	if (!w->close_sent) {
		w->close_sent = 1;
		ws_send_frame(w, WS_OP_CLOSE, why, 0, code);
	}
	w->close_code = code;
	w->close_remote = 0;
	ws_set_reason(w, why);
	ws_drain(w);
}

/* The peer's close frame (RFC 6455 5.5.1): answer it if we have not
 * closed ourselves, then let the stream finish. */
static void
ws_peer_closed(struct ws *w, const struct ws_message *m)
{
	w->close_code = m->close_code;
	w->close_remote = 1;
	size_t n = m->len < WS_CLOSE_REASON_MAX ? m->len : WS_CLOSE_REASON_MAX;
	memcpy(w->close_reason, m->data, n);
	w->close_reason[n] = '\0';
	if (!w->close_sent) {
		w->close_sent = 1;
		/* echo the code; a close without one is answered without one */
		int code = m->close_code == WS_CLOSE_NO_STATUS ? 0 : m->close_code;
		ws_send_frame(w, WS_OP_CLOSE, "", 0, code);
	}
	ws_drain(w);
}

static void
ws_emit(struct ws *w, enum ws_event ev, const struct ws_message *m)
{
	w->fn(w, ev, m, w->data);
}

/* Takes frame bytes once the connection is open. */
static void
ws_take_frames(struct ws *w, const uint8_t *data, size_t len)
{
	size_t at = 0;
	while (at < len && !w->freed && (w->state == WS_OPEN || w->state == WS_CLOSING)) {
		if (w->paused) {
			/* keep the rest for ws_pause_reading(w, 0); data always
			 * points into read_buf */
			w->held_off = (size_t)(data + at - w->read_buf);
			w->held_len = len - at;
			return;
		}
		size_t used;
		enum ws_parse r = ws_parser_feed(&w->parser, data + at, len - at, &used);
		at += used;
		if (r == WS_PARSE_ERR) {
			ws_fail(w, w->parser.error_code, w->parser.error);
			return;
		}
		if (r == WS_PARSE_MORE)
			return;
		const struct ws_message *m = &w->parser.item;
		switch (m->opcode) {
		case WS_OP_TEXT:
		case WS_OP_BINARY:
			ws_emit(w, WS_EV_MESSAGE, m);
			break;
		case WS_OP_PING:
			/* 5.5.2: answer with a pong carrying the same data; once our
			 * close is out nothing more is sent (5.5.1) */
			if (w->state == WS_OPEN &&
			    ws_send_frame(w, WS_OP_PONG, m->data, m->len, 0) < 0)
				ws_fail(w, WS_CLOSE_INTERNAL, w->error);
			break;
		case WS_OP_CLOSE:
			ws_peer_closed(w, m);
			return;
		default: /* pongs answer pings we never send */
			break;
		}
	}
}

/* Takes bytes of the server's handshake answer, then frames. */
static void
ws_take(struct ws *w, const uint8_t *data, size_t len)
{
	if (w->state == WS_HANDSHAKING) {
		size_t used;
		enum ws_parse r = ws_handshake_feed(&w->handshake, data, len, &used);
		if (r == WS_PARSE_MORE)
			return;
		if (r == WS_PARSE_ERR) {
			ws_set_error(w, "%s", w->handshake.error);
			ws_drop(w);
			return;
		}
		loop_timer_stop(w->loop, &w->timer);
		w->state = WS_OPEN;
		ws_emit(w, WS_EV_OPEN, NULL);
		data += used;
		len -= used;
	}
	ws_take_frames(w, data, len);
}

static void
ws_readable(struct ws *w)
{
	while (!w->freed && w->state != WS_IDLE && w->state != WS_REPORTING) {
		/* paused: the stream keeps what it has, and stops receiving once
		 * its buffer is full, so TCP slows the peer down */
		if (w->paused || w->held_len)
			return;
		ssize_t n = tls_read(w->tls, w->read_buf, sizeof w->read_buf);
		if (n <= 0)
			return;
		/* bytes after the close handshake are dropped (RFC 6455 5.5.1) */
		if (w->state == WS_HANDSHAKING || w->state == WS_OPEN || w->state == WS_CLOSING)
			ws_take(w, w->read_buf, (size_t)n);
	}
}

static void
ws_connected(struct ws *w)
{
	if (w->state != WS_CONNECTING)
		return;
	uint8_t nonce[16];
	char key[25];
	if (getrandom(nonce, sizeof nonce, 0) != (ssize_t)sizeof nonce) {
		ws_set_error(w, "getrandom: %s", strerror(errno));
		ws_drop(w);
		return;
	}
	/* RFC 6455 4.1: a fresh random 16-byte nonce per connection */
	ws_handshake_key(key, nonce);
	ws_handshake_init(&w->handshake, key);
	buf_reset(&w->out);
	if (ws_handshake_request(&w->out, &w->url, key) < 0 ||
	    tls_write(w->tls, w->out.data, w->out.len) < 0) {
		ws_set_error(w, "cannot send the handshake request");
		ws_drop(w);
		return;
	}
	w->state = WS_HANDSHAKING;
}

static void
ws_stream_closed(struct ws *w)
{
	switch (w->state) {
	case WS_DRAINING: /* the expected end: report what was decided */
		ws_report(w);
		break;
	case WS_CONNECTING:
	case WS_HANDSHAKING:
	case WS_OPEN:
	case WS_CLOSING:
		ws_set_error(w, "%s",
		             tls_error(w->tls)[0] ? tls_error(w->tls)
		                                  : "connection closed without a close frame");
		w->close_code = WS_CLOSE_ABNORMAL;
		w->close_remote = 0;
		ws_set_reason(w, w->error);
		ws_report(w);
		break;
	default:
		break;
	}
}

static void
ws_tls_event(struct tls *t, enum tls_event ev, void *data)
{
	struct ws *w = data;
	(void)t;
	if (w->freed)
		return;
	switch (ev) {
	case TLS_EV_CONNECTED:
		ws_connected(w);
		break;
	case TLS_EV_READABLE:
		ws_readable(w);
		break;
	case TLS_EV_DRAINED:
		break;
	case TLS_EV_CLOSED:
		ws_stream_closed(w);
		break;
	}
}

static void
ws_timer_fired(struct loop *loop, struct loop_timer *timer)
{
	struct ws *w = timer->data;
	(void)loop;
	switch (w->state) {
	case WS_CONNECTING:
	case WS_HANDSHAKING:
		ws_set_error(w, "opening handshake with %s not done within %lld ms", w->url.host,
		             (long long)w->open_timeout_ms);
		ws_drop(w);
		break;
	case WS_CLOSING:
		ws_set_error(w, "no close frame from the peer within %d ms", WS_CLOSE_WAIT_MS);
		ws_drop(w);
		break;
	case WS_DRAINING:
		/* the closing handshake is over; only the stream lingered */
		tls_abort(w->tls);
		ws_report(w);
		break;
	default:
		break;
	}
}

static void
ws_deferred(struct loop *loop, struct loop_defer *defer)
{
	struct ws *w = defer->data;
	(void)loop;
	if (w->freed) {
		ws_parser_free(&w->parser);
		buf_free(&w->out);
		mem_free(w);
		return;
	}
	if (w->state != WS_REPORTING)
		return;
	/* idle before the callback, so it may ws_open again at once */
	w->state = WS_IDLE;
	/* a copy: ws_open from the callback resets w's own */
	char reason[sizeof w->close_reason];
	memcpy(reason, w->close_reason, sizeof reason);
	struct ws_message m = {
	        .opcode = WS_OP_CLOSE,
	        .data = reason,
	        .len = strlen(reason),
	        .close_code = w->close_code,
	        .close_remote = w->close_remote,
	};
	ws_emit(w, WS_EV_CLOSED, &m);
}

int
ws_open(struct ws *w, const char *url, const struct tls_trust *trust, int64_t timeout_ms)
{
	if (w->state != WS_IDLE) {
		ws_set_error(w, "ws_open: already connected");
		return -1;
	}
	if (ws_url_parse(&w->url, url, w->error, sizeof w->error) < 0)
		return -1;
	if (w->url.secure && !trust) {
		ws_set_error(w, "wss:// needs trust anchors");
		return -1;
	}
	ws_parser_free(&w->parser);
	ws_parser_init(&w->parser, w->max_message);
	w->parser.stream_binary = w->stream_binary;
	w->held_len = 0; /* bytes of an earlier connection are not this one's */
	w->error[0] = '\0';
	w->close_reason[0] = '\0';
	w->close_code = 0;
	w->close_remote = 0;
	w->close_sent = 0;
	w->open_timeout_ms = timeout_ms;
	if (tls_connect(w->tls, w->url.host, w->url.port, w->url.secure ? trust : NULL,
	                timeout_ms) < 0) {
		ws_set_error(w, "%s", tls_error(w->tls));
		return -1;
	}
	if (loop_timer_start(w->loop, &w->timer, timeout_ms) < 0) {
		tls_abort(w->tls);
		ws_set_error(w, "out of memory");
		return -1;
	}
	w->state = WS_CONNECTING;
	return 0;
}

static int
ws_send(struct ws *w, enum ws_opcode op, const void *data, size_t len)
{
	if (w->state != WS_OPEN) {
		ws_set_error(w, "send on a connection that is not open");
		return -1;
	}
	return ws_send_frame(w, op, data, len, 0);
}

int
ws_send_text(struct ws *w, const char *text, size_t len)
{
	/* RFC 6455 5.6: text frames carry UTF-8 */
	if (!ws_utf8_valid(text, len)) {
		ws_set_error(w, "text message is not valid UTF-8");
		return -1;
	}
	return ws_send(w, WS_OP_TEXT, text, len);
}

int
ws_send_binary(struct ws *w, const void *data, size_t len)
{
	return ws_send(w, WS_OP_BINARY, data, len);
}

int
ws_close(struct ws *w, int code, const char *reason)
{
	/* RFC 6455 7.4.1-7.4.2: the codes an endpoint may send */
	int valid = (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	            (code >= 3000 && code <= 4999);
	if (!valid) {
		ws_set_error(w, "ws_close: %d is not a close code one may send", code);
		return -1;
	}
	switch (w->state) {
	case WS_IDLE:
	case WS_REPORTING:
		ws_set_error(w, "ws_close: not connected");
		return -1;
	case WS_CONNECTING:
	case WS_HANDSHAKING:
		ws_set_error(w, "closed before the opening handshake finished");
		ws_drop(w);
		return 0;
	case WS_OPEN:
		w->close_sent = 1;
		w->close_code = code;
		w->close_remote = 0;
		ws_set_reason(w, reason ? reason : "");
		if (ws_send_frame(w, WS_OP_CLOSE, reason ? reason : "", 0, code) < 0) {
			ws_drop(w);
			return 0;
		}
		/* 7.1.2: wait (bounded) for the peer's close */
		w->state = WS_CLOSING;
		if (loop_timer_start(w->loop, &w->timer, WS_CLOSE_WAIT_MS) < 0) {
			ws_set_error(w, "out of memory for the close timer");
			ws_drop(w);
		}
		return 0;
	default: /* already closing */
		return 0;
	}
}

int
ws_is_open(const struct ws *w)
{
	return w->state == WS_OPEN;
}

const char *
ws_error(const struct ws *w)
{
	return w->error;
}

static void
ws_resume_fired(struct loop *loop, struct loop_timer *timer)
{
	(void)loop;
	struct ws *w = timer->data;
	if (w->freed || w->paused)
		return;
	if (w->held_len) {
		size_t off = w->held_off, len = w->held_len;
		w->held_len = 0;
		if (w->state == WS_OPEN || w->state == WS_CLOSING)
			ws_take_frames(w, w->read_buf + off, len);
	}
	if (!w->freed && !w->paused && !w->held_len)
		ws_readable(w);
}

void
ws_pause_reading(struct ws *w, int on)
{
	if (!w || w->freed || w->paused == !!on)
		return;
	w->paused = !!on;
	/* resuming never delivers from inside the caller's call: the held
	 * messages come on the next iteration */
	if (!on)
		loop_timer_start(w->loop, &w->resume, 0);
	else
		loop_timer_stop(w->loop, &w->resume);
}
