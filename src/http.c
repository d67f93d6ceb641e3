/* http — see http.h. */
#include "http.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "loop.h"
#include "mem.h"
#include "tls.h"
#include "url.h"

/* ================================================================ parser */

enum parser_state {
	S_HEAD,        /* status line and header fields */
	S_BODY_LENGTH, /* Content-Length bytes to go (remaining) */
	S_BODY_CLOSE,  /* everything until the connection closes */
	S_CHUNK_SIZE,  /* chunk-size [chunk-ext] CRLF */
	S_CHUNK_DATA,  /* chunk bytes to go (remaining) */
	S_CHUNK_END,   /* the CRLF after chunk data */
	S_TRAILERS,    /* trailer fields, skipped, until an empty line */
	S_DONE,
	S_ERR,
};

/* phases of a chunk-size line (RFC 9112 7.1) */
enum { CHUNK_DIGITS, CHUNK_BWS, CHUNK_EXT };

static void
clear_response(struct http_parser *p)
{
	buf_reset(&p->head);
	p->line_start = 0;
	p->field_count = 0;
	p->status = 0;
	p->minor_version = 1;
	p->reason = 0;
	p->keep_alive = 0;
}

void
http_parser_init(struct http_parser *p, size_t max_body, int head_request)
{
	memset(p, 0, sizeof *p);
	p->max_body = max_body ? max_body : HTTP_BODY_MAX_DEFAULT;
	buf_init(&p->head, HTTP_HEAD_MAX);
	buf_init(&p->body, p->max_body);
	http_parser_reset(p, head_request);
}

void
http_parser_reset(struct http_parser *p, int head_request)
{
	clear_response(p);
	buf_reset(&p->body);
	p->state = S_HEAD;
	p->head_request = head_request;
	p->interim_count = 0;
	p->remaining = 0;
	p->chunk_size = 0;
	p->line_len = 0;
	p->chunk_digits = 0;
	p->chunk_phase = CHUNK_DIGITS;
	p->saw_cr = 0;
	p->trailer_bytes = 0;
	p->bytes_seen = 0;
	p->error[0] = '\0';
}

void
http_parser_free(struct http_parser *p)
{
	buf_free(&p->head);
	buf_free(&p->body);
}

const char *
http_parser_error(const struct http_parser *p)
{
	return p->error;
}

__attribute__((format(printf, 2, 3))) static size_t
fail(struct http_parser *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->error, sizeof p->error, fmt, ap);
	va_end(ap);
	p->state = S_ERR;
	return 0;
}

