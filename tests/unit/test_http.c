/* test_http.c — the HTTP/1.1 response parser and request writer (pure, no
 * I/O). Every case in tests/data/http/NAME.case is fed whole, byte by byte and
 * in random splits, and must give the same outcome each way. */
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
		                                : 1 + test_rand() % (test_rand() % 2 ? 7 : 64);
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
	struct test_files list;
	if (!CHECK(test_files("tests/data/http", &list) == 0))
		return;
	int cases = 0;
	for (size_t i = 0; i < list.count; i++) {
		const char *name = list.names[i], *path = list.paths[i];
		size_t nlen = strlen(name);
		if (nlen < 6 || strcmp(name + nlen - 5, ".case") != 0)
			continue;
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
		check_expectations(name, expect, &o, len);
		http_parser_free(&o.parser);
		run_parser(&o, raw, len, SPLIT_BYTES, max_body, head, eof);
		check_expectations(name, expect, &o, len);
		http_parser_free(&o.parser);
		for (int seed = 1; seed <= 20; seed++) {
			test_rand_seed(0x9e3779b97f4a7c15ull * (uint64_t)seed);
			run_parser(&o, raw, len, SPLIT_RANDOM, max_body, head, eof);
			check_expectations(name, expect, &o, len);
			http_parser_free(&o.parser);
		}
		free(raw);
		free(text);
		cases++;
	}
	test_files_free(&list);
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

/* ================================================================ client
 *
 * Against a real server written by someone else: aiohttp, started from
 * tests/peers/http_server.py on loopback ports, over plain TCP and over TLS
 * with a certificate the openssl CLI makes here, signed by a CA the client
 * is given as its only trust anchor. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "services.h"
#include "tls.h"

static int
parse_count(const char *s)
{
	return (int)strtol(s, NULL, 10);
}

static struct {
	int started, failed;
	struct services_peer peer;
	unsigned http_port, https_port, silent_port, http6_port;
	char ca_path[300];
} peer;

static void
peer_stop(void)
{
	services_peer_stop(&peer.peer);
}

/* Makes a CA and a server certificate for "localhost" with the openssl
 * CLI. Returns 0 or -1. */
static int
make_certs(const char *dir)
{
	char cmd[2048];
	snprintf(cmd, sizeof cmd,
	         "cd '%s' && printf 'subjectAltName=DNS:localhost\\n' > ext.cnf && "
	         "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	         "-keyout ca.key -out ca.pem -days 2 -subj /CN=agora-test-ca && "
	         "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	         "-keyout server.key -out server.csr -subj /CN=localhost && "
	         "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
	         "-out server.pem -days 2 -extfile ext.cnf",
	         dir);
	char quiet[2200];
	snprintf(quiet, sizeof quiet, "(%s) >/dev/null 2>&1", cmd);
	return system(quiet) == 0 ? 0 : -1;
}

/* Starts the aiohttp peer once per run; 0 when it is up. */
static int
peer_start(void)
{
	if (peer.started)
		return peer.failed ? -1 : 0;
	peer.started = 1;
	peer.failed = 1;
	const char *dir = test_tmpdir();
	if (!CHECK(make_certs(dir) == 0))
		return -1;
	snprintf(peer.ca_path, sizeof peer.ca_path, "%s/ca.pem", dir);
	char cert[300], key[300];
	snprintf(cert, sizeof cert, "%s/server.pem", dir);
	snprintf(key, sizeof key, "%s/server.key", dir);
	const char *argv[] = {"tests/peers/http_server.py", "--cert", cert, "--key", key, NULL};
	char line[128];
	if (services_peer_start(&peer.peer, argv, line, sizeof line) < 0)
		return -1;
	atexit(peer_stop);
	if (!CHECK(sscanf(line, "READY %u %u %u %u", &peer.http_port, &peer.https_port,
	                  &peer.silent_port, &peer.http6_port) == 4)) {
		CHECK_STR(line, "READY <ports>");
		return -1;
	}
	peer.failed = 0;
	return 0;
}

