/* bench_zstream — inflate cost per gateway message on one long-lived
 * zlib-stream context, as Agora meets it on the Discord gateway.
 *
 * A realistic MESSAGE_CREATE dispatch (tests/data/zstream/message_create.json,
 * ~1.6 KB) is varied per message (snowflakes, sequence number, content of
 * random words) and
 * a session of them is compressed on ONE deflate context with Z_SYNC_FLUSH
 * after each, as Discord's gateway does. The bench then times zstream_feed
 * over the whole session, and plain zlib inflate into a fixed buffer as the
 * floor. Prints figures; asserts nothing. Run from the repository root
 * (./build.sh bench does). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "buf.h"
#include "zstream.h"

#define BENCH_MESSAGES 20000
#define BENCH_ROUNDS   5

/* words for message contents: real chat repeats words, not whole lines */
static const char *const bench_words[] = {
        "the",      "a",      "channel",  "for",     "we",        "could",  "proposal", "queue",
        "film",     "club",   "weekend",  "thanks",  "mods",      "is",     "anyone",   "up",
        "quiz",     "night",  "Friday",   "lol",     "maybe",     "thread", "already",  "have",
        "printing", "models", "settings", "pending", "yesterday", "+1",     "join",     "that",
        "server",   "role",   "voice",    "music",   "games",     "meme",   "art",      "books",
};

static uint64_t bench_seed = 88172645463325252ULL;
static uint32_t
bench_rand(void)
{
	bench_seed ^= bench_seed << 13;
	bench_seed ^= bench_seed >> 7;
	bench_seed ^= bench_seed << 17;
	return (uint32_t)(bench_seed >> 16);
}

/* Overwrites every occurrence of the snowflake from with random digits
 * (a new snowflake per message, the same within one). */
static void
bench_snowflake(struct buf *out, const char *from)
{
	char id[20];
	id[0] = '1';
	for (int k = 1; k < 19; k++)
		id[k] = (char)('0' + bench_rand() % 10);
	for (char *p = out->data; (p = strstr(p, from)); p += 19)
		memcpy(p, id, 19);
}

static int64_t
bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Writes message i of the session into out: the template with its
 * sequence number, snowflakes and content changed. */
static void
bench_message(struct buf *out, const char *tmpl, int i)
{
	const char *content = strstr(tmpl, "\"content\":\"");
	const char *seq = strstr(tmpl, "\"s\":42,");
	if (!content || !seq || seq > content) {
		fprintf(stderr, "bench_zstream: unexpected template\n");
		exit(1);
	}
	content += 11;
	const char *content_end = strchr(content, '"');
	buf_reset(out);
	buf_append(out, tmpl, (size_t)(seq - tmpl));
	buf_printf(out, "\"s\":%d,", i + 3);
	buf_append(out, seq + 7, (size_t)(content - (seq + 7)));
	int words = 3 + (int)(bench_rand() % 40);
	for (int w = 0; w < words; w++)
		buf_printf(
		        out, "%s%s", w ? " " : "",
		        bench_words[bench_rand() % (sizeof bench_words / sizeof bench_words[0])]);
	buf_puts(out, content_end);
	/* fresh snowflakes for the message, its nonce, author, channel, guild */
	bench_snowflake(out, "1310512349876543210");
	bench_snowflake(out, "1310512345678901248");
	bench_snowflake(out, "1170000000000000042");
	bench_snowflake(out, "1170000000000000043");
	if (bench_rand() % 4 == 0)
		bench_snowflake(out, "1180000000000000001");
}

