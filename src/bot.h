/* bot — Agora itself: wires config, database, cache, REST and gateway,
 * starts and stops them in order, and dispatches Discord events to the
 * features (the table in commands.c).
 *
 * Start (CONTRACT.md "Behaviour every harness relies on"): connect
 * PostgreSQL and Redis, start the features, apply the migrations, load
 * tracked_channels and persistent_embeds, GET /gateway/bot, open the
 * gateway; on READY bulk-overwrite the guild's commands, post
 * "Bot Online" to the admin channel (once per process), and count as
 * healthy.
 * Stop (SIGTERM/SIGINT): post "Bot Shutting Down", close the gateway with
 * 1000, flush Redis, close everything, within 5 seconds; then
 * loop_stop(). A fatal error (Discord refused the token or the intents,
 * the schema cannot be migrated) stops the same way with status 1.
 *
 * Interactions: the guild is checked against GUILD_ID before anything
 * runs. Slash commands go by name, autocomplete (type 4) to the command's
 * autocomplete handler, component clicks and modal submits by custom_id
 * prefix ("approve:12" goes to the handler that registered "approve:").
 * Admin commands are also checked at run time (Administrator, Manage
 * Server or ADMIN_ROLE_ID), whatever the guild's command permissions say.
 * Answers go through reply.h, which guards Discord's 3 seconds.
 *
 * The bot layer is bot.c (this), reply.c (answers, DMs), embeds.c
 * (persistent embeds) and tracked.c (the tracked-channel set). Features
 * (cmd_*.c, activity.c) use those and the services below, never each
 * other. */
#ifndef AGORA_BOT_H
#define AGORA_BOT_H

#include <stddef.h>
#include <stdint.h>

#include "discord.h"
#include "health.h"
#include "rest.h"

struct bot;
struct cache;
struct config;
struct db;
struct embeds;
struct discord_message_head;
struct guild;
struct jobs;
struct json_value;
struct llm;
struct loop;
struct replies;
struct templates;
struct tracked;
struct tls_trust;

/* ------------------------------------------------------------ lifecycle */

/* A bot bound to loop and cfg (both borrowed, outliving it). NULL with the
 * reason in err (the CA bundle cannot be read, out of memory, ...). */
struct bot *bot_new(struct loop *loop, const struct config *cfg, char *err, size_t err_len);
/* Frees everything. Call after the loop stopped. */
void bot_free(struct bot *b);
/* Begins the start sequence; 0, or -1 with the reason in err. */
int bot_start(struct bot *b, char *err, size_t err_len);
/* Begins the graceful stop (idempotent). The loop is stopped when done. */
void bot_shutdown(struct bot *b);
/* The process exit status: 0 after a requested stop, 1 after a fatal one. */
int bot_exit_status(const struct bot *b);

/* ------------------------------------------------------------ commands */

/* Option types (docs: Application Commands, "Option Type"). */
enum {
	OPTION_STRING = 3,
	OPTION_INTEGER = 4,
	OPTION_CHANNEL = 7,
	OPTION_ATTACHMENT = 11,
};

struct bot_option {
	const char *name;
	const char *description;
	int type; /* OPTION_* */
	int required;
	long min_value;    /* integers: 0 = none */
	long max_value;    /* integers: 0 = none; -1 = STATS_RECALCULATION_MONTH_LIMIT */
	int min_length;    /* strings: 0 = none */
	int max_length;    /* strings: 0 = none */
	int text_channels; /* channels: only text channels (type 0) */
	int autocomplete;  /* Discord asks the command's autocomplete handler */
};

#define BOT_OPTIONS_MAX 4

typedef void bot_command_fn(struct bot *b, const struct interaction *it);

struct bot_command {
	const char *name;
	const char *description;
	int admin; /* default_member_permissions Manage Server + the run-time check */
	struct bot_option options[BOT_OPTIONS_MAX];
	bot_command_fn *run;
	/* type 4 interactions for this command (an option with autocomplete
	 * set is being typed): answer with reply_autocomplete at once, no
	 * guard or defer exists for them. NULL: an empty list is sent. */
	bot_command_fn *autocomplete;
};

/* A component or modal handler, chosen by the custom_id's prefix. */
struct bot_component {
	const char *prefix; /* "approve:" */
	int admin;
	bot_command_fn *run;
};

/* ------------------------------------------------------------ features */

/* One feature: its commands and components, and hooks so it owns its
 * timers and caches. Every field may be 0/NULL. A feature's rows live in
 * its own file (`const struct bot_feature feature_x`); adding one adds a
 * line to feature_table.h and to the table in commands.c, nothing else. */
