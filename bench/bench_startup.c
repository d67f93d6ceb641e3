/* bench_startup — the costly steps of Agora's start (issue 13.6), each
 * timed alone in CPU time, median of several runs:
 *
 *   scram     PBKDF2-HMAC-SHA-256 with PostgreSQL 15's 4096 iterations:
 *             libpq's own loop (its HMAC re-keyed every iteration, as
 *             scram-common.c does without OpenSSL), and src/scram.c's,
 *             portable and with the SHA extensions
 *   pg login  a whole PQconnectdb + PQfinish to the test PostgreSQL
 *             (scram-sha-256): the client's CPU only (AGORA_TEST_PG_*)
 *   ec        BearSSL's curve implementations for what a handshake does:
 *             one ECDSA P-256 verification (the certificate and the
 *             ServerKeyExchange each need one) and one X25519 / P-256
 *             key exchange
 *   trust     TLS_CA_FILE read as it ships in the image: Debian's CA
 *             bundle (/etc/ssl/certs/ca-certificates.crt), whole
 *             (tls_trust_load) and its parts: the PEM decoding by BearSSL
 *             (before) and by src/pem.c, the X.509 reading of each root
 *             by BearSSL (before) and by src/x509.c
 *   tls       a whole handshake through src/tls.c with a server given as
 *             `bench_startup HOST PORT CAFILE` (bench/startup.py passes
 *             the Discord emulator's)
 *
 * Output lines start with "startup-part:" so bench/startup.py can print
 * them beside the bot's own total. */
#include <bearssl.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "loop.h"
#include "pem.h"
#include "scram.h"
#include "tls.h"
#include "x509.h"

#define BENCH_RUNS 15

/* libpq's HMAC (src/common/hmac.c), still linked: fe-auth-scram.c signs
 * the exchange with it */
typedef struct pg_hmac_ctx pg_hmac_ctx;
pg_hmac_ctx *pg_hmac_create(int type);
int pg_hmac_init(pg_hmac_ctx *ctx, const uint8_t *key, size_t len);
int pg_hmac_update(pg_hmac_ctx *ctx, const uint8_t *data, size_t len);
int pg_hmac_final(pg_hmac_ctx *ctx, uint8_t *dest, size_t len);
void pg_hmac_free(pg_hmac_ctx *ctx);
enum { BENCH_PG_SHA256 = 3 }; /* pg_cryptohash_type's PG_SHA256 */

static double
bench_cpu_us(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int
bench_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double
bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, bench_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void
bench_report(const char *name, double *v, int n)
{
	printf("startup-part: %-44s %9.1f us (median of %d)\n", name, bench_median(v, n), n);
}

/* scram-common.c's loop as libpq 15 runs it without OpenSSL */
static void
bench_pbkdf2_libpq(const char *pw, const uint8_t *salt, size_t salt_len, int iterations,
                   uint8_t out[32])
{
	static const uint8_t one[4] = {0, 0, 0, 1};
	uint8_t u[32], prev[32];
	pg_hmac_ctx *h = pg_hmac_create(BENCH_PG_SHA256);
	if (!h)
		abort();
	pg_hmac_init(h, (const uint8_t *)pw, strlen(pw));
	pg_hmac_update(h, salt, salt_len);
	pg_hmac_update(h, one, 4);
	pg_hmac_final(h, prev, 32);
	memcpy(out, prev, 32);
	for (int i = 2; i <= iterations; i++) {
		pg_hmac_init(h, (const uint8_t *)pw, strlen(pw));
		pg_hmac_update(h, prev, 32);
		pg_hmac_final(h, u, 32);
		for (int j = 0; j < 32; j++)
			out[j] ^= u[j];
		memcpy(prev, u, 32);
	}
	pg_hmac_free(h);
}

static void
bench_scram(void)
{
	static const uint8_t salt[16] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
	                                 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81};
	const char *pw = "test-43f8b123e8b3";
	uint8_t ref[32], out[32];
	double v[BENCH_RUNS];
	for (int r = 0; r < BENCH_RUNS; r++) {
		double t0 = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID);
		bench_pbkdf2_libpq(pw, salt, sizeof salt, 4096, ref);
		v[r] = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID) - t0;
	}
	bench_report("SCRAM PBKDF2 x4096, libpq's loop (before)", v, BENCH_RUNS);
	static const struct {
		enum scram_impl impl;
		const char *name;
	} impls[] = {
	        {SCRAM_IMPL_PORTABLE, "SCRAM PBKDF2 x4096, scram.c portable"},
	        {SCRAM_IMPL_SHANI, "SCRAM PBKDF2 x4096, scram.c SHA-NI"},
	};
	for (size_t k = 0; k < sizeof impls / sizeof impls[0]; k++) {
		if (impls[k].impl == SCRAM_IMPL_SHANI && !scram_have_shani()) {
			printf("startup-part: %-44s (this CPU has no SHA extensions)\n",
			       impls[k].name);
			continue;
		}
		for (int r = 0; r < BENCH_RUNS; r++) {
			double t0 = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID);
			scram_pbkdf2_sha256(impls[k].impl, pw, strlen(pw), salt, sizeof salt, 4096,
			                    out);
			v[r] = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID) - t0;
		}
		if (memcmp(out, ref, 32) != 0) {
			printf("startup-part: %s DIFFERS from libpq's result\n", impls[k].name);
			exit(1);
		}
		bench_report(impls[k].name, v, BENCH_RUNS);
	}
	printf("startup-part: (scram.c runs %s here)\n", scram_impl_name());
}

