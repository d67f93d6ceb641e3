/* jsoncheck — is a file valid JSON (RFC 8259, as strictly as Agora reads it)?
 *
 *     jsoncheck FILE
 *
 * Exit status 0 when FILE holds one valid JSON text, 1 when it does not (the
 * error, with its byte offset, goes to stderr), 2 on a usage or I/O error.
 * tests/cli/jsoncheck.sh runs it over tests/data/json/{valid,invalid}. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "mem.h"

/* Larger files are refused: nothing Agora reads comes close (the gateway's
 * messages are bounded far lower), and the whole file is held in memory. */
#define JSONCHECK_MAX_FILE (64u << 20)

/* Reads the whole file into *out (mem_alloc'd); its length or -1. */
static long
read_all(const char *path, char **out)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "jsoncheck: %s: %s\n", path, strerror(errno));
		return -1;
	}
	size_t cap = 4096, len = 0;
	char *data = mem_alloc(cap);
	while (data) {
		size_t got = fread(data + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
		if (len == cap) {
			char *bigger = cap < JSONCHECK_MAX_FILE ? mem_realloc(data, cap * 2) : NULL;
			if (!bigger) {
				fprintf(stderr,
				        "jsoncheck: %s: larger than %u bytes or out of memory\n",
				        path, JSONCHECK_MAX_FILE);
				mem_free(data);
				fclose(f);
				return -1;
			}
			data = bigger;
			cap *= 2;
		}
	}
	int failed = ferror(f) || !data;
	fclose(f);
	if (failed) {
		fprintf(stderr, "jsoncheck: %s: read error\n", path);
		mem_free(data);
		return -1;
	}
	*out = data;
	return (long)len;
}

int
main(int argc, char **argv)
{
	if (argc != 2 || argv[1][0] == '\0') {
		fprintf(stderr, "usage: jsoncheck FILE\n");
		return 2;
	}
	char *text;
	long len = read_all(argv[1], &text);
	if (len < 0)
		return 2;
	struct json_doc doc;
	json_doc_init(&doc, JSONCHECK_MAX_FILE);
	int valid = json_parse(&doc, text, (size_t)len) != NULL;
	if (!valid)
		fprintf(stderr, "%s: %s\n", argv[1], json_doc_error(&doc));
	json_doc_free(&doc);
	mem_free(text);
	return valid ? 0 : 1;
}
