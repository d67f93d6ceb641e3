/* base64 — see base64.h. */
#include "base64.h"

#include <stdint.h>

static const char base64_alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

long
base64_encode(const void *data, size_t len, char *out, size_t out_size)
{
	const uint8_t *in = data;
	if (out_size == 0)
		return -1;
	if (len > (SIZE_MAX / 4) * 3 - 3 || out_size < BASE64_SIZE(len)) {
		out[0] = '\0';
		return -1;
	}
	size_t o = 0, i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = base64_alphabet[v >> 18];
		out[o++] = base64_alphabet[(v >> 12) & 63];
		out[o++] = base64_alphabet[(v >> 6) & 63];
		out[o++] = base64_alphabet[v & 63];
	}
	/* the last one or two bytes, padded with '=' (RFC 4648 4, cases 2, 3) */
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < len)
			v |= (uint32_t)in[i + 1] << 8;
		out[o++] = base64_alphabet[v >> 18];
		out[o++] = base64_alphabet[(v >> 12) & 63];
		out[o++] = i + 1 < len ? base64_alphabet[(v >> 6) & 63] : '=';
		out[o++] = '=';
	}
	out[o] = '\0';
	return (long)o;
}
