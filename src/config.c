/* config — see config.h. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mem.h"
#include "url.h"

/* A config file is a few dozen short lines; anything far larger is not one
 * (a binary, a log) and is refused before it is parsed. */
#define CONFIG_MAX_FILE (64 * 1024)
/* A secret is a token or password; 4 KiB is far above any Discord token. */
#define SECRET_MAX_FILE 4096
/* Values are echoed in messages only when short, so a token pasted into the
 * wrong key is not printed whole (the scrub below catches known secrets). */
#define ECHO_MAX 40

enum key_kind {
	KIND_LEVEL,     /* LOG_LEVEL */
	KIND_SNOWFLAKE, /* Discord ID */
	KIND_INT,       /* integer in [min, max] */
	KIND_DECIMAL,   /* decimal in [min, max] */
	KIND_STRING,    /* non-empty text without control characters */
	KIND_HOST,      /* host name or IP literal */
	KIND_URL,       /* http:// or https:// URL */
	KIND_FILE,      /* path of a readable file (checked by config_load) */
	KIND_DIR,       /* path of a directory (checked by config_load) */
};

struct key_spec {
	const char *name;
	enum key_kind kind;
	size_t offset;            /* of the field in struct config */
	const char *default_text; /* NULL: required; "": optional, no default */
	double min, max;          /* for KIND_INT and KIND_DECIMAL */
	const char *description;
};

#define F(field) offsetof(struct config, field)

