/* test_saslprep.c — Agora's pg_saslprep (src/saslprep.c), linked in place
 * of libpq's: ASCII passwords come back unchanged, anything else is left
 * for libpq to use as given. The SCRAM login itself is proven by every
 * database test (tests/services.sh sets a password, scram-sha-256). */
#include <stdlib.h>
#include <string.h>

#include "test.h"

int pg_saslprep(const char *input, char **output);

TEST(saslprep_ascii_unchanged_other_left_to_libpq)
{
	char *out = (char *)"untouched";

	CHECK_INT(pg_saslprep("s3cret pass~!", &out), 0);
	CHECK(out != NULL);
	if (out)
		CHECK_STR(out, "s3cret pass~!");
	free(out);

	CHECK_INT(pg_saslprep("", &out), 0);
	CHECK(out != NULL && out[0] == '\0');
	free(out);

	/* "pässword": libpq then uses the bytes as given (SASLPREP_PROHIBITED) */
	out = (char *)"untouched";
	CHECK_INT(pg_saslprep("p\xc3\xa4ssword", &out), -3);
	CHECK(out == NULL);
}
