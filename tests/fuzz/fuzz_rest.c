/* fuzz_rest — Discord error bodies into rest's readable sentence, and the
 * audit-reason encoder.
 *
 * Any input is parsed as JSON and, if it parses, turned into the error
 * sentence at several capacities: no crash, no read or write out of
 * bounds, always NUL-terminated within the capacity. The same bytes go
 * through rest_encode_reason, whose output must hold only unreserved
 * characters and "%XX" escapes, and through rest_log_path, which must
 * never show a webhook or interaction token. */
#include <stdint.h>
#include <stdio.h>
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

	/* the log form of the bytes as a path: bounded, NUL-terminated, and
	 * for /webhooks/ID/TOKEN... and /interactions/ID/TOKEN/... the token
	 * never shows (issue 9.4) */
	static const size_t path_caps[] = {1, 2, 16, REST_LOG_PATH_MAX};
	for (size_t i = 0; i < sizeof path_caps / sizeof *path_caps; i++) {
		memset(out, 'Z', sizeof out);
		rest_log_path(text, out, path_caps[i]);
		if (strnlen(out, path_caps[i]) >= path_caps[i] || out[path_caps[i]] != 'Z')
			abort();
	}
	static const char *const prefixes[] = {"/webhooks/1/", "/interactions/1/"};
	for (size_t i = 0; i < 2; i++) {
		/* a token of the input's bytes up to the first '/' or '?' */
		size_t tlen = strcspn(text, "/?");
		if (tlen < 8 || tlen > 100)
			break;
		char path[160], shown[REST_LOG_PATH_MAX];
		int n = snprintf(path, sizeof path, "%s%.*s/x", prefixes[i], (int)tlen, text);
		if (n < 0 || (size_t)n >= sizeof path)
			break;
		rest_log_path(path, shown, sizeof shown);
		char token[101];
		memcpy(token, text, tlen);
		token[tlen] = '\0';
		/* (after the prefix, which the bytes may repeat) */
		size_t skip = strlen(prefixes[i]);
		if (strlen(shown) < skip || strstr(shown + skip, token))
			abort();
	}
	free(text);
	return 0;
}
