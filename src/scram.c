/* scram — see scram.h. The five functions at the end have the names and
 * signatures of PostgreSQL 15's src/common/scram-common.c: libpq's
 * fe-auth-scram.o calls them, and since this object defines every symbol
 * of scram-common.o, the static link never pulls libpgcommon's copy. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>

#include "scram.h"
#include "versions.h"

/* The five functions below are PostgreSQL 15's; 16 changed every
 * signature (hash type and key length arguments). A libpq of another
 * major version would link and then fail or crash at login. */
#if VERSION_LIBPQ_MAJOR != 15
#error "src/scram.c implements PostgreSQL 15's scram-common.h; update it for this libpq"
#endif

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define SCRAM_X86 1
#else
#define SCRAM_X86 0
#endif

static const uint32_t scram_k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2,
};

static const uint32_t scram_iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

static uint32_t
scram_rotr(uint32_t x, unsigned n)
{
	return (x >> n) | (x << (32 - n));
}

static uint32_t
scram_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
scram_put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
scram_compress_portable(uint32_t state[8], const uint8_t block[64])
{
	uint32_t w[64];
	for (int i = 0; i < 16; i++)
		w[i] = scram_be32(block + 4 * i);
	for (int i = 16; i < 64; i++) {
		uint32_t s0 =
		        scram_rotr(w[i - 15], 7) ^ scram_rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 =
		        scram_rotr(w[i - 2], 17) ^ scram_rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
	uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
	for (int i = 0; i < 64; i++) {
		uint32_t S1 = scram_rotr(e, 6) ^ scram_rotr(e, 11) ^ scram_rotr(e, 25);
		uint32_t ch = (e & f) ^ (~e & g);
		uint32_t t1 = h + S1 + ch + scram_k[i] + w[i];
		uint32_t S0 = scram_rotr(a, 2) ^ scram_rotr(a, 13) ^ scram_rotr(a, 22);
		uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
		uint32_t t2 = S0 + maj;
		h = g;
		g = f;
		f = e;
		e = d + t1;
		d = c;
		c = b;
		b = a;
		a = t1 + t2;
	}
	state[0] += a;
	state[1] += b;
	state[2] += c;
	state[3] += d;
	state[4] += e;
	state[5] += f;
	state[6] += g;
	state[7] += h;
}

#if SCRAM_X86
/* Intel's SHA extensions: sha256rnds2 does two rounds on the state held
 * as ABEF/CDGH, sha256msg1/msg2 extend the message schedule four words at
 * a time. The 64 rounds on such a state and a message given as words
 * (w0 = W0..W3 in lanes 0..3), with the feed-forward; the loop over the
 * 16 four-round groups is unrolled by the compiler, the message words
 * rotate through m[0..3]. Not inlined: both users share one copy. */
__attribute__((target("sha,ssse3,sse4.1"), noinline)) static void
scram_rounds_shani(__m128i *st0, __m128i *st1, __m128i w0, __m128i w1, __m128i w2, __m128i w3)
{
	const __m128i save0 = *st0, save1 = *st1;
	__m128i s0 = *st0, s1 = *st1;
	__m128i m[4] = {w0, w1, w2, w3};
#pragma GCC unroll 16
	for (int g = 0; g < 16; g++) {
		if (g >= 4) {
			__m128i t = _mm_sha256msg1_epu32(m[g & 3], m[(g + 1) & 3]);
			t = _mm_add_epi32(t, _mm_alignr_epi8(m[(g + 3) & 3], m[(g + 2) & 3], 4));
			m[g & 3] = _mm_sha256msg2_epu32(t, m[(g + 3) & 3]);
		}
		__m128i msg = _mm_add_epi32(
		        m[g & 3], _mm_loadu_si128((const __m128i *)(const void *)&scram_k[4 * g]));
		s1 = _mm_sha256rnds2_epu32(s1, s0, msg);
		s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(msg, 0x0E));
	}
	*st0 = _mm_add_epi32(s0, save0);
	*st1 = _mm_add_epi32(s1, save1);
}

/* state[8] (A..H) to ABEF/CDGH */
__attribute__((target("sha,ssse3,sse4.1"))) static inline void
scram_to_abef(const uint32_t state[8], __m128i *st0, __m128i *st1)
{
	__m128i tmp = _mm_loadu_si128((const __m128i *)(const void *)&state[0]);
	__m128i b = _mm_loadu_si128((const __m128i *)(const void *)&state[4]);
	tmp = _mm_shuffle_epi32(tmp, 0xB1);
	b = _mm_shuffle_epi32(b, 0x1B);
	*st0 = _mm_alignr_epi8(tmp, b, 8);
	*st1 = _mm_blend_epi16(b, tmp, 0xF0);
}

