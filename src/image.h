/* image — what an uploaded emoji is, read from its headers only.
 *
 * What it does: recognises PNG, JPEG and GIF by their magic bytes and reads
 * the dimensions from the format's own header structures: PNG's IHDR chunk
 * (its CRC checked), JPEG's first SOFn segment (walking the marker
 * segments before it), GIF's logical screen descriptor plus a walk over the
 * block structure that counts frames (so an animated GIF is known) without
 * decompressing one. Then it checks an emoji candidate against Discord's
 * rules (agora-spec.txt 6.1): size, format matching the file name's
 * extension and the attachment's declared content type, square, 32-256 px.
 *
 * What it does not: decode pixels. Untrusted images never reach a full
 * decoder here (stb_image 2.27 carries GIF CVE-2023-45661..45667 in its
 * decoder; Discord decodes the emoji itself when it is created). No I/O, no
 * allocation: everything works on the caller's bytes.
 *
 * Each refusal has its own message, written for the member who uploaded
 * the file. */
#ifndef AGORA_IMAGE_H
#define AGORA_IMAGE_H

#include <stddef.h>

/* Discord's emoji limits (Discord docs, "Emoji Resource": 256 KiB; the
 * dimensions are the spec's 6.1). */
#define IMAGE_EMOJI_MAX_BYTES 262144
#define IMAGE_EMOJI_MIN_PX    32
#define IMAGE_EMOJI_MAX_PX    256
/* Frames counted in a GIF before the walk stops: enough to know it is
 * animated and to bound the work a hostile file can ask for. */
#define IMAGE_GIF_MAX_FRAMES 10000

enum image_format { IMAGE_UNKNOWN = 0, IMAGE_PNG, IMAGE_JPEG, IMAGE_GIF };

struct image_info {
	enum image_format format;
	unsigned width, height;
	int frames; /* GIF: image descriptors seen; PNG and JPEG: 1 */
};

/* The format from the first bytes (magic numbers), IMAGE_UNKNOWN if none. */
enum image_format image_sniff(const void *data, size_t len);
/* "image/png", "image/jpeg", "image/gif", or NULL for IMAGE_UNKNOWN. */
const char *image_content_type(enum image_format f);
/* "PNG", "JPEG", "GIF", "unknown". */
const char *image_format_name(enum image_format f);
/* The format a file name's extension claims (.png .jpg .jpeg .gif, any
 * case), IMAGE_UNKNOWN for anything else or no extension. */
enum image_format image_format_of_name(const char *filename);
/* The format a declared content type names ("image/png", "image/jpeg",
 * "image/jpg", "image/gif", parameters after ';' ignored, any case),
 * IMAGE_UNKNOWN otherwise. */
enum image_format image_format_of_content_type(const char *content_type);

/* Reads format and dimensions from the headers of len bytes. 0, or -1 with
 * a message in err (unknown format, header cut short or damaged). */
int image_probe(const void *data, size_t len, struct image_info *out, char *err, size_t err_len);

/* The emoji candidate check: len within 1..IMAGE_EMOJI_MAX_BYTES, a known
 * format matching filename's extension and (when not NULL or empty) the
 * declared content_type, square, IMAGE_EMOJI_MIN_PX..IMAGE_EMOJI_MAX_PX.
 * Checks run in that order and the first failure is reported. 0 and *out
 * filled, or -1 with the member-facing reason in err. */
int image_check_emoji(const void *data, size_t len, const char *filename, const char *content_type,
                      struct image_info *out, char *err, size_t err_len);

#endif