/* What a callback saw, copied out (the response is borrowed). */
struct got {
	int calls;
	int status;
	char body[200000];
	size_t body_len;
	char error[512];
	char peer_port[16];
	char connections[16];
	char content_length[32];
	char x_method[16];
	char x_test[64];
	char x_host[300];
	int64_t at_ms;
	struct loop *loop;
	int *outstanding;
};

static void
copy_header(const struct http_response *res, const char *name, char *out, size_t len)
{
	const char *v = http_response_header(res, name);
	snprintf(out, len, "%s", v ? v : "");
}

static void
on_done(const struct http_response *res, const char *error, void *data)
{
	struct got *g = data;
	g->calls++;
	g->at_ms = loop_now(g->loop);
	if (res) {
		g->status = res->status;
		g->body_len = res->body_len;
		size_t n = res->body_len < sizeof g->body - 1 ? res->body_len : sizeof g->body - 1;
		memcpy(g->body, res->body, n);
		g->body[n] = '\0';
		copy_header(res, "X-Peer-Port", g->peer_port, sizeof g->peer_port);
		copy_header(res, "X-Connections", g->connections, sizeof g->connections);
		copy_header(res, "Content-Length", g->content_length, sizeof g->content_length);
		copy_header(res, "X-Method", g->x_method, sizeof g->x_method);
		copy_header(res, "X-Test", g->x_test, sizeof g->x_test);
		copy_header(res, "X-Host", g->x_host, sizeof g->x_host);
	} else {
		snprintf(g->error, sizeof g->error, "%s", error);
	}
	if (g->outstanding && --*g->outstanding == 0)
		loop_stop(g->loop);
}

static void
on_guard(struct loop *loop, struct loop_timer *t)
{
	int *expired = t->data;
	*expired = 1;
	loop_stop(loop);
}

/* Runs loop until every outstanding request is answered, or 10 s pass
 * (a failure). */
static void
run_until_done(struct loop *loop, int *outstanding)
{
	int expired = 0;
	struct loop_timer guard;
	loop_timer_init(&guard, on_guard, &expired);
	loop_timer_start(loop, &guard, 10000);
	if (*outstanding > 0)
		loop_run(loop);
	loop_timer_stop(loop, &guard);
	CHECK(!expired);
}

struct fixture {
	struct loop *loop;
	struct tls_trust *trust;
	struct http_client *client;
	int outstanding;
};

static int
fixture_start(struct fixture *f, struct http_client_options *opt)
{
	memset(f, 0, sizeof *f);
	if (peer_start() < 0)
		return -1;
	f->loop = loop_new();
	char err[256];
	f->trust = tls_trust_load(peer.ca_path, err, sizeof err);
	CHECK(f->trust != NULL);
	struct http_client_options defaults = {0};
	if (!opt)
		opt = &defaults;
	opt->trust = f->trust;
	if (!opt->user_agent)
		opt->user_agent = "AgoraTest/1.0";
	f->client = http_client_new(f->loop, opt);
	return f->loop && f->client ? 0 : -1;
}

static void
fixture_stop(struct fixture *f)
{
	http_client_free(f->client);
	tls_trust_free(f->trust);
	loop_free(f->loop);
}

static void
url_of(char *out, size_t len, const char *scheme, unsigned port, const char *path)
{
	snprintf(out, len, "%s://%s:%u%s", scheme,
	         strcmp(scheme, "https") ? "127.0.0.1" : "localhost", port, path);
}

/* Issues one request and waits for it. */
static void
fetch(struct fixture *f, struct got *g, const char *method, const char *url, const char *body,
      int64_t timeout_ms)
{
	memset(g, 0, sizeof *g);
	g->loop = f->loop;
	g->outstanding = &f->outstanding;
	struct http_header h[] = {{"X-Test", "value 1"}};
	f->outstanding = 1;
	int rc = http_request(f->client, method, url, h, 1, body, body ? strlen(body) : 0,
	                      timeout_ms, on_done, g);
	if (!CHECK_INT(rc, 0)) {
		CHECK_STR(http_client_error(f->client), "");
		return;
	}
	run_until_done(f->loop, &f->outstanding);
	CHECK_INT(g->calls, 1);
}