/* RFC 9110 5.6.2: tchar */
static int
is_tchar(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int
is_ows(int c)
{
	return c == ' ' || c == '\t';
}

static int
hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Does the comma-separated list value hold token (case-insensitively)?
 * RFC 9110 5.6.1 lists, as Connection (7.6.1) uses them. */
static int
list_has_token(const char *value, const char *token)
{
	size_t n = strlen(token);
	const char *s = value;
	while (*s) {
		while (*s == ',' || is_ows((unsigned char)*s))
			s++;
		const char *start = s;
		while (*s && *s != ',')
			s++;
		const char *end = s;
		while (end > start && is_ows((unsigned char)end[-1]))
			end--;
		if ((size_t)(end - start) == n && strncasecmp(start, token, n) == 0)
			return 1;
	}
	return 0;
}

static const char *
field_name(const struct http_parser *p, size_t i)
{
	return p->head.data + p->fields[i].name;
}

static const char *
field_value(const struct http_parser *p, size_t i)
{
	return p->head.data + p->fields[i].value;
}

/* RFC 9112 4: status-line = HTTP-version SP status-code SP [ reason-phrase ].
 * Some servers drop the SP before an empty reason; we accept that. */
static int
parse_status_line(struct http_parser *p, char *line, size_t len)
{
	if (len < 12 || memcmp(line, "HTTP/", 5) != 0 || line[6] != '.' || line[8] != ' ') {
		fail(p, "malformed status line");
		return -1;
	}
	if (line[5] != '1' || line[7] < '0' || line[7] > '9') {
		fail(p, "unsupported HTTP version %.8s", line);
		return -1;
	}
	/* RFC 9110 2.5: a higher 1.x minor version is treated as 1.1 */
	p->minor_version = line[7] == '0' ? 0 : 1;
	int status = 0;
	for (int i = 9; i < 12; i++) {
		if (line[i] < '0' || line[i] > '9') {
			fail(p, "malformed status code");
			return -1;
		}
		status = status * 10 + (line[i] - '0');
	}
	/* RFC 9110 15: status codes are 100 to 599 */
	if (status < 100 || status > 599) {
		fail(p, "status code %d out of range", status);
		return -1;
	}
	if (len > 12 && line[12] != ' ') {
		fail(p, "malformed status line");
		return -1;
	}
	p->status = status;
	p->reason = (uint32_t)(line - p->head.data) + (len > 12 ? 13 : 12);
	return 0;
}

/* RFC 9112 5: field-line = field-name ":" OWS field-value OWS */
static int
parse_field_line(struct http_parser *p, char *line, size_t len)
{
	/* RFC 9112 5.2: obs-fold is deprecated. A user agent may unfold it;
	 * no server we speak to folds, and refusing is simpler and safer. */
	if (is_ows((unsigned char)line[0])) {
		fail(p, "obsolete line folding in header fields");
		return -1;
	}
	if (p->field_count == HTTP_FIELDS_MAX) {
		fail(p, "more than %d header fields", HTTP_FIELDS_MAX);
		return -1;
	}
	size_t colon = 0;
	while (colon < len && is_tchar((unsigned char)line[colon]))
		colon++;
	if (colon == len || line[colon] != ':') {
		/* RFC 9112 5.1: no whitespace between name and colon */
		size_t k = colon;
		while (k < len && is_ows((unsigned char)line[k]))
			k++;
		fail(p, k > colon && k < len && line[k] == ':'
		                ? "whitespace before ':' in a header field"
		                : "malformed header field");
		return -1;
	}
	if (colon == 0) {
		fail(p, "empty header field name");
		return -1;
	}
	size_t v = colon + 1, end = len;
	while (v < end && is_ows((unsigned char)line[v]))
		v++;
	while (end > v && is_ows((unsigned char)line[end - 1]))
		end--;
	/* RFC 9110 5.5: CR, LF and NUL in a value are invalid (and dangerous) */
	for (size_t i = v; i < end; i++) {
		if (line[i] == '\0' || line[i] == '\r') {
			fail(p, "invalid byte in the value of a header field");
			return -1;
		}
	}
	line[colon] = '\0';
	line[end] = '\0';
	uint32_t base = (uint32_t)(line - p->head.data);
	p->fields[p->field_count].name = base;
	p->fields[p->field_count].value = base + (uint32_t)v;
	p->field_count++;
	return 0;
}

/* RFC 9110 8.6: Content-Length is digits; a list of identical values (from
 * repeated fields or a comma list) is one value, differing ones are an
 * error (a framing attack or a broken intermediary). */
static int
parse_content_length(struct http_parser *p, int *has, uint64_t *length)
{
	for (size_t i = 0; i < p->field_count; i++) {
		if (strcasecmp(field_name(p, i), "Content-Length") != 0)
			continue;
		const char *s = field_value(p, i);
		for (;;) {
			while (is_ows((unsigned char)*s))
				s++;
			if (*s < '0' || *s > '9') {
				fail(p, "invalid Content-Length");
				return -1;
			}
			uint64_t n = 0;
			while (*s >= '0' && *s <= '9') {
				if (n > (UINT64_MAX - 9) / 10) {
					fail(p, "Content-Length overflows");
					return -1;
				}
				n = n * 10 + (uint64_t)(*s++ - '0');
			}
			while (is_ows((unsigned char)*s))
				s++;
			if (*has && n != *length) {
				fail(p, "conflicting Content-Length values");
				return -1;
			}
			*has = 1;
			*length = n;
			if (*s == '\0')
				break;
			if (*s++ != ',') {
				fail(p, "invalid Content-Length");
				return -1;
			}
		}
	}
	return 0;
}

/* The blank line after the fields: decide what the message body is
 * (RFC 9112 6.3, in its order) and whether the connection persists
 * (RFC 9112 9.3). */
static void
end_of_head(struct http_parser *p)
{
	if (p->status < 200 && p->status != 101) {
		/* RFC 9110 15.2: interim responses are skipped; the final one
		 * follows on the same connection */
		if (++p->interim_count > HTTP_INTERIM_MAX) {
			fail(p, "more than %d interim (1xx) responses", HTTP_INTERIM_MAX);
			return;
		}
		clear_response(p);
		return;
	}
	int close = 0, keep = 0, chunked = 0, has_te = 0, has_length = 0;
	uint64_t length = 0;
	for (size_t i = 0; i < p->field_count; i++) {
		const char *name = field_name(p, i), *value = field_value(p, i);
		if (strcasecmp(name, "Connection") == 0) {
			close |= list_has_token(value, "close");
			keep |= list_has_token(value, "keep-alive");
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			/* only "chunked" alone: we never send TE, so a server
			 * has no business applying other codings (RFC 9112
			 * 6.1), and we could not decode them */
			if (has_te || strcasecmp(value, "chunked") != 0) {
				fail(p, "unsupported Transfer-Encoding");
				return;
			}
			has_te = chunked = 1;
		}
	}
	if (parse_content_length(p, &has_length, &length) < 0)
		return;
	/* HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive" */
	p->keep_alive = !close && (p->minor_version >= 1 || keep);

	/* RFC 9112 6.3 (1): responses to HEAD, 1xx, 204 and 304 end at the
	 * blank line whatever their fields say; 101 hands the connection to
	 * another protocol, so what follows is not ours either */
	if (p->head_request || p->status == 101 || p->status == 204 || p->status == 304) {
		p->state = S_DONE;
		return;
	}
	if (has_te && has_length) {
		/* RFC 9112 6.3 (3): "ought to be handled as an error" — it is
		 * the shape of request smuggling and response splitting */
		fail(p, "both Transfer-Encoding and Content-Length");
		return;
	}
	if (chunked) {
		p->state = S_CHUNK_SIZE;
		p->chunk_size = 0;
		p->chunk_digits = 0;
		p->chunk_phase = CHUNK_DIGITS;
		p->line_len = 0;
		p->saw_cr = 0;
		return;
	}
	if (has_length) {
		if (length > p->max_body) {
			fail(p, "response body of %llu bytes exceeds the limit of %zu",
			     (unsigned long long)length, p->max_body);
			return;
		}
		p->remaining = length;
		/* one allocation for most bodies; not more than 1 MiB up front,
		 * so a lying Content-Length cannot make us reserve the cap */
		size_t want = length < (1u << 20) ? (size_t)length : (1u << 20);
		if (want && buf_reserve(&p->body, want) < 0) {
			fail(p, "out of memory");
			return;
		}
		p->state = length ? S_BODY_LENGTH : S_DONE;
		return;
	}
	/* RFC 9112 6.3 (8): no framing: the body runs until the close, and the
	 * connection cannot carry another request */
	p->keep_alive = 0;
	p->state = S_BODY_CLOSE;
}

/* One complete line [line_start, head.len) ending in LF. */
static void
head_line(struct http_parser *p)
{
	char *line = p->head.data + p->line_start;
	size_t len = p->head.len - p->line_start - 1; /* without the LF */
	/* RFC 9112 2.2: a recipient may take a lone LF as the line end and
	 * ignore a preceding CR; a CR anywhere else is invalid */
	if (len && line[len - 1] == '\r')
		len--;
	line[len] = '\0';
	if (memchr(line, '\r', len)) {
		fail(p, "bare CR in the response head");
		return;
	}
	p->line_start = p->head.len;
	if (!p->status) {
		if (len == 0) {
			fail(p, "empty line instead of a status line");
			return;
		}
		parse_status_line(p, line, len);
		return;
	}
	if (len == 0) {
		end_of_head(p);
		return;
	}
	parse_field_line(p, line, len);
}

static size_t
feed_head(struct http_parser *p, const char *s, size_t len)
{
	const char *nl = memchr(s, '\n', len);
	size_t take = nl ? (size_t)(nl - s) + 1 : len;
	if (take > HTTP_HEAD_MAX - p->head.len)
		return fail(p, "response head exceeds %d bytes", HTTP_HEAD_MAX);
	if (p->head.len == 0 && p->status == 0 && take >= 1 && s[0] != 'H')
		/* not even the start of "HTTP/": say so early */
		return fail(p, "malformed status line");
	if (buf_append(&p->head, s, take) < 0)
		return fail(p, "out of memory");
	if (nl)
		head_line(p);
	return take;
}

static size_t
append_body(struct http_parser *p, const char *s, size_t len)
{
	if (len > p->max_body - p->body.len)
		return fail(p, "response body exceeds the limit of %zu bytes", p->max_body);
	if (buf_append(&p->body, s, len) < 0)
		return fail(p, "out of memory");
	return len;
}

static size_t
feed_chunk_size(struct http_parser *p, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		int c = (unsigned char)s[i++];
		if (++p->line_len > HTTP_CHUNK_LINE_MAX)
			return fail(p, "chunk-size line longer than %d bytes", HTTP_CHUNK_LINE_MAX);
		if (p->saw_cr && c != '\n')
			return fail(p, "bare CR in a chunk-size line");
		if (c == '\n') {
			if (!p->chunk_digits)
				return fail(p, "missing chunk size");
			p->line_len = 0;
			p->saw_cr = 0;
			if (p->chunk_size == 0) {
				/* last-chunk: trailer fields follow */
				p->state = S_TRAILERS;
				p->trailer_bytes = 0;
				return i;
			}
			p->remaining = p->chunk_size;
			p->state = S_CHUNK_DATA;
			return i;
		}
		if (p->chunk_phase == CHUNK_EXT) {
			/* RFC 9112 7.1.1: unrecognized chunk extensions are
			 * ignored — and we recognize none */
			continue;
		}
		if (c == '\r') {
			p->saw_cr = 1;
			continue;
		}
		int v = hex_value(c);
		if (p->chunk_phase == CHUNK_DIGITS && v >= 0) {
			/* 16 hex digits fill 64 bits; leading zeros count too,
			 * which no sane server sends */
			if (++p->chunk_digits > 16)
				return fail(p, "chunk size overflows");
			p->chunk_size = p->chunk_size << 4 | (uint64_t)v;
			if (p->chunk_size > p->max_body - p->body.len)
				return fail(p, "response body exceeds the limit of %zu bytes",
				            p->max_body);
			continue;
		}
		if (!p->chunk_digits)
			return fail(p, "invalid chunk size");
		if (is_ows(c)) {
			/* BWS before ";" */
			p->chunk_phase = CHUNK_BWS;
			continue;
		}
		if (c == ';') {
			p->chunk_phase = CHUNK_EXT;
			continue;
		}
		return fail(p, "invalid chunk size");
	}
	return i;
}

