/* buf — see buf.h. */
#include "buf.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

void
buf_free(struct buf *b)
{
	mem_free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

int
buf_reserve(struct buf *b, size_t extra)
{
	/* max == SIZE_MAX would make max + 1 wrap: the NUL needs a byte */
	if (extra > b->max || b->len > b->max - extra || b->len + extra == SIZE_MAX)
		return -1;
	size_t need = b->len + extra + 1; /* +1: the trailing NUL */
	if (need <= b->cap)
		return 0;
	/* grow by half again, so n appends cost O(n) copies in total;
	 * every sum below is checked against SIZE_MAX first */
	size_t cap = b->cap == 0 ? 64 : b->cap > SIZE_MAX / 3 * 2 ? SIZE_MAX : b->cap + b->cap / 2;
	if (cap < need)
		cap = need;
	if (b->max < SIZE_MAX && cap > b->max + 1)
		cap = b->max + 1;
	char *data = mem_realloc(b->data, cap);
	if (!data)
		return -1;
	b->data = data;
	b->cap = cap;
	return 0;
}

int
buf_append(struct buf *b, const void *bytes, size_t len)
{
	if (buf_reserve(b, len) < 0)
		return -1;
	if (len)
		memcpy(b->data + b->len, bytes, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int
buf_putc(struct buf *b, char c)
{
	return buf_append(b, &c, 1);
}

int
buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	va_copy(copy, ap);
	int n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return -1;
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
	return 0;
}

int
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

void
buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		buf_reset(b);
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
	b->data[b->len] = '\0';
}

const char *
buf_str(const struct buf *b)
{
	return b->data ? b->data : "";
}
