/* bench_ingest_parts — the parts of the message hot path, each alone, on
 * the payloads bench/ingest.py streams (issue 13.4: CPU per message
 * beside the sum of its parts).
 *
 *   bench_ingest_parts CORPUS   one gateway dispatch (JSON) per line
 *
 * Per message, median of BENCH_ROUNDS rounds over the whole corpus:
 *   tls16k   AES-128-GCM decrypt (the suite tls.c picks here) of 16 KiB
 *            records, charged per message by its share of the wire bytes:
 *            what a burst costs, the server filling whole records
 *   tlsrec   the same on one record per message (the message's WebSocket
 *            frame): what a trickle costs, one record per event as
 *            Discord sends them
 *   inflate  zstream_feed of the message's zlib-stream chunk (one deflate
 *            context, Z_SYNC_FLUSH per message, as the emulator does)
 *   json     what the bot does with a MESSAGE_CREATE since issue 13.3: no
 *            DOM; one pass over the payload (json_scan_paths, as gateway.c
 *            on_payload_raw) for op, s, t, d and d's head (id, channel_id,
 *            guild_id, author.bot, author.id), then discord_message_head_read
 *   dom      the DOM path it replaced, for comparison: json_parse of the
 *            dispatch + the lookups counting made (t, d.channel_id, d.id,
 *            d.author.bot); printed as "dom" so it is not summed
 * Lines "part NAME NS" are read by ingest.py; tlsrec is printed as "trickle"
 * so it is not added to the burst's sum. Without an argument it says how
 * it is run and exits 0 (build.sh runs every bench_* binary). */
#include <bearssl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "discord.h"
#include "json.h"
#include "mem.h"
#include "zstream.h"

#define BENCH_ROUNDS 7
#define BENCH_MAX    4096 /* messages read from the corpus */
#define BENCH_REC    16384
#define BENCH_SLOT   (BENCH_REC + 64)

static int64_t
bench_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID,
	              &ts); /* CPU time: other tenants of a busy machine do not count */
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int
bench_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return (x > y) - (x < y);
}

static double
bench_median(int64_t *t, int n)
{
	qsort(t, (size_t)n, sizeof *t, bench_cmp);
	return (double)t[n / 2];
}

static const unsigned char bench_key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static const unsigned char bench_iv[12] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2};

/* gateway.c on_payload_raw (a look at the first members, then one pass
 * for op, s, t, d and the head's paths in d), then bot.c's read of the
 * head: 0 with *m filled, or -1. */
static int
bench_scan(const char *text, size_t len, struct discord_message_head *m)
{
	struct json_scan sc;
	struct json_span key, v;
	char name[64];
	int have_t = 0, have_op = 0, r;
	int64_t num;
	if (json_scan_begin(&sc, text, len) < 0)
		return -1;
	while ((!have_t || !have_op) && (r = json_scan_next(&sc, &key, &v)) == 1) {
		if (!have_t && json_span_key_is(key, "t", 1)) {
			if (json_span_string(v, name, sizeof name, NULL) < 0 ||
			    strcmp(name, "MESSAGE_CREATE") != 0)
				return -1;
			have_t = 1;
		} else if (!have_op && json_span_key_is(key, "op", 2)) {
			if (json_span_int64(v, &num) < 0 || num != 0)
				return -1;
			have_op = 1;
		}
	}
	if (!have_t || !have_op)
		return -1;
	/* the paths are made once, as gateway_new makes them */
	static const char *const envelope[] = {"op", "s", "t", "d"};
	static char text_of[DISCORD_MESSAGE_HEAD_PATHS][64];
	static struct json_scan_path p[4 + DISCORD_MESSAGE_HEAD_PATHS];
	if (!p[0].path) {
		for (size_t i = 0; i < 4; i++)
			p[i].path = envelope[i];
		for (size_t i = 0; i < DISCORD_MESSAGE_HEAD_PATHS; i++) {
			snprintf(text_of[i], sizeof text_of[i], "d.%s",
			         discord_message_head_paths[i]);
			p[4 + i].path = text_of[i];
		}
	}
	if (json_scan_paths(text, len, p, 4 + DISCORD_MESSAGE_HEAD_PATHS) < 0 ||
	    json_span_int64(p[1].value, &num) < 0)
		return -1;
	struct json_span values[DISCORD_MESSAGE_HEAD_PATHS];
	for (size_t i = 0; i < DISCORD_MESSAGE_HEAD_PATHS; i++)
		values[i] = p[4 + i].value;
	return discord_message_head_read(values, m);
}