static size_t
feed_chunk_end(struct http_parser *p, const char *s)
{
	if (s[0] == '\r' && !p->saw_cr) {
		p->saw_cr = 1;
		return 1;
	}
	if (s[0] != '\n')
		return fail(p, "missing CRLF after chunk data");
	p->saw_cr = 0;
	p->state = S_CHUNK_SIZE;
	p->chunk_size = 0;
	p->chunk_digits = 0;
	p->chunk_phase = CHUNK_DIGITS;
	p->line_len = 0;
	return 1;
}

/* RFC 9112 7.1.2: trailer fields; a client may discard them, and we do,
 * bounded like the head. */
static size_t
feed_trailers(struct http_parser *p, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		int c = (unsigned char)s[i++];
		if (++p->trailer_bytes > HTTP_HEAD_MAX)
			return fail(p, "trailer fields exceed %d bytes", HTTP_HEAD_MAX);
		if (c == '\n') {
			if (p->line_len == 0) {
				p->state = S_DONE;
				return i;
			}
			p->line_len = 0;
		} else if (c != '\r') {
			p->line_len++;
		}
	}
	return i;
}

enum http_parse
http_parser_feed(struct http_parser *p, const void *data, size_t len, size_t *used)
{
	const char *s = data;
	size_t pos = 0;
	while (pos < len && p->state != S_DONE && p->state != S_ERR) {
		size_t n = 0;
		switch (p->state) {
		case S_HEAD:
			n = feed_head(p, s + pos, len - pos);
			break;
		case S_BODY_LENGTH:
		case S_CHUNK_DATA: {
			size_t take = len - pos;
			if (take > p->remaining)
				take = (size_t)p->remaining;
			n = append_body(p, s + pos, take);
			p->remaining -= n;
			if (p->state != S_ERR && p->remaining == 0)
				p->state = p->state == S_BODY_LENGTH ? S_DONE : S_CHUNK_END;
			break;
		}
		case S_BODY_CLOSE:
			n = append_body(p, s + pos, len - pos);
			break;
		case S_CHUNK_SIZE:
			n = feed_chunk_size(p, s + pos, len - pos);
			break;
		case S_CHUNK_END:
			n = feed_chunk_end(p, s + pos);
			break;
		case S_TRAILERS:
			n = feed_trailers(p, s + pos, len - pos);
			break;
		}
		pos += n;
	}
	p->bytes_seen += pos;
	if (used)
		*used = pos;
	if (p->state == S_DONE)
		return HTTP_DONE;
	if (p->state == S_ERR)
		return HTTP_ERR;
	return HTTP_MORE;
}

