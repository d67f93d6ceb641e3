/* fuzz_llm.c — arbitrary bytes as an Open WebUI answer body: parsing never
 * crashes, and every outcome is either a name that obeys Discord's
 * channel-name rules or an "LLM error: ..." message that fits the column.
 * The same bytes also go through llm_channel_name directly. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "llm.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_name(const char *name)
{
	size_t n = strlen(name);
	if (n > LLM_NAME_MAX)
		abort();
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
			abort();
	}
	if (n && (name[0] == '-' || name[0] == '_' || name[n - 1] == '-' || name[n - 1] == '_'))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy = malloc(size + 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	copy[size] = 0;
	char name[LLM_NAME_MAX + 1], err[LLM_ERROR_MAX + 1];
	if (llm_parse_answer(copy, size, name, sizeof name, err, sizeof err) == 0) {
		if (!name[0])
			abort(); /* success always carries a name */
		check_name(name);
	} else if (strncmp(err, "LLM error: ", 11) != 0 || name[0]) {
		abort();
	}
	llm_channel_name(copy, size, name, sizeof name);
	check_name(name);
	free(copy);
	return 0;
}
