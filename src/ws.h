/* ws — an RFC 6455 WebSocket client over one tls stream.
 *
 * What it does: parses ws:// and wss:// URLs, performs the opening
 * handshake (RFC 6455 4.1), sends text and binary messages as single
 * masked frames (5.3), receives server frames and reassembles fragmented
 * messages with control frames interleaved (5.4), answers pings (5.5.2),
 * runs the closing handshake both ways (5.5.1, 7.1.2) and fails the
 * connection on protocol errors with 1002, invalid UTF-8 with 1007 and
 * oversized messages with 1009 (7.4.1).
 * What it does not: extensions (permessage-deflate: Discord compresses with
 * zlib-stream instead, see zstream.h), subprotocols, sending fragmented
 * messages, servers, proxies, redirects.
 *
 * Two layers share this header:
 *   - the pure codec (ws_url_*, ws_handshake_*, ws_parser_*, ws_frame_*):
 *     no I/O, no clock, fed bytes, tested whole, byte by byte and in random
 *     splits, and fuzzed (tests/fuzz/fuzz_ws.c);
 *   - the client (struct ws), which drives the codec from tls events.
 *
 * Everything here knows nothing of Discord. */
#ifndef AGORA_WS_H
#define AGORA_WS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "url.h"

struct loop;
struct tls_trust;

/* Frame opcodes (RFC 6455 5.2). */
enum ws_opcode {
	WS_OP_CONTINUATION = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xa,
};

/* Close codes (RFC 6455 7.4.1). 1005 and 1006 are never sent: they only
 * report "no code in the close frame" and "no close frame at all". */
#define WS_CLOSE_NORMAL     1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL   1002
#define WS_CLOSE_NO_STATUS  1005
#define WS_CLOSE_ABNORMAL   1006
#define WS_CLOSE_BAD_DATA   1007
#define WS_CLOSE_TOO_BIG    1009
#define WS_CLOSE_INTERNAL   1011

/* Default cap on one received message (after reassembly). Discord's largest
 * gateway payloads (GUILD_CREATE of a big guild, uncompressed) stay well
 * under this; anything larger from a server is hostile or broken. */
#define WS_MAX_MESSAGE_DEFAULT (8u << 20)
/* How long ws_close waits for the peer's close frame, and a closing
 * connection for the transport to finish, before dropping it: Agora must
 * exit within 5 s of SIGTERM (CONTRACT.md), and this is one step of that. */
#define WS_CLOSE_WAIT_MS 2000
/* The longest reason a close frame can carry: 125 bytes of control payload
 * minus the 2-byte code (RFC 6455 5.5). */
#define WS_CLOSE_REASON_MAX 123

/* A complete received item: a text or binary message, a ping, a pong or a
 * close. data is borrowed, NUL-terminated (so text is a C string), valid
 * until the next feed. For WS_OP_CLOSE, data/len is the reason and
 * close_code the code (WS_CLOSE_NO_STATUS when the frame had none). */
struct ws_message {
	enum ws_opcode opcode;
	const char *data;
	size_t len;
	int close_code;
	int close_remote; /* client events: 1 if code and reason came from the peer */
	/* binary streaming (ws_set_stream_binary): this is one piece of a
	 * binary message and more follow; the last piece has more == 0. A
	 * streamed piece is not NUL-terminated. */
	int more;
};

enum ws_parse {
	WS_PARSE_MORE, /* all given bytes taken; nothing complete yet */
	WS_PARSE_DONE, /* one item complete (*used tells where it ended) */
	WS_PARSE_ERR,  /* the connection must fail: error_code, error */
};

/* ---- URL ---------------------------------------------------------- */

/* Parses "wss://host[:port]/path?query" or ws:// with url_parse (url.h),
 * refusing other schemes and fragments (RFC 6455 3). Returns 0, or -1 with
 * the reason in err. */
int ws_url_parse(struct url *u, const char *text, char *err, size_t err_len);