enum http_parse
http_parser_finish(struct http_parser *p)
{
	switch (p->state) {
	case S_DONE:
		return HTTP_DONE;
	case S_ERR:
		return HTTP_ERR;
	case S_BODY_CLOSE:
		p->state = S_DONE;
		return HTTP_DONE;
	default:
		if (p->bytes_seen == 0)
			fail(p, "connection closed before any response");
		else
			fail(p, "connection closed before the response was complete");
		return HTTP_ERR;
	}
}

void
http_parser_response(const struct http_parser *p, struct http_response *r)
{
	r->status = p->status;
	r->reason = p->status ? p->head.data + p->reason : "";
	r->body = buf_str(&p->body);
	r->body_len = p->body.len;
	r->keep_alive = p->keep_alive;
	r->parser = p;
}

const char *
http_response_header(const struct http_response *r, const char *name)
{
	const struct http_parser *p = r->parser;
	for (size_t i = 0; i < p->field_count; i++)
		if (strcasecmp(field_name(p, i), name) == 0)
			return field_value(p, i);
	return NULL;
}

size_t
http_response_header_count(const struct http_response *r)
{
	return r->parser->field_count;
}

void
http_response_header_at(const struct http_response *r, size_t i, const char **name,
                        const char **value)
{
	const struct http_parser *p = r->parser;
	*name = i < p->field_count ? field_name(p, i) : NULL;
	*value = i < p->field_count ? field_value(p, i) : NULL;
}

/* ================================================================ requests */

static int
is_token(const char *s)
{
	if (!s || !*s)
		return 0;
	for (; *s; s++)
		if (!is_tchar((unsigned char)*s))
			return 0;
	return 1;
}

static int
format_fail(char *err, size_t err_len, const char *what, const char *name)
{
	if (err && err_len)
		snprintf(err, err_len, "%s%s%.64s%s", what, name ? " (" : "", name ? name : "",
		         name ? ")" : "");
	return -1;
}

int
http_request_format(struct buf *out, const char *method, const struct url *u,
                    const char *user_agent, const struct http_header *headers, size_t header_count,
                    const void *body, size_t body_len, char *err, size_t err_len)
{
	if (!is_token(method))
		return format_fail(err, err_len, "the method is not a token", NULL);
	int caller_agent = 0;
	for (size_t i = 0; i < header_count; i++) {
		const char *name = headers[i].name, *value = headers[i].value;
		if (!is_token(name))
			return format_fail(err, err_len, "a header name is not a token", NULL);
		if (!value || strpbrk(value, "\r\n"))
			return format_fail(err, err_len, "a header value holds CR or LF or is NULL",
			                   name);
		if (strcasecmp(name, "Host") == 0 || strcasecmp(name, "Content-Length") == 0 ||
		    strcasecmp(name, "Transfer-Encoding") == 0)
			return format_fail(err, err_len, "this header is set by http itself", name);
		if (strcasecmp(name, "User-Agent") == 0)
			caller_agent = 1;
	}
	if (user_agent && strpbrk(user_agent, "\r\n"))
		return format_fail(err, err_len, "the user agent holds CR or LF", NULL);
	char authority[URL_HOST_MAX + 16];
	if (url_authority(u, authority, sizeof authority) < 0)
		return format_fail(err, err_len, "the host does not fit", NULL);

	size_t start = out->len;
	int rc = buf_printf(out, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, u->target, authority);
	if (!rc && user_agent && !caller_agent)
		rc = buf_printf(out, "User-Agent: %s\r\n", user_agent);
	for (size_t i = 0; !rc && i < header_count; i++)
		rc = buf_printf(out, "%s: %s\r\n", headers[i].name, headers[i].value);
	/* RFC 9110 8.6: Content-Length when there is content, and 0 for the
	 * methods that expect some, which servers otherwise answer with 411 */
	if (!rc && (body || body_len || strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
	            strcmp(method, "PATCH") == 0))
		rc = buf_printf(out, "Content-Length: %zu\r\n", body_len);
	if (!rc)
		rc = buf_puts(out, "\r\n");
	if (!rc && body_len)
		rc = buf_append(out, body, body_len);
	if (rc) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
		return format_fail(err, err_len, "out of memory, or the request exceeds its buffer",
		                   NULL);
	}
	return 0;
}

