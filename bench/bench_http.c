/* bench_http — throughput of the HTTP/1.1 response parser (prints figures,
 * asserts nothing): a Discord-sized response (30 header fields, 10 KB JSON)
 * fed whole and in 1 KB pieces, and an 8 MB chunked body in 4 KB chunks. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "http.h"

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
run(const char *what, const struct buf *text, size_t piece, int rounds)
{
	struct http_parser p;
	http_parser_init(&p, 16u << 20, 0);
	double start = now_s();
	for (int r = 0; r < rounds; r++) {
		http_parser_reset(&p, 0);
		size_t pos = 0;
		enum http_parse st = HTTP_MORE;
		while (pos < text->len && st == HTTP_MORE) {
			size_t n = text->len - pos < piece ? text->len - pos : piece;
			st = http_parser_feed(&p, text->data + pos, n, NULL);
			pos += n;
		}
		if (st != HTTP_DONE) {
			printf("%s: parse failed: %s\n", what, http_parser_error(&p));
			break;
		}
	}
	double secs = now_s() - start;
	double mb = (double)text->len * rounds / 1e6;
	printf("http parser, %-44s %8.1f MB/s  %9.0f responses/s\n", what, mb / secs,
	       rounds / secs);
	http_parser_free(&p);
}

int
main(void)
{
	struct buf small, big;
	buf_init(&small, 1 << 20);
	buf_init(&big, 32u << 20);
	buf_puts(&small, "HTTP/1.1 200 OK\r\n");
	for (int i = 0; i < 28; i++)
		buf_printf(&small, "X-Header-Number-%d: value-%d-abcdefghijklmnopqrstuvwxyz\r\n", i,
		           i);
	buf_puts(&small, "Content-Length: 10000\r\n\r\n");
	for (int i = 0; i < 10000; i++)
		buf_putc(&small, (char)('a' + i % 26));
	buf_puts(&big, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (int c = 0; c < 2048; c++) {
		buf_puts(&big, "1000\r\n");
		for (int i = 0; i < 4096; i++)
			buf_putc(&big, (char)('a' + i % 26));
		buf_puts(&big, "\r\n");
	}
	buf_puts(&big, "0\r\n\r\n");
	run("30 fields + 10 KB body, whole:", &small, small.len, 20000);
	run("30 fields + 10 KB body, 1 KB pieces:", &small, 1024, 20000);
	run("8 MB chunked body, 16 KB pieces:", &big, 16384, 20);
	buf_free(&small);
	buf_free(&big);
	return 0;
}
