/* config — Agora's configuration: one KEY = value file, the environment,
 * and the secret files (CONTRACT.md, "Configuration file" and "Secrets").
 *
 * What it does: reads `KEY = value` lines (`#` comments, blank lines,
 * optional matching quotes around a value, ` # comment` after an unquoted
 * value), lets an environment variable of the same name override the file,
 * validates every value (snowflake IDs, numeric ranges, URLs, host names,
 * paths), then reads the secrets from SECRETS_DIR. Every problem found is
 * collected, not just the first, as one line `PATH:LINE: message` (LINE 0
 * when the problem is the whole file, a missing key or a secret file; PATH
 * `environment` with the variable's name as LINE's stand-in for overrides).
 * What it does not: print anything itself, or ever put a secret's value in a
 * message (problem text is also scrubbed of every secret value read). */
#ifndef AGORA_CONFIG_H
#define AGORA_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "log.h"

struct config {
	enum log_level log_level;

	/* Discord IDs (snowflakes); 0 only for the optional admin_role_id */
	uint64_t guild_id;
	uint64_t admin_notification_channel_id;
	uint64_t queue_channel_id;
	uint64_t public_announcement_channel_id;
	uint64_t proposed_channel_category_id;
	uint64_t permanent_channel_category_id;
	uint64_t proposed_activity_report_channel_id;
	uint64_t permanent_activity_report_channel_id;
	uint64_t admin_role_id;

	double stats_refresh_interval_minutes;
	long max_proposed_channels;
	long stats_recalculation_month_limit;
	long llm_timeout_seconds;
	long propose_rate_limit; /* proposals per member per window */
	long propose_rate_window_minutes;
	long report_rate_limit; /* reports per member per window */
	long report_rate_window_minutes;

	char *open_web_ui_url; /* NULL: no LLM endpoint configured */
	char *open_web_ui_model;
	char *discord_api_url;

	char *db_host;
	long db_port;
	char *db_name;
	char *db_user;
	char *redis_host;
	long redis_port;
	long health_port; /* 0: no health listener */

	char *tls_ca_file;
	char *secrets_dir;
	char *templates_dir; /* NULL: the built-in copies */
	char *prompts_dir;

	/* secrets; NULL when the file is absent (only the token is required) */
	char *discord_bot_token;
	char *db_password;
	char *open_webui_token;
};

/* Reads the environment variable name; NULL when unset. Tests and the
 * fuzzer pass their own; config_load uses getenv. */
typedef const char *config_env_fn(const char *name);

/* Sets every field to its default. Allocates nothing. */
void config_defaults(struct config *cfg);
/* Frees what a config holds; zeroes secrets before freeing them. */
void config_free(struct config *cfg);

/* Parses text (the contents of the file at path; path only names it in
 * messages), applies env overrides (env may be NULL) and validates; does not
 * touch the file system or read secrets. Appends one line per problem to
 * problems. Returns the number of problems (0: usable), or -1 when memory
 * ran out (the config is then in a defined but partial state). */
int config_parse(struct config *cfg, const char *path, const char *text, size_t len,
                 config_env_fn *env, struct buf *problems);
/* config_parse on the file at path with the process environment, then the
 * file system checks (TLS_CA_FILE readable, directories present) and the
 * secrets. Same return value. */
int config_load(struct config *cfg, const char *path, struct buf *problems);
/* Reads the secret files from cfg->secrets_dir (also accepting a `.txt`
 * suffix, as the spec names them); returns the number of problems. */
int config_load_secrets(struct config *cfg, struct buf *problems);

/* Looks a key up in the table of known keys: its default as text ("" when
 * it has none) and a one-line description; -1 when unknown. */
int config_key_info(const char *key, const char **default_text, const char **description);
/* The name of the i-th known key, NULL past the end. */
const char *config_key_name(size_t i);

#endif