/* ================================================================ client */

/* A whole request (line, fields and body) is held until it is answered, so
 * it can be retried. 16 MiB covers Discord's largest upload with its
 * multipart framing and bounds what one call can make us hold. */
#define HTTP_REQUEST_MAX (16u * 1024 * 1024)
/* Request bytes handed to the stream at a time; the next piece follows
 * TLS_EV_DRAINED, so the stream's send queue never holds a whole body. */
#define HTTP_WRITE_PIECE (64u * 1024)
_Static_assert(HTTP_WRITE_PIECE <= TLS_SEND_MAX, "a piece must fit the stream's send queue");
/* Bytes read from the stream per tls_read call (a TLS record's worth). */
#define HTTP_READ_PIECE 16384
/* An idle connection keeps its body buffer up to this size; a larger one
 * is freed, so one big response does not pin memory for good. */
#define HTTP_IDLE_BODY_KEEP (64u * 1024)

enum conn_state {
	CONN_CONNECTING, /* tls_connect running, for conn->req */
	CONN_IDLE,       /* open, kept alive, no request */
	CONN_ACTIVE,     /* sending conn->req and reading its response */
};

struct http_req;
struct http_host;

struct http_conn {
	struct http_conn *next; /* in host->conns */
	struct http_host *host;
	struct tls *tls;
	enum conn_state state;
	struct http_req *req; /* bound while CONNECTING or ACTIVE */
	struct http_parser parser;
	struct loop_timer idle_timer;
	unsigned responses; /* completed on this connection: > 0 means reused */
	size_t sent;        /* bytes of req->bytes given to tls_write */
};

struct http_req {
	struct http_req *next; /* in host->queue while waiting */
	struct http_host *host;
	struct http_conn *conn; /* NULL while queued */
	struct buf bytes;       /* the serialized request */
	int head;               /* HEAD: the response has no body */
	int idempotent;         /* RFC 9110 9.2.2 */
	int close;              /* the caller sent Connection: close */
	int retried;            /* the one retry is spent */
	int fresh_only;         /* a retry: only on a new connection */
	int64_t timeout_ms;
	int64_t deadline_ms;
	struct loop_timer timer;
	http_done_fn *fn;
	void *data;
};

/* One origin (RFC 6454 4): TLS or not, host and port. */
struct http_host {
	struct http_host *next;
	struct http_client *client;
	int secure;
	uint16_t port;
	char name[URL_HOST_MAX + 1];
	struct http_conn *conns;
	int conn_count;
	struct http_req *queue, *queue_tail;
};

struct http_client {
	struct loop *loop;
	const struct tls_trust *trust;
	char *user_agent;
	size_t max_body;
	int max_conns_per_host;
	int64_t connect_timeout_ms;
	int64_t idle_timeout_ms;
	struct http_host *hosts;
	size_t pending;
	/* a 0 ms timer rather than a deferred call: a timer can be stopped
	 * when the client is freed, a queued loop_defer cannot be taken back */
	struct loop_timer kick;
	int closing;
	struct http_client_stats stats;
	char error[256];
};

static void conn_event(struct tls *t, enum tls_event ev, void *data);
static void conn_on_close(struct http_conn *conn);

/* Schedules client_step on the next loop iteration. Every change of a
 * queue or a connection ends here, so a request is never started from
 * inside a callback that might still be using the connection. */
static void
client_kick(struct http_client *c)
{
	if (!c->closing && !loop_timer_active(&c->kick))
		loop_timer_start(c->loop, &c->kick, 0);
}

/* Runs req's callback once and frees it. It must be off every queue and
 * connection already. */
static void
req_finish(struct http_req *req, const struct http_response *res, const char *error)
{
	struct http_client *c = req->host->client;
	loop_timer_stop(c->loop, &req->timer);
	buf_free(&req->bytes);
	c->pending--;
	if (res)
		c->stats.requests_done++;
	else
		c->stats.requests_failed++;
	http_done_fn *fn = req->fn;
	void *data = req->data;
	mem_free(req);
	fn(res, error, data);
}

__attribute__((format(printf, 2, 3))) static void
req_fail(struct http_req *req, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	req_finish(req, NULL, msg);
}

static void
queue_push(struct http_host *h, struct http_req *req, int front)
{
	req->next = NULL;
	if (!h->queue) {
		h->queue = h->queue_tail = req;
	} else if (front) {
		req->next = h->queue;
		h->queue = req;
	} else {
		h->queue_tail->next = req;
		h->queue_tail = req;
	}
}

static void
queue_remove(struct http_host *h, struct http_req *req)
{
	struct http_req *prev = NULL;
	for (struct http_req *r = h->queue; r; prev = r, r = r->next) {
		if (r != req)
			continue;
		if (prev)
			prev->next = r->next;
		else
			h->queue = r->next;
		if (h->queue_tail == r)
			h->queue_tail = prev;
		r->next = NULL;
		return;
	}
}

/* Closes and frees conn, detaching its request if any (the caller then
 * finishes or requeues that request). */
static void
conn_drop(struct http_conn *conn)
{
	struct http_host *h = conn->host;
	for (struct http_conn **pp = &h->conns; *pp; pp = &(*pp)->next) {
		if (*pp == conn) {
			*pp = conn->next;
			h->conn_count--;
			h->client->stats.connections_open--;
			break;
		}
	}
	if (conn->req)
		conn->req->conn = NULL;
	loop_timer_stop(h->client->loop, &conn->idle_timer);
	tls_free(conn->tls); /* no event follows; safe from its own callback */
	http_parser_free(&conn->parser);
	mem_free(conn);
	client_kick(h->client);
}