/* ---- opening handshake (RFC 6455 4.1, 4.2.2) ------------------------ */

/* Bound on the server's handshake response head: a 101 answer is a few
 * hundred bytes; 8 KiB is what common servers accept for request heads. */
#define WS_HANDSHAKE_MAX 8192

/* Sec-WebSocket-Key: base64 of 16 random bytes (24 characters + NUL). */
void ws_handshake_key(char key[25], const uint8_t nonce[16]);
/* The Sec-WebSocket-Accept a server must answer for key:
 * base64(sha1(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")). */
void ws_handshake_accept(char accept[29], const char *key);
/* Appends the GET request opening a connection to u with key. */
int ws_handshake_request(struct buf *out, const struct url *u, const char *key);

/* The response reader: collects the head, then checks it. */
struct ws_handshake {
	char accept[29]; /* what Sec-WebSocket-Accept must be */
	char head[WS_HANDSHAKE_MAX];
	size_t head_len;
	int status; /* the HTTP status, once the head is read */
	char error[200];
};

/* Prepares h to check the answer to a request sent with key. */
void ws_handshake_init(struct ws_handshake *h, const char *key);
/* Takes response bytes. DONE when the head is complete and valid: *used
 * bytes were the head, the rest of data is already frame data. ERR (with
 * h->error) when the head is malformed, too long, not 101, or its
 * Upgrade/Connection/Sec-WebSocket-Accept headers are wrong. */
enum ws_parse ws_handshake_feed(struct ws_handshake *h, const void *data, size_t len, size_t *used);

/* ---- frames -------------------------------------------------------- */

/* 1 when s holds valid UTF-8 (RFC 3629: no overlongs, surrogates or code
 * points past U+10FFFF), as RFC 6455 8.1 requires of text. */
int ws_utf8_valid(const void *s, size_t len);

/* An incremental UTF-8 checker, so text is checked as it arrives. */
struct ws_utf8 {
	uint8_t need;   /* continuation bytes still expected */
	uint8_t lo, hi; /* the range the next continuation byte must be in */
};

/* Reads server frames (RFC 6455 5.2) and reassembles messages (5.4). */
struct ws_parser {
	size_t max_message; /* the 1009 limit on one reassembled message */
	/* the frame being read */
	uint8_t head[10]; /* 2 bytes + up to 8 of extended length */
	size_t head_len, head_need;
	int in_payload; /* head done, payload_left bytes to come */
	uint64_t payload_left;
	uint8_t opcode; /* of the current frame */
	int fin;
	/* a data message being reassembled over frames */
	int in_message;
	enum ws_opcode message_opcode;
	struct buf message;  /* max = max_message */
	int stream_binary;   /* binary messages go out in pieces, not reassembled */
	uint64_t streamed;   /* bytes of the binary message handed out so far */
	struct ws_utf8 utf8; /* state of the text checked so far */
	/* a control frame's payload (at most 125 bytes, 5.5), NUL after */
	char control[126];
	size_t control_len;
	/* the item handed out by the last DONE */
	int delivered; /* 1: clear it on the next feed */
	struct ws_message item;
	/* after ERR */
	int failed;
	int error_code; /* 1002, 1007, 1009 or 1011 to send in the close */
	char error[120];
};

/* Prepares p; max_message caps one reassembled message. Allocates nothing. */
void ws_parser_init(struct ws_parser *p, size_t max_message);
void ws_parser_free(struct ws_parser *p);
/* Takes server bytes up to the end of at most one complete item. DONE:
 * p->item holds it (borrowed until the next feed) and *used says how many
 * bytes were taken; call again with the rest. MORE: all len bytes taken.
 * ERR: sticky; p->error_code and p->error say why. */
enum ws_parse ws_parser_feed(struct ws_parser *p, const void *data, size_t len, size_t *used);

/* Appends one client frame with FIN set: the 2-14 byte head, then the
 * payload XORed with mask (RFC 6455 5.3: every client frame is masked).
 * Control frames (close, ping, pong) must be at most 125 bytes. */