TEST(http_client_content_length_head_and_204)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		return;
	static struct got g;
	char url[200];
	url_of(url, sizeof url, "http", peer.http_port, "/cl");
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_STR(g.error, "");
	CHECK_INT(g.status, 200);
	CHECK_STR(g.body, "hello");
	CHECK_STR(g.content_length, "5");
	/* HEAD: Content-Length says 5, yet no body follows (RFC 9110 9.3.2) */
	fetch(&f, &g, "HEAD", url, NULL, 5000);
	CHECK_INT(g.status, 200);
	CHECK_INT(g.body_len, 0);
	CHECK_STR(g.content_length, "5");
	/* 204: no body, and the connection is still good for another */
	url_of(url, sizeof url, "http", peer.http_port, "/nocontent");
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_INT(g.status, 204);
	CHECK_INT(g.body_len, 0);
	url_of(url, sizeof url, "http", peer.http_port, "/cl?n=150000");
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_INT(g.status, 200);
	CHECK_INT(g.body_len, 150000);
	CHECK(g.body[0] == 'x' && g.body[149999] == 'x');
	/* not found is a response like any other */
	url_of(url, sizeof url, "http", peer.http_port, "/nowhere");
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_INT(g.status, 404);
	struct http_client_stats st;
	http_client_stats(f.client, &st);
	CHECK_INT(st.connections_opened, 1); /* all five on one connection */
	CHECK_INT(st.requests_done, 5);
	fixture_stop(&f);
}

TEST(http_client_chunked)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		return;
	static struct got g;
	char url[200];
	url_of(url, sizeof url, "http", peer.http_port, "/chunked?n=300");
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_STR(g.error, "");
	CHECK_INT(g.status, 200);
	CHECK_STR(g.content_length, "");
	CHECK(strncmp(g.body, "chunk-0;chunk-1;chunk-2;", 24) == 0);
	CHECK(g.body_len > 9 && strcmp(g.body + g.body_len - 10, "chunk-299;") == 0);
	fixture_stop(&f);
}

/* Three sequential requests, each started from the previous one's
 * callback, ride one connection. */
struct chain {
	struct fixture *f;
	char url[200];
	int step;
	struct got got[3];
};

static void
chain_next(const struct http_response *res, const char *error, void *data)
{
	struct chain *ch = data;
	struct got *g = &ch->got[ch->step];
	g->loop = ch->f->loop;
	on_done(res, error, g);
	if (++ch->step < 3)
		CHECK_INT(http_request(ch->f->client, "GET", ch->url, NULL, 0, NULL, 0, 5000,
		                       chain_next, ch),
		          0);
	else
		loop_stop(ch->f->loop);
}

static void
keep_alive_chain(const char *scheme, unsigned port)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		return;
	static struct chain ch;
	memset(&ch, 0, sizeof ch);
	ch.f = &f;
	url_of(ch.url, sizeof ch.url, scheme, port, "/cl");
	f.outstanding = 1;
	CHECK_INT(http_request(f.client, "GET", ch.url, NULL, 0, NULL, 0, 5000, chain_next, &ch),
	          0);
	run_until_done(f.loop, &f.outstanding);
	CHECK_INT(ch.step, 3);
	for (int i = 0; i < 3; i++) {
		CHECK_STR(ch.got[i].error, "");
		CHECK_STR(ch.got[i].body, "hello");
	}
	/* the server saw one connection: same client port, no new peers */
	CHECK(ch.got[0].peer_port[0] != '\0');
	CHECK_STR(ch.got[1].peer_port, ch.got[0].peer_port);
	CHECK_STR(ch.got[2].peer_port, ch.got[0].peer_port);
	CHECK_STR(ch.got[2].connections, ch.got[0].connections);
	struct http_client_stats st;
	http_client_stats(f.client, &st);
	CHECK_INT(st.connections_opened, 1);
	CHECK_INT(st.connections_open, 1);
	fixture_stop(&f);
}

TEST(http_client_keep_alive_reuse)
{
	keep_alive_chain("http", peer_start() == 0 ? peer.http_port : 0);
}

TEST(http_client_https_keep_alive_reuse)
{
	keep_alive_chain("https", peer_start() == 0 ? peer.https_port : 0);
}