static void
conn_idle_timeout(struct loop *loop, struct loop_timer *timer)
{
	(void)loop;
	conn_drop(timer->data);
}

/* Hands the next piece of the request to the stream. A refusal means the
 * stream is no longer open: the close event that follows decides. */
static void
conn_write_more(struct http_conn *conn)
{
	struct http_req *req = conn->req;
	if (conn->sent >= req->bytes.len)
		return;
	size_t n = req->bytes.len - conn->sent;
	if (n > HTTP_WRITE_PIECE)
		n = HTTP_WRITE_PIECE;
	if (tls_write(conn->tls, req->bytes.data + conn->sent, n) < 0) {
		/* tls_write refuses only a stream that is not open (then
		 * TLS_EV_CLOSED is on its way) or a full queue, which our
		 * piece-by-piece writing never fills: treat both as a close */
		tls_abort(conn->tls);
		conn_on_close(conn);
		return;
	}
	conn->sent += n;
}

/* Starts req on an open connection. */
static void
conn_send(struct http_conn *conn, struct http_req *req)
{
	struct http_client *c = conn->host->client;
	loop_timer_stop(c->loop, &conn->idle_timer);
	conn->state = CONN_ACTIVE;
	conn->req = req;
	req->conn = conn;
	conn->sent = 0;
	http_parser_reset(&conn->parser, req->head);
	conn_write_more(conn);
}

/* A whole response arrived for conn->req. */
static void
conn_complete(struct http_conn *conn, int reusable)
{
	struct http_client *c = conn->host->client;
	struct http_req *req = conn->req;
	conn->req = NULL;
	req->conn = NULL;
	conn->responses++;
	if (req->close)
		reusable = 0;
	struct http_response res;
	http_parser_response(&conn->parser, &res);
	if (res.status == 101) {
		/* we never ask to upgrade; another protocol now owns the
		 * connection (RFC 9110 15.2.2), so it is of no use */
		char where[URL_HOST_MAX + 8];
		snprintf(where, sizeof where, "%s:%u", conn->host->name,
		         (unsigned)conn->host->port);
		conn_drop(conn);
		req_fail(req, "%s answered 101 Switching Protocols to a plain request", where);
		return;
	}
	if (reusable) {
		conn->state = CONN_IDLE;
		loop_timer_start(c->loop, &conn->idle_timer, c->idle_timeout_ms);
	}
	/* the response is borrowed from conn->parser: the connection stays
	 * as it is until the callback returns */
	req_finish(req, &res, NULL);
	if (!reusable) {
		conn_drop(conn);
		return;
	}
	if (conn->parser.body.cap > HTTP_IDLE_BODY_KEEP)
		buf_free(&conn->parser.body);
	client_kick(c);
}

/* The stream ended: TLS_EV_CLOSED, or a write the stream refused. */
static void
conn_on_close(struct http_conn *conn)
{
	struct http_host *h = conn->host;
	struct http_client *c = h->client;
	struct http_req *req = conn->req;
	const char *why = tls_error(conn->tls);
	if (conn->state == CONN_IDLE || !req) {
		/* the server closed a kept-alive connection: normal */
		conn_drop(conn);
		return;
	}
	if (conn->state == CONN_CONNECTING) {
		char msg[512];
		snprintf(msg, sizeof msg, "%s", *why ? why : "connection failed");
		conn_drop(conn);
		req_fail(req, "%s", msg);
		return;
	}
	if (http_parser_finish(&conn->parser) == HTTP_DONE) {
		/* a body delimited by the close (RFC 9112 6.3 (8)) */
		conn_complete(conn, 0);
		return;
	}
	/* RFC 9112 9.3.1: a client may retry a request whose connection
	 * closed before any response byte, automatically only if it is
	 * idempotent or it knows nothing was sent. A reused connection is
	 * the case worth it: the server timed it out as we wrote. */
	if (conn->parser.bytes_seen == 0 && conn->responses > 0 && !req->retried &&
	    (req->idempotent || conn->sent == 0)) {
		conn_drop(conn);
		req->retried = 1;
		req->fresh_only = 1;
		c->stats.retries++;
		queue_push(h, req, 1);
		client_kick(c);
		return;
	}
	char msg[512];
	if (conn->parser.bytes_seen == 0)
		snprintf(msg, sizeof msg, "%s:%u closed the connection before any response%s%s",
		         h->name, (unsigned)h->port, *why ? ": " : "", why);
	else
		snprintf(msg, sizeof msg, "response from %s:%u: %s%s%s", h->name, (unsigned)h->port,
		         http_parser_error(&conn->parser), *why ? ": " : "", why);
	conn_drop(conn);
	req_fail(req, "%s", msg);
}

static void
conn_read(struct http_conn *conn)
{
	struct http_host *h = conn->host;
	char piece[HTTP_READ_PIECE];
	for (;;) {
		ssize_t n = tls_read(conn->tls, piece, sizeof piece);
		if (n <= 0)
			return; /* 0: wait for more; -1: TLS_EV_CLOSED follows */
		if (conn->state != CONN_ACTIVE) {
			/* bytes nobody asked for: the connection is out of step */
			conn_drop(conn);
			return;
		}
		size_t used = 0;
		enum http_parse r = http_parser_feed(&conn->parser, piece, (size_t)n, &used);
		if (r == HTTP_MORE)
			continue;
		if (r == HTTP_ERR) {
			struct http_req *req = conn->req;
			char msg[512];
			snprintf(msg, sizeof msg, "response from %s:%u: %s", h->name,
			         (unsigned)h->port, http_parser_error(&conn->parser));
			conn_drop(conn);
			req_fail(req, "%s", msg);
			return;
		}
		/* done; reusable only if nothing follows the response, since we
		 * never pipeline (RFC 9112 9.3.2) */
		int reusable = conn->parser.keep_alive && used == (size_t)n;
		if (reusable) {
			char extra;
			if (tls_read(conn->tls, &extra, 1) != 0)
				reusable = 0;
		}
		conn_complete(conn, reusable);
		return;
	}
}