/* ABEF/CDGH to the digest's words: A..D and E..H in lanes 0..3, which
 * are also the next message's W0..W7 */
__attribute__((target("sha,ssse3,sse4.1"))) static inline void
scram_to_words(__m128i st0, __m128i st1, __m128i *w0, __m128i *w1)
{
	__m128i tmp = _mm_shuffle_epi32(st0, 0x1B);
	st1 = _mm_shuffle_epi32(st1, 0xB1);
	*w0 = _mm_blend_epi16(tmp, st1, 0xF0);
	*w1 = _mm_alignr_epi8(st1, tmp, 8);
}

__attribute__((target("sha,ssse3,sse4.1"))) static void
scram_compress_shani(uint32_t state[8], const uint8_t block[64])
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	__m128i st0, st1, w[4];
	scram_to_abef(state, &st0, &st1);
	for (int i = 0; i < 4; i++)
		w[i] = _mm_shuffle_epi8(
		        _mm_loadu_si128((const __m128i *)(const void *)(block + 16 * i)), bswap);
	scram_rounds_shani(&st0, &st1, w[0], w[1], w[2], w[3]);
	scram_to_words(st0, st1, &w[0], &w[1]);
	_mm_storeu_si128((__m128i *)(void *)&state[0], w[0]);
	_mm_storeu_si128((__m128i *)(void *)&state[4], w[1]);
}

/* scram_iterate with SHA-NI, everything in registers: the digest of one
 * compression becomes the next one's message words as they are, the
 * padding words (0x80000000, zeros, the bit length 768) are constants. */
__attribute__((target("sha,ssse3,sse4.1"))) static void
scram_iterate_shani(const uint32_t istate[8], const uint32_t ostate[8], unsigned long iterations,
                    const uint8_t u[32], uint8_t out[32])
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
	const __m128i pad2 = _mm_set_epi32(0, 0, 0, (int)0x80000000u);
	const __m128i pad3 = _mm_set_epi32(768, 0, 0, 0);
	__m128i i0, i1, o0, o1;
	scram_to_abef(istate, &i0, &i1);
	scram_to_abef(ostate, &o0, &o1);
	__m128i w0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)u), bswap);
	__m128i w1 =
	        _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(u + 16)), bswap);
	__m128i acc0 = w0, acc1 = w1;
	for (unsigned long i = 2; i <= iterations; i++) {
		__m128i s0 = i0, s1 = i1;
		scram_rounds_shani(&s0, &s1, w0, w1, pad2, pad3);
		scram_to_words(s0, s1, &w0, &w1);
		s0 = o0;
		s1 = o1;
		scram_rounds_shani(&s0, &s1, w0, w1, pad2, pad3);
		scram_to_words(s0, s1, &w0, &w1);
		acc0 = _mm_xor_si128(acc0, w0);
		acc1 = _mm_xor_si128(acc1, w1);
	}
	_mm_storeu_si128((__m128i *)(void *)out, _mm_shuffle_epi8(acc0, bswap));
	_mm_storeu_si128((__m128i *)(void *)(out + 16), _mm_shuffle_epi8(acc1, bswap));
}
#endif

int
scram_have_shani(void)
{
#if SCRAM_X86
	static int known = -1;
	if (known < 0) {
		unsigned a, b, c, d;
		int ok = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 9))              /* SSSE3 */
		         && (c & (1u << 19));                                           /* SSE4.1 */
		ok = ok && __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29)); /* SHA */
		known = ok;
	}
	return known;
#else
	return 0;
#endif
}

const char *
scram_impl_name(void)
{
	return scram_have_shani() ? "SHA-NI" : "portable";
}

static enum scram_impl
scram_pick(enum scram_impl impl)
{
	if (impl == SCRAM_IMPL_AUTO || (impl == SCRAM_IMPL_SHANI && !scram_have_shani()))
		return scram_have_shani() ? SCRAM_IMPL_SHANI : SCRAM_IMPL_PORTABLE;
	return impl;
}

