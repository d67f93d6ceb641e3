/* base64 — the standard alphabet with padding (RFC 4648 section 4), for
 * the WebSocket handshake keys (RFC 6455 4.1). Encoding only: nothing in
 * Agora decodes base64. */
#ifndef AGORA_BASE64_H
#define AGORA_BASE64_H

#include <stddef.h>

/* The size base64_encode needs for len bytes, counting the NUL. */
#define BASE64_SIZE(len) ((((len) + 2) / 3) * 4 + 1)

/* Writes the encoding of len bytes of data, NUL-terminated, into out (of
 * out_size bytes). Returns its length, or -1 when out is too small (out is
 * then ""). */
long base64_encode(const void *data, size_t len, char *out, size_t out_size);

#endif
