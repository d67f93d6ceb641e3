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

/* The value of each byte in base64: 0-63, or PEM_SKIP (space, tab, CR),
 * PEM_PAD ('='), PEM_BAD (anything else). */
enum { PEM_SKIP = 64, PEM_PAD = 65, PEM_BAD = 66 };

/* the values of "A-Za-z0-9+/" (RFC 4648 4) at their ASCII codes; tab, CR
 * and space PEM_SKIP, "=" PEM_PAD */
static const unsigned char pem_table[256] = {
        66, 66, 66, 66, 66, 66, 66, 66, 66, 64, 66, 66, 66, 64, 66, 66, 66, 66, 66, 66, 66, 66,
        66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 64, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 62,
        66, 66, 66, 63, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 66, 66, 66, 65, 66, 66, 66, 0,
        1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
        23, 24, 25, 66, 66, 66, 66, 66, 66, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38,
        39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 66, 66, 66, 66, 66, 66, 66, 66, 66,
        66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
        66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
        66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
        66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
        66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
        66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66, 66,
};

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
			unsigned v = pem_table[(unsigned char)text[i]];
			if (v == PEM_SKIP)
				continue;
			if (v == PEM_PAD) {
				pads++;
				continue;
			}
			if (v == PEM_BAD || pads) {
				*why = "invalid base64";
				return -1;
			}
			chars++;
			acc = (acc << 6) | v;
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
