/* image.c — see image.h. Three small header readers and the emoji rules. */
#include "image.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

static int image_fail(char *err, size_t err_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
image_fail(char *err, size_t err_len, const char *fmt, ...)
{
	if (err && err_len) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -1;
}

static uint32_t
image_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static unsigned
image_be16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

static unsigned
image_le16(const unsigned char *p)
{
	return (unsigned)p[1] << 8 | p[0];
}

enum image_format
image_sniff(const void *data, size_t len)
{
	const unsigned char *p = data;
	static const unsigned char png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
	if (len >= 8 && memcmp(p, png, 8) == 0)
		return IMAGE_PNG;
	/* SOI followed by the start of a marker */
	if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
		return IMAGE_JPEG;
	if (len >= 6 && (memcmp(p, "GIF87a", 6) == 0 || memcmp(p, "GIF89a", 6) == 0))
		return IMAGE_GIF;
	return IMAGE_UNKNOWN;
}

const char *
image_content_type(enum image_format f)
{
	switch (f) {
	case IMAGE_PNG:
		return "image/png";
	case IMAGE_JPEG:
		return "image/jpeg";
	case IMAGE_GIF:
		return "image/gif";
	default:
		return NULL;
	}
}

const char *
image_format_name(enum image_format f)
{
	switch (f) {
	case IMAGE_PNG:
		return "PNG";
	case IMAGE_JPEG:
		return "JPEG";
	case IMAGE_GIF:
		return "GIF";
	default:
		return "unknown";
	}
}

enum image_format
image_format_of_name(const char *filename)
{
	const char *dot = filename ? strrchr(filename, '.') : NULL;
	if (!dot)
		return IMAGE_UNKNOWN;
	if (strcasecmp(dot, ".png") == 0)
		return IMAGE_PNG;
	if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0)
		return IMAGE_JPEG;
	if (strcasecmp(dot, ".gif") == 0)
		return IMAGE_GIF;
	return IMAGE_UNKNOWN;
}

enum image_format
image_format_of_content_type(const char *content_type)
{
	if (!content_type)
		return IMAGE_UNKNOWN;
	size_t n = strcspn(content_type, ";");
	while (n > 0 && (content_type[n - 1] == ' ' || content_type[n - 1] == '\t'))
		n--;
	static const struct {
		const char *type;
		enum image_format f;
	} known[] = {{"image/png", IMAGE_PNG},
	             {"image/jpeg", IMAGE_JPEG},
	             {"image/jpg", IMAGE_JPEG}, /* not registered, but seen in the wild */
	             {"image/gif", IMAGE_GIF}};
	for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
		if (strlen(known[i].type) == n && strncasecmp(content_type, known[i].type, n) == 0)
			return known[i].f;
	return IMAGE_UNKNOWN;
}

/* PNG (RFC 2083 / ISO 15948 11.2.2): the signature, then IHDR must be the
 * first chunk: length 13, "IHDR", width, height (each 1..2^31-1), bit
 * depth, colour type, compression, filter, interlace, then the CRC over
 * type and data. */
static int
image_probe_png(const unsigned char *p, size_t len, struct image_info *out, char *err,
                size_t err_len)
{
	if (len < 8 + 8 + 13 + 4)
		return image_fail(err, err_len,
		                  "The PNG file is cut short before its header ends.");
	const unsigned char *chunk = p + 8;
	if (image_be32(chunk) != 13 || memcmp(chunk + 4, "IHDR", 4) != 0)
		return image_fail(err, err_len,
		                  "The PNG file is damaged: its header chunk is missing.");
	uint32_t crc = (uint32_t)crc32(0L, chunk + 4, 4 + 13);
	if (crc != image_be32(chunk + 8 + 13))
		return image_fail(err, err_len,
		                  "The PNG file is damaged: its header checksum is wrong.");
	uint32_t w = image_be32(chunk + 8), h = image_be32(chunk + 12);
	if (w == 0 || h == 0 || w > 0x7fffffffu || h > 0x7fffffffu)
		return image_fail(err, err_len, "The PNG file is damaged: its size is invalid.");
	out->width = w;
	out->height = h;
	out->frames = 1;
	return 0;
}