void
scram_sha256_compress(enum scram_impl impl, uint32_t state[8], const uint8_t block[64])
{
#if SCRAM_X86
	if (scram_pick(impl) == SCRAM_IMPL_SHANI) {
		scram_compress_shani(state, block);
		return;
	}
#else
	(void)impl;
#endif
	scram_compress_portable(state, block);
}

/* Iterations 2..n of PBKDF2 with the key's pad states hashed once. Both
 * HMAC halves hash 64 + 32 bytes, so one padded block serves for both:
 * the 32-byte input, 0x80, zeros, and the bit length 768. */
static void
scram_iterate(void (*compress)(uint32_t *, const uint8_t *), const uint32_t istate[8],
              const uint32_t ostate[8], unsigned long iterations, uint8_t u[32], uint8_t out[32])
{
	uint8_t block[64] = {0};
	memcpy(block, u, 32);
	block[32] = 0x80;
	block[62] = 0x03; /* 768 = 0x0300 bits */
	for (unsigned long i = 2; i <= iterations; i++) {
		uint32_t st[8];
		memcpy(st, istate, sizeof st);
		compress(st, block);
		for (int j = 0; j < 8; j++)
			scram_put_be32(block + 4 * j, st[j]);
		memcpy(st, ostate, sizeof st);
		compress(st, block);
		for (int j = 0; j < 8; j++) {
			scram_put_be32(block + 4 * j, st[j]);
			out[4 * j] ^= block[4 * j];
			out[4 * j + 1] ^= block[4 * j + 1];
			out[4 * j + 2] ^= block[4 * j + 2];
			out[4 * j + 3] ^= block[4 * j + 3];
		}
		explicit_bzero(st, sizeof st);
	}
	explicit_bzero(block, sizeof block);
}

void
scram_pbkdf2_sha256(enum scram_impl impl, const void *password, size_t password_len,
                    const void *salt, size_t salt_len, unsigned long iterations,
                    uint8_t out[SCRAM_SHA256_LEN])
{
	/* U1 = HMAC(password, salt || INT(1)), by BearSSL's HMAC */
	static const uint8_t one[4] = {0, 0, 0, 1};
	br_hmac_key_context kc;
	br_hmac_context hc;
	uint8_t u[32];
	br_hmac_key_init(&kc, &br_sha256_vtable, password, password_len);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, salt, salt_len);
	br_hmac_update(&hc, one, sizeof one);
	br_hmac_out(&hc, u);
	memcpy(out, u, 32);

	/* the pad states: the key (hashed when longer than a block) XOR
	 * 0x36 / 0x5c, one compression each from the initial value */
	uint8_t key[64] = {0}, pad[64];
	if (password_len > sizeof key) {
		br_sha256_context sc;
		br_sha256_init(&sc);
		br_sha256_update(&sc, password, password_len);
		br_sha256_out(&sc, key);
	} else if (password_len) {
		memcpy(key, password, password_len);
	}
	uint32_t istate[8], ostate[8];
	void (*compress)(uint32_t *, const uint8_t *) = scram_compress_portable;
#if SCRAM_X86
	if (scram_pick(impl) == SCRAM_IMPL_SHANI)
		compress = scram_compress_shani;
#else
	(void)impl;
#endif
	memcpy(istate, scram_iv, sizeof istate);
	memcpy(ostate, scram_iv, sizeof ostate);
	for (int i = 0; i < 64; i++)
		pad[i] = key[i] ^ 0x36;
	compress(istate, pad);
	for (int i = 0; i < 64; i++)
		pad[i] = key[i] ^ 0x5c;
	compress(ostate, pad);
#if SCRAM_X86
	if (compress == scram_compress_shani)
		scram_iterate_shani(istate, ostate, iterations, u, out);
	else
#endif
		scram_iterate(compress, istate, ostate, iterations, u, out);
	/* the password's traces on the stack */
	explicit_bzero(key, sizeof key);
	explicit_bzero(pad, sizeof pad);
	explicit_bzero(&kc, sizeof kc);
	explicit_bzero(&hc, sizeof hc);
	explicit_bzero(u, sizeof u);
	explicit_bzero(istate, sizeof istate);
	explicit_bzero(ostate, sizeof ostate);
}

/* ------------------------------------------------ libpq's scram-common.c */

/* the prototypes of src/include/common/scram-common.h and base64.h */
int scram_SaltedPassword(const char *password, const char *salt, int saltlen, int iterations,
                         uint8_t *result, const char **errstr);
