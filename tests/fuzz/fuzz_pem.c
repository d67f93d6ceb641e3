/* fuzz_pem — arbitrary bytes as a PEM file (TLS_CA_FILE: src/pem.c).
 *
 * Besides memory errors (ASan), the fuzzer fails when pem_next breaks what
 * pem.h promises: the position goes backwards or past the end; a label
 * that is not inside the text or spans a line; more decoded bytes than
 * the base64 characters read can hold; an error that is not one of the
 * documented ones. Each decoded object, written back as canonical PEM (64
 * columns, padded), must read back to the same label and bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
fuzz_pem_encode(struct buf *out, const char *label, size_t label_len, const struct buf *der)
{
	static const char b64[] =
	        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	/* the label as bytes: it may hold a NUL */
	buf_puts(out, "-----BEGIN ");
	buf_append(out, label, label_len);
	buf_puts(out, "-----\n");
	size_t col = 0;
	for (size_t i = 0; i < der->len; i += 3) {
		const unsigned char *p = (const unsigned char *)der->data + i;
		size_t n = der->len - i < 3 ? der->len - i : 3;
		unsigned v = (unsigned)p[0] << 16 | (n > 1 ? (unsigned)p[1] << 8 : 0) |
		             (n > 2 ? p[2] : 0);
		char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], n > 1 ? b64[(v >> 6) & 63] : '=',
		             n > 2 ? b64[v & 63] : '='};
		buf_append(out, q, 4);
		col += 4;
		if (col == 64) {
			buf_putc(out, '\n');
			col = 0;
		}
	}
	buf_puts(out, col ? "\n-----END " : "-----END ");
	buf_append(out, label, label_len);
	buf_puts(out, "-----\n");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data;
	struct buf der, again, pem;
	buf_init(&der, 1 << 20);
	buf_init(&again, 1 << 20);
	buf_init(&pem, 2 << 20);
	size_t pos = 0;
	for (;;) {
		size_t before = pos;
		const char *label = NULL, *why = NULL;
		size_t label_len = 0;
		buf_reset(&der);
		int rc = pem_next(text, size, &pos, &label, &label_len, &der, &why);
		if (rc == 0) {
			if (pos != size)
				abort();
			break;
		}
		if (rc < 0) {
			if (!why ||
			    (strcmp(why, "invalid base64") != 0 &&
			     strcmp(why, "no END line") != 0 && strcmp(why, "out of memory") != 0))
				abort();
			break;
		}
		if (rc != 1 || pos <= before || pos > size)
			abort();
		if (label < text + before || label + label_len > text + pos ||
		    memchr(label, '\n', label_len))
			abort();
		/* 3 bytes per 4 characters of what was consumed, at most */
		if (der.len > (pos - before) / 4 * 3 + 3)
			abort();
		/* canonical PEM reads back to the same object */
		buf_reset(&pem);
		fuzz_pem_encode(&pem, label, label_len, &der);
		size_t p2 = 0;
		const char *l2 = NULL, *w2 = NULL;
		size_t l2_len = 0;
		buf_reset(&again);
		if (pem_next(pem.data, pem.len, &p2, &l2, &l2_len, &again, &w2) != 1 ||
		    p2 != pem.len || l2_len != label_len || memcmp(l2, label, label_len) != 0 ||
		    again.len != der.len || (der.len && memcmp(again.data, der.data, der.len) != 0))
			abort();
	}
	buf_free(&der);
	buf_free(&again);
	buf_free(&pem);
	return 0;
}