struct bot_feature {
	const char *name;
	const struct bot_command *commands;
	size_t command_count;
	const struct bot_component *components;
	size_t component_count;
	/* bytes of zeroed state bot_new allocates for it (bot_feature_state) */
	size_t state_size;
	/* once, in bot_start: the services exist but are not connected yet,
	 * tracked_channels and persistent_embeds are not loaded yet. Register
	 * embeds and the health check here. 0, or -1 with a log line: the
	 * bot cannot run (bot_start fails). */
	int (*start)(struct bot *b);
	/* every READY (a new gateway session, not a resume) */
	void (*ready)(struct bot *b);
	/* every gateway dispatch (CHANNEL_UPDATE, GUILD_CREATE, ...) but
	 * MESSAGE_CREATE (see message), after the guild cache took it in; d is
	 * borrowed for the call */
	void (*dispatch)(struct bot *b, const char *event_name, const struct json_value *d);
	/* every MESSAGE_CREATE, instead of dispatch: the hot path reads it
	 * without a DOM (the gateway hands it raw), so only its head
	 * (discord.h: ids, author.bot) exists; m is borrowed for the call.
	 * A message whose head cannot be read is dropped with a warning. */
	void (*message)(struct bot *b, const struct discord_message_head *m);
	/* bot_free, before the services go: stop timers, free what state
	 * points to (the state block itself is freed by the bot). Pending
	 * service callbacks still run once afterwards, with bot_closing() 1. */
	void (*free)(struct bot *b);
};

/* The table (commands.c), in registration order. */
extern const struct bot_feature *const bot_features[];
extern const size_t bot_feature_count;

/* The feature's state block (state_size bytes, zeroed at bot_new), NULL
 * when f is not in the table or asked for none. */
void *bot_feature_state(struct bot *b, const struct bot_feature *f);

/* The command or component handler for a name / custom_id, over every
 * feature; NULL if none (commands.c). */
const struct bot_command *bot_command_find(const char *name);
const struct bot_component *bot_component_find(const char *custom_id);
/* Writes the bulk-overwrite body: every command with its options. */
int bot_commands_json(const struct config *cfg, struct buf *out);

/* ------------------------------------------------------------ services */

const struct config *bot_config(const struct bot *b);
struct db *bot_db(struct bot *b);
struct cache *bot_cache(struct bot *b);
struct rest *bot_rest(struct bot *b);
struct loop *bot_loop(struct bot *b);
/* The trust anchors of TLS_CA_FILE, for a feature's own https client (the
 * LLM endpoint, Discord's CDN). */
const struct tls_trust *bot_trust(const struct bot *b);
/* The announcement templates and LLM prompts (template.h), read once in
 * bot_start before any feature starts (a bad TEMPLATES_DIR or PROMPTS_DIR
 * file fails the start); valid until bot_free. */
const struct templates *bot_templates(const struct bot *b);
/* The one Open WebUI client (llm.h) every feature asks, made in bot_start
 * before the features start. Its pending requests call back at bot_free,
 * after the features' free, with bot_closing() 1. */
struct llm *bot_llm(struct bot *b);
/* The guild's channels as the gateway reported them (guild.h): counts and
 * lists without a REST call. Empty until GUILD_CREATE. */
const struct guild *bot_guild(const struct bot *b);
/* 1 while the gateway session is ready (identified or resumed). */
int bot_gateway_ready(const struct bot *b);
/* The application's id (from READY; 0 before). */
uint64_t bot_application_id(const struct bot *b);
/* 1 once bot_free began: every pending callback now runs with an error,
 * and a job that sees this must only free itself (the database and REST
 * client it would call next are going away). */
int bot_closing(const struct bot *b);
/* 1 once the stop sequence began (bot_shutdown). */
int bot_stopping(const struct bot *b);
/* 1 once it ended: the loop is stopping; start no new work. */
int bot_stopped(const struct bot *b);

/* The health listener's check (--healthcheck): a feature provides it
 * (cmd_core.c, next to /status). answer(conn, healthy, line) exactly once. */
typedef void bot_health_fn(struct bot *b, health_answer_fn *answer, void *conn);
void bot_set_health_check(struct bot *b, bot_health_fn *fn);

/* The bot layer's own modules' state (reply.c, embeds.c, tracked.c,
 * job.c); NULL once bot_free freed it. */
struct jobs *bot_jobs(struct bot *b);
struct replies *bot_replies(struct bot *b);
struct embeds *bot_embeds(struct bot *b);
struct tracked *bot_tracked(struct bot *b);

#endif
