/* test_http.c — the HTTP/1.1 response parser and request writer (pure, no
 * I/O). Every case in tests/data/http/NAME.case is fed whole, byte by byte and
 * in random splits, and must give the same outcome each way. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "http.h"
#include "mem.h"
#include "test.h"
#include "url.h"

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state;

static uint32_t
rng(void)
{
	/* xorshift64: reproducible splits, no libc rand state */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)(rng_state >> 11);
}

/* Decodes the escapes of a .case file: \r \n \t \xNN, and \c for any
 * other c; raw newlines are layout and are dropped. Returns the length. */
static size_t
unescape(const char *s, size_t len, char *out)
{
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '\n')
			continue;
		if (c != '\\' || i + 1 == len) {
			out[n++] = c;
			continue;
		}
		c = s[++i];
		if (c == 'r')
			out[n++] = '\r';
		else if (c == 'n')
			out[n++] = '\n';
		else if (c == 't')
			out[n++] = '\t';
		else if (c == 'x' && i + 2 < len) {
			char hex[3] = {s[i + 1], s[i + 2], 0};
			out[n++] = (char)strtol(hex, NULL, 16);
			i += 2;
		} else
			out[n++] = c;
	}
	return n;
}

enum split { SPLIT_WHOLE, SPLIT_BYTES, SPLIT_RANDOM };

struct outcome {
	enum http_parse result;
	size_t consumed;
	struct http_parser parser;
};

/* Feeds raw[0..len) in pieces chosen by how; eof says the connection then
 * closes. The parser stays in o for inspection; free it after. */
static void
run_parser(struct outcome *o, const char *raw, size_t len, enum split how, size_t max_body,
           int head, int eof)
{
	http_parser_init(&o->parser, max_body, head);
	o->consumed = 0;
	o->result = http_parser_feed(&o->parser, raw, 0, NULL);
	size_t pos = 0;
	while (pos < len && o->result == HTTP_MORE) {
		size_t n = how == SPLIT_WHOLE   ? len - pos
		           : how == SPLIT_BYTES ? 1
		                                : 1 + rng() % (rng() % 2 ? 7 : 64);
		if (n > len - pos)
			n = len - pos;
		size_t used = 0;
		o->result = http_parser_feed(&o->parser, raw + pos, n, &used);
		o->consumed += used;
		pos += n;
	}
	if (o->result == HTTP_MORE && eof)
		o->result = http_parser_finish(&o->parser);
}

static const char *
result_name(enum http_parse r)
{
	return r == HTTP_DONE ? "DONE" : r == HTTP_ERR ? "ERR" : "MORE";
}

/* Checks one outcome against the expectation lines of a case. */
static void
check_expectations(const char *case_name, const char *expect, struct outcome *o, size_t len)
{
	struct http_response res;
	http_parser_response(&o->parser, &res);
	char line[512], value[512];
	const char *s = expect;
	while (*s) {
		size_t n = strcspn(s, "\n");
		if (n >= sizeof line)
			n = sizeof line - 1;
		memcpy(line, s, n);
		line[n] = '\0';
		s += n + (s[n] == '\n');
		char *arg = strchr(line, ' ');
		if (arg)
			*arg++ = '\0';
		else
			arg = line + strlen(line);
		size_t arg_len = unescape(arg, strlen(arg), value);
		value[arg_len] = '\0';
		int ok = 1;
		if (strcmp(line, "expect") == 0) {
			ok = CHECK_STR(result_name(o->result), value);
			if (!ok && o->result == HTTP_ERR)
				CHECK_STR(http_parser_error(&o->parser), "");
		} else if (strcmp(line, "status") == 0) {
			ok = CHECK_INT(res.status, strtol(value, NULL, 10));
		} else if (strcmp(line, "reason") == 0) {
			ok = CHECK_STR(res.reason, value);
		} else if (strcmp(line, "body") == 0) {
			ok = CHECK_INT(res.body_len, arg_len) &&
			     CHECK(!memcmp(res.body, value, arg_len));
		} else if (strcmp(line, "body-len") == 0) {
			ok = CHECK_INT(res.body_len, strtol(value, NULL, 10));
		} else if (strcmp(line, "keep-alive") == 0) {
			ok = CHECK_INT(res.keep_alive, strtol(value, NULL, 10));
		} else if (strcmp(line, "trailing") == 0) {
			ok = CHECK_INT(len - o->consumed, strtol(value, NULL, 10));
		} else if (strcmp(line, "error") == 0) {
			ok = CHECK(strstr(http_parser_error(&o->parser), value) != NULL);
			if (!ok)
				CHECK_STR(http_parser_error(&o->parser), value);
		} else if (strcmp(line, "header") == 0) {
			char *sp = strchr(value, ' ');
			const char *want = sp ? sp + 1 : "";
			if (sp)
				*sp = '\0';
			ok = CHECK_STR(http_response_header(&res, value), want);
		} else if (strcmp(line, "no-header") == 0) {
			ok = CHECK(http_response_header(&res, value) == NULL);
		} else if (strcmp(line, "header-count") == 0) {
			ok = CHECK_INT(http_response_header_count(&res), strtol(value, NULL, 10));
		}
		if (!ok)
			CHECK_STR(case_name, "(the case above)");
	}
}

