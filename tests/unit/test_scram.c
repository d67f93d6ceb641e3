/* test_scram.c — src/scram.c, Agora's SCRAM-SHA-256 key derivation linked
 * in place of libpq's scram-common.o: PBKDF2 vectors, RFC 7677's exchange
 * (the client proof and server signature computed from our derivation),
 * the SHA-NI and portable compressions agreeing, and logins against the
 * real PostgreSQL of tests/services.sh (scram-sha-256, 4096 iterations),
 * including a verifier built by our scram_build_secret. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bearssl.h>
#include <libpq-fe.h>

#include "base64.h"
#include "db.h"
#include "scram.h"
#include "services.h"
#include "test.h"

int scram_SaltedPassword(const char *password, const char *salt, int saltlen, int iterations,
                         uint8_t *result, const char **errstr);
int scram_H(const uint8_t *input, int len, uint8_t *result, const char **errstr);
int scram_ClientKey(const uint8_t *salted_password, uint8_t *result, const char **errstr);
int scram_ServerKey(const uint8_t *salted_password, uint8_t *result, const char **errstr);
char *scram_build_secret(const char *salt, int saltlen, int iterations, const char *password,
                         const char **errstr);

static void
scram_test_hex(const uint8_t *b, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static const enum scram_impl impls[] = {SCRAM_IMPL_PORTABLE, SCRAM_IMPL_SHANI, SCRAM_IMPL_AUTO};

/* PBKDF2-HMAC-SHA-256 vectors (the first three are the widely published
 * ones; all agree with Python's hashlib.pbkdf2_hmac), through every
 * implementation; a password longer than a block is hashed first. */
TEST(scram_pbkdf2_vectors)
{
	static const struct {
		const char *password, *salt;
		unsigned long c;
		const char *hex;
	} v[] = {
	        {"password", "salt", 1,
	         "120fb6cffcf8b32c43e7225256c4f837a86548c92ccc35480805987cb70be17b"},
	        {"password", "salt", 2,
	         "ae4d0c95af6b46d32d0adff928f06dd02a303f8ef3c251dfd6e2d85a95474c43"},
	        {"password", "salt", 4096,
	         "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a"},
	        {"passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096,
	         "348c89dbcbd32b2f32d814b8116e84cf2b17347ebc1800181c4e2a1fb8dd53e1"},
	        {"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
	         "xxxxxxxxxxxxxxxxxxx",
	         "NaCl", 3, "4c30796e6689521cd28c4f9b63504cb12c46446be99119ec073508a526c7814c"},
	};
	for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
		for (size_t k = 0; k < sizeof impls / sizeof impls[0]; k++) {
			uint8_t out[32];
			char hex[65];
			scram_pbkdf2_sha256(impls[k], v[i].password, strlen(v[i].password),
			                    v[i].salt, strlen(v[i].salt), v[i].c, out);
			scram_test_hex(out, 32, hex);
			CHECK_STR(hex, v[i].hex);
		}
}

/* SHA-256("abc") (FIPS 180-4's example) as one padded block, and random
 * blocks from random states: the SHA-NI compression gives what the
 * portable one gives (on a CPU without SHA-NI both are the portable one:
 * the name says which ran). */
