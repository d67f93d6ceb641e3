/* saslprep — Agora's own pg_saslprep(), linked in place of libpq's.
 *
 * libpq normalizes the database password with SASLprep (RFC 4013) before
 * the SCRAM-SHA-256 exchange. Its implementation carries PostgreSQL's
 * Unicode normalization tables, about 80 KB: more than a tenth of the
 * binary, for passwords that are almost always ASCII. Defining the
 * function here means the static link never pulls libpgcommon's
 * saslprep.o, nor unicode_norm.o with its tables.
 *
 * Behaviour: an ASCII password is returned as it is, exactly as libpq's
 * own pg_saslprep does (RFC 4013 maps and prohibits nothing in ASCII that
 * PostgreSQL checks). Any other password answers SASLPREP_PROHIBITED, on
 * which libpq uses the password unchanged (fe-auth-scram.c), as the server
 * does for a password SASLprep refuses. So a non-ASCII password already in
 * normalized form (what keyboards type) still works; one holding Unicode
 * compatibility characters (ligatures, full-width letters) would not match
 * the server's verifier: README says to use an ASCII password. */
#include <stdlib.h>
#include <string.h>

/* The values of libpq's pg_saslprep_rc (src/include/common/saslprep.h). */
enum {
	SASLPREP_SUCCESS = 0,
	SASLPREP_OOM = -1,
	SASLPREP_PROHIBITED = -3,
};

int pg_saslprep(const char *input, char **output);

int
pg_saslprep(const char *input, char **output)
{
	const unsigned char *p;

	*output = NULL;
	for (p = (const unsigned char *)input; *p; p++)
		if (*p >= 0x80)
			return SASLPREP_PROHIBITED;
	*output = strdup(input);
	return *output ? SASLPREP_SUCCESS : SASLPREP_OOM;
}