static void
bench_pg_login(void)
{
	const char *host = getenv("AGORA_TEST_PG_HOST"), *port = getenv("AGORA_TEST_PG_PORT");
	const char *user = getenv("AGORA_TEST_PG_USER"), *pw = getenv("AGORA_TEST_PG_PASSWORD");
	const char *db = getenv("AGORA_TEST_PG_DB");
	if (!host || !port || !user || !pw || !db) {
		printf("startup-part: PostgreSQL login: skipped (no AGORA_TEST_PG_*)\n");
		return;
	}
	const char *keys[] = {"host", "port", "dbname", "user", "password", NULL};
	const char *vals[] = {host, port, db, user, pw, NULL};
	double v[BENCH_RUNS];
	int n = 0;
	for (int r = 0; r < BENCH_RUNS; r++) {
		double t0 = bench_cpu_us(CLOCK_PROCESS_CPUTIME_ID);
		PGconn *c = PQconnectdbParams(keys, vals, 0);
		int ok = PQstatus(c) == CONNECTION_OK;
		if (!ok)
			printf("startup-part: PostgreSQL login failed: %s", PQerrorMessage(c));
		PQfinish(c);
		if (ok)
			v[n++] = bench_cpu_us(CLOCK_PROCESS_CPUTIME_ID) - t0;
	}
	if (n)
		bench_report("PostgreSQL login (scram-sha-256), client CPU", v, n);
}

/* ---------------------------------------------------------------- ec */