/* JPEG (ITU T.81 B.1.1): after SOI, marker segments "FF xx len(2) ..."
 * until the first SOFn (C0-CF but C4 DHT, C8 JPG, CC DAC), whose payload
 * is precision(1) height(2) width(2) components(1). Standalone markers
 * (01, D0-D7) have no length; FF fill bytes may precede a marker. A scan
 * (SOS) or EOI before any SOF means there is no frame header. */
static int
image_probe_jpeg(const unsigned char *p, size_t len, struct image_info *out, char *err,
                 size_t err_len)
{
	size_t i = 2;
	for (;;) {
		if (i >= len || p[i] != 0xff)
			return image_fail(
			        err, err_len,
			        i >= len ? "The JPEG file is cut short before its size is given."
			                 : "The JPEG file is damaged: a marker is missing.");
		while (i < len && p[i] == 0xff)
			i++;
		if (i >= len)
			return image_fail(err, err_len,
			                  "The JPEG file is cut short before its size is given.");
		unsigned m = p[i++];
		if (m == 0x01 || (m >= 0xd0 && m <= 0xd7))
			continue;
		if (m == 0xd9 || m == 0xda || m == 0x00 || m == 0xd8)
			return image_fail(err, err_len,
			                  "The JPEG file is damaged: it has no frame header.");
		if (i + 2 > len)
			return image_fail(err, err_len,
			                  "The JPEG file is cut short before its size is given.");
		unsigned seg = image_be16(p + i);
		if (seg < 2)
			return image_fail(err, err_len,
			                  "The JPEG file is damaged: a segment length is wrong.");
		int sof = m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc;
		if (sof) {
			if (seg < 8 || i + 8 > len)
				return image_fail(
				        err, err_len,
				        "The JPEG file is cut short before its size is given.");
			unsigned h = image_be16(p + i + 3), w = image_be16(p + i + 5);
			/* height 0 defers the height to a DNL marker after the first scan:
			 * reading it would mean decoding, so such files are refused */
			if (w == 0 || h == 0)
				return image_fail(err, err_len,
				                  "The JPEG file is damaged: its size is invalid.");
			out->width = w;
			out->height = h;
			out->frames = 1;
			return 0;
		}
		if (seg > len - i)
			return image_fail(err, err_len,
			                  "The JPEG file is cut short before its size is given.");
		i += seg;
	}
}

/* Skips GIF data sub-blocks (size byte, that many bytes, until a size 0);
 * the offset after the terminator, or 0 when cut short. */
static size_t
image_gif_skip_blocks(const unsigned char *p, size_t len, size_t i)
{
	for (;;) {
		if (i >= len)
			return 0;
		unsigned n = p[i++];
		if (n == 0)
			return i;
		if (n > len - i)
			return 0;
		i += n;
	}
}

/* GIF (GIF89a spec 17-20): header, logical screen descriptor (width,
 * height little-endian, packed flags: global colour table of
 * 3 * 2^(n+1) bytes), then blocks: 0x21 extension (label, sub-blocks),
 * 0x2C image descriptor (9 bytes, optional local colour table, the LZW
 * minimum code size, sub-blocks of compressed data skipped unread), 0x3B
 * the trailer. Every frame must lie inside the logical screen. */
