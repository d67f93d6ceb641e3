/* bench_tls — TLS record decryption throughput of the BearSSL code tls.c
 * runs, per cipher suite family, in MB/s.
 *
 * Why: tls.c offers AES-128-GCM before ChaCha20-Poly1305 when the CPU has
 * AES-NI and PCLMULQDQ (BearSSL's default order is the reverse). This shows
 * the figures behind that choice on the machine at hand: the record layer
 * alone (br_sslrec_in_gcm_vtable / br_sslrec_in_chapol_vtable, exactly the
 * classes the engine uses), on full 16 KiB records, no handshake, no
 * sockets. The constant-time software AES (ct64 + ctmul64 GHASH) is shown
 * too: what a CPU without AES-NI would get.
 *
 * Records are encrypted once; each round copies them back into place
 * (untimed) and decrypts all of them with a fresh context (sequence 0). */
#include <bearssl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "mem.h"

#define BENCH_RECORDS   64    /* 64 x 16 KiB = 1 MiB per round */
#define BENCH_PLAIN     16384 /* the TLS maximum record payload (RFC 5246 6.2.1) */
#define BENCH_SLOT      (BENCH_PLAIN + 64)
#define BENCH_PLAIN_OFF 16 /* room for header + explicit nonce before */
#define BENCH_SECONDS   0.6

struct bench_suite {
	const char *name;
	int gcm;                       /* 1: AES-GCM, 0: ChaCha20-Poly1305 */
	const br_block_ctr_class *ctr; /* GCM */
	br_ghash ghash;
	br_chacha20_run chacha; /* ChaCha20-Poly1305 */
	br_poly1305_run poly;
};

static double
bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

union bench_ctx {
	br_sslrec_gcm_context gcm;
	br_sslrec_chapol_context chapol;
};

static const unsigned char bench_key[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                            12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                            23, 24, 25, 26, 27, 28, 29, 30, 31, 32};
static const unsigned char bench_iv[12] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2};

static void
bench_init(union bench_ctx *c, const struct bench_suite *s, int out)
{
	if (s->gcm && out)
		br_sslrec_out_gcm_vtable.init(&c->gcm.vtable.out, s->ctr, bench_key, 16, s->ghash,
		                              bench_iv);
	else if (s->gcm)
		br_sslrec_in_gcm_vtable.init(&c->gcm.vtable.in, s->ctr, bench_key, 16, s->ghash,
		                             bench_iv);
	else if (out)
		br_sslrec_out_chapol_vtable.init(&c->chapol.vtable.out, s->chacha, s->poly,
		                                 bench_key, bench_iv);
	else
		br_sslrec_in_chapol_vtable.init(&c->chapol.vtable.in, s->chacha, s->poly, bench_key,
		                                bench_iv);
}

static void
bench_suite_run(const struct bench_suite *s, unsigned char *enc, unsigned char *work,
                size_t *rec_len)
{
	union bench_ctx c;
	/* encrypt BENCH_RECORDS records of a known pattern, each in its slot */
	bench_init(&c, s, 1);
	for (size_t r = 0; r < BENCH_RECORDS; r++) {
		unsigned char *slot = enc + r * BENCH_SLOT;
		unsigned char *plain = slot + BENCH_PLAIN_OFF;
		for (size_t i = 0; i < BENCH_PLAIN; i++)
			plain[i] = (unsigned char)(i * 7 + r);
		size_t len = BENCH_PLAIN;
		const br_sslrec_out_class **oc = (const br_sslrec_out_class **)&c.gcm.vtable.gen;
		if (!s->gcm)
			oc = (const br_sslrec_out_class **)&c.chapol.vtable.gen;
		unsigned char *rec =
		        (*oc)->encrypt(oc, 23 /* application_data */, 0x0303, plain, &len);
		memmove(slot, rec, len); /* the record now starts at the slot */
		rec_len[r] = len;
	}

	double spent = 0;
	size_t bytes = 0;
	int ok = 1;
	while (spent < BENCH_SECONDS) {
		memcpy(work, enc, (size_t)BENCH_RECORDS * BENCH_SLOT);
		bench_init(&c, s, 0);
		const br_sslrec_in_class **ic = (const br_sslrec_in_class **)&c.gcm.vtable.gen;
		if (!s->gcm)
			ic = (const br_sslrec_in_class **)&c.chapol.vtable.gen;
		double t0 = bench_now();
		for (size_t r = 0; r < BENCH_RECORDS; r++) {
			size_t len = rec_len[r] - 5;
			unsigned char *plain =
			        (*ic)->decrypt(ic, 23, 0x0303, work + r * BENCH_SLOT + 5, &len);
			if (!plain || len != BENCH_PLAIN)
				ok = 0;
			else if (plain[100] != (unsigned char)(100 * 7 + r))
				ok = 0;
		}
		spent += bench_now() - t0;
		bytes += (size_t)BENCH_RECORDS * BENCH_PLAIN;
	}
	printf("tls record decrypt  %-44s %8.1f MB/s%s\n", s->name, (double)bytes / spent / 1e6,
	       ok ? "" : "  (DECRYPTION FAILED)");
}

int
main(void)
{
	unsigned char *enc = mem_alloc((size_t)BENCH_RECORDS * BENCH_SLOT);
	unsigned char *work = mem_alloc((size_t)BENCH_RECORDS * BENCH_SLOT);
	size_t rec_len[BENCH_RECORDS];
	if (!enc || !work)
		return 1;

	const br_block_ctr_class *aesni = br_aes_x86ni_ctr_get_vtable();
	br_ghash pclmul = br_ghash_pclmul_get();
	br_chacha20_run sse2 = br_chacha20_sse2_get();
	br_poly1305_run ctmulq = br_poly1305_ctmulq_get();
	printf("tls: AES-NI %s, PCLMULQDQ %s, ChaCha20 SSE2 %s, Poly1305 ctmulq %s\n",
	       aesni ? "yes" : "no", pclmul ? "yes" : "no", sse2 ? "yes" : "no",
	       ctmulq ? "yes" : "no");

	struct bench_suite suites[3];
	size_t n = 0;
	if (aesni && pclmul)
		suites[n++] = (struct bench_suite){
		        "AES-128-GCM (x86ni + pclmul, used here)", 1, aesni, pclmul, NULL, NULL};
	suites[n++] = (struct bench_suite){"ChaCha20-Poly1305 (BearSSL's best here)",
	                                   0,
	                                   NULL,
	                                   NULL,
	                                   sse2 ? sse2 : br_chacha20_ct_run,
	                                   ctmulq ? ctmulq : br_poly1305_ctmul_run};
	suites[n++] = (struct bench_suite){"AES-128-GCM (software ct64 + ctmul64)",
	                                   1,
	                                   &br_aes_ct64_ctr_vtable,
	                                   br_ghash_ctmul64,
	                                   NULL,
	                                   NULL};
	for (size_t i = 0; i < n; i++)
		bench_suite_run(&suites[i], enc, work, rec_len);
	mem_free(enc);
	mem_free(work);
	return 0;
}