/* ---------------------------------------------------------------- data-driven */

TEST(http_parser_data_cases)
{
	DIR *d = opendir("tests/data/http");
	CHECK(d != NULL);
	if (!d)
		return;
	struct dirent *e;
	int cases = 0;
	while ((e = readdir(d))) {
		size_t nlen = strlen(e->d_name);
		if (nlen < 6 || strcmp(e->d_name + nlen - 5, ".case") != 0)
			continue;
		char path[512];
		snprintf(path, sizeof path, "tests/data/http/%s", e->d_name);
		size_t flen;
		char *text = test_read_file(path, &flen);
		if (!CHECK(text != NULL))
			continue;
		char *sep = strstr(text, "\n--\n");
		if (!CHECK(sep != NULL)) {
			free(text);
			continue;
		}
		*sep = '\0';
		/* the expectation lines, without the leading comment */
		char *expect = text;
		while (*expect == '#')
			expect += strcspn(expect, "\n") + 1;
		size_t max_body = 0;
		int head = strstr(expect, "head\n") == expect || strstr(expect, "\nhead\n");
		int eof = strstr(expect, "eof\n") == expect || strstr(expect, "\neof\n");
		char *mb = strstr(expect, "max-body ");
		if (mb)
			max_body = strtoull(mb + 9, NULL, 10);
		const char *raw_text = sep + 4;
		char *raw = malloc(strlen(raw_text) + 1);
		size_t len = unescape(raw_text, strlen(raw_text), raw);

		struct outcome o;
		run_parser(&o, raw, len, SPLIT_WHOLE, max_body, head, eof);
		check_expectations(e->d_name, expect, &o, len);
		http_parser_free(&o.parser);
		run_parser(&o, raw, len, SPLIT_BYTES, max_body, head, eof);
		check_expectations(e->d_name, expect, &o, len);
		http_parser_free(&o.parser);
		for (int seed = 1; seed <= 20; seed++) {
			rng_state = 0x9e3779b97f4a7c15ull * (uint64_t)seed;
			run_parser(&o, raw, len, SPLIT_RANDOM, max_body, head, eof);
			check_expectations(e->d_name, expect, &o, len);
			http_parser_free(&o.parser);
		}
		free(raw);
		free(text);
		cases++;
	}
	closedir(d);
	CHECK(cases >= 50);
}

/* ---------------------------------------------------------------- limits */

/* Feeds text whole and byte by byte; returns the (common) result and
 * leaves the error of the byte-by-byte run in err. */
static enum http_parse
parse_text(const char *text, size_t len, size_t max_body, char *err, size_t err_len)
{
	struct outcome a, b;
	run_parser(&a, text, len, SPLIT_WHOLE, max_body, 0, 0);
	run_parser(&b, text, len, SPLIT_BYTES, max_body, 0, 0);
	CHECK_INT(a.result, b.result);
	CHECK_STR(http_parser_error(&a.parser), http_parser_error(&b.parser));
	snprintf(err, err_len, "%s", http_parser_error(&b.parser));
	enum http_parse r = b.result;
	http_parser_free(&a.parser);
	http_parser_free(&b.parser);
	return r;
}