TEST(http_client_https_chunked_and_post)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		return;
	static struct got g;
	char url[200];
	url_of(url, sizeof url, "https", peer.https_port, "/chunked?n=2000");
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_STR(g.error, "");
	CHECK_INT(g.status, 200);
	CHECK(g.body_len > 9 && strcmp(g.body + g.body_len - 11, "chunk-1999;") == 0);
	url_of(url, sizeof url, "https", peer.https_port, "/echo");
	fetch(&f, &g, "POST", url, "{\"content\":\"hi\"}", 5000);
	CHECK_INT(g.status, 200);
	CHECK_STR(g.body, "{\"content\":\"hi\"}");
	CHECK_STR(g.x_method, "POST");
	CHECK_STR(g.x_test, "value 1");
	fixture_stop(&f);
}

TEST(http_client_https_rejects_unknown_ca)
{
	/* a client trusting another CA (the system bundle) refuses the
	 * test server's certificate */
	if (peer_start() < 0)
		return;
	struct loop *loop = loop_new();
	char err[256];
	struct tls_trust *trust =
	        tls_trust_load("/etc/ssl/certs/ca-certificates.crt", err, sizeof err);
	if (!trust) /* no system bundle here: nothing to prove */
		goto out;
	struct http_client_options opt = {.trust = trust};
	struct http_client *c = http_client_new(loop, &opt);
	static struct got g;
	memset(&g, 0, sizeof g);
	int outstanding = 1;
	g.loop = loop;
	g.outstanding = &outstanding;
	char url[200];
	url_of(url, sizeof url, "https", peer.https_port, "/cl");
	CHECK_INT(http_request(c, "GET", url, NULL, 0, NULL, 0, 5000, on_done, &g), 0);
	run_until_done(loop, &outstanding);
	CHECK_INT(g.calls, 1);
	CHECK(g.error[0] != '\0');
	CHECK_INT(g.status, 0);
	http_client_free(c);
	tls_trust_free(trust);
out:
	loop_free(loop);
}

TEST(http_client_post_put_delete)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		return;
	static struct got g;
	char url[200];
	url_of(url, sizeof url, "http", peer.http_port, "/echo");
	const char *methods[] = {"POST", "PUT", "PATCH", "DELETE"};
	for (int i = 0; i < 4; i++) {
		fetch(&f, &g, methods[i], url, i < 3 ? "body!" : NULL, 5000);
		CHECK_INT(g.status, 200);
		CHECK_STR(g.x_method, methods[i]);
		char host[64];
		snprintf(host, sizeof host, "127.0.0.1:%u", peer.http_port);
		CHECK_STR(g.x_host, host);
		CHECK_STR(g.body, i < 3 ? "body!" : "");
	}
	fetch(&f, &g, "POST", url, NULL, 5000); /* empty POST: Content-Length: 0 */
	CHECK_INT(g.status, 200);
	CHECK_INT(g.body_len, 0);
	fixture_stop(&f);
}

TEST(http_client_connection_close_honoured)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		return;
	static struct got a, b;
	char url[200];
	url_of(url, sizeof url, "http", peer.http_port, "/close");
	fetch(&f, &a, "GET", url, NULL, 5000);
	CHECK_STR(a.body, "bye");
	fetch(&f, &b, "GET", url, NULL, 5000);
	CHECK_STR(b.body, "bye");
	/* the second request needed a connection of its own */
	CHECK(strcmp(a.peer_port, b.peer_port) != 0);
	struct http_client_stats st;
	http_client_stats(f.client, &st);
	CHECK_INT(st.connections_opened, 2);
	CHECK_INT(st.connections_open, 0);
	fixture_stop(&f);
}

TEST(http_client_body_over_cap_is_an_error)
{
	struct http_client_options opt = {.max_body = 1000};
	struct fixture f;
	if (fixture_start(&f, &opt) < 0)
		return;
	static struct got g;
	char url[200];
	url_of(url, sizeof url, "http", peer.http_port, "/cl?n=1000");
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_INT(g.status, 200); /* exactly the cap is fine */
	url_of(url, sizeof url, "http", peer.http_port, "/cl?n=1001");
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_INT(g.status, 0);
	CHECK(strstr(g.error, "exceeds the limit of 1000") != NULL);
	url_of(url, sizeof url, "http", peer.http_port, "/chunked?n=200");
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_INT(g.status, 0);
	CHECK(strstr(g.error, "exceeds the limit of 1000") != NULL);
	fixture_stop(&f);
}

