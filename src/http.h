/* http — Agora's HTTP/1.1 client (RFC 9110, RFC 9112).
 *
 * Two layers in one module:
 *
 *  1. Pure parts, no I/O: http_parser reads one response from bytes fed in
 *     any split (feed -> MORE | DONE | ERR), and http_request_format writes
 *     one request. The fuzz target and the data-driven tests drive these.
 *  2. http_client: requests queued per host over a bounded pool of
 *     keep-alive connections (struct tls, plain or TLS), each completing
 *     exactly once through a callback.
 *
 * What it does not: HTTP/2, pipelining (one request at a time per
 * connection), request bodies other than Content-Length (no chunked
 * uploads), content codings (we never send Accept-Encoding, so servers send
 * identity), redirects, cookies, proxies, caching. It knows nothing of
 * Discord: rate limits and retries on 429 live in rest. */
#ifndef AGORA_HTTP_H
#define AGORA_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct loop;
struct tls_trust;
struct url;

/* ---------------------------------------------------------------- limits */

/* Status line plus header fields of one response (and, separately, its
 * trailers). Discord sends about 2 KB; 64 KiB is generous for any sane
 * server and bounds what a hostile one can make us hold per connection. */
#define HTTP_HEAD_MAX (64 * 1024)
/* Header fields per response. Discord sends about 30; 100 is Apache's
 * default for requests and bounds the lookup table in the parser. */
#define HTTP_FIELDS_MAX 100
/* A chunk-size line with its extensions (which we skip). A size is at most
 * 16 hex digits; the rest is room for extensions nobody sends us. */
#define HTTP_CHUNK_LINE_MAX 4096
/* 1xx interim responses skipped before the final one (RFC 9110 15.2). One
 * or two is normal; a server sending them forever is cut off here. */
#define HTTP_INTERIM_MAX 16
/* Default cap on a response body. The largest Discord JSON we fetch (a page
 * of 100 messages) is well under 1 MiB, an LLM reply a few KB: 8 MiB leaves
 * room and still bounds a broken or hostile server. */
#define HTTP_BODY_MAX_DEFAULT (8u * 1024 * 1024)

/* ---------------------------------------------------------------- parser */

enum http_parse { HTTP_MORE, HTTP_DONE, HTTP_ERR };

/* One header field, as offsets into the parser's head buffer (which may
 * move while it grows), each NUL-terminated there. */
struct http_field {
	uint32_t name;
	uint32_t value;
};

/* Reads one HTTP/1.1 response (RFC 9112). Embedded in its owner; the
 * buffers grow as needed up to the limits above. */
struct http_parser {
	int state;
	size_t max_body;
	int head_request; /* the request was HEAD: the response has no body */
	/* status line and fields of the response being read */
	struct buf head;
	size_t line_start; /* offset in head of the line being read */
	struct http_field fields[HTTP_FIELDS_MAX];
	size_t field_count;
	int status;        /* 0 until the status line is read */
	int minor_version; /* HTTP/1.<minor> */
	uint32_t reason;   /* offset of the reason phrase in head */
	int interim_count;
	int keep_alive; /* the connection may carry another request after this */
	/* body */
	struct buf body;
	uint64_t remaining; /* of the Content-Length body, or of this chunk */
	uint64_t chunk_size;
	size_t line_len; /* bytes of the chunk-size or trailer line so far */
	int chunk_digits;
	int chunk_phase;
	int saw_cr;
	size_t trailer_bytes;
	size_t bytes_seen; /* every byte fed, to tell "nothing came" apart */
	char error[128];
};

/* The final response as the application sees it; everything is borrowed
 * from the parser (or, in a client callback, valid only during it). */
struct http_response {
	int status;
	const char *reason; /* reason phrase, may be "" */
	const char *body;   /* body_len bytes, followed by a NUL */
	size_t body_len;
	int keep_alive;
	const struct http_parser *parser; /* for http_response_header */
};

/* Prepares p to read a response whose body may hold up to max_body bytes
 * (0 means HTTP_BODY_MAX_DEFAULT); head_request says the request was HEAD.
 * Allocates nothing until bytes arrive. */
void http_parser_init(struct http_parser *p, size_t max_body, int head_request);
/* Gets ready for the next response on the same connection, keeping memory. */
void http_parser_reset(struct http_parser *p, int head_request);
/* Frees the buffers; p may be initialized again. */
void http_parser_free(struct http_parser *p);
/* Feeds len bytes. Returns HTTP_MORE (all used, want more), HTTP_DONE (a
 * whole response; *used says how many bytes it took, the rest belong to
 * whatever follows) or HTTP_ERR (see http_parser_error). After DONE or ERR
 * further calls return the same and use nothing. used may be NULL. */
enum http_parse http_parser_feed(struct http_parser *p, const void *data, size_t len, size_t *used);
/* The connection ended (RFC 9112 6.3: a body without length is delimited by
 * the close). Returns HTTP_DONE if that completes the response, HTTP_ERR if
 * the response was cut short. */
enum http_parse http_parser_finish(struct http_parser *p);
/* Why the parser said HTTP_ERR; "" otherwise. */
const char *http_parser_error(const struct http_parser *p);
/* Fills r from a parser that returned HTTP_DONE. */
void http_parser_response(const struct http_parser *p, struct http_response *r);

