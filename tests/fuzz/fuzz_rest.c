/* fuzz_rest — Discord error bodies into rest's readable sentence, and the
 * audit-reason encoder.
 *
 * Any input is parsed as JSON and, if it parses, turned into the error
 * sentence at several capacities: no crash, no read or write out of
 * bounds, always NUL-terminated within the capacity. The same bytes go
 * through rest_encode_reason, whose output must hold only unreserved
 * characters and "%XX" escapes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "rest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_doc doc;
	json_doc_init(&doc, 1 << 20);
	const struct json_value *root = json_parse(&doc, (const char *)data, size);
	static const size_t caps[] = {1, 4, 5, 17, 64, REST_ERROR_MAX};
	char out[REST_ERROR_MAX + 8];
	for (size_t i = 0; i < sizeof caps / sizeof *caps; i++) {
		memset(out, 'Z', sizeof out);
		rest_error_sentence(400, "Bad Request", root, out, caps[i]);
		if (strnlen(out, caps[i]) >= caps[i] || out[caps[i]] != 'Z')
			abort();
	}
	json_doc_free(&doc);

	/* the encoder over the raw bytes (up to the first NUL) */
	char *text = malloc(size + 1);
	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	size_t cap = strlen(text) * 3 + 1;
	char *encoded = malloc(cap);
	if (encoded && rest_encode_reason(text, encoded, cap) >= 0) {
		for (const char *p = encoded; *p; p++) {
			int plain = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			            (*p >= '0' && *p <= '9') || strchr("-._~%", *p);
			if (!plain)
				abort();
		}
	}
	free(encoded);
	free(text);
	return 0;
}