TEST(http_client_read_timeout)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		return;
	static struct got g;
	char url[200];
	url_of(url, sizeof url, "http", peer.http_port, "/silent");
	int64_t start = loop_now(f.loop);
	fetch(&f, &g, "GET", url, NULL, 300);
	CHECK_INT(g.status, 0);
	CHECK(strstr(g.error, "no complete response") != NULL && strstr(g.error, "300 ms") != NULL);
	CHECK(g.at_ms - start >= 300 && g.at_ms - start < 3000);
	fixture_stop(&f);
}

TEST(http_client_connect_refused)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		return;
	/* a port nobody listens on: bind one, note it, close it */
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	bind(fd, (struct sockaddr *)&sa, sizeof sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	close(fd);
	static struct got g;
	char url[200];
	url_of(url, sizeof url, "http", ntohs(sa.sin_port), "/");
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_INT(g.status, 0);
	CHECK(strstr(g.error, "refused") != NULL);
	if (!strstr(g.error, "refused"))
		CHECK_STR(g.error, "...refused");
	fixture_stop(&f);
}

TEST(http_client_connect_timeout)
{
	/* the silent port accepts TCP but never answers the TLS handshake */
	struct http_client_options opt = {.connect_timeout_ms = 300};
	struct fixture f;
	if (fixture_start(&f, &opt) < 0)
		return;
	static struct got g;
	char url[200];
	url_of(url, sizeof url, "https", peer.silent_port, "/");
	int64_t start = loop_now(f.loop);
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_INT(g.status, 0);
	CHECK(strstr(g.error, "timed out") != NULL);
	CHECK(g.at_ms - start >= 300 && g.at_ms - start < 3000);
	fixture_stop(&f);
}

/* The server closes a kept-alive connection as our next request arrives
 * (what an idle timeout on its side looks like). GET is retried once on a
 * fresh connection and succeeds; POST is not sent twice. */
TEST(http_client_retry_on_stale_keep_alive)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		return;
	static struct got g;
	char url[200], arm[200], stats[200];
	url_of(arm, sizeof arm, "http", peer.http_port, "/drop-next");
	url_of(url, sizeof url, "http", peer.http_port, "/cl");
	url_of(stats, sizeof stats, "http", peer.http_port, "/stats");
	fetch(&f, &g, "GET", arm, NULL, 5000);
	CHECK_STR(g.body, "armed");
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_STR(g.error, "");
	CHECK_STR(g.body, "hello");
	struct http_client_stats st;
	http_client_stats(f.client, &st);
	CHECK_INT(st.retries, 1);
	CHECK_INT(st.connections_opened, 2);

	/* POST: the server got it (and dropped it); we must not resend */
	fetch(&f, &g, "GET", stats, NULL, 5000);
	char before[64] = "";
	const char *line = strstr(g.body, "/echo=");
	if (line)
		snprintf(before, sizeof before, "%.*s", (int)strcspn(line, "\n"), line);
	fetch(&f, &g, "GET", arm, NULL, 5000);
	url_of(url, sizeof url, "http", peer.http_port, "/echo");
	fetch(&f, &g, "POST", url, "once", 5000);
	CHECK_INT(g.status, 0);
	CHECK(strstr(g.error, "closed the connection before any response") != NULL);
	http_client_stats(f.client, &st);
	CHECK_INT(st.retries, 1);
	fetch(&f, &g, "GET", stats, NULL, 5000);
	int echo_before = before[0] ? parse_count(before + 6) : 0;
	line = strstr(g.body, "/echo=");
	CHECK(line != NULL);
	CHECK_INT(line ? parse_count(line + 6) : -1, echo_before + 1);
	fixture_stop(&f);
}

/* Requests beyond the host's connection limit wait in its queue; their
 * deadline runs while they wait. */
