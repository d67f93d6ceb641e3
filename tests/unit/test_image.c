/* test_image — the emoji image check (src/image.c) on real PNG, JPEG and
 * GIF files written at test time by tests/fuzz/gen_image.py, each also
 * decoded fully by stb_image here (trusted: our own files) to prove they
 * are real images and that the header readers agree with a decoder. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"
#include "test.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-prototypes"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wstrict-prototypes"
#define STBI_NO_STDIO
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
#pragma GCC diagnostic pop

/* Writes the generated images into a fresh directory; its path or NULL. */
static const char *
image_test_dir(void)
{
	static char dir[512];
	if (dir[0])
		return dir;
	snprintf(dir, sizeof dir, "%s/images", test_tmpdir());
	char cmd[700];
	snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/fuzz/gen_image.py '%s'", dir);
	if (system(cmd) != 0) {
		printf("    %s failed\n", cmd);
		dir[0] = 0;
		return NULL;
	}
	return dir;
}

static unsigned char *
image_test_load(const char *name, size_t *len)
{
	const char *dir = image_test_dir();
	if (!dir)
		return NULL;
	char path[700];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	return (unsigned char *)test_read_file(path, len);
}

/* Every generated file: the verdict its name announces, dimensions equal
 * to stb_image's full decode, and stb decodes it (a real image). */
TEST(image_generated_files)
{
	const char *dir = image_test_dir();
	if (!CHECK(dir != NULL))
		return;
	struct test_files list;
	if (!CHECK(test_files(dir, &list) == 0))
		return;
	int files = 0, accepted = 0;
	for (size_t i = 0; i < list.count; i++) {
		const char *name = list.names[i];
		size_t len;
		unsigned char *data = image_test_load(name, &len);
		if (!CHECK(data != NULL))
			continue;
		files++;
		int w = 0, h = 0, comp = 0;
		unsigned char *pixels = stbi_load_from_memory(data, (int)len, &w, &h, &comp, 0);
		if (!CHECK(pixels != NULL))
			printf("    %s: stb_image cannot decode it: %s\n", name,
			       stbi_failure_reason());
		stbi_image_free(pixels);
		struct image_info info;
		char err[256];
		CHECK_INT(image_probe(data, len, &info, err, sizeof err), 0);
		if (!CHECK_INT(info.width, w) || !CHECK_INT(info.height, h))
			printf("    %s: ours %ux%u, stb %dx%d\n", name, info.width, info.height, w,
			       h);
		const char *ct = image_content_type(info.format);
		int rc = image_check_emoji(data, len, name, ct, &info, err, sizeof err);
		int want_ok = strncmp(name, "ok_", 3) == 0;
		if (!CHECK_INT(rc, want_ok ? 0 : -1))
			printf("    %s: %s\n", name, err);
		accepted += rc == 0;
		if (strstr(name, "_small_"))
			CHECK(strstr(err, "too small") != NULL);
		if (strstr(name, "_large_"))
			CHECK(strstr(err, "too large") != NULL);
		if (strstr(name, "_square_"))
			CHECK(strstr(err, "must be square") != NULL);
		if (strstr(name, "animated"))
			CHECK_INT(info.frames, 3);
		free(data);
	}
	test_files_free(&list);
	printf("    %d generated images, %d accepted as emoji\n", files, accepted);
	CHECK_INT(files, 14);
	CHECK_INT(accepted, 7);
}

/* The header path: a file whose pixel data is garbage after intact
 * headers still reads its size (we never decode), while a decoder refuses
 * it; and every truncation is refused or read without touching a byte past
 * the end (ASan watches). */
TEST(image_reads_headers_only)
{
	static const char *names[] = {"ok_png_32.png", "ok_jpeg_32.jpg", "ok_gif_48.gif"};
	for (size_t n = 0; n < 3; n++) {
		size_t len;
		unsigned char *data = image_test_load(names[n], &len);
		if (!CHECK(data != NULL))
			continue;
		struct image_info info;
		char err[256];
		unsigned char *broken = malloc(len);
		memcpy(broken, data, len);
		if (n == 0) /* PNG: garbage over IDAT's compressed data */
			for (size_t i = 8 + 25 + 8; i + 16 < len; i++)
				broken[i] = 0x5a;
		if (n == 1) /* JPEG: the scan names a component the frame lacks */
			for (size_t i = 2; i + 5 < len; i++)
				if (broken[i] == 0xff && broken[i + 1] == 0xda)
					broken[i + 5] = 9;
		if (n == 0 || n == 1) {
			int w, h, c;
			unsigned char *px = stbi_load_from_memory(broken, (int)len, &w, &h, &c, 0);
			CHECK(px == NULL); /* a decoder chokes on it ... */
			stbi_image_free(px);
			CHECK_INT(image_probe(broken, len, &info, err, sizeof err),
			          0); /* we don't */
			CHECK_INT(info.width, 32);
		}
		free(broken);
		int refused = 0;
		for (size_t cut = 0; cut < len; cut++) {
			unsigned char *part = malloc(cut ? cut : 1);
			memcpy(part, data, cut);
			refused += image_probe(part, cut, &info, err, sizeof err) < 0;
			free(part);
		}
		printf("    %s: %d of %zu truncations refused\n", names[n], refused, len);
		if (n == 2) /* a GIF is walked to its trailer: every cut is refused */
			CHECK_INT(refused, (int)len);
		CHECK(refused > 0);
		free(data);
	}
}

