/* zstream — Discord's zlib-stream transport compression, the inflating side.
 *
 * With `compress=zlib-stream` the gateway compresses everything it sends on
 * a connection as ONE zlib stream, flushed with Z_SYNC_FLUSH after each
 * payload (Discord docs, Gateway, "Transport Compression"). So:
 *   - one inflate context lives as long as the connection; a reconnect
 *     starts a new stream and must call zstream_reset;
 *   - the bytes of one payload may arrive split over any number of
 *     WebSocket messages; a payload is complete when the bytes received so
 *     far end with the sync-flush marker 00 00 ff ff.
 *
 * What it does: inflates each fed chunk at once (the compressed bytes are
 * not kept, only the last four, to spot the marker across chunks) into one
 * bounded output buffer. What it does not: compress, or split two payloads
 * that arrive inside one chunk (Discord never does; they come out joined).
 *
 * Big payloads can go out in pieces instead (zstream_set_sink): once one
 * payload's inflated text passes the spill threshold, what is inflated so
 * far and then every further piece (at most ZSTREAM_STEP bytes) is handed
 * to a sink as it comes, so the buffer never holds more than the threshold
 * plus a step; smaller payloads are untouched (the hot path stays one
 * buffer and one call). The gateway prunes a GUILD_CREATE of a MiB that way
 * (jsonkeep.h) rather than holding it whole.
 *
 * A corrupt stream is an error with a message, never a crash; after an
 * error every feed fails until zstream_reset. zlib's memory comes from
 * mem.h, so allocation-failure sweeps reach it. */
#ifndef AGORA_ZSTREAM_H
#define AGORA_ZSTREAM_H

#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "buf.h"

/* A cap for one inflated gateway payload. The largest Discord sends is
 * GUILD_CREATE, which for a guild of tens of thousands of members and
 * hundreds of channels runs to a few MiB; more than this is a broken or
 * hostile stream (a compression bomb), not a payload. */
#define ZSTREAM_PAYLOAD_MAX_DEFAULT (8u << 20)

/* Output is inflated in steps of at most this much buffer growth, so a
 * small payload never reserves the whole limit up front; it is also the
 * largest piece a sink gets after the first. */
#define ZSTREAM_STEP (64 * 1024)

/* Receives a piece of a payload in spill mode; data is borrowed for the
 * call. The pieces of one payload come in order; the payload ends with the
 * ZSTREAM_DONE of the feed that completes it (zstream_spilled is then 1). */
typedef void zstream_sink_fn(void *ctx, const char *data, size_t len);

enum zstream_result {
	ZSTREAM_MORE, /* chunk taken; the payload is not complete yet */
	ZSTREAM_DONE, /* a payload is complete: zstream_data() */
	ZSTREAM_ERR,  /* corrupt stream, payload over the limit, or no memory */
};

struct zstream {
	z_stream z;
	int z_ready;      /* inflateInit done (lazily, on the first feed) */
	int failed;       /* an error happened; only zstream_reset helps */
	int ended;        /* the peer ended the zlib stream (Z_STREAM_END) */
	int payload_done; /* out holds a whole payload; the next feed clears it */
	int fed;          /* bytes came since the last payload was done */
	uint8_t tail[4];  /* the last compressed bytes seen, for the marker */
	size_t tail_len;  /* how many of tail are valid (< 4 only at the start) */
	struct buf out;   /* the payload being inflated; out.max is the limit */
	size_t spill_at;  /* a payload past this many bytes goes to the sink */
	zstream_sink_fn *sink;
	void *sink_ctx;
	int spilled;        /* the payload under way went to the sink */
	size_t spilled_len; /* bytes of it handed to the sink so far */
	char error[160];
};

/* Prepares zs for payloads of at most max_payload inflated bytes. Allocates
 * nothing (the inflate context is made on the first feed). */
void zstream_init(struct zstream *zs, size_t max_payload);
/* Spill mode: a payload whose inflated text passes spill_at bytes goes to
 * fn in pieces instead of the buffer (see above); the limit still counts
 * the whole payload. fn NULL turns it off. Kept across zstream_reset. */
void zstream_set_sink(struct zstream *zs, size_t spill_at, zstream_sink_fn *fn, void *ctx);
/* 1 after a DONE whose payload went to the sink (zstream_data is then
 * empty), else 0. */
int zstream_spilled(const struct zstream *zs);
/* Frees the context and the buffer; zs may be zstream_init'ed again. */
void zstream_free(struct zstream *zs);
/* Forgets the stream (a new connection starts a new zlib stream); keeps the
 * limit, clears any error. */
void zstream_reset(struct zstream *zs);
/* Inflates one received chunk (one WebSocket message). The caller keeps
 * data. DONE when the chunk completes a payload. */
enum zstream_result zstream_feed(struct zstream *zs, const void *data, size_t len);
/* The same for one piece of a WebSocket message (ws_set_stream_binary):
 * more = 1 while pieces of the message follow, so a payload can only end
 * with the message's last piece (the marker is looked for at the end of a
 * message, as Discord says, not wherever a read happened to stop). */
enum zstream_result zstream_feed_part(struct zstream *zs, const void *data, size_t len, int more);
/* The completed payload (NUL-terminated, *len bytes) after DONE; borrowed,
 * valid until the next feed or reset. */
const char *zstream_data(const struct zstream *zs, size_t *len);
/* Why the last feed failed, as a sentence; "" when it did not. */
const char *zstream_error(const struct zstream *zs);

#endif