TEST(scram_compress_impls_agree)
{
	printf("scram: this CPU runs the %s SHA-256 compression\n", scram_impl_name());
	uint8_t block[64] = {'a', 'b', 'c', 0x80};
	block[63] = 24;
	static const uint32_t want[8] = {0xba7816bf, 0x8f01cfea, 0x414140de, 0x5dae2223,
	                                 0xb00361a3, 0x96177a9c, 0xb410ff61, 0xf20015ad};
	for (size_t k = 0; k < sizeof impls / sizeof impls[0]; k++) {
		uint32_t st[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		                  0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
		scram_sha256_compress(impls[k], st, block);
		CHECK(memcmp(st, want, sizeof want) == 0);
	}
	test_rand_seed(7677);
	for (int n = 0; n < 200; n++) {
		uint32_t a[8], b[8];
		for (int i = 0; i < 64; i++)
			block[i] = (uint8_t)test_rand();
		for (int i = 0; i < 8; i++)
			a[i] = b[i] = test_rand();
		scram_sha256_compress(SCRAM_IMPL_PORTABLE, a, block);
		scram_sha256_compress(SCRAM_IMPL_SHANI, b, block);
		if (!CHECK(memcmp(a, b, sizeof a) == 0))
			break;
	}
}

/* Random passwords (0 to 150 bytes: empty, within, at and beyond one
 * block), salts and small counts: the fast derivation equals PBKDF2
 * spelled out with BearSSL's HMAC, U1 ^ U2 ^ ... */
TEST(scram_pbkdf2_matches_plain_hmac)
{
	test_rand_seed(5802);
	for (int n = 0; n < 60; n++) {
		uint8_t pw[150], salt[40], want[32] = {0}, u[32];
		size_t pw_len = n < 4 ? (size_t[]){0, 63, 64, 65}[n] : test_rand() % sizeof pw;
		size_t salt_len = test_rand() % sizeof salt;
		unsigned long c = 1 + test_rand() % 20;
		for (size_t i = 0; i < sizeof pw; i++)
			pw[i] = (uint8_t)test_rand();
		for (size_t i = 0; i < sizeof salt; i++)
			salt[i] = (uint8_t)test_rand();
		br_hmac_key_context kc;
		br_hmac_context hc;
		br_hmac_key_init(&kc, &br_sha256_vtable, pw, pw_len);
		for (unsigned long i = 1; i <= c; i++) {
			br_hmac_init(&hc, &kc, 0);
			if (i == 1) {
				br_hmac_update(&hc, salt, salt_len);
				br_hmac_update(&hc, "\0\0\0\1", 4);
			} else {
				br_hmac_update(&hc, u, 32);
			}
			br_hmac_out(&hc, u);
			for (int j = 0; j < 32; j++)
				want[j] ^= u[j];
		}
		for (size_t k = 0; k < sizeof impls / sizeof impls[0]; k++) {
			uint8_t got[32];
			scram_pbkdf2_sha256(impls[k], pw, pw_len, salt, salt_len, c, got);
			if (!CHECK(memcmp(got, want, 32) == 0))
				printf("  pw_len %zu salt_len %zu c %lu impl %d\n", pw_len,
				       salt_len, c, (int)impls[k]);
		}
	}
}

/* RFC 7677 section 3: user "user", password "pencil", 4096 iterations.
 * From libpq's entry points (ours): the ClientProof the client sends and
 * the ServerSignature it expects, byte for byte as the RFC prints them. */
TEST(scram_rfc7677_exchange)
{
	static const uint8_t salt[16] = {0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e,
	                                 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa, 0x81};
	const char *auth_message =
	        "n=user,r=rOprNGfwEbeRWgbNEkqO,"
	        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,"
	        "i=4096,"
	        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
	const char *errstr = NULL;
	uint8_t salted[32], client_key[32], stored_key[32], server_key[32], sig[32], proof[32];
	char b64[BASE64_SIZE(32)];
	char salt_b64[BASE64_SIZE(16)];
	base64_encode(salt, sizeof salt, salt_b64, sizeof salt_b64);
	CHECK_STR(salt_b64, "W22ZaJ0SNY7soEsUEjb6gQ==");

	CHECK_INT(scram_SaltedPassword("pencil", (const char *)salt, 16, 4096, salted, &errstr), 0);
	CHECK_INT(scram_ClientKey(salted, client_key, &errstr), 0);
	CHECK_INT(scram_H(client_key, 32, stored_key, &errstr), 0);
	CHECK_INT(scram_ServerKey(salted, server_key, &errstr), 0);

	br_hmac_key_context kc;
	br_hmac_context hc;
	br_hmac_key_init(&kc, &br_sha256_vtable, stored_key, 32);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, auth_message, strlen(auth_message));
	br_hmac_out(&hc, sig);
	for (int i = 0; i < 32; i++)
		proof[i] = client_key[i] ^ sig[i];
	base64_encode(proof, 32, b64, sizeof b64);
	CHECK_STR(b64, "dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");

	br_hmac_key_init(&kc, &br_sha256_vtable, server_key, 32);
	br_hmac_init(&hc, &kc, 0);
	br_hmac_update(&hc, auth_message, strlen(auth_message));
	br_hmac_out(&hc, sig);
	base64_encode(sig, 32, b64, sizeof b64);
	CHECK_STR(b64, "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");

	/* the pg_authid form of the same verifier */
	char *secret = scram_build_secret((const char *)salt, 16, 4096, "pencil", &errstr);
	CHECK(secret != NULL);
	if (secret)
		CHECK_STR(secret, "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
		                  "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
		                  "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=");
	free(secret);

	/* a count libpq would never pass is refused, not looped on */
	errstr = NULL;
	CHECK_INT(scram_SaltedPassword("pencil", (const char *)salt, 16, 0, salted, &errstr), -1);
	CHECK(errstr != NULL);
	/* so is a count from a hostile network (the connection is plain):
	 * 2^31 - 1 would hold the loop for minutes; the limit itself passes */
	errstr = NULL;
	CHECK_INT(
	        scram_SaltedPassword("pencil", (const char *)salt, 16, 2147483647, salted, &errstr),
	        -1);
	CHECK(errstr != NULL && strstr(errstr, "limit") != NULL);
	errstr = NULL;
	CHECK_INT(scram_SaltedPassword("pencil", (const char *)salt, 16, SCRAM_MAX_ITERATIONS + 1,
	                               salted, &errstr),
	          -1);
	CHECK_INT(scram_SaltedPassword("pencil", (const char *)salt, 16, SCRAM_MAX_ITERATIONS,
	                               salted, &errstr),
	          0);
}

