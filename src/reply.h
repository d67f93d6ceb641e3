/* reply — answering interactions, and the messages a feature sends:
 * replies, defers and edits of the original response, follow-ups,
 * channel posts and direct messages.
 *
 * The answer guard: every interaction must be acknowledged within 3 s
 * (docs: Interactions, "Responding to an Interaction"). Dispatch guards
 * each command and component before its handler runs; a handler that has
 * not answered after REPLY_GUARD_MS is deferred for it (type 5, or 6 for
 * a click), and its answer, when it comes, becomes an edit of the
 * original response. A handler that never answers gets an apology after
 * the give-up time (REPLY_GIVE_UP_MS), so no user is left looking at
 * "thinking..." for ever; an answer that still comes after that replaces
 * the apology (an edit of the original response), never a second
 * callback, which Discord would refuse (40060 already acknowledged).
 *
 * Every function copies what it is given; errors are logged (a failed
 * answer has no one else to tell). All contents obey Discord's limits or
 * are refused whole (discord_message_json). */
#ifndef AGORA_REPLY_H
#define AGORA_REPLY_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "discord.h"
#include "rest.h"

struct bot;
struct replies;

/* The guard defers a handler that has not answered by then, leaving a
 * margin within Discord's 3 s for the defer to travel. */
#define REPLY_GUARD_MS 1500
/* The database's bound on one query (the bot configures it so). */
#define REPLY_DB_QUERY_MS 30000
/* The longest one REST request can take before its callback runs: every
 * attempt (1 + REST_RETRIES_DEFAULT) timing out, plus the doubling
 * backoffs between them (base * (2^retries - 1)). */
#define REPLY_REST_REQUEST_MS                                                                      \
	((REST_RETRIES_DEFAULT + 1) * REST_TIMEOUT_MS_DEFAULT +                                    \
	 REST_RETRY_BASE_MS_DEFAULT * ((1 << REST_RETRIES_DEFAULT) - 1))
/* When a deferred answer that has not come is replaced by an apology: the
 * slowest chain a guarded handler runs before it answers, so that no
 * answer still on its way is declared lost. That chain is
 * /resolve_report's: read the report, change its status (a query each),
 * open the DM channel and post the DM (a request each), then answer;
 * plus a margin for the loop. About 5 minutes. */
#define REPLY_GIVE_UP_MS (2 * REPLY_DB_QUERY_MS + 2 * REPLY_REST_REQUEST_MS + 5000)
/* Discord lets a deferred response be edited for 15 minutes (docs:
 * Interactions, "Interaction tokens are valid for 15 minutes"). */
#define REPLY_TOKEN_LIFETIME_MS (15 * 60 * 1000)
_Static_assert(REPLY_GIVE_UP_MS < REPLY_TOKEN_LIFETIME_MS,
               "the apology must come while the token still works");

/* ---- for features */

/* Answers with a message (type 4). ephemeral: only the user sees it
 * (CONTRACT.md: every reply is ephemeral unless the spec says otherwise).
 * Once the guard deferred, this edits the deferred response instead. */
void reply_message(struct bot *b, const struct interaction *it, const char *content,
                   const struct discord_embed *embed, int ephemeral);
/* The same with buttons: components_json is a JSON array of action rows. */
void reply_components(struct bot *b, const struct interaction *it, const char *content,
                      const struct discord_embed *embed, int ephemeral,
                      const char *components_json);
/* Answers a button click by replacing the message it is on (type 7). */
void reply_update(struct bot *b, const struct interaction *it, const char *content,
                  const struct discord_embed *embed, const char *components_json);
/* Answers with a modal (type 9, docs: Interactions, "Modal"): data_json
 * is the callback's data object {custom_id, title, components}. Only for
 * a command or a click; a modal cannot answer a modal. */
void reply_modal(struct bot *b, const struct interaction *it, const char *data_json);
/* Acknowledges now (type 5, "thinking..."); finish with reply_edit. A
 * no-op when the guard deferred already. */
void reply_defer(struct bot *b, const struct interaction *it, int ephemeral);
/* Replaces the original response (after reply_defer or reply_message). */
void reply_edit(struct bot *b, const struct interaction *it, const char *content,
                const struct discord_embed *embed);
/* Sends a follow-up message to an interaction already answered (POST
 * /webhooks/{app}/{token}: allowed for 15 minutes after the interaction,
 * docs: Interactions, "Followup Messages"). */
void reply_followup(struct bot *b, const struct interaction *it, const char *content,
                    int ephemeral);

/* One autocomplete choice (docs: "Autocomplete"): name shown, and the
 * value filled in: the string, or int_value when string_value is NULL. */
struct reply_choice {
	const char *name;
	const char *string_value;
	int64_t int_value;
};
/* Discord's cap on choices per autocomplete answer. */
#define REPLY_CHOICES_MAX 25
/* Answers a type 4 interaction with callback type 8 (at most 25 choices;
 * more are cut). Not guarded: it must be answered at once. */
void reply_autocomplete(struct bot *b, const struct interaction *it,
                        const struct reply_choice *choices, size_t count);

/* An autocomplete over the rows of one list query (issue 10.4, 10.6). */
/* Issues the query (a store_*_list function): 0, or -1 when refused. */
typedef int reply_list_fn(struct db *db, db_query_fn *fn, void *data);
/* Writes row's choice text into line (cap bytes, NUL-terminated) and its
 * integer value into value; -1 skips the row. */
typedef int reply_choice_fn(const struct db_reply *reply, int row, char *line, size_t cap,
                            int64_t *value);
/* The longest choice text a reply_choice_fn may write, before the cut to
 * Discord's 100 characters. */
#define REPLY_CHOICE_LINE_MAX 300
/* Answers the type 4 interaction it with the rows of list: each row's text
 * that contains what the member typed (ASCII case-insensitive; the whole
 * text is searched, then cut to 100 characters), at most
 * REPLY_CHOICES_MAX, in the query's order. A failed or refused query
 * answers an empty list; exactly one answer, later. */
void reply_choices_matching(struct bot *b, const struct interaction *it, reply_list_fn *list,
                            reply_choice_fn *line);

/* Posts a message to a channel; fn may be NULL (failures are logged). fn
 * runs exactly once, always later (from the loop), never inside the call. */
void reply_post(struct bot *b, uint64_t channel_id, const char *content,
                const struct discord_embed *embed, rest_done_fn *fn, void *data);
/* Direct-messages user_id: opens (or finds) the DM channel (POST
 * /users/@me/channels {recipient_id}), then posts to it. fn (may be NULL)
 * runs exactly once with the post's outcome, or the open's failure; a
 * member who accepts no DMs from the bot gives 403 with "50007 Cannot
 * send messages to this user". fn runs later, never inside the call. */
void reply_dm(struct bot *b, uint64_t user_id, const char *content,
              const struct discord_embed *embed, rest_done_fn *fn, void *data);

/* Sends a REST request and logs its failure under `what`; fn (may be
 * NULL) runs exactly once, later: a request that cannot even be queued
 * answers with its error from the loop (job.h). body is copied. */
void reply_request(struct bot *b, const char *method, const char *path, const char *body,
                   const char *what, rest_done_fn *fn, void *data);

/* ---- for the bot */

struct replies *replies_new(struct bot *b);
/* Stops every guard; the answers they watch are left as they are. */
void replies_free(struct replies *r);
/* Starts the guard for an interaction about to be handled. */
void reply_guard(struct bot *b, const struct interaction *it);
/* Tests only: other guard and give-up times (ms; 0 = the default). */
void reply_set_guard_times(struct bot *b, int64_t guard_ms, int64_t give_up_ms);

#endif