static void
bench_ec(void)
{
	br_hmac_drbg_context rng;
	br_hmac_drbg_init(&rng, &br_sha256_vtable, "agora bench", 11);
	unsigned char skbuf[BR_EC_KBUF_PRIV_MAX_SIZE], pkbuf[BR_EC_KBUF_PUB_MAX_SIZE];
	br_ec_private_key sk;
	br_ec_public_key pk;
	const br_ec_impl *ref = &br_ec_prime_i31;
	if (!br_ec_keygen(&rng.vtable, ref, &sk, skbuf, BR_EC_secp256r1) ||
	    !br_ec_compute_pub(ref, &pk, pkbuf, &sk))
		abort();
	unsigned char hash[32], sig[80];
	memset(hash, 0x5a, sizeof hash);
	size_t sig_len = br_ecdsa_i31_sign_raw(ref, &br_sha256_vtable, hash, &sk, sig);
	if (!sig_len)
		abort();
	static const struct {
		const char *name;
		const br_ec_impl *impl;
	} impls[] = {
	        {"p256_m15", &br_ec_p256_m15},
	        {"p256_m31 (BearSSL's default)", &br_ec_p256_m31},
	        {"prime_i15", &br_ec_prime_i15},
	        {"prime_i31", &br_ec_prime_i31},
	};
	double v[BENCH_RUNS];
	char name[96];
	for (size_t k = 0; k < sizeof impls / sizeof impls[0]; k++) {
		for (int r = 0; r < BENCH_RUNS; r++) {
			double t0 = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID);
			uint32_t ok = br_ecdsa_i31_vrfy_raw(impls[k].impl, hash, sizeof hash, &pk,
			                                    sig, sig_len);
			v[r] = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID) - t0;
			if (!ok)
				abort();
		}
		snprintf(name, sizeof name, "ECDSA P-256 verify, %s", impls[k].name);
		bench_report(name, v, BENCH_RUNS);
	}
	/* a key exchange: the client's own share (mulgen) and the shared
	 * secret (mul) */
	static const struct {
		const char *name;
		const br_ec_impl *impl;
		int curve;
	} kx[] = {
	        {"X25519, c25519_m15", &br_ec_c25519_m15, BR_EC_curve25519},
	        {"X25519, c25519_m31 (BearSSL's default)", &br_ec_c25519_m31, BR_EC_curve25519},
	        {"X25519, c25519_i15", &br_ec_c25519_i15, BR_EC_curve25519},
	        {"X25519, c25519_i31", &br_ec_c25519_i31, BR_EC_curve25519},
	        {"P-256 ECDH, p256_m15", &br_ec_p256_m15, BR_EC_secp256r1},
	        {"P-256 ECDH, p256_m31", &br_ec_p256_m31, BR_EC_secp256r1},
	};
	unsigned char k32[32], point[BR_EC_KBUF_PUB_MAX_SIZE];
	memset(k32, 0x33, sizeof k32);
	k32[0] = 0x7f;
	for (size_t k = 0; k < sizeof kx / sizeof kx[0]; k++) {
		for (int r = 0; r < BENCH_RUNS; r++) {
			double t0 = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID);
			size_t len = kx[k].impl->mulgen(point, k32, sizeof k32, kx[k].curve);
			uint32_t ok = kx[k].impl->mul(point, len, k32, sizeof k32, kx[k].curve);
			v[r] = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID) - t0;
			if (!len || !ok)
				abort();
		}
		snprintf(name, sizeof name, "key exchange %s", kx[k].name);
		bench_report(name, v, BENCH_RUNS);
	}
}

/* ---------------------------------------------------------------- trust */

#define BENCH_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

static void
bench_count(void *ctx, const void *bytes, size_t len)
{
	(void)bytes;
	*(size_t *)ctx += len;
}

static void
bench_x509_push(void *ctx, const void *bytes, size_t len)
{
	br_x509_decoder_push(ctx, bytes, len);
}

