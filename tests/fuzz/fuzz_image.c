/* fuzz_image.c — arbitrary bytes as an uploaded emoji: the header readers
 * (PNG IHDR, JPEG marker walk to SOFn, GIF block walk) never read past the
 * input, never crash, and agree with themselves: whatever image_probe
 * accepts has a known format and non-zero dimensions, and the emoji check
 * accepts only what its rules allow.
 *
 * Seeds: real PNG/JPEG/GIF files written at test time by gen_image.py
 * (build.sh's run_fuzz adds them), plus the small edge cases checked in. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so reading one byte too far is an ASan error */
	uint8_t *copy = malloc(size ? size : 1);
	if (!copy)
		return 0;
	memcpy(copy, data, size);
	struct image_info info;
	char err[256];
	if (image_probe(copy, size, &info, err, sizeof err) == 0) {
		if (info.format == IMAGE_UNKNOWN || info.width == 0 || info.height == 0 ||
		    info.frames < 1)
			abort();
	} else if (!err[0]) {
		abort(); /* every refusal says why */
	}
	static const char *names[] = {"e.png", "e.jpg", "e.gif", "e.bmp"};
	static const char *types[] = {"image/png", "image/jpeg", "image/gif", NULL};
	for (int i = 0; i < 4; i++) {
		if (image_check_emoji(copy, size, names[i], types[i], &info, err, sizeof err) ==
		    0) {
			if (info.width != info.height || info.width < IMAGE_EMOJI_MIN_PX ||
			    info.width > IMAGE_EMOJI_MAX_PX || size > IMAGE_EMOJI_MAX_BYTES ||
			    info.format != image_format_of_name(names[i]))
				abort();
		} else if (!err[0]) {
			abort();
		}
	}
	free(copy);
	return 0;
}
