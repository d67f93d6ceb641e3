/* zstream — see zstream.h. */
#include "zstream.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "mem.h"

/* A payload buffer larger than this is freed once its payload is read. */
#define ZSTREAM_KEEP (256 * 1024)

/* the Z_SYNC_FLUSH marker: an empty stored block (RFC 1951 3.2.4) */
static const uint8_t zstream_marker[4] = {0x00, 0x00, 0xff, 0xff};

static voidpf
zstream_zalloc(voidpf opaque, uInt items, uInt size)
{
	(void)opaque;
	return mem_calloc(items, size);
}

static void
zstream_zfree(voidpf opaque, voidpf address)
{
	(void)opaque;
	mem_free(address);
}

static enum zstream_result
zstream_fail(struct zstream *zs, const char *what, const char *detail)
{
	snprintf(zs->error, sizeof zs->error, "zlib-stream: %s%s%s", what, detail ? ": " : "",
	         detail ? detail : "");
	zs->failed = 1;
	zs->spilled = 0;
	zs->spilled_len = 0;
	buf_reset(&zs->out);
	return ZSTREAM_ERR;
}

void
zstream_init(struct zstream *zs, size_t max_payload)
{
	memset(zs, 0, sizeof *zs);
	buf_init(&zs->out, max_payload);
}

void
zstream_free(struct zstream *zs)
{
	if (zs->z_ready)
		inflateEnd(&zs->z);
	zs->z_ready = 0;
	buf_free(&zs->out);
}

void
zstream_reset(struct zstream *zs)
{
	size_t max = zs->out.max;
	/* the context is freed rather than inflateReset: a failed init or a
	 * failed allocation inside inflate leaves nothing half-made behind */
	if (zs->z_ready)
		inflateEnd(&zs->z);
	struct buf out = zs->out;
	size_t spill_at = zs->spill_at;
	zstream_sink_fn *sink = zs->sink;
	void *sink_ctx = zs->sink_ctx;
	memset(zs, 0, sizeof *zs);
	zs->out = out;
	zs->out.max = max;
	zs->spill_at = spill_at;
	zs->sink = sink;
	zs->sink_ctx = sink_ctx;
	buf_reset(&zs->out);
}

void
zstream_set_sink(struct zstream *zs, size_t spill_at, zstream_sink_fn *fn, void *ctx)
{
	zs->spill_at = spill_at;
	zs->sink = fn;
	zs->sink_ctx = ctx;
}

int
zstream_spilled(const struct zstream *zs)
{
	return zs->payload_done && zs->spilled;
}

/* In spill mode, hands what the buffer holds to the sink and empties it. */
static void
zstream_spill(struct zstream *zs)
{
	if (!zs->sink || zs->out.len == 0 || (!zs->spilled && zs->out.len < zs->spill_at))
		return;
	zs->spilled = 1;
	zs->spilled_len += zs->out.len;
	zs->sink(zs->sink_ctx, zs->out.data, zs->out.len);
	buf_reset(&zs->out);
}

/* Remembers the last four compressed bytes seen, across chunks. */
static void
zstream_note_tail(struct zstream *zs, const uint8_t *data, size_t len)
{
	if (len >= 4) {
		memcpy(zs->tail, data + len - 4, 4);
		zs->tail_len = 4;
		return;
	}
	size_t keep = zs->tail_len + len > 4 ? 4 - len : zs->tail_len;
	memmove(zs->tail, zs->tail + zs->tail_len - keep, keep);
	memcpy(zs->tail + keep, data, len);
	zs->tail_len = keep + len;
}

/* The end of a message: DONE when the bytes so far end with the marker
 * (or the stream ended). A spilled payload's buffer goes back at once. */
static enum zstream_result
zstream_payload_end(struct zstream *zs)
{
	if (!zs->ended && !(zs->tail_len == 4 && memcmp(zs->tail, zstream_marker, 4) == 0))
		return ZSTREAM_MORE;
	zs->payload_done = 1;
	if (zs->spilled)
		buf_free(&zs->out);
	return ZSTREAM_DONE;
}

enum zstream_result
zstream_feed(struct zstream *zs, const void *data, size_t len)
{
	return zstream_feed_part(zs, data, len, 0);
}