static void
conn_event(struct tls *t, enum tls_event ev, void *data)
{
	(void)t;
	struct http_conn *conn = data;
	switch (ev) {
	case TLS_EV_CONNECTED:
		if (conn->state == CONN_CONNECTING && conn->req)
			conn_send(conn, conn->req);
		break;
	case TLS_EV_READABLE:
		conn_read(conn);
		break;
	case TLS_EV_DRAINED:
		if (conn->state == CONN_ACTIVE && conn->req)
			conn_write_more(conn);
		break;
	case TLS_EV_CLOSED:
		conn_on_close(conn);
		break;
	}
}

/* The request's own deadline: whatever it was waiting for, it is over. */
static void
req_timeout(struct loop *loop, struct loop_timer *timer)
{
	(void)loop;
	struct http_req *req = timer->data;
	struct http_host *h = req->host;
	struct http_conn *conn = req->conn;
	long long ms = (long long)req->timeout_ms;
	if (!conn) {
		queue_remove(h, req);
		req_fail(req, "timed out after %lld ms waiting for a connection to %s:%u", ms,
		         h->name, (unsigned)h->port);
		return;
	}
	int connecting = conn->state == CONN_CONNECTING;
	conn->req = NULL;
	conn_drop(conn); /* a response may still be on its way: unusable */
	if (connecting)
		req_fail(req, "connect to %s:%u timed out after %lld ms", h->name,
		         (unsigned)h->port, ms);
	else
		req_fail(req, "no complete response from %s:%u within %lld ms", h->name,
		         (unsigned)h->port, ms);
}

/* Opens a connection for req. */
static void
host_connect(struct http_host *h, struct http_req *req)
{
	struct http_client *c = h->client;
	struct http_conn *conn = mem_calloc(1, sizeof *conn);
	struct tls *t = conn ? tls_new(c->loop, conn_event, conn) : NULL;
	if (!t) {
		mem_free(conn);
		req_fail(req, "out of memory");
		return;
	}
	conn->tls = t;
	conn->host = h;
	conn->state = CONN_CONNECTING;
	conn->req = req;
	req->conn = conn;
	http_parser_init(&conn->parser, c->max_body, 0);
	loop_timer_init(&conn->idle_timer, conn_idle_timeout, conn);
	conn->next = h->conns;
	h->conns = conn;
	h->conn_count++;
	c->stats.connections_open++;
	c->stats.connections_opened++;
	/* the connect timeout, unless the request has less time left */
	int64_t left = req->deadline_ms - loop_now(c->loop);
	int64_t timeout = c->connect_timeout_ms < left ? c->connect_timeout_ms : left;
	if (timeout < 1)
		timeout = 1;
	if (tls_connect(t, h->name, h->port, h->secure ? c->trust : NULL, timeout) < 0) {
		conn->req = NULL;
		conn_drop(conn);
		req_fail(req, "cannot connect to %s:%u", h->name, (unsigned)h->port);
	}
}

/* Gives queued requests to idle connections, or opens new ones while the
 * host has room. */
static void
host_step(struct http_host *h)
{
	struct http_client *c = h->client;
	while (h->queue && !c->closing) {
		struct http_req *req = h->queue;
		struct http_conn *idle = NULL;
		for (struct http_conn *k = h->conns; k; k = k->next)
			if (k->state == CONN_IDLE)
				idle = k;
		if (idle && !req->fresh_only) {
			queue_remove(h, req);
			conn_send(idle, req);
			continue;
		}
		if (h->conn_count >= c->max_conns_per_host) {
			if (!idle)
				break;
			/* a retry waits for no one: make room */
			conn_drop(idle);
		}
		queue_remove(h, req);
		host_connect(h, req);
	}
}

static void
client_step(struct loop *loop, struct loop_timer *timer)
{
	(void)loop;
	struct http_client *c = timer->data;
	/* callbacks run by host_step may add hosts (at the head of the list)
	 * but never free any, so the walk is safe; freeing the unused hosts
	 * is a second pass that runs no callback */
	for (struct http_host *h = c->hosts; h; h = h->next)
		host_step(h);
	struct http_host **pp = &c->hosts;
	while (*pp) {
		struct http_host *h = *pp;
		if (!h->conns && !h->queue) {
			*pp = h->next;
			mem_free(h);
		} else {
			pp = &h->next;
		}
	}
}