int scram_H(const uint8_t *input, int len, uint8_t *result, const char **errstr);
int scram_ClientKey(const uint8_t *salted_password, uint8_t *result, const char **errstr);
int scram_ServerKey(const uint8_t *salted_password, uint8_t *result, const char **errstr);
char *scram_build_secret(const char *salt, int saltlen, int iterations, const char *password,
                         const char **errstr);
int pg_b64_encode(const char *src, int len, char *dst, int dstlen);
int pg_b64_enc_len(int srclen);

/* SaltedPassword := Hi(Normalize(password), salt, i). libpq checks
 * iterations >= 1 when it reads the server's first message. */
int
scram_SaltedPassword(const char *password, const char *salt, int saltlen, int iterations,
                     uint8_t *result, const char **errstr)
{
	if (iterations < 1 || saltlen < 0) {
		*errstr = "invalid SCRAM iteration count or salt";
		return -1;
	}
	/* The connection is not encrypted, so the count is whatever the
	 * network says, and the loop waits for it: 2^31 would stall the bot
	 * (the gateway session with it) for minutes. */
	if (iterations > SCRAM_MAX_ITERATIONS) {
		*errstr = "the server's SCRAM iteration count is over Agora's limit of 1048576 "
		          "(lower scram_iterations)";
		return -1;
	}
	scram_pbkdf2_sha256(SCRAM_IMPL_AUTO, password, strlen(password), salt, (size_t)saltlen,
	                    (unsigned long)iterations, result);
	return 0;
}

int
scram_H(const uint8_t *input, int len, uint8_t *result, const char **errstr)
{
	if (len < 0) {
		*errstr = "invalid length";
		return -1;
	}
	br_sha256_context sc;
	br_sha256_init(&sc);
	br_sha256_update(&sc, input, (size_t)len);
	br_sha256_out(&sc, result);
	return 0;
}

static void
scram_hmac32(const uint8_t key[32], const char *text, uint8_t *result)
{
	br_hmac_key_context kc;
	br_hmac_context hc;
	br_hmac_key_init(&kc, &br_sha256_vtable, key, 32);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, text, strlen(text));
	br_hmac_out(&hc, result);
	explicit_bzero(&kc, sizeof kc);
	explicit_bzero(&hc, sizeof hc);
}

int
scram_ClientKey(const uint8_t *salted_password, uint8_t *result, const char **errstr)
{
	(void)errstr;
	scram_hmac32(salted_password, "Client Key", result);
	return 0;
}

int
scram_ServerKey(const uint8_t *salted_password, uint8_t *result, const char **errstr)
{
	(void)errstr;
	scram_hmac32(salted_password, "Server Key", result);
	return 0;
}

/* SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>, base64, as
 * pg_authid stores it (PQencryptPasswordConn). malloc'd; NULL + *errstr. */
char *
scram_build_secret(const char *salt, int saltlen, int iterations, const char *password,
                   const char **errstr)
{
	uint8_t salted[32], stored[32], server[32];
	if (iterations <= 0)
		iterations = 4096; /* SCRAM_DEFAULT_ITERATIONS */
	if (scram_SaltedPassword(password, salt, saltlen, iterations, salted, errstr) < 0)
		return NULL;
	scram_ClientKey(salted, stored, errstr);
	scram_H(stored, 32, stored, errstr);
	scram_ServerKey(salted, server, errstr);
	explicit_bzero(salted, sizeof salted);

	int salt_b64 = pg_b64_enc_len(saltlen), key_b64 = pg_b64_enc_len(32);
	size_t max =
	        sizeof "SCRAM-SHA-256$" + 11 + 1 + (size_t)salt_b64 + 1 + 2 * (size_t)key_b64 + 2;
	char *out = malloc(max);
	if (!out) {
		*errstr = "out of memory";
		return NULL;
	}
	int n = snprintf(out, max, "SCRAM-SHA-256$%d:", iterations);
	int k = pg_b64_encode(salt, saltlen, out + n, salt_b64);
	if (k < 0)
		goto fail;
	n += k;
	out[n++] = '$';
	if ((k = pg_b64_encode((const char *)stored, 32, out + n, key_b64)) < 0)
		goto fail;
	n += k;
	out[n++] = ':';
	if ((k = pg_b64_encode((const char *)server, 32, out + n, key_b64)) < 0)
		goto fail;
	n += k;
	out[n] = '\0';
	return out;
fail:
	*errstr = "could not encode the SCRAM secret";
	free(out);
	return NULL;
}
