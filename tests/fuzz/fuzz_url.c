/* fuzz_url — arbitrary bytes as an absolute URL (config values, the
 * gateway URL from GET /gateway/bot, READY's resume_gateway_url).
 *
 * Besides memory errors (ASan), the fuzzer fails when an accepted URL
 * breaks what url.h promises: a host that is empty, upper-case or holds a
 * byte that could not go on a request line; a target that does not start
 * with '/' or holds a space, a control byte or a '#'; a port of 0; an
 * authority that does not fit its documented bound, or that url_parse would
 * not read back to the same host and port. Errors must be one sentence. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[URL_TARGET_MAX + URL_HOST_MAX + 64];
	if (size >= sizeof text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	static struct url u, again; /* 8 KB each: not on the fuzzer's stack */
	char err[200];
	memset(err, 'Z', sizeof err);
	if (url_parse(text, &u, err, sizeof err) < 0) {
		if (!memchr(err, '\0', sizeof err) || !err[0])
			abort();
		return 0;
	}
	size_t hl = strnlen(u.host, sizeof u.host);
	if (hl == 0 || hl > URL_HOST_MAX || u.port == 0)
		abort();
	for (size_t i = 0; i < hl; i++) {
		unsigned char c = (unsigned char)u.host[i];
		if (c <= 0x20 || c >= 0x7f || (c >= 'A' && c <= 'Z') || c == '/' || c == '?' ||
		    c == '#' || c == '@')
			abort();
	}
	size_t tl = strnlen(u.target, sizeof u.target);
	if (tl == 0 || tl > URL_TARGET_MAX || u.target[0] != '/')
		abort();
	for (size_t i = 0; i < tl; i++) {
		unsigned char c = (unsigned char)u.target[i];
		if (c <= 0x20 || c == 0x7f || c == '#')
			abort();
	}
	if (u.secure != (u.scheme == URL_HTTPS || u.scheme == URL_WSS))
		abort();
	char authority[URL_HOST_MAX + 16];
	int n = url_authority(&u, authority, sizeof authority);
	if (n < 0 || (size_t)n != strlen(authority))
		abort();
	/* a tiny buffer is refused, never overrun */
	char small[4];
	memset(small, 'Z', sizeof small);
	if (url_authority(&u, small, 3) >= 0 && strlen(authority) >= 3)
		abort();
	if (small[3] != 'Z')
		abort();
	/* the authority reads back as the same host and port */
	static const char *const schemes[] = {"http", "https", "ws", "wss"};
	char rebuilt[sizeof authority + 16];
	snprintf(rebuilt, sizeof rebuilt, "%s://%s/", schemes[u.scheme], authority);
	if (url_parse(rebuilt, &again, err, sizeof err) < 0 || strcmp(again.host, u.host) != 0 ||
	    again.port != u.port || again.ipv6 != u.ipv6)
		abort();
	return 0;
}
