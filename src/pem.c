/* pem — see pem.h. */
#include "pem.h"

#include <string.h>

static const char pem_begin[] = "-----BEGIN ";
static const char pem_end[] = "-----END ";
static const char pem_dashes[] = "-----";

/* The line starting at p: its end (the '\n' or text's end). */
static size_t
pem_line_end(const char *text, size_t len, size_t p)
{
	const char *nl = memchr(text + p, '\n', len - p);
	return nl ? (size_t)(nl - text) : len;
}

static int
pem_starts(const char *text, size_t p, size_t end, const char *prefix, size_t n)
{
	return end - p >= n && memcmp(text + p, prefix, n) == 0;
}

/* The value of a base64 character, or -1. */
static int
pem_b64(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

int
pem_next(const char *text, size_t len, size_t *pos, const char **label, size_t *label_len,
         struct buf *der, const char **why)
{
	size_t p = *pos;
	/* the BEGIN line */
	for (;;) {
		if (p >= len) {
			*pos = len;
			return 0;
		}
		size_t end = pem_line_end(text, len, p);
		if (pem_starts(text, p, end, pem_begin, sizeof pem_begin - 1)) {
			size_t l = p + sizeof pem_begin - 1;
			/* the label runs to the next "-----" on the line */
			size_t e = l;
			while (e < end &&
			       !pem_starts(text, e, end, pem_dashes, sizeof pem_dashes - 1))
				e++;
			if (e < end) {
				*label = text + l;
				*label_len = e - l;
				p = end < len ? end + 1 : len;
				break;
			}
		}
		p = end < len ? end + 1 : len;
	}
	/* the body, to the END line */
	unsigned acc = 0, bits = 0, chars = 0, pads = 0;
	unsigned char out[3 * 64];
	size_t n_out = 0;
	for (;;) {
		if (p >= len) {
			*why = "no END line";
			return -1;
		}
		size_t end = pem_line_end(text, len, p);
		if (pem_starts(text, p, end, pem_end, sizeof pem_end - 1)) {
			p = end < len ? end + 1 : len;
			break;
		}
		for (size_t i = p; i < end; i++) {
			unsigned char c = (unsigned char)text[i];
			if (c == ' ' || c == '\t' || c == '\r')
				continue;
			if (c == '=') {
				pads++;
				continue;
			}
			int v = pem_b64(c);
			if (v < 0 || pads) {
				*why = "invalid base64";
				return -1;
			}
			chars++;
			acc = (acc << 6) | (unsigned)v;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				out[n_out++] = (unsigned char)(acc >> bits);
				acc &= (1u << bits) - 1;
				if (n_out == sizeof out) {
					if (buf_append(der, out, n_out) < 0) {
						*why = "out of memory";
						return -1;
					}
					n_out = 0;
				}
			}
		}
		p = end < len ? end + 1 : len;
	}
	/* 4n+1 characters cannot encode whole bytes; padding makes whole
	 * groups of four and no more */
	if (chars % 4 == 1 || (pads && ((chars + pads) % 4 != 0 || pads > 2))) {
		*why = "invalid base64";
		return -1;
	}
	if (n_out && buf_append(der, out, n_out) < 0) {
		*why = "out of memory";
		return -1;
	}
	*pos = p;
	return 1;
}
