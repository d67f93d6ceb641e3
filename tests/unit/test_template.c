/* test_template — built-in texts equal the files of templates/ and prompts/,
 * override directories replace them at load, and {placeholders} render. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "template.h"
#include "test.h"

TEST(template_builtin_copies_equal_the_files)
{
	static const char *files[] = {"templates/new_channel_announcement.md",
	                              "templates/promoted_channel_announcement.md",
	                              "prompts/channel_name_suggestion.txt"};
	for (size_t i = 0; i < 3; i++) {
		size_t len;
		char *disk = test_read_file(files[i], &len);
		const struct template_file *f = template_builtin(files[i]);
		if (!CHECK(disk && f))
			continue;
		CHECK_INT(f->len, len);
		CHECK(memcmp(f->text, disk, len) == 0);
		free(disk);
	}
	struct templates t;
	char err[256] = "";
	CHECK_INT(template_load(&t, NULL, "", err, sizeof err), 0);
	CHECK(strstr(template_text(&t, TEMPLATE_PROMPT_CHANNEL_NAME), "{idea}") != NULL);
	CHECK(strstr(template_text(&t, TEMPLATE_NEW_CHANNEL), "{channel}") != NULL);
	template_free(&t);
}

TEST(template_override_directories)
{
	char tdir[512], pdir[512];
	snprintf(tdir, sizeof tdir, "%s/tpl", test_tmpdir());
	snprintf(pdir, sizeof pdir, "%s/prm", test_tmpdir());
	mkdir(tdir, 0700);
	mkdir(pdir, 0700);
	test_write_file("tpl/new_channel_announcement.md", "NEW {channel}");
	test_write_file("tpl/promoted_channel_announcement.md", "PROMOTED {channel}");
	struct templates t;
	char err[512] = "";
	/* the prompts directory lacks its file: an error naming the path */
	CHECK_INT(template_load(&t, tdir, pdir, err, sizeof err), -1);
	CHECK(strstr(err, "prm/channel_name_suggestion.txt: No such file") != NULL);
	/* templates from the directory, prompts built in */
	CHECK_INT(template_load(&t, tdir, NULL, err, sizeof err), 0);
	CHECK_STR(template_text(&t, TEMPLATE_NEW_CHANNEL), "NEW {channel}");
	CHECK(strstr(template_text(&t, TEMPLATE_PROMPT_CHANNEL_NAME), "suggest_channel_name"));
	template_free(&t);
	/* a FIFO in place of a file fails at once instead of hanging */
	char fifo[600];
	snprintf(fifo, sizeof fifo, "%s/channel_name_suggestion.txt", pdir);
	CHECK_INT(mkfifo(fifo, 0600), 0);
	CHECK_INT(template_load(&t, NULL, pdir, err, sizeof err), -1);
	CHECK(strstr(err, "channel_name_suggestion.txt: not a regular file") != NULL);
	unlink(fifo);
	test_write_file("prm/channel_name_suggestion.txt", "Name this: {idea}");
	CHECK_INT(template_load(&t, NULL, pdir, err, sizeof err), 0);
	CHECK_STR(template_text(&t, TEMPLATE_PROMPT_CHANNEL_NAME), "Name this: {idea}");
	template_free(&t);
}

static const char *
render(struct buf *b, const char *text)
{
	static const struct template_var vars[] = {{"channel", "#retro"},
	                                           {"name", "retro-gaming"},
	                                           {"empty", NULL},
	                                           {"idea", "{name}"}};
	buf_reset(b);
	CHECK_INT(template_render(text, vars, 4, b), 0);
	return buf_str(b);
}

TEST(template_render_placeholders)
{
	struct buf b;
	buf_init(&b, 1 << 16);
	CHECK_STR(render(&b, "plain"), "plain");
	CHECK_STR(render(&b, ""), "");
	CHECK_STR(render(&b, "{channel} is {name}!"), "#retro is retro-gaming!");
	CHECK_STR(render(&b, "[{empty}]"), "[]");
	/* unknown names, lone and nested braces stay text */
	CHECK_STR(render(&b, "{unknown} {"), "{unknown} {");
	CHECK_STR(render(&b, "a } b {{name}}"), "a } b {retro-gaming}");
	CHECK_STR(render(&b, "{name"), "{name");
	/* a value is never expanded again (a member's idea holding "{name}") */
	CHECK_STR(render(&b, "idea: {idea}"), "idea: {name}");
	buf_free(&b);
	/* a buffer that cannot grow: -1, never a write past it */
	struct buf small;
	buf_init(&small, 8);
	static const struct template_var v[] = {{"x", "0123456789"}};
	CHECK_INT(template_render("{x}", v, 1, &small), -1);
	buf_free(&small);
}