int ws_frame_encode(struct buf *out, enum ws_opcode op, const void *payload, size_t len,
                    const uint8_t mask[4]);
/* Appends a close frame with code and reason (cut to WS_CLOSE_REASON_MAX
 * bytes on a UTF-8 boundary); code 0 sends an empty close. */
int ws_frame_encode_close(struct buf *out, int code, const char *reason, const uint8_t mask[4]);

/* ---- the client ---------------------------------------------------- */

struct ws;

enum ws_event {
	WS_EV_OPEN,    /* the handshake is done; sending is possible */
	WS_EV_MESSAGE, /* a complete text or binary message in *m */
	WS_EV_CLOSED,  /* the connection is over: m->close_code, reason in m->data */
};

/* Receives every event of w. m and its data are borrowed for the call.
 * WS_EV_CLOSED comes exactly once per ws_open that returned 0: with the
 * peer's code and reason (close_remote = 1) after a closing handshake, or
 * with the code we sent or 1006 and ws_error() after a failure. The
 * callback may call any ws_* function, including ws_free and ws_open. */
typedef void ws_event_fn(struct ws *w, enum ws_event ev, const struct ws_message *m, void *data);

/* Allocates a client bound to loop; NULL when out of memory. */
struct ws *ws_new(struct loop *loop, ws_event_fn *fn, void *data);
/* Drops the connection (no close frame) and frees w; no event follows.
 * Safe inside w's own callback: the memory goes in a deferred call. */
void ws_free(struct ws *w);
/* Sets the cap on one received message (default WS_MAX_MESSAGE_DEFAULT);
 * takes effect at the next ws_open. */
void ws_set_max_message(struct ws *w, size_t max);

/* on = 1: binary messages are not reassembled but handed out piece by
 * piece as they are read (WS_EV_MESSAGE with m->more set on all pieces but
 * the last; see struct ws_message), straight from the read buffer: no copy,
 * and no buffer the size of the message (a compressed GUILD_CREATE of
 * hundreds of KB). The limit still counts the whole message. Text
 * messages are unchanged. Takes effect at the next ws_open. */
void ws_set_stream_binary(struct ws *w, int on);

/* Connects to url: wss:// checked against trust (required), ws:// in
 * plain TCP. Connect, TLS and WebSocket handshakes must all finish within
 * timeout_ms. Returns 0 (WS_EV_OPEN or WS_EV_CLOSED follows), or -1 at
 * once with ws_error() for a bad URL or a connection already in use. */
int ws_open(struct ws *w, const char *url, const struct tls_trust *trust, int64_t timeout_ms);
/* Sends one text message (must be valid UTF-8) or binary message; the
 * stream copies the bytes. Returns 0, or -1 with ws_error() when not open
 * (or closing), the text is invalid, or the send queue is full. */
int ws_send_text(struct ws *w, const char *text, size_t len);
int ws_send_binary(struct ws *w, const void *data, size_t len);
/* Starts the closing handshake with code (1000 to 4999, not 1004-1006,
 * 1015) and reason: sends the close, waits up to WS_CLOSE_WAIT_MS for the
 * peer's, then drops the connection. WS_EV_CLOSED follows. Before the
 * connection is open, it just abandons it. Returns 0, or -1 when idle. */
int ws_close(struct ws *w, int code, const char *reason);
/* Back-pressure: on = 1 stops delivering messages after the current one
 * and stops reading the stream (its buffers fill, then TCP's window makes
 * the peer wait); on = 0 delivers what was held back, on the next loop
 * iteration, and reads on. Sending is not affected. A pause outlives a
 * reconnect; bytes held from a connection are dropped when a new one
 * opens. */
void ws_pause_reading(struct ws *w, int on);
/* 1 between WS_EV_OPEN and the start of closing. */
int ws_is_open(const struct ws *w);
/* The last local failure as a sentence; "" when none. */
const char *ws_error(const struct ws *w);

#endif
