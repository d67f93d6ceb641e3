/* pem — the objects of a PEM file (RFC 7468): "-----BEGIN LABEL-----",
 * base64 lines, "-----END LABEL-----".
 *
 * Why not BearSSL's br_pem_decoder: it runs in BearSSL's T0 interpreter at
 * about a thousand instructions per input byte, so reading Debian's CA
 * bundle (144 roots, 200 KB) for TLS_CA_FILE took some 15 ms of CPU at
 * every start; this reads it in well under one (bench_startup).
 *
 * Accepted as BearSSL accepts it: text outside objects is ignored; a BEGIN
 * line starts at the beginning of a line; spaces, tabs and CR may sit
 * anywhere in the body; '=' padding is optional, but after it only more
 * '=' may follow. Refused: a byte outside the base64 alphabet, a body of
 * 4n+1 characters, an object without its END line. The label of the END
 * line is not compared (nor is it by BearSSL). */
#ifndef AGORA_PEM_H
#define AGORA_PEM_H

#include <stddef.h>

#include "buf.h"

/* Reads the next object of text[0..len) from *pos: its label (pointing
 * into text; not NUL-terminated) and its decoded body, appended to der
 * (which the caller resets). Returns 1 with *pos past the object, 0 when
 * no object follows, or -1 with *why set ("invalid base64", "no END
 * line", "out of memory" when der cannot grow). */
int pem_next(const char *text, size_t len, size_t *pos, const char **label, size_t *label_len,
             struct buf *der, const char **why);

#endif
