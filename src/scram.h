/* scram — SCRAM-SHA-256's key derivation, linked in place of libpq's
 * src/common/scram-common.o (as saslprep.c replaces pg_saslprep).
 *
 * Why: every PostgreSQL login with scram-sha-256 derives SaltedPassword
 * with PBKDF2-HMAC-SHA-256 over the server's iteration count (4096 by
 * default). libpq built without OpenSSL (build.sh) does it with its own
 * HMAC, which hashes the key pads again on every iteration: about 4.6
 * SHA-256 compressions per iteration and 57% of the bot's CPU from exec
 * to READY. Here the pads are hashed once, so an iteration is exactly two
 * compressions, done with the CPU's SHA extensions when it has them.
 * Nothing about the exchange changes: the same bytes go on the wire and
 * libpq still checks the server's signature. */
#ifndef AGORA_SCRAM_H
#define AGORA_SCRAM_H

#include <stddef.h>
#include <stdint.h>

#define SCRAM_SHA256_LEN 32

/* The most iterations a login accepts. PostgreSQL's default is 4096 (1 ms
 * here, 2 ms portable); 2^20 is about 0.2 s of the loop. The count comes
 * unauthenticated from the network (the connection is not encrypted). */
#define SCRAM_MAX_ITERATIONS (1 << 20)

enum scram_impl {
	SCRAM_IMPL_AUTO,     /* SHA extensions when the CPU has them, else portable */
	SCRAM_IMPL_PORTABLE, /* plain C, any CPU */
	SCRAM_IMPL_SHANI,    /* x86 SHA extensions; only when scram_have_shani() */
};

/* 1 when this CPU runs the SHA-NI compression (x86-64 with SHA, SSSE3
 * and SSE4.1), else 0. */
int scram_have_shani(void);

/* The implementation SCRAM_IMPL_AUTO picks here: "SHA-NI" or "portable". */
const char *scram_impl_name(void);

/* One SHA-256 compression of the 64-byte block into state, big-endian
 * words as FIPS 180-4 writes them; impl as above (AUTO picks). For tests
 * and benchmarks. */
void scram_sha256_compress(enum scram_impl impl, uint32_t state[8], const uint8_t block[64]);

/* PBKDF2-HMAC-SHA-256 (RFC 8018) with a 32-byte output, which is SCRAM's
 * Hi(password, salt, iterations) (RFC 5802). iterations >= 1. */
void scram_pbkdf2_sha256(enum scram_impl impl, const void *password, size_t password_len,
                         const void *salt, size_t salt_len, unsigned long iterations,
                         uint8_t out[SCRAM_SHA256_LEN]);

#endif