static int
image_probe_gif(const unsigned char *p, size_t len, struct image_info *out, char *err,
                size_t err_len)
{
	static const char cut[] = "The GIF file is cut short.";
	if (len < 13)
		return image_fail(err, err_len, cut);
	unsigned w = image_le16(p + 6), h = image_le16(p + 8);
	if (w == 0 || h == 0)
		return image_fail(err, err_len, "The GIF file is damaged: its size is invalid.");
	size_t i = 13;
	if (p[10] & 0x80) {
		size_t table = 3u << ((p[10] & 7) + 1);
		if (table > len - i)
			return image_fail(err, err_len, cut);
		i += table;
	}
	int frames = 0;
	for (;;) {
		if (i >= len)
			return image_fail(err, err_len, cut);
		unsigned kind = p[i++];
		if (kind == 0x3b)
			break;
		if (kind == 0x21) {
			if (i >= len)
				return image_fail(err, err_len, cut);
			i = image_gif_skip_blocks(p, len, i + 1);
			if (!i)
				return image_fail(err, err_len, cut);
			continue;
		}
		if (kind != 0x2c)
			return image_fail(
			        err, err_len,
			        "The GIF file is damaged: an unknown block (0x%02x) follows.",
			        kind);
		if (len - i < 9)
			return image_fail(err, err_len, cut);
		unsigned fx = image_le16(p + i), fy = image_le16(p + i + 2);
		unsigned fw = image_le16(p + i + 4), fh = image_le16(p + i + 6);
		unsigned packed = p[i + 8];
		if (fw == 0 || fh == 0 || fx + fw > w || fy + fh > h)
			return image_fail(
			        err, err_len,
			        "The GIF file is damaged: a frame lies outside the image.");
		i += 9;
		if (packed & 0x80) {
			size_t table = 3u << ((packed & 7) + 1);
			if (table > len - i)
				return image_fail(err, err_len, cut);
			i += table;
		}
		if (i >= len)
			return image_fail(err, err_len, cut);
		unsigned lzw_min = p[i++];
		if (lzw_min < 2 || lzw_min > 11) /* GIF89a 22: 2..8 in practice, 12-bit codes */
			return image_fail(err, err_len,
			                  "The GIF file is damaged: a frame is invalid.");
		i = image_gif_skip_blocks(p, len, i);
		if (!i)
			return image_fail(err, err_len, cut);
		if (++frames > IMAGE_GIF_MAX_FRAMES)
			return image_fail(err, err_len, "The GIF file has too many frames.");
	}
	if (frames == 0)
		return image_fail(err, err_len, "The GIF file is damaged: it holds no image.");
	out->width = w;
	out->height = h;
	out->frames = frames;
	return 0;
}

int
image_probe(const void *data, size_t len, struct image_info *out, char *err, size_t err_len)
{
	memset(out, 0, sizeof *out);
	if (err && err_len)
		err[0] = 0;
	const unsigned char *p = data;
	enum image_format f = image_sniff(p, len);
	int rc;
	switch (f) {
	case IMAGE_PNG:
		rc = image_probe_png(p, len, out, err, err_len);
		break;
	case IMAGE_JPEG:
		rc = image_probe_jpeg(p, len, out, err, err_len);
		break;
	case IMAGE_GIF:
		rc = image_probe_gif(p, len, out, err, err_len);
		break;
	default:
		return image_fail(err, err_len, "The file is not a PNG, JPEG or GIF image.");
	}
	if (rc == 0)
		out->format = f;
	else
		memset(out, 0, sizeof *out);
	return rc;
}

int
image_check_emoji(const void *data, size_t len, const char *filename, const char *content_type,
                  struct image_info *out, char *err, size_t err_len)
{
	memset(out, 0, sizeof *out);
	if (len == 0)
		return image_fail(err, err_len, "The file is empty.");
	if (len > IMAGE_EMOJI_MAX_BYTES)
		return image_fail(
		        err, err_len,
		        "The file is too large: %zu bytes. An emoji may be at most 256 KB "
		        "(262,144 bytes).",
		        len);
	enum image_format named = image_format_of_name(filename);
	if (named == IMAGE_UNKNOWN)
		return image_fail(err, err_len,
		                  "The file name must end in .png, .jpg, .jpeg or .gif.");
	struct image_info info;
	if (image_probe(data, len, &info, err, err_len) < 0)
		return -1;
	if (info.format != named)
		return image_fail(err, err_len,
		                  "The file name says %s, but the file is a %s image.",
		                  image_format_name(named), image_format_name(info.format));
	if (content_type && *content_type) {
		enum image_format declared = image_format_of_content_type(content_type);
		if (declared != info.format)
			return image_fail(
			        err, err_len,
			        "The attachment's content type (%.40s) does not match the file, "
			        "which is a %s image.",
			        content_type, image_format_name(info.format));
	}
	if (info.width != info.height)
		return image_fail(err, err_len, "The image must be square: it is %ux%u pixels.",
		                  info.width, info.height);
	if (info.width < IMAGE_EMOJI_MIN_PX)
		return image_fail(err, err_len,
		                  "The image is too small: %ux%u pixels. An emoji must be at least "
		                  "32x32.",
		                  info.width, info.height);
	if (info.width > IMAGE_EMOJI_MAX_PX)
		return image_fail(err, err_len,
		                  "The image is too large: %ux%u pixels. An emoji may be at most "
		                  "256x256.",
		                  info.width, info.height);
	*out = info;
	return 0;
}