enum zstream_result
zstream_feed_part(struct zstream *zs, const void *data, size_t len, int more)
{
	if (zs->failed)
		return ZSTREAM_ERR;
	if (zs->payload_done) {
		/* a big payload's buffer (a GUILD_CREATE of a MiB) is given
		 * back rather than kept for the small ones that follow */
		if (zs->out.cap > ZSTREAM_KEEP || zs->spilled)
			buf_free(&zs->out);
		buf_reset(&zs->out);
		zs->payload_done = 0;
		zs->spilled = 0;
		zs->spilled_len = 0;
		zs->fed = 0;
	}
	if (len == 0) {
		/* an empty message, or the empty last piece of one: a payload
		 * ends here only if bytes came since the last one */
		if (more || !zs->fed)
			return ZSTREAM_MORE;
		return zstream_payload_end(zs);
	}
	if (zs->ended)
		return zstream_fail(zs, "data after the end of the stream", NULL);
	if (!zs->z_ready) {
		memset(&zs->z, 0, sizeof zs->z);
		zs->z.zalloc = zstream_zalloc;
		zs->z.zfree = zstream_zfree;
		int rc = inflateInit(&zs->z);
		if (rc != Z_OK) {
			/* inflateInit frees what it got on failure */
			return zstream_fail(
			        zs, rc == Z_MEM_ERROR ? "out of memory" : "inflateInit failed",
			        NULL);
		}
		zs->z_ready = 1;
		/* no Adler-32 over what is inflated: it only guards the stream's
		 * end, which Discord never sends, TLS already guards the bytes,
		 * and it was ~7% of the bot's CPU in a message burst */
		inflateValidate(&zs->z, 0);
	}

	const uint8_t *in = data;
	size_t left = len;
	for (;;) {
		/* zlib counts in uInt; feed huge chunks in slices */
		if (zs->z.avail_in == 0 && left > 0) {
			uInt slice = left > UINT_MAX ? UINT_MAX : (uInt)left;
			zs->z.next_in = (Bytef *)(uintptr_t)in;
			zs->z.avail_in = slice;
			in += slice;
			left -= slice;
		}
		int rc;
		/* the limit counts the whole payload, spilled pieces included */
		size_t total = zs->spilled_len + zs->out.len;
		if (total >= zs->out.max) {
			/* full: inflate into a one-byte probe to learn whether the
			 * payload has more to give, which would pass the limit */
			uint8_t probe;
			zs->z.next_out = &probe;
			zs->z.avail_out = 1;
			rc = inflate(&zs->z, Z_NO_FLUSH);
			if (zs->z.avail_out == 0)
				return zstream_fail(zs, "payload larger than the limit", NULL);
		} else {
			size_t room = zs->out.max - total;
			if (room > ZSTREAM_STEP)
				room = ZSTREAM_STEP;
			if (buf_reserve(&zs->out, room) < 0)
				return zstream_fail(zs, "out of memory", NULL);
			zs->z.next_out = (Bytef *)zs->out.data + zs->out.len;
			zs->z.avail_out = (uInt)room;
			rc = inflate(&zs->z, Z_NO_FLUSH);
			zs->out.len += room - zs->z.avail_out;
			zs->out.data[zs->out.len] = '\0';
			zstream_spill(zs);
		}
		if (rc == Z_STREAM_END) {
			zs->ended = 1;
			if (zs->z.avail_in > 0 || left > 0)
				return zstream_fail(zs, "data after the end of the stream", NULL);
			break;
		}
		if (rc == Z_NEED_DICT)
			return zstream_fail(zs, "stream needs a preset dictionary", NULL);
		if (rc == Z_MEM_ERROR)
			return zstream_fail(zs, "out of memory", NULL);
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			return zstream_fail(zs, "corrupt stream",
			                    zs->z.msg ? zs->z.msg : "inflate error");
		/* output space left over means inflate gave all it could for the
		 * input it has; with no input left this chunk is finished (output
		 * space used up means zlib may hold more: go round again) */
		if (zs->z.avail_out > 0 && zs->z.avail_in == 0 && left == 0)
			break;
	}
	zstream_note_tail(zs, data, len);
	zs->fed = 1;
	if (more)
		return ZSTREAM_MORE;
	return zstream_payload_end(zs);
}

const char *
zstream_data(const struct zstream *zs, size_t *len)
{
	*len = zs->out.len;
	return buf_str(&zs->out);
}

const char *
zstream_error(const struct zstream *zs)
{
	return zs->error;
}