static PGconn *
scram_test_connect(const struct db_config *cfg, const char *password)
{
	char port[16];
	snprintf(port, sizeof port, "%u", (unsigned)cfg->port);
	const char *keys[] = {"host", "port", "dbname", "user", "password", "connect_timeout",
	                      NULL};
	const char *vals[] = {cfg->host, port, cfg->dbname, cfg->user, password, "5", NULL};
	return PQconnectdbParams(keys, vals, 0);
}

/* The real server: logging in runs libpq's SCRAM exchange over our
 * derivation (the server checks our ClientProof, libpq checks the
 * server's signature with our ServerKey); a wrong password is refused, so
 * the login above is not trust. Then the role's verifier is replaced by
 * one our scram_build_secret made (PQencryptPasswordConn, a fresh salt)
 * for the same password, and the login still works. */
TEST(scram_real_postgresql_login)
{
	struct db_config cfg;
	if (services_pg("scram_real_postgresql_login", &cfg) < 0)
		return;
	PGconn *conn = scram_test_connect(&cfg, cfg.password);
	if (!CHECK_INT(PQstatus(conn), CONNECTION_OK)) {
		printf("  %s", PQerrorMessage(conn));
		PQfinish(conn);
		return;
	}
	PGresult *r = PQexec(conn, "SHOW password_encryption");
	CHECK_STR(PQresultStatus(r) == PGRES_TUPLES_OK ? PQgetvalue(r, 0, 0) : "", "scram-sha-256");
	PQclear(r);

	char *secret = PQencryptPasswordConn(conn, cfg.password, cfg.user, "scram-sha-256");
	CHECK(secret != NULL && strncmp(secret, "SCRAM-SHA-256$4096:", 19) == 0);
	if (secret) {
		char sql[512];
		snprintf(sql, sizeof sql, "ALTER ROLE CURRENT_USER PASSWORD '%s'", secret);
		r = PQexec(conn, sql);
		CHECK_INT(PQresultStatus(r), PGRES_COMMAND_OK);
		PQclear(r);
		PQfreemem(secret);
	}
	PQfinish(conn);

	conn = scram_test_connect(&cfg, cfg.password);
	CHECK_INT(PQstatus(conn), CONNECTION_OK);
	PQfinish(conn);

	conn = scram_test_connect(&cfg, "not-the-password");
	CHECK_INT(PQstatus(conn), CONNECTION_BAD);
	CHECK(strstr(PQerrorMessage(conn), "password authentication failed") != NULL);
	PQfinish(conn);
}
