/* fuzz_secret — arbitrary bytes as the secret files (config_load_secrets:
 * the real file reading, trimming and checks of discord_bot_token,
 * db_password and open_webui_token in SECRETS_DIR).
 *
 * Input: byte 0 says where the bytes go (bit 0: discord_bot_token, bit 1:
 * db_password, bit 2: open_webui_token; bit 3: with the spec's `.txt`
 * suffix); the rest is the file's content. Besides memory errors (ASan),
 * the fuzzer fails when a secret read is not what CONTRACT.md promises
 * (non-empty, trimmed, no control byte or NUL inside), when a problem is
 * not one "PATH:0: message" line, or when a problem line echoes the
 * secret's content. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "mem.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static const char *const files[] = {"discord_bot_token", "db_password", "open_webui_token"};

static void
remove_dir(void)
{
	char path[128];
	for (int i = 0; i < 3; i++)
		for (int txt = 0; txt < 2; txt++) {
			snprintf(path, sizeof path, "%s/%s%s", dir, files[i], txt ? ".txt" : "");
			unlink(path);
		}
	rmdir(dir);
}

static void
check_secret(const char *s)
{
	if (!s)
		return;
	size_t n = strlen(s);
	if (n == 0 || s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\n')
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (!dir[0]) {
		snprintf(dir, sizeof dir, "/tmp/agora-fuzz-secret-XXXXXX");
		if (!mkdtemp(dir)) {
			dir[0] = '\0';
			return 0;
		}
		atexit(remove_dir);
	}
	int txt = (data[0] & 8) != 0;
	char path[128];
	for (int i = 0; i < 3; i++)
		for (int t = 0; t < 2; t++) {
			snprintf(path, sizeof path, "%s/%s%s", dir, files[i], t ? ".txt" : "");
			unlink(path);
		}
	for (int i = 0; i < 3; i++) {
		if (!(data[0] & (1 << i)))
			continue;
		snprintf(path, sizeof path, "%s/%s%s", dir, files[i], txt ? ".txt" : "");
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd < 0)
			return 0;
		ssize_t w = write(fd, data + 1, size - 1);
		close(fd);
		if (w != (ssize_t)(size - 1))
			return 0;
	}
	struct config cfg;
	struct buf problems;
	config_defaults(&cfg);
	mem_free(cfg.secrets_dir);
	cfg.secrets_dir = mem_strdup(dir);
	buf_init(&problems, 1 << 16);
	int n = config_load_secrets(&cfg, &problems);
	if (n >= 0) {
		int lines = 0;
		for (size_t i = 0; i < problems.len; i++)
			lines += problems.data[i] == '\n';
		if (lines != n)
			abort();
		/* every line is "DIR...:0: message" */
		const char *line = problems.data;
		for (int i = 0; i < lines; i++) {
			if (strncmp(line, dir, strlen(dir)) != 0 || !strstr(line, ":0: "))
				abort();
			line = strchr(line, '\n') + 1;
		}
		check_secret(cfg.discord_bot_token);
		check_secret(cfg.db_password);
		check_secret(cfg.open_webui_token);
		/* a long enough content never shows in a problem */
		if (size - 1 >= 12 && problems.len) {
			char probe[13];
			memcpy(probe, data + 1, 12);
			probe[12] = '\0';
			if (strlen(probe) == 12 && !strchr(probe, '\n') && !strchr(probe, ' ') &&
			    strstr(problems.data, probe))
				abort();
		}
	}
	config_free(&cfg);
	buf_free(&problems);
	return 0;
}