/* ns per message to decrypt records of `size` bytes each, `count` of them */
static double
bench_tls(const br_block_ctr_class *ctr, br_ghash gh, const size_t *size, size_t count)
{
	unsigned char *enc = malloc(count * BENCH_SLOT), *work = malloc(count * BENCH_SLOT);
	size_t *len = malloc(count * sizeof *len);
	if (!enc || !work || !len)
		exit(1);
	br_sslrec_gcm_context c;
	br_sslrec_out_gcm_vtable.init(&c.vtable.out, ctr, bench_key, 16, gh, bench_iv);
	for (size_t r = 0; r < count; r++) {
		unsigned char *slot = enc + r * BENCH_SLOT;
		memset(slot + 16, (int)r, size[r]);
		size_t l = size[r];
		const br_sslrec_out_class **oc = (const br_sslrec_out_class **)&c.vtable.gen;
		unsigned char *rec = (*oc)->encrypt(oc, 23, 0x0303, slot + 16, &l);
		memmove(slot, rec, l);
		len[r] = l;
	}
	int64_t t[BENCH_ROUNDS];
	for (int round = 0; round < BENCH_ROUNDS; round++) {
		memcpy(work, enc, count * BENCH_SLOT);
		br_sslrec_in_gcm_vtable.init(&c.vtable.in, ctr, bench_key, 16, gh, bench_iv);
		const br_sslrec_in_class **ic = (const br_sslrec_in_class **)&c.vtable.gen;
		int64_t t0 = bench_ns();
		for (size_t r = 0; r < count; r++) {
			size_t l = len[r] - 5;
			if (!(*ic)->decrypt(ic, 23, 0x0303, work + r * BENCH_SLOT + 5, &l) ||
			    l != size[r]) {
				fprintf(stderr, "bench_ingest_parts: decryption failed\n");
				exit(1);
			}
		}
		t[round] = bench_ns() - t0;
	}
	free(enc);
	free(work);
	free(len);
	return bench_median(t, BENCH_ROUNDS);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		printf("bench_ingest_parts: run by bench/ingest.py (needs its corpus)\n");
		return 0;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	static char line[1 << 16];
	char **msg = calloc(BENCH_MAX, sizeof *msg);
	size_t *mlen = calloc(BENCH_MAX, sizeof *mlen);
	size_t n = 0, plain = 0;
	while (n < BENCH_MAX && fgets(line, sizeof line, f)) {
		size_t l = strcspn(line, "\n");
		msg[n] = malloc(l);
		memcpy(msg[n], line, l);
		mlen[n++] = l;
		plain += l;
	}
	fclose(f);
	if (n == 0)
		return 1;

	/* the zlib stream, and each message's WebSocket frame size */
	z_stream d;
	memset(&d, 0, sizeof d);
	deflateInit(&d, Z_DEFAULT_COMPRESSION);
	size_t cap = plain + n * 64, clen = 0;
	uint8_t *stream = malloc(cap);
	size_t *start = malloc((n + 1) * sizeof *start), *frame = malloc(n * sizeof *frame);
	for (size_t i = 0; i < n; i++) {
		start[i] = clen;
		d.next_in = (Bytef *)msg[i];
		d.avail_in = (uInt)mlen[i];
		d.next_out = stream + clen;
		d.avail_out = (uInt)(cap - clen);
		deflate(&d, Z_SYNC_FLUSH);
		clen = cap - d.avail_out;
		size_t z = clen - start[i];
		frame[i] = z + (z < 126 ? 2 : 4);
	}
	start[n] = clen;
	deflateEnd(&d);
	size_t wire = 0;
	for (size_t i = 0; i < n; i++)
		wire += frame[i];

	/* inflate */
	int64_t t[BENCH_ROUNDS];
	for (int round = 0; round < BENCH_ROUNDS; round++) {
		struct zstream zs;
		zstream_init(&zs, ZSTREAM_PAYLOAD_MAX_DEFAULT);
		int64_t t0 = bench_ns();
		for (size_t i = 0; i < n; i++)
			if (zstream_feed(&zs, stream + start[i], start[i + 1] - start[i]) !=
			    ZSTREAM_DONE) {
				fprintf(stderr, "bench_ingest_parts: %s\n", zstream_error(&zs));
				return 1;
			}
		t[round] = bench_ns() - t0;
		zstream_free(&zs);
	}
	double inflate_ns = bench_median(t, BENCH_ROUNDS) / (double)n;

	/* JSON: the dispatch parsed, and what counting looks up */
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	uint64_t sum = 0;
	for (int round = 0; round < BENCH_ROUNDS; round++) {
		int64_t t0 = bench_ns();
		for (size_t i = 0; i < n; i++) {
			const struct json_value *v = json_parse(&doc, msg[i], mlen[i]);
			const struct json_value *dv = json_get(v, "d");
			uint64_t cid = 0, mid = 0;
			if (!json_string(json_get(v, "t"), NULL) ||
			    json_path_id(dv, "channel_id", &cid) < 0 ||
			    json_path_id(dv, "id", &mid) < 0) {
				fprintf(stderr, "bench_ingest_parts: line %zu: %s\n", i + 1,
				        json_doc_error(&doc));
				return 1;
			}
			sum += cid + mid + (uint64_t)(json_bool(json_path(dv, "author.bot")) == 1);
		}
		t[round] = bench_ns() - t0;
	}
	json_doc_free(&doc);
	double dom_ns = bench_median(t, BENCH_ROUNDS) / (double)n;

	/* JSON as the bot reads it now: scanned, no DOM */
	uint64_t scan_sum = 0;
	for (int round = 0; round < BENCH_ROUNDS; round++) {
		int64_t t0 = bench_ns();
		for (size_t i = 0; i < n; i++) {
			struct discord_message_head m;
			if (bench_scan(msg[i], mlen[i], &m) < 0) {
				fprintf(stderr, "bench_ingest_parts: line %zu does not scan\n",
				        i + 1);
				return 1;
			}
			scan_sum += m.channel_id + m.id + (uint64_t)m.author_bot;
		}
		t[round] = bench_ns() - t0;
	}
	double json_ns = bench_median(t, BENCH_ROUNDS) / (double)n;
	/* both read the same fields: the same sum, or one of them is wrong */
	if (scan_sum != sum) {
		fprintf(stderr, "bench_ingest_parts: the scan and the DOM read different ids\n");
		return 1;
	}

	/* TLS */
	const br_block_ctr_class *ctr = br_aes_x86ni_ctr_get_vtable();
	br_ghash gh = br_ghash_pclmul_get();
	if (!ctr || !gh) {
		ctr = &br_aes_ct64_ctr_vtable;
		gh = br_ghash_ctmul64;
	}
	size_t full[64];
	for (int i = 0; i < 64; i++)
		full[i] = BENCH_REC;
	double per16k = bench_tls(ctr, gh, full, 64) / 64.0;
	double tls16k_ns = per16k * (double)wire / (double)n / BENCH_REC;
	double tlsrec_ns = bench_tls(ctr, gh, frame, n) / (double)n;

	printf("parts: %zu messages, %.0f B JSON, %.0f B WebSocket frame (%.1f%%); AES-128-GCM %s; "
	       "median of %d rounds (checksum %llu)\n",
	       n, (double)plain / (double)n, (double)wire / (double)n,
	       100.0 * (double)wire / (double)plain,
	       ctr == &br_aes_ct64_ctr_vtable ? "software" : "AES-NI", BENCH_ROUNDS,
	       (unsigned long long)(sum % 1000));
	printf("part tls16k %.0f ns/msg  (16 KiB records: %.0f ns each, %.0f MB/s)\n", tls16k_ns,
	       per16k, BENCH_REC / per16k * 1e3);
	printf("part inflate %.0f ns/msg\n", inflate_ns);
	printf("part json %.0f ns/msg  (one pass: op/s/t/d + the message head, no DOM; "
	       "what the bot does)\n",
	       json_ns);
	printf("dom json %.0f ns/msg  (json_parse + 4 lookups, the DOM path it replaced: "
	       "%.1fx the scan)\n",
	       dom_ns, dom_ns / json_ns);
	printf("trickle tlsrec %.0f ns/msg  (one %.0f B record per message)\n", tlsrec_ns,
	       (double)wire / (double)n);
	for (size_t i = 0; i < n; i++)
		free(msg[i]);
	free(msg);
	free(mlen);
	free(stream);
	free(start);
	free(frame);
	return 0;
}
