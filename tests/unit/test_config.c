/* test_config.c — the config file, environment overrides, validation and
 * secrets (CONTRACT.md "Configuration file" and "Secrets"). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "mem.h"
#include "test.h"

static const char good[] = "GUILD_ID = 100000000000000001\n"
                           "ADMIN_NOTIFICATION_CHANNEL_ID = 100000000000000002\n"
                           "QUEUE_CHANNEL_ID = 100000000000000003\n"
                           "PUBLIC_ANNOUNCEMENT_CHANNEL_ID = 100000000000000004\n"
                           "PROPOSED_CHANNEL_CATEGORY_ID = 100000000000000005\n"
                           "PERMANENT_CHANNEL_CATEGORY_ID = 100000000000000006\n"
                           "PROPOSED_ACTIVITY_REPORT_CHANNEL_ID = 100000000000000007\n"
                           "PERMANENT_ACTIVITY_REPORT_CHANNEL_ID = 100000000000000008\n";

/* a fake environment for overrides: "NAME=value" pairs */
static const char *fake_env[8];

static const char *
env_lookup(const char *name)
{
	size_t n = strlen(name);
	for (size_t i = 0; i < 8 && fake_env[i]; i++)
		if (strncmp(fake_env[i], name, n) == 0 && fake_env[i][n] == '=')
			return fake_env[i] + n + 1;
	return NULL;
}

/* Parses text (prefixed with the good required keys unless bare) and
 * returns the problem count; problems land in *out. */
static int
parse(struct config *cfg, const char *text, struct buf *out)
{
	char all[8192];
	snprintf(all, sizeof all, "%s%s", good, text);
	config_defaults(cfg);
	buf_init(out, 1 << 16);
	return config_parse(cfg, "t.conf", all, strlen(all), env_lookup, out);
}

TEST(config_defaults_match_the_contract)
{
	struct config cfg;
	config_defaults(&cfg);
	CHECK_INT(cfg.log_level, LOG_INFO);
	CHECK_INT(cfg.db_port, 5432);
	CHECK_INT(cfg.redis_port, 6379);
	CHECK_INT(cfg.health_port, 8099);
	CHECK_INT(cfg.llm_timeout_seconds, 20);
	CHECK_STR(cfg.discord_api_url, "https://discord.com/api/v10");
	CHECK_STR(cfg.tls_ca_file, "/etc/ssl/certs/ca-certificates.crt");
	CHECK_STR(cfg.secrets_dir, "/run/secrets");
	CHECK(cfg.open_web_ui_url == NULL);
	CHECK(cfg.templates_dir == NULL);
	CHECK_INT(cfg.admin_role_id, 0);
	config_free(&cfg);
}

TEST(config_good_file_parses)
{
	struct config cfg;
	struct buf out;
	int n = parse(&cfg,
	              "# a comment\n\n  LOG_LEVEL = debug  \nMAX_PROPOSED_CHANNELS=50\n"
	              "STATS_REFRESH_INTERVAL_MINUTES = 0.05 # three seconds\n"
	              "OPEN_WEB_UI_URL = \"http://[::1]:8080/api/chat/completions\"\n"
	              "OPEN_WEB_UI_MODEL = 'gpt 4 # not a comment'\n"
	              "export DB_HOST = db.internal\nADMIN_ROLE_ID =\r\n",
	              &out);
	CHECK_INT(n, 0);
	CHECK_STR(buf_str(&out), "");
	CHECK_INT(cfg.guild_id, 100000000000000001ULL);
	CHECK_INT(cfg.permanent_activity_report_channel_id, 100000000000000008ULL);
	CHECK_INT(cfg.log_level, LOG_DEBUG);
	CHECK_INT(cfg.max_proposed_channels, 50);
	CHECK(cfg.stats_refresh_interval_minutes > 0.049 &&
	      cfg.stats_refresh_interval_minutes < 0.051);
	CHECK_STR(cfg.open_web_ui_url, "http://[::1]:8080/api/chat/completions");
	CHECK_STR(cfg.open_web_ui_model, "gpt 4 # not a comment");
	CHECK_STR(cfg.db_host, "db.internal");
	CHECK_INT(cfg.admin_role_id, 0);
	config_free(&cfg);
	buf_free(&out);
}

/* Each bad line must give exactly one problem naming t.conf, its line and
 * the key, and saying what would be valid. */