TEST(http_parser_field_count_limit)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	char err[128];
	buf_puts(&b, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < HTTP_FIELDS_MAX - 1; i++)
		buf_printf(&b, "X-F%d: %d\r\n", i, i);
	buf_puts(&b, "Content-Length: 0\r\n\r\n");
	/* exactly HTTP_FIELDS_MAX fields: fine */
	CHECK_INT(parse_text(b.data, b.len, 0, err, sizeof err), HTTP_DONE);
	buf_reset(&b);
	buf_puts(&b, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < HTTP_FIELDS_MAX; i++)
		buf_printf(&b, "X-F%d: %d\r\n", i, i);
	buf_puts(&b, "Content-Length: 0\r\n\r\n");
	CHECK_INT(parse_text(b.data, b.len, 0, err, sizeof err), HTTP_ERR);
	CHECK(strstr(err, "more than 100 header fields") != NULL);
	buf_free(&b);
}

TEST(http_parser_head_size_limit)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	char err[128];
	buf_puts(&b, "HTTP/1.1 200 OK\r\nX-Big: ");
	/* fill to exactly HTTP_HEAD_MAX with the final blank line */
	size_t tail = strlen("\r\nContent-Length: 0\r\n\r\n");
	while (b.len < HTTP_HEAD_MAX - tail)
		buf_putc(&b, 'a');
	buf_puts(&b, "\r\nContent-Length: 0\r\n\r\n");
	CHECK_INT(b.len, HTTP_HEAD_MAX);
	CHECK_INT(parse_text(b.data, b.len, 0, err, sizeof err), HTTP_DONE);
	/* one byte more is refused */
	buf_reset(&b);
	buf_puts(&b, "HTTP/1.1 200 OK\r\nX-Big: ");
	while (b.len < HTTP_HEAD_MAX - tail + 1)
		buf_putc(&b, 'a');
	buf_puts(&b, "\r\nContent-Length: 0\r\n\r\n");
	CHECK_INT(parse_text(b.data, b.len, 0, err, sizeof err), HTTP_ERR);
	CHECK(strstr(err, "response head exceeds 65536 bytes") != NULL);
	/* a line that never ends hits the same limit */
	buf_reset(&b);
	buf_puts(&b, "HTTP/1.1 200 OK\r\nX-Big: ");
	while (b.len < HTTP_HEAD_MAX + 10)
		buf_putc(&b, 'a');
	CHECK_INT(parse_text(b.data, b.len, 0, err, sizeof err), HTTP_ERR);
	CHECK(strstr(err, "exceeds") != NULL);
	buf_free(&b);
}

