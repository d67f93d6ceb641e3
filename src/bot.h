/* bot — Agora itself: wires config, database, cache, REST and gateway,
 * starts and stops them in order, and dispatches Discord events to the
 * commands (cmd_*.c).
 *
 * Start (CONTRACT.md "Behaviour every harness relies on"): connect
 * PostgreSQL and apply the migrations, load tracked_channels and
 * persistent_embeds, connect Redis, GET /gateway/bot, open the gateway;
 * on READY bulk-overwrite the guild's commands, post "Bot Online" to the
 * admin channel (once per process), and count as healthy.
 * Stop (SIGTERM/SIGINT): post "Bot Shutting Down", close the gateway with
 * 1000, flush Redis, close everything, within 5 seconds; then
 * loop_stop(). A fatal error (Discord refused the token or the intents,
 * the schema cannot be migrated) stops the same way with status 1.
 *
 * Interactions: every one is answered within Discord's 3 seconds: a
 * command replies at once or defers (ephemeral) and edits its original
 * response later. Slash commands go by name, component clicks and modal
 * submits by custom_id prefix ("approve:12" goes to the handler that
 * registered "approve:"). Admin commands are also checked at run time
 * (Administrator, Manage Server or ADMIN_ROLE_ID), whatever the guild's
 * command permissions say. */
#ifndef AGORA_BOT_H
#define AGORA_BOT_H

#include <stddef.h>
#include <stdint.h>

#include "discord.h"
#include "rest.h"

struct bot;
struct cache;
struct config;
struct db;
struct loop;

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
};

#define BOT_OPTIONS_MAX 4

typedef void bot_command_fn(struct bot *b, const struct interaction *it);

struct bot_command {
	const char *name;
	const char *description;
	int admin; /* default_member_permissions Manage Server + the run-time check */
	struct bot_option options[BOT_OPTIONS_MAX];
	bot_command_fn *run;
};

/* A component or modal handler, chosen by the custom_id's prefix. */
struct bot_component {
	const char *prefix; /* "approve:" */
	int admin;
	bot_command_fn *run;
};

/* The commands registered with Discord, in order (spec 7), and the
 * handlers of buttons and forms (commands.c). */
extern const struct bot_command bot_commands[];
extern const size_t bot_command_count;
extern const struct bot_component bot_components[];
extern const size_t bot_component_count;

/* Writes the bulk-overwrite body: every command with its options. */
int bot_commands_json(const struct config *cfg, struct buf *out);

/* ------------------------------------------------------------ services */

const struct config *bot_config(const struct bot *b);
struct db *bot_db(struct bot *b);
struct cache *bot_cache(struct bot *b);
struct rest *bot_rest(struct bot *b);
struct loop *bot_loop(struct bot *b);

/* Answers an interaction with a message (type 4). ephemeral: only the user
 * sees it (CONTRACT.md: every reply is ephemeral unless the spec says
 * otherwise). Errors are logged. */
void bot_reply(struct bot *b, const struct interaction *it, const char *content,
               const struct discord_embed *embed, int ephemeral);
/* The same with buttons: components_json is a JSON array of action rows. */
void bot_reply_components(struct bot *b, const struct interaction *it, const char *content,
                          const struct discord_embed *embed, int ephemeral,
                          const char *components_json);
/* Answers a button click by replacing the message it is on (type 7). */
void bot_update_message(struct bot *b, const struct interaction *it, const char *content,
                        const struct discord_embed *embed, const char *components_json);
/* Acknowledges now (type 5, "thinking..."); finish with bot_edit_reply. */
void bot_defer(struct bot *b, const struct interaction *it, int ephemeral);
/* Replaces the original response (after bot_defer or bot_reply). */
void bot_edit_reply(struct bot *b, const struct interaction *it, const char *content,
                    const struct discord_embed *embed);
/* Posts a message to a channel; fn may be NULL (failures are logged). */
void bot_post(struct bot *b, uint64_t channel_id, const char *content,
              const struct discord_embed *embed, rest_done_fn *fn, void *data);

/* Sends a follow-up message to an interaction already answered (POST
 * /webhooks/{app}/{token}: allowed for 15 minutes after the interaction,
 * docs: Interactions, "Followup Messages"). Errors are logged. */
void bot_followup(struct bot *b, const struct interaction *it, const char *content, int ephemeral);
/* Direct-messages user_id: opens (or finds) the DM channel (POST
 * /users/@me/channels {recipient_id}), then posts to it. fn (may be NULL)
 * runs once with the post's outcome, or the open's failure; a member who
 * accepts no DMs from the bot gives 403 with "50007 Cannot send messages
 * to this user". content and embed are copied at once. fn may run before
 * bot_dm returns (a request that cannot even be queued). */
void bot_dm(struct bot *b, uint64_t user_id, const char *content, const struct discord_embed *embed,
            rest_done_fn *fn, void *data);
/* 1 once bot_free began: every pending callback now runs with an error,
 * and a job that sees this must only free itself (the database and REST
 * client it would call next are going away). */
int bot_closing(const struct bot *b);

/* ------------------------------------------------------------ persistent embeds */

/* Messages the bot keeps current in place (spec 6.2: the queue embeds),
 * found across restarts through persistent_embeds (loaded at start). */

/* 0 and the message where embed `name` was last posted, or -1 if none. */
int bot_embed_find(const struct bot *b, const char *name, uint64_t *channel_id,
                   uint64_t *message_id);
/* Remembers where `name` now lives, in memory and in persistent_embeds
 * (the upsert's failure is logged). 0, or -1 when the table is full. */
int bot_embed_save(struct bot *b, const char *name, uint64_t channel_id, uint64_t message_id);

/* Produces the current content of a persistent embed: it must call
 * bot_embed_rendered(b, name, embed) exactly once, later or at once (embed
 * NULL: rendering failed, the message is left as it is). */
typedef void bot_embed_render_fn(struct bot *b, const char *name);
/* Brings embed `name` in channel_id up to date: render, then PATCH the
 * message; when there is none yet, it lives in another channel, or Discord
 * answers 404 (someone deleted it), POST a new one and save its id.
 * Coalesced: at most one refresh of a name is in flight; a call during
 * one marks it dirty and exactly one more refresh runs after it, so a
 * burst of changes costs a few edits and the last one is current. name
 * is copied (at most 63 bytes). */
void bot_embed_refresh(struct bot *b, const char *name, uint64_t channel_id,
                       bot_embed_render_fn *render);
/* The render's answer (see above); embed is borrowed for the call. */
void bot_embed_rendered(struct bot *b, const char *name, const struct discord_embed *embed);

/* A live check of PostgreSQL and Redis (a round trip each, not a flag) and
 * of the gateway. summary is "Status: OK. DB: Connected. Redis: Connected."
 * or names what is down; borrowed for the call. */
typedef void bot_status_fn(void *data, int healthy, int db_ok, int cache_ok, int gateway_ok,
                           const char *summary);
void bot_check_status(struct bot *b, bot_status_fn *fn, void *data);

/* cmd_core.c */
void cmd_status(struct bot *b, const struct interaction *it);
void cmd_status_refresh(struct bot *b, const struct interaction *it);

/* cmd_user_reports.c */
void cmd_report(struct bot *b, const struct interaction *it);
/* Refreshes the "Pending User Reports" embed in QUEUE_CHANNEL_ID
 * (coalesced, see bot_embed_refresh). */
void cmd_reports_queue_refresh(struct bot *b);

/* cmd_admin_reports.c */
void cmd_view_report(struct bot *b, const struct interaction *it);
void cmd_resolve_report(struct bot *b, const struct interaction *it);

#endif
