/* fuzz_config.c — arbitrary bytes as a config file, with and without an
 * environment override: parsing never crashes, never leaks, and every
 * problem it reports is one "PATH:LINE: message" line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *
env_lookup(const char *name)
{
	/* one override that is sometimes valid, so both paths run */
	if (strcmp(name, "DB_PORT") == 0)
		return "5433";
	if (strcmp(name, "GUILD_ID") == 0)
		return "12x";
	return NULL;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	for (int with_env = 0; with_env < 2; with_env++) {
		struct config cfg;
		struct buf problems;
		config_defaults(&cfg);
		buf_init(&problems, 1 << 20);
		int n = config_parse(&cfg, "fuzz.conf", (const char *)data, size,
		                     with_env ? env_lookup : NULL, &problems);
		/* every problem is exactly one line naming the file */
		int lines = 0;
		for (size_t i = 0; i < problems.len; i++)
			lines += problems.data[i] == '\n';
		if (n >= 0 && lines != n)
			abort();
		if (problems.len && strncmp(problems.data, "fuzz.conf:", 10) != 0 &&
		    strncmp(problems.data, "environment:", 12) != 0)
			abort();
		config_free(&cfg);
		buf_free(&problems);
	}
	return 0;
}
