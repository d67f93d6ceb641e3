/* buf — the one growable byte buffer (curl's dynbuf).
 *
 * A buf holds len bytes in data, always followed by a NUL so text can be
 * used as a C string, and never grows past max bytes: hostile input hits
 * that limit instead of exhausting memory. Every appender returns 0, or -1
 * when memory runs out or max would be exceeded; on -1 the buffer keeps
 * what it had. A zeroed struct with max set is an empty buffer. */
#ifndef AGORA_BUF_H
#define AGORA_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data; /* NULL until the first append */
	size_t len; /* bytes in use, not counting the trailing NUL */
	size_t cap; /* bytes allocated */
	size_t max; /* the most len may ever be */
};

/* An empty buffer that may grow to max bytes. Allocates nothing. */
void buf_init(struct buf *b, size_t max);
/* Frees the memory; the buffer is empty (and reusable) afterwards. */
void buf_free(struct buf *b);
/* Forgets the contents, keeps the memory. */
void buf_reset(struct buf *b);
/* Makes room for at least extra more bytes. */
int buf_reserve(struct buf *b, size_t extra);
/* Appends len bytes. */
int buf_append(struct buf *b, const void *bytes, size_t len);
/* Appends a NUL-terminated string (without its NUL). */
int buf_puts(struct buf *b, const char *s);
/* Appends one byte. */
int buf_putc(struct buf *b, char c);
/* Appends printf-formatted text. */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Drops the first n bytes (n <= len), moving the rest to the front. */
void buf_consume(struct buf *b, size_t n);
/* The contents as a C string ("" when empty); valid until the next change. */
const char *buf_str(const struct buf *b);

#endif