int
main(void)
{
	FILE *f = fopen("tests/data/zstream/message_create.json", "rb");
	if (!f) {
		perror("bench_zstream: tests/data/zstream/message_create.json");
		return 1;
	}
	static char tmpl[8192];
	size_t tlen = fread(tmpl, 1, sizeof tmpl - 1, f);
	fclose(f);
	while (tlen && (tmpl[tlen - 1] == '\n' || tmpl[tlen - 1] == '\r'))
		tlen--;
	tmpl[tlen] = '\0';

	/* compress the session on one context, remembering where each
	 * message's chunk starts */
	z_stream d;
	memset(&d, 0, sizeof d);
	deflateInit(&d, Z_DEFAULT_COMPRESSION);
	size_t cap = (size_t)BENCH_MESSAGES * 2048, clen = 0, plain_total = 0;
	uint8_t *stream = malloc(cap);
	size_t *start = malloc(sizeof *start * (BENCH_MESSAGES + 1));
	struct buf msg;
	buf_init(&msg, 1 << 16);
	for (int i = 0; i < BENCH_MESSAGES; i++) {
		bench_message(&msg, tmpl, i);
		plain_total += msg.len;
		start[i] = clen;
		d.next_in = (Bytef *)msg.data;
		d.avail_in = (uInt)msg.len;
		d.next_out = stream + clen;
		d.avail_out = (uInt)(cap - clen);
		deflate(&d, Z_SYNC_FLUSH);
		clen = cap - d.avail_out;
	}
	start[BENCH_MESSAGES] = clen;
	deflateEnd(&d);

	/* zstream_feed, one chunk per WebSocket message */
	int64_t best = INT64_MAX;
	size_t out_total = 0;
	for (int round = 0; round < BENCH_ROUNDS; round++) {
		struct zstream zs;
		zstream_init(&zs, ZSTREAM_PAYLOAD_MAX_DEFAULT);
		out_total = 0;
		int64_t t0 = bench_now_ns();
		for (int i = 0; i < BENCH_MESSAGES; i++) {
			if (zstream_feed(&zs, stream + start[i], start[i + 1] - start[i]) !=
			    ZSTREAM_DONE) {
				fprintf(stderr, "bench_zstream: %s\n", zstream_error(&zs));
				return 1;
			}
			size_t n;
			zstream_data(&zs, &n);
			out_total += n;
		}
		int64_t t = bench_now_ns() - t0;
		if (t < best)
			best = t;
		zstream_free(&zs);
	}
	if (out_total != plain_total) {
		fprintf(stderr, "bench_zstream: inflated %zu bytes, expected %zu\n", out_total,
		        plain_total);
		return 1;
	}

	/* the floor: bare inflate into one fixed buffer, no marker check */
	int64_t floor_best = INT64_MAX;
	static uint8_t out[1 << 16];
	for (int round = 0; round < BENCH_ROUNDS; round++) {
		z_stream z;
		memset(&z, 0, sizeof z);
		inflateInit(&z);
		int64_t t0 = bench_now_ns();
		for (int i = 0; i < BENCH_MESSAGES; i++) {
			z.next_in = stream + start[i];
			z.avail_in = (uInt)(start[i + 1] - start[i]);
			z.next_out = out;
			z.avail_out = sizeof out;
			inflate(&z, Z_SYNC_FLUSH);
		}
		int64_t t = bench_now_ns() - t0;
		if (t < floor_best)
			floor_best = t;
		inflateEnd(&z);
	}

	printf("bench_zstream: %d MESSAGE_CREATE dispatches on one zlib-stream context\n",
	       BENCH_MESSAGES);
	printf("  payload %.0f B average, compressed %.0f B average (%.1f%%)\n",
	       (double)plain_total / BENCH_MESSAGES, (double)clen / BENCH_MESSAGES,
	       100.0 * (double)clen / (double)plain_total);
	printf("  zstream_feed: %.0f ns/message, %.0f MB/s inflated (best of %d)\n",
	       (double)best / BENCH_MESSAGES, (double)plain_total * 1e3 / (double)best,
	       BENCH_ROUNDS);
	printf("  bare inflate: %.0f ns/message (the floor)\n",
	       (double)floor_best / BENCH_MESSAGES);
	buf_free(&msg);
	free(stream);
	free(start);
	return 0;
}
