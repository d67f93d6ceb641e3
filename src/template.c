/* template.c — see template.h. */
#include "template.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The table name of each id: its directory and file name. */
static const struct {
	int prompt; /* 1: prompts/, 0: templates/ */
	const char *file;
} template_names[TEMPLATE_COUNT] = {
        [TEMPLATE_NEW_CHANNEL] = {0, "new_channel_announcement.md"},
        [TEMPLATE_PROMOTED_CHANNEL] = {0, "promoted_channel_announcement.md"},
        [TEMPLATE_PROMPT_CHANNEL_NAME] = {1, "channel_name_suggestion.txt"},
};

const struct template_file *
template_builtin(const char *name)
{
	for (const struct template_file *f = template_embedded; f->name; f++)
		if (strcmp(f->name, name) == 0)
			return f;
	return NULL;
}

/* Reads dir/file whole (a regular file, at most TEMPLATE_FILE_MAX bytes,
 * no NUL inside). 0, or -1 with "PATH: why" in err. */
static int
template_read(const char *dir, const char *file, char **text, size_t *len, char *err,
              size_t err_len)
{
	char path[4096];
	int n = snprintf(path, sizeof path, "%s/%s", dir, file);
	if (n < 0 || (size_t)n >= sizeof path) {
		snprintf(err, err_len, "%s/%s: path too long", dir, file);
		return -1;
	}
	/* O_NONBLOCK: a FIFO put there must not hang start-up; fstat refuses it */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	struct stat st;
	const char *why = NULL;
	if (fstat(fd, &st) < 0)
		why = strerror(errno);
	else if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if (st.st_size > TEMPLATE_FILE_MAX)
		why = "larger than 64 KiB";
	char *buf = why ? NULL : malloc((size_t)st.st_size + 1);
	if (!why && !buf)
		why = "out of memory";
	size_t got = 0;
	while (!why && got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			why = r < 0 ? strerror(errno) : "changed while read";
			break;
		}
		got += (size_t)r;
	}
	close(fd);
	if (!why && memchr(buf, 0, got))
		why = "holds a NUL byte";
	if (why) {
		free(buf);
		snprintf(err, err_len, "%s: %s", path, why);
		return -1;
	}
	buf[got] = 0;
	*text = buf;
	*len = got;
	return 0;
}

int
template_load(struct templates *t, const char *templates_dir, const char *prompts_dir, char *err,
              size_t err_len)
{
	memset(t, 0, sizeof *t);
	for (int id = 0; id < TEMPLATE_COUNT; id++) {
		const char *dir = template_names[id].prompt ? prompts_dir : templates_dir;
		if (dir && *dir) {
			if (template_read(dir, template_names[id].file, &t->text[id], &t->len[id],
			                  err, err_len) < 0) {
				template_free(t);
				return -1;
			}
			continue;
		}
		char name[128];
		snprintf(name, sizeof name, "%s/%s",
		         template_names[id].prompt ? "prompts" : "templates",
		         template_names[id].file);
		const struct template_file *f = template_builtin(name);
		t->text[id] = f ? strndup(f->text, f->len) : NULL;
		if (!t->text[id]) {
			snprintf(err, err_len, "%s: %s", name,
			         f ? "out of memory" : "not built in");
			template_free(t);
			return -1;
		}
		t->len[id] = f->len;
	}
	return 0;
}

void
template_free(struct templates *t)
{
	for (int id = 0; id < TEMPLATE_COUNT; id++) {
		free(t->text[id]);
		t->text[id] = NULL;
		t->len[id] = 0;
	}
}

const char *
template_text(const struct templates *t, enum template_id id)
{
	return id >= 0 && id < TEMPLATE_COUNT ? t->text[id] : NULL;
}

int
template_render(const char *text, const struct template_var *vars, size_t var_count,
                struct buf *out)
{
	const char *p = text;
	while (*p) {
		const char *open = strchr(p, '{');
		if (!open)
			return buf_puts(out, p);
		if (buf_append(out, p, (size_t)(open - p)) < 0)
			return -1;
		const char *close = strchr(open + 1, '}');
		const struct template_var *hit = NULL;
		if (close) {
			size_t n = (size_t)(close - open - 1);
			for (size_t i = 0; i < var_count && !hit; i++)
				if (strlen(vars[i].name) == n &&
				    memcmp(vars[i].name, open + 1, n) == 0)
					hit = &vars[i];
		}
		if (!hit) { /* not ours: the brace is text */
			if (buf_putc(out, '{') < 0)
				return -1;
			p = open + 1;
			continue;
		}
		if (hit->value && buf_puts(out, hit->value) < 0)
			return -1;
		p = close + 1;
	}
	return 0;
}