/* The first value of header name (compared case-insensitively, RFC 9110
 * 5.1), NULL if absent. Values have surrounding whitespace removed. */
const char *http_response_header(const struct http_response *r, const char *name);
/* Header field i (0 <= i < count) in received order; returns count. */
size_t http_response_header_count(const struct http_response *r);
void http_response_header_at(const struct http_response *r, size_t i, const char **name,
                             const char **value);

/* ---------------------------------------------------------------- requests */

/* A request header given by the caller; both strings borrowed. */
struct http_header {
	const char *name;
	const char *value;
};

/* Appends one request to out (RFC 9112 3): "METHOD target HTTP/1.1",
 * Host (from u), User-Agent (user_agent, unless the caller's headers carry
 * one; none if NULL), the caller's headers, Content-Length when there is a
 * body or the method is POST, PUT or PATCH (RFC 9110 8.6), the blank line
 * and the body. Refuses a method that is not a token, header names that are
 * not tokens, values holding CR, LF or NUL (header injection), and Host,
 * Content-Length or Transfer-Encoding from the caller (the framing is ours).
 * Returns 0, or -1 with the reason in err (out is then unchanged). */
int http_request_format(struct buf *out, const char *method, const struct url *u,
                        const char *user_agent, const struct http_header *headers,
                        size_t header_count, const void *body, size_t body_len, char *err,
                        size_t err_len);

/* ---------------------------------------------------------------- client */

/* Concurrent connections to one host (scheme, host, port). Requests beyond
 * that wait in the host's queue. Four lets a few slow requests (an LLM call)
 * not block the rest while keeping sockets few. */
#define HTTP_CONNS_PER_HOST_DEFAULT 4
/* Requests queued or in flight over the whole client. Beyond this something
 * is badly wrong (a dead server and a busy caller); fail fast instead of
 * growing without bound. */
#define HTTP_PENDING_MAX 1024
/* DNS + TCP + TLS handshake, unless the request's own timeout is shorter. */
#define HTTP_CONNECT_TIMEOUT_MS_DEFAULT 10000
/* How long an idle keep-alive connection is kept. Below the usual server
 * keep-alive timeouts (nginx 75 s, aiohttp 75 s), so we normally close
 * first and rarely race a server's close. */
#define HTTP_IDLE_TIMEOUT_MS_DEFAULT 30000

struct http_client_options {
	const struct tls_trust *trust; /* for https; NULL: https requests fail */
	const char *user_agent;        /* copied; NULL sends none */
	size_t max_body;               /* 0: HTTP_BODY_MAX_DEFAULT */
	int max_conns_per_host;        /* 0: HTTP_CONNS_PER_HOST_DEFAULT */
	int64_t connect_timeout_ms;    /* 0: HTTP_CONNECT_TIMEOUT_MS_DEFAULT */
	int64_t idle_timeout_ms;       /* 0: HTTP_IDLE_TIMEOUT_MS_DEFAULT */
};

struct http_client;

/* Called exactly once per accepted request: with res (error NULL) when a
 * final response arrived, whatever its status, or with error (res NULL) when
 * none could be had. Both are borrowed: valid only during the call. */
typedef void http_done_fn(const struct http_response *res, const char *error, void *data);

/* A client bound to loop; opt may be NULL for the defaults (no https).
 * NULL when out of memory. */
struct http_client *http_client_new(struct loop *loop, const struct http_client_options *opt);
/* Closes every connection and runs the callback of every request still
 * queued or in flight once, with the error "http client closed". Must not
 * be called from inside one of this client's callbacks (defer it). */
void http_client_free(struct http_client *c);
/* The reason the last http_request returned -1. */
const char *http_client_error(const struct http_client *c);

/* Queues a request: method (a token: GET, POST, ...), an absolute http or
 * https url, header_count caller headers, body_len bytes of body (copied;
 * may be NULL), finishing within timeout_ms (from now: waiting for a
 * connection, connecting, sending, and reading the whole response).
 * fn(data) runs exactly once, later, from the loop; never from inside this
 * call. Returns 0, or -1 at once (with the reason in http_client_error,
 * and fn never runs) for a bad url, method or header, or when
 * HTTP_PENDING_MAX requests are already pending.
 *
 * Connections: a kept-alive connection to the same host is reused; a
 * response with "Connection: close" (or HTTP/1.0 without keep-alive, or a
 * body delimited by the close) ends its connection. A request that fails
 * because a REUSED connection was closed by the server before any response
 * byte arrived (the server timed the idle connection out as we sent) is
 * retried once on a fresh connection when it is safe: the method is
 * idempotent (GET, HEAD, PUT, DELETE, OPTIONS, TRACE; RFC 9110 9.2.2), or
 * the stream refused our bytes so nothing was sent. A POST that may have
 * reached the server is never sent twice; its caller gets the error. */
int http_request(struct http_client *c, const char *method, const char *url,
                 const struct http_header *headers, size_t header_count, const void *body,
                 size_t body_len, int64_t timeout_ms, http_done_fn *fn, void *data);

/* Counters, for tests and the health report. */
struct http_client_stats {
	uint64_t connections_opened;
	uint64_t requests_done;   /* callbacks run with a response */
	uint64_t requests_failed; /* callbacks run with an error */
	uint64_t retries;
	int connections_open; /* now */
};
void http_client_stats(const struct http_client *c, struct http_client_stats *out);

#endif