static void
bench_trust(void)
{
	FILE *f = fopen(BENCH_BUNDLE, "rb");
	if (!f) {
		printf("startup-part: trust store: skipped (no %s)\n", BENCH_BUNDLE);
		return;
	}
	static char text[1 << 20];
	size_t len = fread(text, 1, sizeof text, f);
	fclose(f);
	double v[BENCH_RUNS];
	char err[256], name[96];
	size_t anchors = 0;
	for (int r = 0; r < BENCH_RUNS; r++) {
		double t0 = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID);
		struct tls_trust *t = tls_trust_load(BENCH_BUNDLE, err, sizeof err);
		v[r] = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID) - t0;
		anchors = tls_trust_count(t);
		tls_trust_free(t);
	}
	snprintf(name, sizeof name, "trust store, %zu roots: tls_trust_load", anchors);
	bench_report(name, v, BENCH_RUNS);
	/* the PEM layer alone, both ways */
	size_t total = 0;
	for (int r = 0; r < BENCH_RUNS; r++) {
		br_pem_decoder_context pc;
		double t0 = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID);
		br_pem_decoder_init(&pc);
		size_t off = 0;
		total = 0;
		while (off < len) {
			off += br_pem_decoder_push(&pc, text + off, len - off);
			if (br_pem_decoder_event(&pc) == BR_PEM_BEGIN_OBJ)
				br_pem_decoder_setdest(&pc, bench_count, &total);
		}
		v[r] = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID) - t0;
	}
	snprintf(name, sizeof name, "  PEM, BearSSL br_pem_decoder (before)");
	bench_report(name, v, BENCH_RUNS);
	struct buf der;
	buf_init(&der, 1 << 20);
	size_t total2 = 0, certs = 0;
	for (int r = 0; r < BENCH_RUNS; r++) {
		double t0 = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID);
		size_t pos = 0, label_len;
		const char *label, *why;
		total2 = certs = 0;
		while (pem_next(text, len, &pos, &label, &label_len, &der, &why) == 1) {
			total2 += der.len;
			certs++;
			buf_reset(&der);
		}
		v[r] = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID) - t0;
	}
	bench_report("  PEM, src/pem.c", v, BENCH_RUNS);
	if (total != total2)
		printf("startup-part: the PEM readers DIFFER (%zu vs %zu bytes)\n", total, total2);
	/* the X.509 layer alone */
	for (int r = 0; r < BENCH_RUNS; r++) {
		size_t pos = 0, label_len;
		const char *label, *why;
		double spent = 0;
		while (pem_next(text, len, &pos, &label, &label_len, &der, &why) == 1) {
			br_x509_decoder_context xc;
			double t0 = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID);
			br_x509_decoder_init(&xc, NULL, NULL);
			bench_x509_push(&xc, der.data, der.len);
			spent += bench_cpu_us(CLOCK_THREAD_CPUTIME_ID) - t0;
			buf_reset(&der);
		}
		v[r] = spent;
	}
	snprintf(name, sizeof name, "  X.509, br_x509_decoder (before), %zu roots", certs);
	bench_report(name, v, BENCH_RUNS);
	for (int r = 0; r < BENCH_RUNS; r++) {
		size_t pos = 0, label_len;
		const char *label, *why;
		double spent = 0;
		while (pem_next(text, len, &pos, &label, &label_len, &der, &why) == 1) {
			struct x509_anchor a;
			double t0 = bench_cpu_us(CLOCK_THREAD_CPUTIME_ID);
			int rc = x509_anchor_parse((const unsigned char *)der.data, der.len, &a);
			spent += bench_cpu_us(CLOCK_THREAD_CPUTIME_ID) - t0;
			if (rc < 0)
				printf("startup-part: x509.c refused a root (tls.c asks "
				       "BearSSL)\n");
			buf_reset(&der);
		}
		v[r] = spent;
	}
	snprintf(name, sizeof name, "  X.509, src/x509.c, %zu roots", certs);
	bench_report(name, v, BENCH_RUNS);
	buf_free(&der);
}

/* ---------------------------------------------------------------- tls */

struct bench_tls {
	struct loop *loop;
	int done, ok;
};

static void
bench_tls_event(struct tls *t, enum tls_event ev, void *data)
{
	struct bench_tls *b = data;
	if (ev == TLS_EV_CONNECTED) {
		b->ok = 1;
		b->done = 1;
		loop_stop(b->loop);
	} else if (ev == TLS_EV_CLOSED) {
		if (!b->ok)
			printf("startup-part: TLS handshake failed: %s\n", tls_error(t));
		b->done = 1;
		loop_stop(b->loop);
	}
}

static void
bench_tls(const char *host, const char *port, const char *ca)
{
	char err[256];
	struct tls_trust *trust = tls_trust_load(ca, err, sizeof err);
	if (!trust) {
		printf("startup-part: TLS: %s\n", err);
		return;
	}
	double v[BENCH_RUNS];
	int n = 0;
	for (int r = 0; r < BENCH_RUNS; r++) {
		struct bench_tls b = {.loop = loop_new()};
		struct tls *t = tls_new(b.loop, bench_tls_event, &b);
		double t0 = bench_cpu_us(CLOCK_PROCESS_CPUTIME_ID);
		if (tls_connect(t, host, (uint16_t)strtol(port, NULL, 10), trust, 5000) == 0)
			loop_run(b.loop);
		double t1 = bench_cpu_us(CLOCK_PROCESS_CPUTIME_ID);
		if (b.ok)
			v[n++] = t1 - t0;
		tls_free(t);
		loop_free(b.loop); /* runs the deferred release */
	}
	if (n)
		bench_report("TLS handshake via tls.c (emulator's chain)", v, n);
	tls_trust_free(trust);
}

int
main(int argc, char **argv)
{
	bench_scram();
	bench_pg_login();
	bench_ec();
	bench_trust();
	if (argc == 4)
		bench_tls(argv[1], argv[2], argv[3]);
	else
		printf("startup-part: TLS handshake: skipped (give HOST PORT CAFILE)\n");
	return 0;
}