TEST(config_bad_values_name_file_line_and_rule)
{
	static const struct {
		const char *line;
		const char *expect;
	} cases[] = {
	        {"GUILD_ID = 12x", "t.conf:9: GUILD_ID is set twice (first on line 1)"},
	        {"FOO = 1", "t.conf:9: unknown key 'FOO'"},
	        {"just words", "t.conf:9: expected KEY = value"},
	        {"= 5", "t.conf:9: expected KEY = value, found no key"},
	        {"MAX_PROPOSED_CHANNELS = 51",
	         "t.conf:9: MAX_PROPOSED_CHANNELS '51' is out of range: "
	         "expected a whole number from 1 to 50"},
	        {"MAX_PROPOSED_CHANNELS = 0", "from 1 to 50"},
	        {"MAX_PROPOSED_CHANNELS = 2.5", "from 1 to 50"},
	        {"STATS_RECALCULATION_MONTH_LIMIT = -1", "from 1 to 120"},
	        {"STATS_REFRESH_INTERVAL_MINUTES = 0", "decimal number from 0.01 to 10080"},
	        {"STATS_REFRESH_INTERVAL_MINUTES = 1e3", "decimal number"},
	        {"STATS_REFRESH_INTERVAL_MINUTES = nan", "decimal number"},
	        {"DB_PORT = 65536", "DB_PORT '65536' is out of range"},
	        {"REDIS_PORT = 99999999999999999999", "REDIS_PORT"},
	        {"HEALTH_PORT = -1",
	         "HEALTH_PORT '-1' is out of range: expected a whole number from 0"},
	        {"LOG_LEVEL = LOUD", "LOG_LEVEL 'LOUD' is not one of DEBUG, INFO, WARNING, ERROR"},
	        {"OPEN_WEB_UI_URL = ftp://x/y", "must start with http:// or https://"},
	        {"OPEN_WEB_UI_URL = http://", "the host is empty"},
	        {"OPEN_WEB_UI_URL = http://a b/", "contains the byte 0x20"},
	        {"OPEN_WEB_UI_URL = http://h:0/", "the port is 0"},
	        {"OPEN_WEB_UI_URL = http://u:p@h/", "passwords in URLs are not supported"},
	        {"OPEN_WEB_UI_URL = http://h/x#frag", "must not contain a #fragment"},
	        {"DISCORD_API_URL = https://-bad-/api", "the host name is not valid"},
	        {"DISCORD_API_URL =", "DISCORD_API_URL may not be empty"},
	        {"DB_HOST = bad host", "DB_HOST 'bad host' is not a host name"},
	        {"DB_NAME =", "DB_NAME may not be empty"},
	        {"ADMIN_ROLE_ID = 0123", "ADMIN_ROLE_ID '0123' is not a Discord ID"},
	        {"ADMIN_ROLE_ID = 99999999999999999999", "not a Discord ID"},
	        {"ADMIN_ROLE_ID = 9223372036854775808", "not a Discord ID"},
	        {"OPEN_WEB_UI_MODEL = \"unterminated", "unterminated quote"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config cfg;
		struct buf out;
		char text[256];
		snprintf(text, sizeof text, "%s\n", cases[i].line);
		int n = parse(&cfg, text, &out);
		if (!CHECK_INT(n, 1) || !CHECK(strstr(buf_str(&out), cases[i].expect)))
			printf("    case %zu: %s -> %s", i, cases[i].line, buf_str(&out));
		config_free(&cfg);
		buf_free(&out);
	}
}

TEST(config_every_problem_is_listed_at_once)
{
	struct config cfg;
	struct buf out;
	config_defaults(&cfg);
	buf_init(&out, 1 << 16);
	static const char text[] = "GUILD_ID = x\nNOPE = 1\nDB_PORT = 0\n";
	int n = config_parse(&cfg, "a.conf", text, sizeof text - 1, NULL, &out);
	/* 3 bad lines + the 7 required channel IDs that are missing */
	CHECK_INT(n, 10);
	CHECK(strstr(buf_str(&out), "a.conf:1: GUILD_ID"));
	CHECK(strstr(buf_str(&out), "a.conf:2: unknown key 'NOPE'"));
	CHECK(strstr(buf_str(&out), "a.conf:3: DB_PORT"));
	CHECK(strstr(buf_str(&out), "a.conf:0: QUEUE_CHANNEL_ID is required"));
	/* one line per problem */
	size_t lines = 0;
	for (const char *p = buf_str(&out); *p; p++)
		lines += *p == '\n';
	CHECK_INT(lines, 10);
	config_free(&cfg);
	buf_free(&out);
}

TEST(config_environment_overrides_the_file)
{
	struct config cfg;
	struct buf out;
	fake_env[0] = "DB_PORT= 6543 ";
	fake_env[1] = "LOG_LEVEL=WARNING";
	fake_env[2] = NULL;
	int n = parse(&cfg, "DB_PORT = 1\nLOG_LEVEL = bogus\n", &out);
	/* the file's bad LOG_LEVEL is overridden, so it is not a problem */
	CHECK_INT(n, 0);
	CHECK_INT(cfg.db_port, 6543);
	CHECK_INT(cfg.log_level, LOG_WARNING);
	config_free(&cfg);
	buf_free(&out);

	fake_env[0] = "REDIS_PORT=abc";
	fake_env[1] = "GUILD_ID=";
	n = parse(&cfg, "", &out);
	CHECK_INT(n, 2);
	CHECK(strstr(buf_str(&out), "environment:REDIS_PORT: REDIS_PORT 'abc' is out of range"));
	CHECK(strstr(buf_str(&out), "environment:GUILD_ID: GUILD_ID is required"));
	config_free(&cfg);
	buf_free(&out);
	fake_env[0] = NULL;
}

TEST(config_hostile_bytes_do_not_crash)
{
	struct config cfg;
	struct buf out;
	char text[6000];
	memset(text, 'A', sizeof text);
	text[10] = '=';
	text[20] = '\0';
	text[100] = '\n';
	config_defaults(&cfg);
	buf_init(&out, 1 << 16);
	int n = config_parse(&cfg, "h.conf", text, sizeof text, NULL, &out);
	CHECK(n > 0);
	CHECK(strstr(buf_str(&out), "h.conf:1: line contains a NUL byte"));
	CHECK(strstr(buf_str(&out), "h.conf:2: line is longer than 4096 bytes"));
	config_free(&cfg);
	buf_free(&out);
}

TEST(config_survives_allocation_failure)
{
	/* strings and a problem line, so parsing has allocations to fail */
	char text[2048];
	snprintf(text, sizeof text, "%sDB_HOST = h\nDB_NAME = n\nFOO = 1\n", good);
	long fail_at;
	int succeeded = 0;
	for (fail_at = 0; fail_at < 200 && !succeeded; fail_at++) {
		struct config cfg;
		struct buf out;
		config_defaults(&cfg);
		buf_init(&out, 1 << 16);
		mem_fail_after(fail_at);
		int n = config_parse(&cfg, "t.conf", text, strlen(text), NULL, &out);
		mem_fail_after(-1);
		if (n >= 0) {
			CHECK_INT(n, 1);
			CHECK_STR(cfg.db_host, "h");
			CHECK(strstr(buf_str(&out), "unknown key 'FOO'"));
			succeeded = 1;
		}
		config_free(&cfg);
		buf_free(&out);
	}
	CHECK(succeeded);
	/* the sweep really failed some allocations before succeeding */
	CHECK(fail_at > 2);
}

/* agora.conf.example documents every key and is itself a valid config. */
TEST(config_example_documents_every_key)
{
	size_t len;
	char *text = test_read_file("agora.conf.example", &len);
	if (!CHECK(text))
		return;
	for (size_t i = 0; config_key_name(i); i++) {
		char needle[80];
		snprintf(needle, sizeof needle, "\n%s =", config_key_name(i));
		if (!CHECK(strstr(text, needle)))
			printf("    agora.conf.example lacks %s\n", config_key_name(i));
	}
	struct config cfg;
	struct buf out;
	config_defaults(&cfg);
	buf_init(&out, 1 << 16);
	CHECK_INT(config_parse(&cfg, "agora.conf.example", text, len, NULL, &out), 0);
	CHECK_STR(buf_str(&out), "");
	config_free(&cfg);
	buf_free(&out);
	free(text);
}

/* Writes a config in the temp dir whose SECRETS_DIR is dir; returns its path. */
static const char *
write_config(const char *name, const char *extra, const char *dir)
{
	char text[4096];
	snprintf(text, sizeof text, "%sSECRETS_DIR = %s\nTLS_CA_FILE = %s\n%s", good, dir,
	         "agora.conf.example", extra);
	return test_write_file(name, text);
}

TEST(config_secrets_are_read_trimmed_and_never_printed)
{
	char dir[512], path[600];
	snprintf(dir, sizeof dir, "%s/secrets-a", test_tmpdir());
	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/discord_bot_token", dir);
	FILE *f = fopen(path, "w");
	fputs("  MTEx.secret-token-value \n\n", f);
	fclose(f);
	/* the spec's name, with .txt */
	snprintf(path, sizeof path, "%s/db_password.txt", dir);
	f = fopen(path, "w");
	fputs("pg-pass-word\n", f);
	fclose(f);

	struct config cfg;
	struct buf out;
	buf_init(&out, 1 << 16);
	/* a secret pasted into a value by mistake must not be echoed */
	char conf_path[600];
	snprintf(conf_path, sizeof conf_path, "%s",
	         write_config("s.conf",
	                      "OPEN_WEB_UI_MODEL = \"\x01 MTEx.secret-token-value\"\n"
	                      "DB_NAME = pg-pass-word\nDB_HOST = pg-pass-word x\n",
	                      dir));
	int n = config_load(&cfg, conf_path, &out);
	CHECK_INT(n, 2);
	CHECK_STR(cfg.discord_bot_token, "MTEx.secret-token-value");
	CHECK_STR(cfg.db_password, "pg-pass-word");
	CHECK(cfg.open_webui_token == NULL);
	CHECK(strstr(buf_str(&out), "OPEN_WEB_UI_MODEL contains control characters"));
	CHECK(strstr(buf_str(&out), "DB_HOST '"));
	CHECK(!strstr(buf_str(&out), "secret-token"));
	CHECK(!strstr(buf_str(&out), "MTEx.sec"));
	CHECK(!strstr(buf_str(&out), "pg-pass-word"));
	config_free(&cfg);
	buf_free(&out);
}

TEST(config_secret_problems)
{
	char dir[512], path[600];
	snprintf(dir, sizeof dir, "%s/secrets-b", test_tmpdir());
	mkdir(dir, 0700);
	struct config cfg;
	struct buf out;

	/* missing required token */
	config_defaults(&cfg);
	buf_init(&out, 1 << 16);
	mem_free(cfg.secrets_dir);
	cfg.secrets_dir = mem_strdup(dir);
	CHECK_INT(config_load_secrets(&cfg, &out), 1);
	CHECK(strstr(buf_str(&out), "/discord_bot_token:0: secret file is missing"));
	buf_free(&out);

	/* empty, and a line break inside */
	snprintf(path, sizeof path, "%s/discord_bot_token", dir);
	FILE *f = fopen(path, "w");
	fputs(" \n\t\n", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/open_webui_token", dir);
	f = fopen(path, "w");
	fputs("abc\ndef\n", f);
	fclose(f);
	buf_init(&out, 1 << 16);
	CHECK_INT(config_load_secrets(&cfg, &out), 2);
	CHECK(strstr(buf_str(&out), "discord_bot_token:0: secret file is empty"));
	CHECK(strstr(buf_str(&out), "open_webui_token:0: secret contains a line break"));
	CHECK(!strstr(buf_str(&out), "def"));
	buf_free(&out);

	/* "Bot " prefix pasted in */
	snprintf(path, sizeof path, "%s/discord_bot_token", dir);
	f = fopen(path, "w");
	fputs("Bot abc.def\n", f);
	fclose(f);
	snprintf(path, sizeof path, "%s/open_webui_token", dir);
	unlink(path);
	buf_init(&out, 1 << 16);
	CHECK_INT(config_load_secrets(&cfg, &out), 1);
	CHECK(strstr(buf_str(&out), "without \"Bot \""));
	buf_free(&out);
	config_free(&cfg);
}

TEST(config_missing_file_is_one_clear_line)
{
	struct config cfg;
	struct buf out;
	buf_init(&out, 1 << 16);
	int n = config_load(&cfg, "/nonexistent/agora.conf", &out);
	CHECK_INT(n, 1);
	CHECK_STR(buf_str(&out), "/nonexistent/agora.conf:0: cannot read the config file: No such "
	                         "file or directory (give another with -c PATH or AGORA_CONFIG)\n");
	config_free(&cfg);
	buf_free(&out);
}

/* config_load(path) in a child process that SIGALRM ends after 10 s (a
 * FIFO used to block open() for ever): returns the problems text (static
 * buffer) or "" with *status < 0 when the child did not finish by itself. */
static const char *
load_in_child(const char *path, int *status)
{
	static char text[4096];
	int fds[2];
	text[0] = '\0';
	*status = -1;
	if (pipe(fds) < 0)
		return text;
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		alarm(10);
		struct config cfg;
		struct buf out;
		buf_init(&out, 1 << 16);
		int n = config_load(&cfg, path, &out);
		if (out.len && write(fds[1], out.data, out.len) < 0)
			_exit(100);
		_exit(n < 0 ? 101 : n);
	}
	close(fds[1]);
	size_t got = 0;
	ssize_t r;
	while (pid > 0 && got < sizeof text - 1 &&
	       (r = read(fds[0], text + got, sizeof text - 1 - got)) > 0)
		got += (size_t)r;
	text[got] = '\0';
	close(fds[0]);
	int ws;
	if (pid > 0 && waitpid(pid, &ws, 0) == pid && WIFEXITED(ws))
		*status = WEXITSTATUS(ws);
	return text;
}

/* Issue 12.7: a config or secret file that is a FIFO, a device or a
 * directory fails at once with "PATH:0: ... not a regular file", naming
 * what it is; before, a FIFO blocked start-up in open() with no output. */
TEST(config_files_must_be_regular)
{
	char dir[512], path[700], conf[700], want[800];
	int status;
	snprintf(dir, sizeof dir, "%s/secrets-fifo", test_tmpdir());
	mkdir(dir, 0700);

	/* the config itself is a FIFO, with no writer */
	snprintf(path, sizeof path, "%s/fifo.conf", test_tmpdir());
	if (!CHECK(mkfifo(path, 0600) == 0))
		return;
	const char *out = load_in_child(path, &status);
	CHECK_INT(status, 1);
	snprintf(want, sizeof want,
	         "%s:0: cannot read the config file: not a regular file (a FIFO)", path);
	CHECK(strncmp(out, want, strlen(want)) == 0);

	/* a directory as the config */
	out = load_in_child(dir, &status);
	CHECK_INT(status, 1);
	snprintf(want, sizeof want,
	         "%s:0: cannot read the config file: not a regular file (a directory)", dir);
	CHECK(strncmp(out, want, strlen(want)) == 0);

	/* the token secret a FIFO (no writer), db_password /dev/zero (a
	 * device that never ends), open_webui_token a directory */
	snprintf(path, sizeof path, "%s/discord_bot_token", dir);
	CHECK(mkfifo(path, 0600) == 0);
	snprintf(path, sizeof path, "%s/db_password", dir);
	CHECK(symlink("/dev/zero", path) == 0);
	snprintf(path, sizeof path, "%s/open_webui_token", dir);
	CHECK(mkdir(path, 0700) == 0);
	snprintf(conf, sizeof conf, "%s", write_config("fifo-secrets.conf", "", dir));
	out = load_in_child(conf, &status);
	CHECK_INT(status, 3);
	snprintf(want, sizeof want,
	         "%s/discord_bot_token:0: cannot read secret: not a regular file (a FIFO)\n", dir);
	test_check(strstr(out, want) != NULL, out, __FILE__, __LINE__);
	snprintf(want, sizeof want,
	         "%s/db_password:0: cannot read secret: not a regular file (a character device)\n",
	         dir);
	test_check(strstr(out, want) != NULL, out, __FILE__, __LINE__);
	snprintf(want, sizeof want,
	         "%s/open_webui_token:0: cannot read secret: not a regular file (a directory)\n",
	         dir);
	test_check(strstr(out, want) != NULL, out, __FILE__, __LINE__);
}

/* Issue 12.11: TLS verification cannot be switched off by any config. The
 * Discord URL is https only (an http:// one would send the token in clear
 * and check no certificate); the only TLS key is TLS_CA_FILE, which names
 * the anchors and cannot be empty; a key that sounds like a switch is an
 * unknown key, refused like any other. */
TEST(config_tls_cannot_be_switched_off)
{
	struct config cfg;
	struct buf out;
	CHECK_INT(parse(&cfg, "DISCORD_API_URL = http://discord.com/api/v10\n", &out), 1);
	CHECK(strstr(buf_str(&out), "t.conf:9: DISCORD_API_URL 'http://discord.com/api/v10' must "
	                            "start with https://"));
	config_free(&cfg);
	buf_free(&out);
	memset(fake_env, 0, sizeof fake_env); /* what earlier tests left */
	fake_env[0] = "DISCORD_API_URL=http://127.0.0.1:8080/api/v10";
	CHECK_INT(parse(&cfg, "", &out), 1);
	CHECK(strstr(buf_str(&out), "environment:DISCORD_API_URL: DISCORD_API_URL "
	                            "'http://127.0.0.1:8080/api/v10' must start with https://"));
	fake_env[0] = NULL;
	config_free(&cfg);
	buf_free(&out);
	CHECK_INT(parse(&cfg, "DISCORD_API_URL = https://127.0.0.1:8443/api/v10\n", &out), 0);
	CHECK_STR(cfg.discord_api_url, "https://127.0.0.1:8443/api/v10");
	config_free(&cfg);
	buf_free(&out);
	/* TLS_CA_FILE empty is not "no checks": it is refused */
	CHECK_INT(parse(&cfg, "TLS_CA_FILE = \n", &out), 1);
	config_free(&cfg);
	buf_free(&out);
	/* switches other programs know are unknown keys here */
	static const char *const switches[] = {
	        "TLS_VERIFY = 0",     "TLS_INSECURE = 1",    "INSECURE_SKIP_VERIFY = true",
	        "SSL_VERIFY = false", "TLS_NO_VERIFY = yes", "VERIFY_CERTIFICATES = off"};
	for (size_t i = 0; i < sizeof switches / sizeof switches[0]; i++) {
		char text[100];
		snprintf(text, sizeof text, "%s\n", switches[i]);
		CHECK_INT(parse(&cfg, text, &out), 1);
		test_check(strstr(buf_str(&out), "unknown key") != NULL, switches[i], __FILE__,
		           __LINE__);
		config_free(&cfg);
		buf_free(&out);
	}
	/* and the table of keys has one TLS key: the trust anchors */
	int tls_keys = 0;
	for (size_t i = 0; config_key_name(i); i++) {
		const char *n = config_key_name(i);
		if (strstr(n, "TLS") || strstr(n, "SSL") || strstr(n, "VERIFY") ||
		    strstr(n, "INSECURE") || strstr(n, "CERT")) {
			tls_keys++;
			CHECK_STR(n, "TLS_CA_FILE");
		}
	}
	CHECK_INT(tls_keys, 1);
}

/* Issue 9.8: a secret's path that does not fit is refused, never cut: a
 * SECRETS_DIR padded with slashes so that the cut path ends in "disc" used
 * to read the file "disc" as the bot token. */
TEST(config_secret_path_is_never_cut)
{
	char dir[512], path[700];
	snprintf(dir, sizeof dir, "%s/secrets-long", test_tmpdir());
	mkdir(dir, 0700);
	snprintf(path, sizeof path, "%s/disc", dir);
	FILE *f = fopen(path, "w");
	if (!CHECK(f != NULL))
		return;
	fputs("WRONG.file.read\n", f);
	fclose(f);
	/* dir + slashes, so that "DIR////.../disc" is exactly 4095 bytes */
	char long_dir[4200];
	size_t n = strlen(dir);
	memcpy(long_dir, dir, n);
	while (n + 1 + 4 < 4095)
		long_dir[n++] = '/';
	long_dir[n] = '\0';
	struct config cfg;
	struct buf out;
	config_defaults(&cfg);
	buf_init(&out, 1 << 16);
	mem_free(cfg.secrets_dir);
	cfg.secrets_dir = mem_strdup(long_dir);
	CHECK_INT(config_load_secrets(&cfg, &out), 3);
	CHECK(cfg.discord_bot_token == NULL);
	CHECK(strstr(buf_str(&out), "discord_bot_token:0: SECRETS_DIR is too long (") != NULL);
	CHECK(!strstr(buf_str(&out), "WRONG"));
	config_free(&cfg);
	buf_free(&out);
}
