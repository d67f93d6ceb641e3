/* fuzz_discord — arbitrary bytes as an INTERACTION_CREATE's d, through
 * everything discord.c reads from it: interaction_parse, the option
 * getters (plain and checked), attachments, modal values in both shapes,
 * the admin check, and the lengths Discord counts on what was read.
 *
 * Besides memory errors (ASan), the fuzzer fails when a getter breaks its
 * promise: a token or name that is not NUL-terminated within its bound; a
 * row id that is OK but outside 1..2^31-1; a checked text that is OK while
 * holding a NUL, or INVALID without one; a text prefix longer than the
 * text or cutting a character. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "discord.h"
#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const names[] = {"description", "report_id", "proposal_id", "file",
                                    "explanation", "name",      "emoji",       "value"};
#define NAMES (sizeof names / sizeof names[0])

static void
check_text(int rc, const char *s, size_t len)
{
	if (rc == DISCORD_OPTION_ABSENT) {
		if (s || len)
			abort();
		return;
	}
	if (!s || s[len] != '\0')
		abort();
	int has_nul = memchr(s, '\0', len) != NULL;
	if ((rc == DISCORD_OPTION_INVALID) != has_nul || (rc != DISCORD_OPTION_OK && !has_nul))
		abort();
	size_t units = discord_text_length(s, len);
	if (units > len)
		abort();
	for (size_t max = 0; max < 8; max++) {
		size_t cut = discord_text_prefix(s, len, max);
		if (cut > len || discord_text_length(s, cut) > max)
			abort();
		/* never inside a UTF-8 sequence */
		if (cut < len && ((unsigned char)s[cut] & 0xc0) == 0x80 &&
		    ((unsigned char)s[cut - (cut > 0)] & 0x80))
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	const struct json_value *d = json_parse(&doc, (const char *)data, size);
	static struct interaction it; /* 2 KB of roles: not on the stack */
	char err[120];
	if (interaction_parse(d, &it, err, sizeof err) < 0) {
		if (!memchr(err, '\0', sizeof err) || !err[0])
			abort();
		json_doc_free(&doc);
		return 0;
	}
	if (!memchr(it.token, '\0', sizeof it.token) || !memchr(it.name, '\0', sizeof it.name) ||
	    it.role_count > DISCORD_ROLES_MAX)
		abort();
	interaction_is_admin(&it, 0);
	interaction_is_admin(&it, 88);
	for (size_t i = 0; i < NAMES; i++) {
		const char *n = names[i];
		int64_t i64;
		uint64_t u64;
		int32_t id = -1;
		interaction_option(&it, n);
		interaction_option_str(&it, n);
		interaction_option_int(&it, n, &i64);
		interaction_option_id(&it, n, &u64);
		interaction_attachment(&it, n);
		interaction_modal_value(&it, n);
		int rc = interaction_option_row_id(&it, n, &id);
		if (rc == DISCORD_OPTION_OK && (id < 1 || id > DISCORD_ROW_ID_MAX))
			abort();
		if (rc != DISCORD_OPTION_OK && rc != DISCORD_OPTION_ABSENT &&
		    rc != DISCORD_OPTION_INVALID)
			abort();
		const char *s = NULL;
		size_t len = 99;
		rc = interaction_option_text(&it, n, &s, &len);
		check_text(rc, s, len);
		s = NULL;
		len = 99;
		rc = interaction_modal_text(&it, n, &s, &len);
		check_text(rc, s, len);
	}
	json_doc_free(&doc);
	return 0;
}