TEST(http_parser_trailer_and_chunk_line_limits)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	char err[128];
	buf_puts(&b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;");
	while (b.len < 100 + HTTP_CHUNK_LINE_MAX)
		buf_putc(&b, 'e');
	buf_puts(&b, "\r\nx\r\n0\r\n\r\n");
	CHECK_INT(parse_text(b.data, b.len, 0, err, sizeof err), HTTP_ERR);
	CHECK(strstr(err, "chunk-size line longer") != NULL);

	buf_reset(&b);
	buf_puts(&b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
	for (int i = 0; b.len < 2 * HTTP_HEAD_MAX; i++)
		buf_printf(&b, "X-T%d: 0123456789012345678901234567890123456789\r\n", i);
	buf_puts(&b, "\r\n");
	CHECK_INT(parse_text(b.data, b.len, 0, err, sizeof err), HTTP_ERR);
	CHECK(strstr(err, "trailer fields exceed") != NULL);
	buf_free(&b);
}

TEST(http_parser_interim_limit)
{
	struct buf b;
	buf_init(&b, 1 << 20);
	char err[128];
	for (int i = 0; i < HTTP_INTERIM_MAX; i++)
		buf_puts(&b, "HTTP/1.1 100 Continue\r\n\r\n");
	buf_puts(&b, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	CHECK_INT(parse_text(b.data, b.len, 0, err, sizeof err), HTTP_DONE);
	buf_reset(&b);
	for (int i = 0; i <= HTTP_INTERIM_MAX; i++)
		buf_puts(&b, "HTTP/1.1 102 Processing\r\n\r\n");
	CHECK_INT(parse_text(b.data, b.len, 0, err, sizeof err), HTTP_ERR);
	CHECK(strstr(err, "interim") != NULL);
	buf_free(&b);
}

TEST(http_parser_large_bodies_and_reuse)
{
	/* a 3 MB chunked body in 1000-byte chunks, then a second response on
	 * the same (reset) parser, as a kept-alive connection does */
	struct buf b;
	buf_init(&b, 16 << 20);
	buf_puts(&b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 3000; i++) {
		buf_puts(&b, "3e8\r\n");
		for (int k = 0; k < 1000; k++)
			buf_putc(&b, (char)('a' + (i + k) % 26));
		buf_puts(&b, "\r\n");
	}
	buf_puts(&b, "0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nend");
	struct http_parser p;
	http_parser_init(&p, 0, 0);
	size_t used = 0;
	CHECK_INT(http_parser_feed(&p, b.data, b.len, &used), HTTP_DONE);
	struct http_response r;
	http_parser_response(&p, &r);
	CHECK_INT(r.body_len, 3000000);
	CHECK(r.body[0] == 'a' && r.body[1000] == 'b' &&
	      r.body[2999999] == (char)('a' + (2999 + 999) % 26));
	CHECK_INT(r.body[r.body_len], 0);
	http_parser_reset(&p, 0);
	CHECK_INT(http_parser_feed(&p, b.data + used, b.len - used, NULL), HTTP_DONE);
	http_parser_response(&p, &r);
	CHECK_STR(r.body, "end");
	http_parser_free(&p);
	buf_free(&b);
}

TEST(http_parser_after_done_uses_nothing)
{
	struct http_parser p;
	http_parser_init(&p, 0, 0);
	const char *text = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx";
	CHECK_INT(http_parser_feed(&p, text, strlen(text), NULL), HTTP_DONE);
	size_t used = 99;
	CHECK_INT(http_parser_feed(&p, "more", 4, &used), HTTP_DONE);
	CHECK_INT(used, 0);
	CHECK_INT(http_parser_finish(&p), HTTP_DONE);
	http_parser_free(&p);
	/* a freed parser may be initialized again; free twice is harmless */
	http_parser_free(&p);
}

TEST(http_parser_survives_allocation_failure)
{
	const char *text = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-A: b\r\n"
	                   "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
	for (long n = 0;; n++) {
		struct http_parser p;
		http_parser_init(&p, 0, 0);
		mem_fail_after(n);
		enum http_parse r = HTTP_MORE;
		for (size_t i = 0; text[i] && r == HTTP_MORE; i++)
			r = http_parser_feed(&p, text + i, 1, NULL);
		long allowed = mem_fail_after(-1);
		if (r == HTTP_DONE) {
			struct http_response res;
			http_parser_response(&p, &res);
			CHECK_STR(res.body, "hello");
			http_parser_free(&p);
			CHECK(allowed <= n);
			break;
		}
		CHECK_INT(r, HTTP_ERR);
		CHECK_STR(http_parser_error(&p), "out of memory");
		http_parser_free(&p);
		if (!CHECK(n < 100))
			break;
	}
}

/* ---------------------------------------------------------------- requests */

TEST(http_request_format_get_and_post)
{
	struct url u;
	char err[160];
	struct buf out;
	buf_init(&out, 1 << 20);
	CHECK_INT(url_parse("https://discord.com/api/v10/gateway/bot?x=1", &u, err, sizeof err), 0);
	struct http_header h[] = {{"Authorization", "Bot abc"}, {"Accept", "application/json"}};
	CHECK_INT(http_request_format(&out, "GET", &u, "Agora/1.0", h, 2, NULL, 0, err, sizeof err),
	          0);
	CHECK_STR(buf_str(&out), "GET /api/v10/gateway/bot?x=1 HTTP/1.1\r\n"
	                         "Host: discord.com\r\n"
	                         "User-Agent: Agora/1.0\r\n"
	                         "Authorization: Bot abc\r\n"
	                         "Accept: application/json\r\n"
	                         "\r\n");
	buf_reset(&out);
	CHECK_INT(url_parse("http://[::1]:8080/chat", &u, err, sizeof err), 0);
	struct http_header ct[] = {{"Content-Type", "application/json"}};
	CHECK_INT(
	        http_request_format(&out, "POST", &u, NULL, ct, 1, "{\"a\":1}", 7, err, sizeof err),
	        0);
	CHECK_STR(buf_str(&out), "POST /chat HTTP/1.1\r\n"
	                         "Host: [::1]:8080\r\n"
	                         "Content-Type: application/json\r\n"
	                         "Content-Length: 7\r\n"
	                         "\r\n"
	                         "{\"a\":1}");
	/* POST without a body still says Content-Length: 0 (servers want it) */
	buf_reset(&out);
	CHECK_INT(http_request_format(&out, "POST", &u, NULL, NULL, 0, NULL, 0, err, sizeof err),
	          0);
	CHECK(strstr(buf_str(&out), "Content-Length: 0\r\n\r\n") != NULL);
	/* DELETE without body: no Content-Length; the caller's User-Agent wins */
	buf_reset(&out);
	struct http_header ua[] = {{"user-agent", "Mine"}};
	CHECK_INT(http_request_format(&out, "DELETE", &u, "Agora", ua, 1, NULL, 0, err, sizeof err),
	          0);
	CHECK_STR(buf_str(&out),
	          "DELETE /chat HTTP/1.1\r\nHost: [::1]:8080\r\nuser-agent: Mine\r\n\r\n");
	buf_free(&out);
}

TEST(http_request_format_refuses_injection)
{
	struct url u;
	char err[160];
	struct buf out;
	buf_init(&out, 1 << 20);
	url_parse("http://example.org/", &u, err, sizeof err);
	buf_puts(&out, "keep");
	struct {
		const char *method;
		struct http_header h;
		const char *reason;
	} bad[] = {
	        {"GET /x", {"A", "b"}, "method"},
	        {"", {"A", "b"}, "method"},
	        {"GET", {"X-A\r\nEvil", "b"}, "not a token"},
	        {"GET", {"X A", "b"}, "not a token"},
	        {"GET", {"", "b"}, "not a token"},
	        {"GET", {"X-A", "b\r\nEvil: 1"}, "CR or LF"},
	        {"GET", {"X-A", "b\nc"}, "CR or LF"},
	        {"GET", {"X-A", NULL}, "NULL"},
	        {"GET", {"Host", "evil"}, "set by http"},
	        {"GET", {"content-length", "5"}, "set by http"},
	        {"GET", {"Transfer-Encoding", "chunked"}, "set by http"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		err[0] = '\0';
		CHECK_INT(http_request_format(&out, bad[i].method, &u, NULL, &bad[i].h, 1, NULL, 0,
		                              err, sizeof err),
		          -1);
		if (!CHECK(strstr(err, bad[i].reason) != NULL))
			CHECK_STR(err, bad[i].reason);
	}
	CHECK_INT(http_request_format(&out, "GET", &u, "Agora\r\nX: y", NULL, 0, NULL, 0, err,
	                              sizeof err),
	          -1);
	/* nothing was appended by the refusals */
	CHECK_STR(buf_str(&out), "keep");
	/* a request that passes the buffer's max is refused, the buffer kept */
	struct buf small;
	buf_init(&small, 40);
	buf_puts(&small, "x");
	CHECK_INT(
	        http_request_format(&small, "GET", &u, "Agora", NULL, 0, NULL, 0, err, sizeof err),
	        -1);
	CHECK_STR(buf_str(&small), "x");
	buf_free(&small);
	buf_free(&out);
}

/* The request writer's output read back by a trivial parse: every caller
 * header arrives as one line, in order. */
TEST(http_request_format_round_trip_with_parser)
{
	/* a response built the same way parses with every field found */
	struct url u;
	char err[160];
	url_parse("http://h:1/p", &u, err, sizeof err);
	struct buf out;
	buf_init(&out, 1 << 16);
	struct http_header h[] = {{"X-Audit-Log-Reason", "a%20reason"}, {"X-Empty", ""}};
	CHECK_INT(http_request_format(&out, "PATCH", &u, "UA", h, 2, "{}", 2, err, sizeof err), 0);
	/* turn the request line into a status line and read it as a response */
	char *text = strstr(out.data, "\r\n");
	char resp[1024];
	snprintf(resp, sizeof resp, "HTTP/1.1 200 OK%s", text);
	struct http_parser p;
	http_parser_init(&p, 0, 0);
	CHECK_INT(http_parser_feed(&p, resp, strlen(resp), NULL), HTTP_DONE);
	struct http_response r;
	http_parser_response(&p, &r);
	CHECK_STR(http_response_header(&r, "host"), "h:1");
	CHECK_STR(http_response_header(&r, "user-agent"), "UA");
	CHECK_STR(http_response_header(&r, "x-audit-log-reason"), "a%20reason");
	CHECK_STR(http_response_header(&r, "x-empty"), "");
	CHECK_STR(r.body, "{}");
	const char *name, *value;
	http_response_header_at(&r, 0, &name, &value);
	CHECK_STR(name, "Host");
	http_parser_free(&p);
	buf_free(&out);
}