static const struct key_spec keys[] = {
        {"LOG_LEVEL", KIND_LEVEL, F(log_level), "INFO", 0, 0,
         "lowest level logged: DEBUG, INFO, WARNING, ERROR or CRITICAL"},
        {"GUILD_ID", KIND_SNOWFLAKE, F(guild_id), NULL, 0, 0,
         "the one server the bot manages; slash commands are registered there"},
        {"ADMIN_NOTIFICATION_CHANNEL_ID", KIND_SNOWFLAKE, F(admin_notification_channel_id), NULL, 0,
         0, "channel for every raw notification (proposals, reports, online/shutdown)"},
        {"QUEUE_CHANNEL_ID", KIND_SNOWFLAKE, F(queue_channel_id), NULL, 0, 0,
         "channel holding the editable \"pending\" queue embeds"},
        {"PUBLIC_ANNOUNCEMENT_CHANNEL_ID", KIND_SNOWFLAKE, F(public_announcement_channel_id), NULL,
         0, 0, "channel for new and promoted channel announcements"},
        {"PROPOSED_CHANNEL_CATEGORY_ID", KIND_SNOWFLAKE, F(proposed_channel_category_id), NULL, 0,
         0, "category where approved channel proposals are created"},
        {"PERMANENT_CHANNEL_CATEGORY_ID", KIND_SNOWFLAKE, F(permanent_channel_category_id), NULL, 0,
         0, "category promoted channels are moved to"},
        {"PROPOSED_ACTIVITY_REPORT_CHANNEL_ID", KIND_SNOWFLAKE,
         F(proposed_activity_report_channel_id), NULL, 0, 0,
         "channel for the \"proposed\" channels score embed"},
        {"PERMANENT_ACTIVITY_REPORT_CHANNEL_ID", KIND_SNOWFLAKE,
         F(permanent_activity_report_channel_id), NULL, 0, 0,
         "channel for the \"permanent\" channels activity embed"},
        {"STATS_REFRESH_INTERVAL_MINUTES", KIND_DECIMAL, F(stats_refresh_interval_minutes), "10",
         0.01, 10080,
         "how often the activity scores are recomputed; decimals allowed (0.05 = 3 s)"},
        {"MAX_PROPOSED_CHANNELS", KIND_INT, F(max_proposed_channels), "20", 1, 50,
         "most channels allowed in the proposed category (Discord holds 50 per category)"},
        {"STATS_RECALCULATION_MONTH_LIMIT", KIND_INT, F(stats_recalculation_month_limit), "6", 1,
         120, "most months /recalculate_stats may look back"},
        {"OPEN_WEB_UI_URL", KIND_URL, F(open_web_ui_url), "", 0, 0,
         "full chat-completions endpoint of Open WebUI, http:// or https://; empty: no LLM"},
        {"OPEN_WEB_UI_MODEL", KIND_STRING, F(open_web_ui_model), "llama3.2", 0, 0,
         "model name sent to the LLM endpoint"},
        {"LLM_TIMEOUT_SECONDS", KIND_INT, F(llm_timeout_seconds), "20", 1, 600,
         "how long one LLM request may take"},
        {"PROPOSE_RATE_LIMIT", KIND_INT, F(propose_rate_limit), "5", 1, 1000,
         "proposals one member may start per PROPOSE_RATE_WINDOW_MINUTES (both /propose_*)"},
        {"PROPOSE_RATE_WINDOW_MINUTES", KIND_INT, F(propose_rate_window_minutes), "10", 1, 1440,
         "the window of PROPOSE_RATE_LIMIT"},
        {"REPORT_RATE_LIMIT", KIND_INT, F(report_rate_limit), "10", 1, 1000,
         "reports one member may send per REPORT_RATE_WINDOW_MINUTES"},
        {"REPORT_RATE_WINDOW_MINUTES", KIND_INT, F(report_rate_window_minutes), "10", 1, 1440,
         "the window of REPORT_RATE_LIMIT"},
        {"DB_HOST", KIND_HOST, F(db_host), "postgres", 0, 0, "PostgreSQL host name or address"},
        {"DB_PORT", KIND_INT, F(db_port), "5432", 1, 65535, "PostgreSQL port"},
        {"DB_NAME", KIND_STRING, F(db_name), "discord", 0, 0, "PostgreSQL database"},
        {"DB_USER", KIND_STRING, F(db_user), "discord", 0, 0, "PostgreSQL user"},
        {"REDIS_HOST", KIND_HOST, F(redis_host), "redis", 0, 0, "Redis host name or address"},
        {"REDIS_PORT", KIND_INT, F(redis_port), "6379", 1, 65535, "Redis port"},
        {"DISCORD_API_URL", KIND_URL, F(discord_api_url), "https://discord.com/api/v10", 0, 0,
         "Discord REST base URL, https:// only; the gateway URL comes from GET /gateway/bot"},
        {"TLS_CA_FILE", KIND_FILE, F(tls_ca_file), "/etc/ssl/certs/ca-certificates.crt", 0, 0,
         "PEM trust anchors for every TLS connection"},
        {"SECRETS_DIR", KIND_DIR, F(secrets_dir), "/run/secrets", 0, 0,
         "directory of the secret files (discord_bot_token, db_password, open_webui_token)"},
        {"HEALTH_PORT", KIND_INT, F(health_port), "8099", 0, 65535,
         "loopback port of the health listener; 0 disables it"},
        {"TEMPLATES_DIR", KIND_DIR, F(templates_dir), "", 0, 0,
         "directory of announcement templates; empty: the built-in copies"},
        {"PROMPTS_DIR", KIND_DIR, F(prompts_dir), "", 0, 0,
         "directory of LLM prompt templates; empty: the built-in copies"},
        {"ADMIN_ROLE_ID", KIND_SNOWFLAKE, F(admin_role_id), "", 0, 0,
         "holders of this role are admins too (besides Administrator / Manage Server)"},
};

#define KEY_COUNT (sizeof keys / sizeof keys[0])

const char *
config_key_name(size_t i)
{
	return i < KEY_COUNT ? keys[i].name : NULL;
}

static const struct key_spec *
find_key(const char *name, size_t len)
{
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (strlen(keys[i].name) == len && memcmp(keys[i].name, name, len) == 0)
			return &keys[i];
	return NULL;
}

int
config_key_info(const char *key, const char **default_text, const char **description)
{
	const struct key_spec *k = find_key(key, strlen(key));
	if (!k)
		return -1;
	if (default_text)
		*default_text = k->default_text ? k->default_text : "";
	if (description)
		*description = k->description;
	return 0;
}

/* ------------------------------------------------------------ problems */

/* Where a value came from, for messages. */
struct origin {
	const char *path; /* file path, or "environment" */
	long line;        /* 0 for the whole file */
	const char *var;  /* the variable, for the environment */
};

struct parser {
	struct config *cfg;
	struct buf *problems;
	int count;
	int oom;
};