TEST(http_client_queue_wait_timeout)
{
	struct http_client_options opt = {.max_conns_per_host = 1};
	struct fixture f;
	if (fixture_start(&f, &opt) < 0)
		return;
	static struct got slow, quick;
	memset(&slow, 0, sizeof slow);
	memset(&quick, 0, sizeof quick);
	slow.loop = quick.loop = f.loop;
	slow.outstanding = quick.outstanding = &f.outstanding;
	char url[200];
	url_of(url, sizeof url, "http", peer.http_port, "/silent");
	f.outstanding = 2;
	CHECK_INT(http_request(f.client, "GET", url, NULL, 0, NULL, 0, 1200, on_done, &slow), 0);
	url_of(url, sizeof url, "http", peer.http_port, "/cl");
	CHECK_INT(http_request(f.client, "GET", url, NULL, 0, NULL, 0, 300, on_done, &quick), 0);
	run_until_done(f.loop, &f.outstanding);
	CHECK_INT(quick.calls, 1);
	CHECK(strstr(quick.error, "waiting for a connection") != NULL);
	CHECK_INT(slow.calls, 1);
	CHECK(strstr(slow.error, "no complete response") != NULL);
	struct http_client_stats st;
	http_client_stats(f.client, &st);
	CHECK_INT(st.connections_opened, 1);
	CHECK_INT(st.requests_failed, 2);
	fixture_stop(&f);
}

/* http_client_free runs every pending callback once with an error:
 * one in flight, one waiting for a connection, one just queued. */
struct teardown {
	struct http_client *client;
};

static void
free_client_later(struct loop *loop, struct loop_timer *t)
{
	struct teardown *td = t->data;
	http_client_free(td->client);
	td->client = NULL;
	loop_stop(loop);
}

TEST(http_client_free_fails_pending_once)
{
	struct http_client_options opt = {.max_conns_per_host = 1};
	struct fixture f;
	if (fixture_start(&f, &opt) < 0)
		return;
	static struct got g[3];
	memset(g, 0, sizeof g);
	char slow[200], other[200];
	url_of(slow, sizeof slow, "http", peer.http_port, "/silent");
	url_of(other, sizeof other, "https", peer.https_port, "/silent");
	for (int i = 0; i < 3; i++)
		g[i].loop = f.loop;
	CHECK_INT(http_request(f.client, "GET", slow, NULL, 0, NULL, 0, 5000, on_done, &g[0]), 0);
	CHECK_INT(http_request(f.client, "GET", slow, NULL, 0, NULL, 0, 5000, on_done, &g[1]), 0);
	CHECK_INT(http_request(f.client, "GET", other, NULL, 0, NULL, 0, 5000, on_done, &g[2]), 0);
	struct teardown td = {f.client};
	struct loop_timer t;
	loop_timer_init(&t, free_client_later, &td);
	loop_timer_start(f.loop, &t, 400);
	loop_run(f.loop);
	for (int i = 0; i < 3; i++) {
		CHECK_INT(g[i].calls, 1);
		CHECK_STR(g[i].error, "http client closed");
	}
	f.client = NULL; /* already freed */
	fixture_stop(&f);
}

/* Freeing a client with a request just queued (before any loop turn) also
 * answers it, and leaves no timer behind in the loop. */
TEST(http_client_free_right_after_request)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		return;
	static struct got g;
	memset(&g, 0, sizeof g);
	g.loop = f.loop;
	char url[200];
	url_of(url, sizeof url, "http", peer.http_port, "/cl");
	CHECK_INT(http_request(f.client, "GET", url, NULL, 0, NULL, 0, 5000, on_done, &g), 0);
	CHECK_INT(g.calls, 0); /* never from inside http_request */
	http_client_free(f.client);
	f.client = NULL;
	CHECK_INT(g.calls, 1);
	CHECK_STR(g.error, "http client closed");
	fixture_stop(&f);
}

