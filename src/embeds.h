/* embeds — persistent embeds: messages the bot keeps current in place
 * (spec 6.2: the queue embeds), found across restarts through the
 * persistent_embeds table (loaded at start).
 *
 * A feature registers each of its embeds once (name, channel, renderer)
 * in its start hook; then any feature may ask for a refresh by name. A
 * refresh renders, then PATCHes the message; when there is none yet, it
 * lives in another channel, or Discord answers 404 (someone deleted it),
 * it POSTs a new one and saves its id. Coalesced: at most one refresh of
 * a name is in flight; a call during one marks it dirty and exactly one
 * more refresh runs after it, so a burst of changes costs a few edits
 * and the last one is current. Paced: two refreshes of one embed start
 * at least EMBEDS_MIN_INTERVAL_MS apart (measured from the end of the
 * previous one), so a burst of 200 changes over 40 s costs about 20
 * edits, not 200, and leaves the channel's rate limit to the messages
 * that matter. */
#ifndef AGORA_EMBEDS_H
#define AGORA_EMBEDS_H

#include <stdint.h>

#include "db.h"
#include "discord.h"

struct buf;
struct bot;
struct embeds;

/* The names shared by the features that refresh an embed and the one
 * that renders it (persistent_embeds.embed_name). */
#define EMBED_REPORT_QUEUE   "report_queue"
#define EMBED_PROPOSAL_QUEUE "proposal_queue"
/* spec 6.5's activity reports (activity.c renders them) */
#define EMBED_PROPOSED_SCORES  "proposed_scores"
#define EMBED_PERMANENT_SCORES "permanent_scores"

/* persistent_embeds rows: a handful of named messages (spec 5.1). */
#define EMBEDS_MAX 16
/* Longest name, in bytes. */
#define EMBED_NAME_MAX 63
/* The least time between the end of one refresh of an embed and the
 * start of the next: a person reading the queue does not need it fresher
 * than this, and Discord's message-edit bucket is 5 per 5 s per channel. */
#ifndef EMBEDS_MIN_INTERVAL_MS
#define EMBEDS_MIN_INTERVAL_MS 2000
#endif

/* Produces the current content of embed `name`: it must call
 * embeds_rendered(b, name, embed) exactly once, later or at once (embed
 * NULL: rendering failed, the message is left as it is). */
typedef void embeds_render_fn(struct bot *b, const char *name);

/* ---- for features */

/* Declares embed name (copied), kept in channel_id, drawn by render.
 * 0, or -1 when the table is full or the name too long. */
int embeds_register(struct bot *b, const char *name, uint64_t channel_id, embeds_render_fn *render);

/* A list embed (the two queue embeds): one line per row of a query, as
 * many as fit in the description (4,096 UTF-16 units, EMBEDS_MORE_RESERVE
 * of them kept free), then "<ellipsis> and N more"; the footer counts
 * every row. */
#define EMBEDS_MORE_RESERVE 40
/* Issues the list query (a store_*_list function): 0, or -1 refused. */
typedef int embeds_query_fn(struct db *db, db_query_fn *fn, void *data);
/* Appends row's line, ending "\n", to out; -1 skips the row. */
typedef int embeds_line_fn(const struct db_reply *reply, int row, struct buf *out);
struct embeds_list {
	const char *title;
	uint32_t color;
	embeds_query_fn *query;
	embeds_line_fn *line;
	const char *empty;    /* the description when there is no row */
	const char *ellipsis; /* what stands before " and N more" */
	const char *noun;     /* footer "1 <noun>", "N <noun>s" */
};
/* embeds_register with a renderer that draws l (borrowed: a static
 * table) from its query; a failed query is logged and leaves the message
 * as it is. */
int embeds_register_list(struct bot *b, const char *name, uint64_t channel_id,
                         const struct embeds_list *l);
/* Brings a registered embed up to date (coalesced, see above). Unknown
 * names are logged and ignored. */
void embeds_refresh(struct bot *b, const char *name);
/* Refreshes every registered embed (the bot calls it on the first READY,
 * so each is right after downtime). */
void embeds_refresh_all(struct bot *b);
/* How many POSTs and PATCHes embed name has cost since start (tests). */
size_t embeds_edits(struct bot *b, const char *name);
/* The render's answer (see above); embed is borrowed for the call. */
void embeds_rendered(struct bot *b, const char *name, const struct discord_embed *embed);
/* 0 and the message where embed `name` was last posted, or -1 if none. */
int embeds_find(struct bot *b, const char *name, uint64_t *channel_id, uint64_t *message_id);
/* Remembers where `name` now lives, in memory and in persistent_embeds
 * (the upsert's failure is logged). 0, or -1 when the table is full. */
int embeds_save(struct bot *b, const char *name, uint64_t channel_id, uint64_t message_id);

/* ---- for the bot */

struct embeds *embeds_new(struct bot *b);
void embeds_free(struct embeds *e);
/* Takes persistent_embeds rows (store_embed_list's reply). */
void embeds_load(struct bot *b, const struct db_reply *reply);
size_t embeds_count(struct bot *b);

#endif