static void problem(struct parser *p, const struct origin *o, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
problem(struct parser *p, const struct origin *o, const char *fmt, ...)
{
	p->count++;
	int rc;
	if (o->var)
		rc = buf_printf(p->problems, "%s:%s: ", o->path, o->var);
	else
		rc = buf_printf(p->problems, "%s:%ld: ", o->path, o->line);
	va_list ap;
	va_start(ap, fmt);
	if (rc == 0)
		rc = buf_vprintf(p->problems, fmt, ap);
	va_end(ap);
	if (rc == 0)
		rc = buf_putc(p->problems, '\n');
	if (rc < 0)
		p->oom = 1;
}

/* Copies value into out for quoting in a message: short, printable. */
static const char *
echo(const char *value, char *out, size_t cap)
{
	size_t n = 0, len = strlen(value);
	for (size_t i = 0; i < len && n + 4 < cap && i < ECHO_MAX; i++) {
		unsigned char c = (unsigned char)value[i];
		out[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	if (len > ECHO_MAX && n + 4 < cap) {
		memcpy(out + n, "...", 3);
		n += 3;
	}
	out[n] = '\0';
	return out;
}

/* ------------------------------------------------------------ values */

static int
parse_snowflake(const char *s, uint64_t *out)
{
	/* Discord IDs are unsigned 64-bit, but every real one fits in a signed
	 * BIGINT (PostgreSQL) since the timestamp field is 42 bits; digits only,
	 * no sign, no leading zero. */
	size_t len = strlen(s);
	if (len == 0 || len > 19 || s[0] == '0')
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX)
		return -1;
	*out = v;
	return 0;
}

static int
parse_long(const char *s, long *out)
{
	if (!*s || strlen(s) > 18)
		return -1;
	const char *p = s;
	if (*p == '-' || *p == '+')
		p++;
	if (!*p)
		return -1;
	for (; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	long v = strtol(s, NULL, 10);
	if (errno)
		return -1;
	*out = v;
	return 0;
}

static int
parse_decimal(const char *s, double *out)
{
	/* plain decimals only ("0.05", "10"): no exponents, hex or inf/nan */
	size_t digits = 0, dots = 0;
	if (!*s || strlen(s) > 24)
		return -1;
	for (const char *p = s; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (*p == '.' && !dots)
			dots++;
		else
			return -1;
	}
	if (!digits)
		return -1;
	*out = strtod(s, NULL);
	return isfinite(*out) ? 0 : -1;
}

static int
valid_text(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* A DNS name (RFC 1123 labels) or an IPv4/IPv6 literal. */
static int
valid_host(const char *s)
{
	size_t len = strlen(s);
	if (len == 0 || len > 253)
		return 0;
	if (strchr(s, ':')) { /* IPv6 literal */
		for (const char *p = s; *p; p++)
			if (!(strchr("0123456789abcdefABCDEF:.", *p)))
				return 0;
		return 1;
	}
	size_t label = 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (c == '.') {
			if (label == 0 || s[i - 1] == '-')
				return 0;
			label = 0;
			continue;
		}
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		         (c >= '0' && c <= '9') || c == '-' || c == '_';
		if (!ok || (label == 0 && c == '-') || ++label > 63)
			return 0;
	}
	return s[len - 1] != '-';
}

/* An http:// or https:// URL that url_parse accepts (host, port, target),
 * without a #fragment, which a request would silently drop. Sets *reason
 * (into buf) when not. */
static int
valid_url(const char *s, char *reason, size_t reason_len)
{
	struct url u;
	if (strncmp(s, "https://", 8) != 0 && strncmp(s, "http://", 7) != 0) {
		snprintf(reason, reason_len, "must start with http:// or https://");
		return 0;
	}
	if (strchr(s, '#')) {
		snprintf(reason, reason_len, "must not contain a #fragment");
		return 0;
	}
	if (url_parse(s, &u, reason, reason_len) < 0)
		return 0;
	if (!u.ipv6 && !valid_host(u.host)) {
		snprintf(reason, reason_len, "the host name is not valid (RFC 1123 labels)");
		return 0;
	}
	return 1;
}

static char **
string_field(struct config *cfg, const struct key_spec *k)
{
	return (char **)(void *)((char *)cfg + k->offset);
}

/* Stores value (already trimmed) into key k's field, or reports why not. */
static void
set_value(struct parser *p, const struct key_spec *k, const char *value, const struct origin *o)
{
	char shown[ECHO_MAX + 8];
	char *base = (char *)p->cfg;

	if (!*value) {
		if (!k->default_text)
			problem(p, o, "%s is required and may not be empty", k->name);
		else if (k->kind == KIND_SNOWFLAKE)
			*(uint64_t *)(void *)(base + k->offset) = 0;
		else if (k->kind == KIND_URL || k->kind == KIND_DIR) {
			/* the optional ones: empty means "not set" */
			char **field = string_field(p->cfg, k);
			mem_free(*field);
			*field = NULL;
			if (k->default_text[0])
				problem(p, o, "%s may not be empty (default: %s)", k->name,
				        k->default_text);
		} else
			problem(p, o, "%s may not be empty (default: %s)", k->name,
			        k->default_text);
		return;
	}

	switch (k->kind) {
	case KIND_LEVEL: {
		enum log_level level;
		if (log_parse_level(value, &level) < 0)
			problem(p, o,
			        "LOG_LEVEL '%s' is not one of DEBUG, INFO, WARNING, ERROR, "
			        "CRITICAL",
			        echo(value, shown, sizeof shown));
		else
			p->cfg->log_level = level;
		return;
	}
	case KIND_SNOWFLAKE: {
		uint64_t id;
		if (parse_snowflake(value, &id) < 0)
			problem(p, o,
			        "%s '%s' is not a Discord ID: expected a snowflake, 1 to 19 digits "
			        "without a leading zero (e.g. 123456789012345678)",
			        k->name, echo(value, shown, sizeof shown));
		else
			*(uint64_t *)(void *)(base + k->offset) = id;
		return;
	}
	case KIND_INT: {
		long n;
		if (parse_long(value, &n) < 0 || n < (long)k->min || n > (long)k->max)
			problem(p, o,
			        "%s '%s' is out of range: expected a whole number from %.0f to "
			        "%.0f",
			        k->name, echo(value, shown, sizeof shown), k->min, k->max);
		else
			*(long *)(void *)(base + k->offset) = n;
		return;
	}
	case KIND_DECIMAL: {
		double d;
		if (parse_decimal(value, &d) < 0 || d < k->min || d > k->max)
			problem(p, o,
			        "%s '%s' is out of range: expected a decimal number from %g to %g",
			        k->name, echo(value, shown, sizeof shown), k->min, k->max);
		else
			*(double *)(void *)(base + k->offset) = d;
		return;
	}
	case KIND_STRING:
	case KIND_FILE:
	case KIND_DIR:
		if (!valid_text(value)) {
			problem(p, o, "%s contains control characters", k->name);
			return;
		}
		break;
	case KIND_HOST:
		if (!valid_host(value)) {
			problem(p, o, "%s '%s' is not a host name or IP address", k->name,
			        echo(value, shown, sizeof shown));
			return;
		}
		break;
	case KIND_URL: {
		char reason[160];
		if (!valid_url(value, reason, sizeof reason)) {
			problem(p, o, "%s '%s' is not a valid URL: %s", k->name,
			        echo(value, shown, sizeof shown), reason);
			return;
		}
		/* Issue 12.11: every request to Discord carries the bot token,
		 * so its URL is https only: an http:// value would be the one
		 * config knob that switches TLS (and its certificate check) off */
		if (k->offset == offsetof(struct config, discord_api_url) &&
		    strncmp(value, "https://", 8) != 0) {
			problem(p, o,
			        "%s '%s' must start with https://: the bot token goes with every "
			        "request, and certificates are always checked",
			        k->name, echo(value, shown, sizeof shown));
			return;
		}
		break;
	}
	}
	char *copy = mem_strdup(value);
	if (!copy) {
		p->oom = 1;
		return;
	}
	char **field = string_field(p->cfg, k);
	mem_free(*field);
	*field = copy;
}

/* ------------------------------------------------------------ parsing */

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	/* defaults that cannot fail: parse each key's default text */
	struct buf sink;
	buf_init(&sink, 4096);
	struct parser p = {cfg, &sink, 0, 0};
	struct origin o = {"default", 0, NULL};
	for (size_t i = 0; i < KEY_COUNT; i++)
		if (keys[i].default_text && keys[i].default_text[0])
			set_value(&p, &keys[i], keys[i].default_text, &o);
	buf_free(&sink);
}

static void
free_secret(char **s)
{
	if (*s) {
		/* volatile: the compiler may not drop the wipe of memory it frees */
		volatile char *v = *s;
		while (*v)
			*v++ = 0;
		mem_free(*s);
		*s = NULL;
	}
}

void
config_free(struct config *cfg)
{
	for (size_t i = 0; i < KEY_COUNT; i++) {
		enum key_kind kind = keys[i].kind;
		if (kind == KIND_STRING || kind == KIND_HOST || kind == KIND_URL ||
		    kind == KIND_FILE || kind == KIND_DIR) {
			char **field = string_field(cfg, &keys[i]);
			mem_free(*field);
			*field = NULL;
		}
	}
	free_secret(&cfg->discord_bot_token);
	free_secret(&cfg->db_password);
	free_secret(&cfg->open_webui_token);
}

static int
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* Lines of a config file are short; a longer one is a mistake. */
#define CONFIG_MAX_LINE 4096

int
config_parse(struct config *cfg, const char *path, const char *text, size_t len, config_env_fn *env,
             struct buf *problems)
{
	struct parser p = {cfg, problems, 0, 0};
	long set_on_line[KEY_COUNT] = {0};
	long line_no = 0;
	size_t pos = 0;

	if (len > CONFIG_MAX_FILE) {
		struct origin o = {path, 0, NULL};
		problem(&p, &o, "file is %zu bytes; a config file is at most %d", len,
		        CONFIG_MAX_FILE);
		len = 0;
	}
	while (pos < len) {
		const char *start = text + pos;
		const char *nl = memchr(start, '\n', len - pos);
		size_t line_len = nl ? (size_t)(nl - start) : len - pos;
		pos += line_len + (nl ? 1 : 0);
		line_no++;
		struct origin o = {path, line_no, NULL};

		if (line_len > CONFIG_MAX_LINE) {
			problem(&p, &o, "line is longer than %d bytes", CONFIG_MAX_LINE);
			continue;
		}
		char line[CONFIG_MAX_LINE + 1];
		memcpy(line, start, line_len);
		line[line_len] = '\0';
		if (memchr(start, '\0', line_len)) {
			problem(&p, &o, "line contains a NUL byte; is this a text file?");
			continue;
		}
		/* trim both ends */
		char *s = line;
		while (is_space(*s))
			s++;
		char *end = s + strlen(s);
		while (end > s && is_space(end[-1]))
			*--end = '\0';
		if (!*s || *s == '#')
			continue;
		if (strncmp(s, "export ", 7) == 0) /* shell-style files */
			s += 7;

		char *eq = strchr(s, '=');
		if (!eq) {
			problem(&p, &o, "expected KEY = value");
			continue;
		}
		char *key_end = eq;
		while (key_end > s && is_space(key_end[-1]))
			key_end--;
		size_t key_len = (size_t)(key_end - s);
		char *value = eq + 1;
		while (is_space(*value))
			value++;
		if (key_len == 0) {
			problem(&p, &o, "expected KEY = value, found no key before '='");
			continue;
		}
		const struct key_spec *k = find_key(s, key_len);
		if (!k) {
			char name[64];
			size_t n = key_len < sizeof name - 4 ? key_len : sizeof name - 4;
			memcpy(name, s, n);
			name[n] = '\0';
			problem(&p, &o, "unknown key '%s' (see agora.conf.example for the keys)",
			        echo(name, name, sizeof name));
			continue;
		}
		size_t index = (size_t)(k - keys);
		/* value: "quoted", 'quoted', or bare with an optional " # comment" */
		size_t vlen = strlen(value);
		if (vlen >= 1 && (value[0] == '"' || value[0] == '\'')) {
			char *close = strrchr(value + 1, value[0]);
			char *after = close ? close + 1 : NULL;
			while (after && is_space(*after))
				after++;
			if (!close || (*after && *after != '#')) {
				problem(&p, &o, "%s: unterminated quote in value", k->name);
				continue;
			}
			*close = '\0';
			value++;
		} else {
			for (char *c = value; *c; c++) {
				if (*c == '#' && c > value && is_space(c[-1])) {
					*c = '\0';
					break;
				}
			}
			end = value + strlen(value);
			while (end > value && is_space(end[-1]))
				*--end = '\0';
		}
		if (set_on_line[index]) {
			problem(&p, &o, "%s is set twice (first on line %ld)", k->name,
			        set_on_line[index]);
			continue;
		}
		set_on_line[index] = line_no;
		/* an environment variable wins; its value is checked below */
		if (env && env(k->name))
			continue;
		set_value(&p, k, value, &o);
	}

	for (size_t i = 0; i < KEY_COUNT; i++) {
		const char *v = env ? env(keys[i].name) : NULL;
		if (v) {
			struct origin o = {"environment", 0, keys[i].name};
			char trimmed[CONFIG_MAX_LINE + 1];
			size_t n = strlen(v);
			while (n && is_space(*v)) {
				v++;
				n--;
			}
			while (n && is_space(v[n - 1]))
				n--;
			if (n > CONFIG_MAX_LINE) {
				problem(&p, &o, "value is longer than %d bytes", CONFIG_MAX_LINE);
				continue;
			}
			memcpy(trimmed, v, n);
			trimmed[n] = '\0';
			set_value(&p, &keys[i], trimmed, &o);
			set_on_line[i] = -1;
		} else if (!keys[i].default_text && !set_on_line[i]) {
			struct origin o = {path, 0, NULL};
			problem(&p, &o, "%s is required: %s", keys[i].name, keys[i].description);
		}
	}
	return p.oom ? -1 : p.count;
}

/* ------------------------------------------------------------ files */

/* What a file that is not a regular one is, for the message. */
static const char *
file_kind(mode_t mode)
{
	if (S_ISDIR(mode))
		return "not a regular file (a directory)";
	if (S_ISFIFO(mode))
		return "not a regular file (a FIFO)";
	if (S_ISCHR(mode))
		return "not a regular file (a character device)";
	if (S_ISBLK(mode))
		return "not a regular file (a block device)";
	if (S_ISSOCK(mode))
		return "not a regular file (a socket)";
	return "not a regular file";
}

/* Reads a whole file of at most max bytes into a new string. On failure
 * returns NULL with *why set to a sentence and errno to the cause.
 * Only regular files: opening a FIFO blocks until a writer comes (start-up
 * hung with no output), and a device like /dev/zero never ends. So the
 * open is non-blocking (a FIFO then opens at once; the flag changes
 * nothing for a regular file), and fstat on the opened descriptor (no
 * race with a rename) decides before the first read. */
static char *
read_small_file(const char *path, size_t max, size_t *len, const char **why)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		*why = strerror(errno);
		return NULL;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		*why = strerror(errno);
		close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = file_kind(st.st_mode);
		close(fd);
		errno = EINVAL;
		return NULL;
	}
	if ((size_t)st.st_size > max) {
		*why = "file is too large";
		close(fd);
		errno = EFBIG;
		return NULL;
	}
	char *data = mem_alloc((size_t)st.st_size + 1);
	if (!data) {
		*why = "out of memory";
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	size_t got = 0;
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	data[got] = '\0';
	*len = got;
	return data;
}

static const char *
process_env(const char *name)
{
	return getenv(name);
}

/* Overwrites with asterisks every run of problem text that matches the
 * start of secret over at least SCRUB_MIN bytes: values are echoed cut to
 * ECHO_MAX bytes, so a pasted secret may appear only in part. */
#define SCRUB_MIN 6

static void
scrub(struct buf *problems, const char *secret)
{
	size_t n = secret ? strlen(secret) : 0;
	if (n < SCRUB_MIN || !problems->data)
		return;
	for (size_t i = 0; i < problems->len; i++) {
		size_t match = 0;
		while (i + match < problems->len && match < n &&
		       problems->data[i + match] == secret[match])
			match++;
		if (match >= SCRUB_MIN) {
			memset(problems->data + i, '*', match);
			i += match - 1;
		}
	}
}

static int
load_secret(const char *dir, const char *name, int required, char **out, struct parser *p)
{
	char path[4096];
	const char *why = NULL;
	size_t len = 0;
	/* Docker mounts a secret as NAME; the spec's files are NAME.txt. A
	 * path cut by snprintf would name another file (a long SECRETS_DIR
	 * of slashes ending in "disc" reads "disc"), so a cut is refused. */
	char txt[4096 + 8];
	int n = snprintf(path, sizeof path, "%s/%s", dir, name);
	if (n < 0 || (size_t)n >= sizeof path ||
	    (size_t)snprintf(txt, sizeof txt, "%s.txt", path) >= sizeof txt) {
		struct origin o = {name, 0, NULL};
		problem(p, &o,
		        "SECRETS_DIR is too long (%zu bytes): the path of a secret must fit "
		        "in %zu",
		        strlen(dir), sizeof path - 1);
		return 0;
	}
	char *data = read_small_file(path, SECRET_MAX_FILE, &len, &why);
	if (!data && errno == ENOENT)
		data = read_small_file(txt, SECRET_MAX_FILE, &len, &why);
	struct origin o = {path, 0, NULL};
	if (!data) {
		if (errno != ENOENT)
			problem(p, &o, "cannot read secret: %s", why);
		else if (required)
			problem(p, &o, "secret file is missing (also looked for %s.txt)", name);
		return 0;
	}
	if (memchr(data, '\0', len)) {
		problem(p, &o, "secret contains a NUL byte");
		free_secret(&data);
		return 0;
	}
	/* surrounding whitespace is trimmed (CONTRACT.md); inside, a token or
	 * password must be printable: a stray newline would break headers */
	char *s = data;
	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	char *end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r' || end[-1] == '\n'))
		end--;
	*end = '\0';
	if (!*s) {
		problem(p, &o, "secret file is empty");
		free_secret(&data);
		return 0;
	}
	for (const char *c = s; *c; c++) {
		if ((unsigned char)*c < 0x20 || *c == 0x7f) {
			problem(p, &o,
			        "secret contains a line break or control character inside it");
			free_secret(&data);
			return 0;
		}
	}
	memmove(data, s, strlen(s) + 1);
	free_secret(out);
	*out = data;
	return 0;
}

int
config_load_secrets(struct config *cfg, struct buf *problems)
{
	struct parser p = {cfg, problems, 0, 0};
	const char *dir = cfg->secrets_dir ? cfg->secrets_dir : "/run/secrets";
	load_secret(dir, "discord_bot_token", 1, &cfg->discord_bot_token, &p);
	load_secret(dir, "db_password", 0, &cfg->db_password, &p);
	load_secret(dir, "open_webui_token", 0, &cfg->open_webui_token, &p);
	if (cfg->discord_bot_token && strchr(cfg->discord_bot_token, ' ')) {
		struct origin o = {dir, 0, NULL};
		problem(&p, &o,
		        "discord_bot_token contains a space: put only the token in the file, "
		        "without \"Bot \"");
	}
	return p.oom ? -1 : p.count;
}

static void
check_paths(struct config *cfg, const char *path, struct parser *p)
{
	struct origin o = {path, 0, NULL};
	for (size_t i = 0; i < KEY_COUNT; i++) {
		const struct key_spec *k = &keys[i];
		if (k->kind != KIND_FILE && k->kind != KIND_DIR)
			continue;
		const char *value = *string_field(cfg, k);
		if (!value)
			continue;
		struct stat st;
		if (stat(value, &st) < 0)
			problem(p, &o, "%s %s: %s", k->name, value, strerror(errno));
		else if (k->kind == KIND_DIR && !S_ISDIR(st.st_mode))
			problem(p, &o, "%s %s: not a directory", k->name, value);
		else if (k->kind == KIND_FILE && (!S_ISREG(st.st_mode) || access(value, R_OK) < 0))
			problem(p, &o, "%s %s: not a readable file", k->name, value);
	}
}

int
config_load(struct config *cfg, const char *path, struct buf *problems)
{
	struct parser p = {cfg, problems, 0, 0};
	const char *why = NULL;
	size_t len = 0;
	config_defaults(cfg);
	char *text = read_small_file(path, CONFIG_MAX_FILE, &len, &why);
	if (!text) {
		struct origin o = {path, 0, NULL};
		problem(&p, &o,
		        "cannot read the config file: %s (give another with -c PATH or "
		        "AGORA_CONFIG)",
		        why);
		return p.oom ? -1 : p.count;
	}
	int n = config_parse(cfg, path, text, len, process_env, problems);
	mem_free(text);
	if (n < 0)
		return -1;
	p.count += n;
	check_paths(cfg, path, &p);
	int s = config_load_secrets(cfg, problems);
	if (s < 0)
		return -1;
	p.count += s;
	scrub(problems, cfg->discord_bot_token);
	scrub(problems, cfg->db_password);
	scrub(problems, cfg->open_webui_token);
	return p.oom ? -1 : p.count;
}