TEST(http_client_refuses_bad_requests_at_once)
{
	struct loop *loop = loop_new();
	struct http_client *c = http_client_new(loop, NULL); /* no trust: no https */
	static struct got g;
	memset(&g, 0, sizeof g);
	struct {
		const char *method, *url;
		struct http_header h;
		const char *reason;
	} bad[] = {
	        {"GET", "ftp://example.org/", {"A", "b"}, "bad URL"},
	        {"GET", "http://exa mple.org/", {"A", "b"}, "bad URL"},
	        {"GET", "ws://example.org/", {"A", "b"}, "only http:// and https://"},
	        {"GET", "https://example.org/", {"A", "b"}, "trust anchors"},
	        {"GET", "http://example.org/", {"X", "a\r\nEvil: 1"}, "CR or LF"},
	        {"G T", "http://example.org/", {"A", "b"}, "method"},
	        {"GET", "http://example.org/", {"Host", "other"}, "set by http"},
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		CHECK_INT(http_request(c, bad[i].method, bad[i].url, &bad[i].h, 1, NULL, 0, 1000,
		                       on_done, &g),
		          -1);
		if (!CHECK(strstr(http_client_error(c), bad[i].reason) != NULL))
			CHECK_STR(http_client_error(c), bad[i].reason);
	}
	CHECK_INT(http_request(c, "GET", "http://example.org/", NULL, 0, NULL, 0, 0, on_done, &g),
	          -1);
	http_client_free(c);
	loop_free(loop);
	CHECK_INT(g.calls, 0); /* a refused request never calls back */
}

/* Allocation-failure sweep over the client: every allocation of
 * http_client_new, http_request and the exchange fails in turn; each run
 * ends with the callback run exactly once (success or an error), and
 * nothing leaks (ASan). */
TEST(http_client_survives_allocation_failure)
{
	if (peer_start() < 0)
		return;
	char url[200];
	url_of(url, sizeof url, "http", peer.http_port, "/chunked?n=20");
	for (long n = 0;; n++) {
		struct loop *loop = loop_new();
		static struct got g;
		memset(&g, 0, sizeof g);
		g.loop = loop;
		int outstanding = 1;
		g.outstanding = &outstanding;
		mem_fail_after(n);
		struct http_client *c = http_client_new(loop, NULL);
		int rc = c ? http_request(c, "GET", url, NULL, 0, NULL, 0, 3000, on_done, &g) : -1;
		if (rc == 0)
			run_until_done(loop, &outstanding);
		long allowed = mem_fail_after(-1);
		http_client_free(c);
		loop_free(loop);
		if (rc == 0)
			CHECK_INT(g.calls, 1);
		else
			CHECK_INT(g.calls, 0);
		if (rc == 0 && g.status == 200) {
			CHECK(strncmp(g.body, "chunk-0;", 8) == 0);
			CHECK(allowed <= n);
			break;
		}
		if (!CHECK(n < 500))
			break;
	}
}

/* An IPv6 literal: connected by address, sent as "[::1]:port" in Host. */
TEST(http_client_ipv6_literal)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		return;
	static struct got g;
	char url[200], host[64];
	snprintf(url, sizeof url, "http://[::1]:%u/echo", peer.http6_port);
	snprintf(host, sizeof host, "[::1]:%u", peer.http6_port);
	fetch(&f, &g, "GET", url, NULL, 5000);
	CHECK_STR(g.error, "");
	CHECK_INT(g.status, 200);
	CHECK_STR(g.x_host, host);
	fixture_stop(&f);
}

/* A body larger than one write piece goes out piece by piece, as the
 * stream drains, over TCP and over TLS. */
TEST(http_client_large_upload)
{
	struct fixture f;
	if (fixture_start(&f, NULL) < 0)
		return;
	static char body[300001];
	for (size_t i = 0; i < sizeof body - 1; i++)
		body[i] = (char)('a' + i % 26);
	body[sizeof body - 1] = '\0';
	static struct got g;
	const char *schemes[] = {"http", "https"};
	for (int i = 0; i < 2; i++) {
		char url[200];
		url_of(url, sizeof url, schemes[i], i ? peer.https_port : peer.http_port, "/echo");
		fetch(&f, &g, "PUT", url, body, 5000);
		CHECK_STR(g.error, "");
		CHECK_INT(g.status, 200);
		CHECK_INT(g.body_len, sizeof body - 1);
		CHECK(memcmp(g.body, body, sizeof g.body - 1) == 0);
	}
	fixture_stop(&f);
}