/* Each rule of 6.1 has its own message. */
TEST(image_each_refusal_is_named)
{
	size_t len, gif_len = 0;
	unsigned char *png = image_test_load("ok_png_32.png", &len);
	unsigned char *gif = image_test_load("ok_gif_48.gif", &gif_len);
	if (!CHECK(png && gif))
		return;
	struct image_info info;
	char err[256];
	CHECK_INT(image_check_emoji(png, len, "a.png", "image/png", &info, err, sizeof err), 0);
	CHECK_INT(info.format, IMAGE_PNG);
	CHECK_INT(image_check_emoji(png, len, "A.PNG", "image/png; charset=binary", &info, err,
	                            sizeof err),
	          0);
	CHECK_INT(image_check_emoji(png, len, "a.png", NULL, &info, err, sizeof err), 0);

	CHECK_INT(image_check_emoji(png, 0, "a.png", "image/png", &info, err, sizeof err), -1);
	CHECK_STR(err, "The file is empty.");
	static unsigned char big[IMAGE_EMOJI_MAX_BYTES + 1];
	memcpy(big, png, len);
	CHECK_INT(image_check_emoji(big, IMAGE_EMOJI_MAX_BYTES, "a.png", "image/png", &info, err,
	                            sizeof err),
	          0);
	CHECK_INT(image_check_emoji(big, sizeof big, "a.png", "image/png", &info, err, sizeof err),
	          -1);
	CHECK_STR(err, "The file is too large: 262145 bytes. An emoji may be at most 256 KB "
	               "(262,144 bytes).");
	CHECK_INT(image_check_emoji(png, len, "a.webp", "image/png", &info, err, sizeof err), -1);
	CHECK_STR(err, "The file name must end in .png, .jpg, .jpeg or .gif.");
	CHECK_INT(image_check_emoji(png, len, "png", "image/png", &info, err, sizeof err), -1);
	CHECK_STR(err, "The file name must end in .png, .jpg, .jpeg or .gif.");
	CHECK_INT(image_check_emoji(png, len, "a.gif", "image/gif", &info, err, sizeof err), -1);
	CHECK_STR(err, "The file name says GIF, but the file is a PNG image.");
	CHECK_INT(image_check_emoji(png, len, "a.png", "image/gif", &info, err, sizeof err), -1);
	CHECK_STR(err, "The attachment's content type (image/gif) does not match the file, which "
	               "is a PNG image.");
	CHECK_INT(image_check_emoji(png, len, "a.png", "text/html", &info, err, sizeof err), -1);
	CHECK(strstr(err, "content type (text/html)") != NULL);
	static const char text[] = "<svg xmlns='http://www.w3.org/2000/svg'/>";
	CHECK_INT(image_check_emoji(text, sizeof text - 1, "a.png", "image/png", &info, err,
	                            sizeof err),
	          -1);
	CHECK_STR(err, "The file is not a PNG, JPEG or GIF image.");
	/* a flipped bit in IHDR: the CRC says so */
	png[20] ^= 1;
	CHECK_INT(image_check_emoji(png, len, "a.png", "image/png", &info, err, sizeof err), -1);
	CHECK_STR(err, "The PNG file is damaged: its header checksum is wrong.");
	png[20] ^= 1;
	/* a GIF frame reaching past the logical screen */
	gif[13 + 12 + 8 + 5] = 200; /* after header, GCT, GCE: the frame's width */
	CHECK_INT(image_probe(gif, gif_len, &info, err, sizeof err), -1);
	CHECK_STR(err, "The GIF file is damaged: a frame lies outside the image.");

	CHECK_INT(image_format_of_content_type("IMAGE/JPG"), IMAGE_JPEG);
	CHECK_INT(image_format_of_content_type("image/pngx"), IMAGE_UNKNOWN);
	CHECK_INT(image_format_of_name("x.tar.JPEG"), IMAGE_JPEG);
	free(png);
	free(gif);
}
