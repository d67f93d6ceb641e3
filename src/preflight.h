/* preflight — `agora --check-discord` and `agora --invite-url`: asks
 * Discord over REST only (no gateway session) whether the configuration
 * can work, before the bot is started.
 *
 *     struct preflight_options o = {.api_url = ..., .token = ..., .trust = trust,
 *                                   .guild_id = g, .targets = t, .target_count = n};
 *     struct preflight *p = preflight_new(loop, &o, on_line, on_done, ctx, err, sizeof err);
 *     preflight_start(p);   // then loop_run(); on_done stops the loop
 *
 * Checks, in order, one line each (on_line), every one "ok", "fail" with
 * what to do about it, or "skip" when an earlier failure makes it moot:
 *  1. token: GET /users/@me answers (a 401 means the token is wrong);
 *  2. application: GET /oauth2/applications/@me gives the application id;
 *  3. guild: GET /guilds/{id} and /guilds/{id}/members/{bot}: the bot is a
 *     member (Discord answers 403 50001 "Missing Access" otherwise);
 *  4. one line per target (a configured channel or category): it exists in
 *     the guild (GET /guilds/{id}/channels), has the right type (a text
 *     channel, or a category: type 4), and the bot holds what
 *     permissions_agora_needs() says for that place, computed from the
 *     roles, the bot's member roles and the channel's overwrites
 *     (permissions.h); a missing bit is said to come from the roles or from
 *     the channel's overwrites;
 *  5. server permissions: the guild-level row (emoji creation);
 *  6. application commands: GET /applications/{app}/guilds/{id}/commands
 *     succeeds, i.e. the bot was invited with the applications.commands
 *     scope (otherwise 403 50001).
 * on_done(failed) runs once at the end; failed counts "fail" and "skip".
 *
 * With .invite_only only step 2 runs, for the invite URL.
 * What it does not: change anything in Discord, open the gateway, or check
 * anything a REST call cannot show (intents are checked at start). */
#ifndef AGORA_PREFLIGHT_H
#define AGORA_PREFLIGHT_H

#include <stddef.h>
#include <stdint.h>

#include "permissions.h"

struct loop;
struct tls_trust;
struct json_value;

/* Bounds on what is copied from Discord's answers. A guild has at most 250
 * roles and a member as many; overwrites per channel are bounded by roles
 * plus members named in them, far below 512 in any real server. Past a
 * bound the check fails naming it rather than guessing. */
#define PREFLIGHT_ROLES_MAX      256
#define PREFLIGHT_OVERWRITES_MAX 512
/* The configuration names 7 channels and categories; room for a few more. */
#define PREFLIGHT_TARGETS_MAX 16
/* Longest line handed to on_line. */
#define PREFLIGHT_LINE_MAX 1024

/* One configured id to check. */
struct preflight_target {
	const char *key; /* the config key, e.g. "QUEUE_CHANNEL_ID"; borrowed */
	uint64_t id;
	enum permissions_place place; /* PERMISSIONS_TEXT_CHANNEL or _CATEGORY */
};

struct preflight_options {
	const char *api_url;           /* DISCORD_API_URL; copied by rest */
	const char *token;             /* the bot token; copied by rest */
	const char *version;           /* for the User-Agent */
	const struct tls_trust *trust; /* borrowed, outlives the preflight */
	uint64_t guild_id;
	const struct preflight_target *targets; /* borrowed; at most PREFLIGHT_TARGETS_MAX */
	size_t target_count;
	int invite_only; /* only ask for the application id */
	/* Per request time limit; 0: 10 s. A preflight is interactive: it
	 * retries a failed request once, not five times. */
	int64_t timeout_ms;
};

enum preflight_result { PREFLIGHT_OK, PREFLIGHT_FAIL, PREFLIGHT_SKIP };

/* One finished check: text is "what: detail" (borrowed for the call). */
typedef void preflight_line_fn(enum preflight_result result, const char *text, void *data);
/* The end: failed is the number of checks that did not pass. */
typedef void preflight_done_fn(int failed, void *data);

struct preflight;

/* A preflight bound to loop. NULL with the reason in err (a bad api_url,
 * no token, too many targets, out of memory). */
struct preflight *preflight_new(struct loop *loop, const struct preflight_options *opt,
                                preflight_line_fn *on_line, preflight_done_fn *on_done, void *data,
                                char *err, size_t err_len);
/* Sends the first request; the rest follows from the loop. 0 or -1 (then
 * on_done has not run and will not). */
int preflight_start(struct preflight *p);
/* The application id Discord returned (0 before step 2 succeeded). */
uint64_t preflight_application_id(const struct preflight *p);
/* Frees it; not from inside its own callbacks. */
void preflight_free(struct preflight *p);

/* ---------------------------------------------------------------- pure */

/* The OAuth2 URL that adds the bot to a server with the scopes "bot
 * applications.commands" and permissions_agora_invite() (docs: Topics,
 * OAuth2, "Bot Authorization Flow"). Returns its length, or -1 if cap is
 * too small. */
int preflight_invite_url(uint64_t application_id, char *out, size_t cap);

/* What the evaluation reads from Discord's answers; filled by the three
 * readers below (the fuzz target drives them with arbitrary JSON). */
struct preflight_channel {
	int found;
	int type;
	char name[101]; /* Discord's limit is 100 characters */
	struct permissions_overwrite overwrites[PREFLIGHT_OVERWRITES_MAX];
	size_t overwrite_count;
	int too_many_overwrites;
};

struct preflight_world {
	uint64_t guild_id;
	uint64_t bot_id;
	uint64_t owner_id;
	struct permissions_role roles[PREFLIGHT_ROLES_MAX];
	size_t role_count;
	uint64_t member_roles[PREFLIGHT_ROLES_MAX];
	size_t member_role_count;
	struct preflight_channel channels[PREFLIGHT_TARGETS_MAX]; /* by target index */
};

/* GET /guilds/{id}'s answer: owner_id and roles. 0, or -1 with err. */
int preflight_read_guild(struct preflight_world *w, const struct json_value *guild, char *err,
                         size_t err_len);
/* GET /guilds/{id}/members/{bot}'s answer: the member's roles. 0 or -1. */
int preflight_read_member(struct preflight_world *w, const struct json_value *member, char *err,
                          size_t err_len);
/* GET /guilds/{id}/channels' answer: each target's type, name and
 * overwrites. 0 or -1. */
int preflight_read_channels(struct preflight_world *w, const struct json_value *channels,
                            const struct preflight_target *targets, size_t target_count, char *err,
                            size_t err_len);
/* Writes the check line for target i into out; returns its result. */
enum preflight_result preflight_judge_target(const struct preflight_world *w,
                                             const struct preflight_target *t, size_t i, char *out,
                                             size_t cap);
/* Writes the server permissions line into out; returns its result. */
enum preflight_result preflight_judge_guild(const struct preflight_world *w, char *out, size_t cap);

#endif