struct http_client *
http_client_new(struct loop *loop, const struct http_client_options *opt)
{
	struct http_client_options defaults = {0};
	if (!opt)
		opt = &defaults;
	struct http_client *c = mem_calloc(1, sizeof *c);
	if (!c)
		return NULL;
	if (opt->user_agent && !(c->user_agent = mem_strdup(opt->user_agent))) {
		mem_free(c);
		return NULL;
	}
	c->loop = loop;
	c->trust = opt->trust;
	c->max_body = opt->max_body ? opt->max_body : HTTP_BODY_MAX_DEFAULT;
	c->max_conns_per_host =
	        opt->max_conns_per_host > 0 ? opt->max_conns_per_host : HTTP_CONNS_PER_HOST_DEFAULT;
	c->connect_timeout_ms = opt->connect_timeout_ms > 0 ? opt->connect_timeout_ms
	                                                    : HTTP_CONNECT_TIMEOUT_MS_DEFAULT;
	c->idle_timeout_ms =
	        opt->idle_timeout_ms > 0 ? opt->idle_timeout_ms : HTTP_IDLE_TIMEOUT_MS_DEFAULT;
	loop_timer_init(&c->kick, client_step, c);
	return c;
}

void
http_client_free(struct http_client *c)
{
	if (!c)
		return;
	c->closing = 1;
	loop_timer_stop(c->loop, &c->kick);
	while (c->hosts) {
		struct http_host *h = c->hosts;
		while (h->queue) {
			struct http_req *req = h->queue;
			queue_remove(h, req);
			req_fail(req, "http client closed");
		}
		while (h->conns) {
			struct http_conn *conn = h->conns;
			struct http_req *req = conn->req;
			conn_drop(conn);
			if (req)
				req_fail(req, "http client closed");
		}
		c->hosts = h->next;
		mem_free(h);
	}
	mem_free(c->user_agent);
	mem_free(c);
}

const char *
http_client_error(const struct http_client *c)
{
	return c->error;
}

void
http_client_stats(const struct http_client *c, struct http_client_stats *out)
{
	*out = c->stats;
}

/* RFC 9110 9.2.2: methods whose repetition has the effect of one */
static int
method_idempotent(const char *method)
{
	static const char *const idempotent[] = {"GET",    "HEAD",    "PUT",
	                                         "DELETE", "OPTIONS", "TRACE"};
	for (size_t i = 0; i < sizeof idempotent / sizeof idempotent[0]; i++)
		if (strcmp(method, idempotent[i]) == 0)
			return 1;
	return 0;
}

__attribute__((format(printf, 2, 3))) static int
client_refuse(struct http_client *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof c->error, fmt, ap);
	va_end(ap);
	return -1;
}

int
http_request(struct http_client *c, const char *method, const char *url,
             const struct http_header *headers, size_t header_count, const void *body,
             size_t body_len, int64_t timeout_ms, http_done_fn *fn, void *data)
{
	if (c->closing)
		return client_refuse(c, "the http client is closing");
	if (!fn || !method || !url || timeout_ms <= 0)
		return client_refuse(c, "bad arguments to http_request");
	if (c->pending >= HTTP_PENDING_MAX)
		return client_refuse(c, "%d requests already pending", HTTP_PENDING_MAX);
	struct url *u = mem_alloc(sizeof *u);
	if (!u)
		return client_refuse(c, "out of memory");
	char why[200];
	if (url_parse(url, u, why, sizeof why) < 0) {
		mem_free(u);
		return client_refuse(c, "bad URL: %s", why);
	}
	if (u->scheme != URL_HTTP && u->scheme != URL_HTTPS) {
		mem_free(u);
		return client_refuse(c, "bad URL: only http:// and https:// are requested here");
	}
	if (u->secure && !c->trust) {
		mem_free(u);
		return client_refuse(c, "https needs trust anchors, and this client has none");
	}
	struct http_req *req = mem_calloc(1, sizeof *req);
	if (!req) {
		mem_free(u);
		return client_refuse(c, "out of memory");
	}
	buf_init(&req->bytes, HTTP_REQUEST_MAX);
	if (http_request_format(&req->bytes, method, u, c->user_agent, headers, header_count, body,
	                        body_len, why, sizeof why) < 0) {
		buf_free(&req->bytes);
		mem_free(req);
		mem_free(u);
		return client_refuse(c, "%s", why);
	}
	for (size_t i = 0; i < header_count; i++)
		if (strcasecmp(headers[i].name, "Connection") == 0 &&
		    list_has_token(headers[i].value, "close"))
			req->close = 1;
	req->head = strcmp(method, "HEAD") == 0;
	req->idempotent = method_idempotent(method);
	req->timeout_ms = timeout_ms;
	req->deadline_ms = loop_now(c->loop) + timeout_ms;
	req->fn = fn;
	req->data = data;
	loop_timer_init(&req->timer, req_timeout, req);

	struct http_host *h = c->hosts;
	while (h &&
	       !(h->secure == u->secure && h->port == u->port && strcmp(h->name, u->host) == 0))
		h = h->next;
	int new_host = !h;
	if (new_host && !(h = mem_calloc(1, sizeof *h))) {
		buf_free(&req->bytes);
		mem_free(req);
		mem_free(u);
		return client_refuse(c, "out of memory");
	}
	if (new_host) {
		h->client = c;
		h->secure = u->secure;
		h->port = u->port;
		memcpy(h->name, u->host, sizeof h->name);
	}
	mem_free(u);
	if (loop_timer_start(c->loop, &req->timer, timeout_ms) < 0 ||
	    (!loop_timer_active(&c->kick) && loop_timer_start(c->loop, &c->kick, 0) < 0)) {
		loop_timer_stop(c->loop, &req->timer);
		buf_free(&req->bytes);
		mem_free(req);
		if (new_host)
			mem_free(h);
		return client_refuse(c, "out of memory");
	}
	if (new_host) {
		h->next = c->hosts;
		c->hosts = h;
	}
	req->host = h;
	queue_push(h, req, 0);
	c->pending++;
	return 0;
}
