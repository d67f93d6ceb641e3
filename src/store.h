/* store — the spec's queries (agora-spec.txt 5.1, 6.x) as named functions
 * over db.h.
 *
 * Each function queues one parameterized query (values are always bound,
 * never pasted into SQL) and returns db_query's result: 0 and fn(data)
 * follows exactly once with a db_reply (a refusal of db's too, db.h), or
 * -1 at once without a callback (an argument check here, or no memory).
 * The reply's columns are the STORE_*_COLUMNS of the comment on each
 * function; the *_row() helpers read one row into a struct whose strings
 * are BORROWED from the reply (valid during the callback only).
 *
 * Status changes are guarded in SQL (`... AND status = 'pending'`), so two
 * admins acting on one proposal cannot both win: the loser's reply has 0
 * rows. The unique index proposals_one_pending_per_user_type makes a second
 * concurrent pending proposal fail with SQLSTATE 23505 (STORE_UNIQUE). */
#ifndef AGORA_STORE_H
#define AGORA_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "db.h"

#define STORE_UNIQUE_VIOLATION "23505"

/* Ids are SERIAL (PostgreSQL int4): 1 .. 2^31-1. A user-typed id outside
 * this range names nothing; callers answer "no such ..." without a query
 * (a bound parameter out of int4's range is a database error otherwise). */
#define STORE_ID_MAX 2147483647
/* 1 if id can name a row: 1 <= id <= STORE_ID_MAX. */
int store_id_in_range(int64_t id);

/* The one parser for the id of `INSERT ... RETURNING id` (and of any
 * one-row, one-id reply): the reply succeeded, holds exactly one row, and
 * its first column is plain decimal digits without sign, space or leading
 * zero, within 1..STORE_ID_MAX. 0 and *out set, or -1 (*out = 0). */
int store_returned_id(const struct db_reply *reply, int64_t *out);

/* Emoji images stored with their proposal (sql/002): at most this many
 * bytes, the limit Discord puts on an emoji. */
#define STORE_EMOJI_IMAGE_MAX 262144

/* ---- proposals: rows are (proposal_id, user_id, proposal_type, status,
 * original_text, llm_suggestion, final_name, file_url, created_at as Unix
 * seconds, proposer_name) */
struct store_proposal {
	int64_t id;
	uint64_t user_id;
	const char *type;   /* "channel" | "emoji" */
	const char *status; /* "pending" | "approving" | "approved" | "rejected" */
	const char *original_text;
	const char *llm_suggestion; /* NULL until set */
	const char *final_name;     /* NULL until approved */
	const char *file_url;       /* NULL for channels */
	int64_t created_at;         /* Unix seconds */
	const char *proposer_name;  /* NULL when not recorded */
};
/* One row of a proposal reply; 0, or -1 if the row is missing/malformed. */
int store_proposal_row(const struct db_reply *reply, int row, struct store_proposal *out);

/* Inserts a pending proposal; reply: one row (proposal_id). file_url and
 * proposer_name (how the member was shown) may be NULL. */
int store_proposal_insert(struct db *db, uint64_t user_id, const char *type,
                          const char *original_text, const char *file_url,
                          const char *proposer_name, db_query_fn *fn, void *data);
/* Inserts a pending emoji proposal with its validated image (len bytes,
 * 1..STORE_EMOJI_IMAGE_MAX, content_type "image/png" | "image/jpeg" |
 * "image/gif"; both borrowed, copied into the query). name is the emoji
 * name (kept as original_text). Reply: one row (proposal_id), or SQLSTATE
 * STORE_UNIQUE_VIOLATION when the user already has a pending emoji. */
int store_proposal_insert_emoji(struct db *db, uint64_t user_id, const char *name,
                                const char *file_url, const void *image, size_t len,
                                const char *content_type, const char *proposer_name,
                                db_query_fn *fn, void *data);
/* Reply: 0 or 1 row (emoji_content_type, the image in base64 without line
 * breaks), ready for Discord's data URI. 0 rows when the proposal has no
 * stored image. */
int store_proposal_emoji_image(struct db *db, int64_t id, db_query_fn *fn, void *data);
/* Reply: one row, one column, "t" or "f": does user have a pending
 * proposal of this type (spec 6.1 limit check). */
int store_proposal_pending_exists(struct db *db, uint64_t user_id, const char *type,
                                  db_query_fn *fn, void *data);
/* Reply: 0 or 1 proposal row. */
int store_proposal_get(struct db *db, int64_t id, db_query_fn *fn, void *data);
/* Reply: every pending proposal row, oldest first. */
int store_proposal_list_pending(struct db *db, db_query_fn *fn, void *data);
/* An approval is two steps around Discord's creation (sql/004), so a bot
 * stopped in between leaves a row the next start can resolve:
 * pending -> approving with final_name, before Discord is asked; reply:
 * the proposal row, or 0 rows when it does not exist or is no longer
 * pending (someone else decided first). */
int store_proposal_approve(struct db *db, int64_t id, const char *final_name, db_query_fn *fn,
                           void *data);
/* approving -> approved, once Discord created the channel or emoji;
 * reply: the proposal row, or 0 rows if it is not approving. */
int store_proposal_approved(struct db *db, int64_t id, db_query_fn *fn, void *data);
/* approving -> pending again, final_name cleared: Discord refused to
 * create the channel or emoji (spec 6.3: the proposal stays in the
 * queue), or it was never created before a stop. Reply: the proposal
 * row, or 0 rows if it is not approving. */
int store_proposal_unapprove(struct db *db, int64_t id, db_query_fn *fn, void *data);
/* Every approving row, oldest first (at most STORE_APPROVING_MAX): the
 * proposal columns, then column 10: approving_since as Unix seconds. */
#define STORE_APPROVING_MAX 25
int store_proposal_list_approving(struct db *db, db_query_fn *fn, void *data);
/* pending -> rejected; reply as store_proposal_approve. */
int store_proposal_reject(struct db *db, int64_t id, db_query_fn *fn, void *data);
/* Records the LLM's suggestion (or the error text) while the proposal is
 * pending; reply: 0 or 1 row (proposal_id). */
int store_proposal_set_suggestion(struct db *db, int64_t id, const char *suggestion,
                                  db_query_fn *fn, void *data);

/* ---- reports: rows are (report_id, user_id, status, description,
 * file_url, notification_message_id, created_at as Unix seconds) */
struct store_report {
	int64_t id;
	uint64_t user_id;
	const char *status; /* "pending" | "investigating" | "resolved" */
	const char *description;
	const char *file_url;             /* NULL when none */
	uint64_t notification_message_id; /* 0 until set */
	int64_t created_at;
};
int store_report_row(const struct db_reply *reply, int row, struct store_report *out);

/* Inserts a pending report; reply: one row (report_id). */
int store_report_insert(struct db *db, uint64_t user_id, const char *description,
                        const char *file_url, db_query_fn *fn, void *data);
/* Reply: 0 or 1 row (report_id). */
int store_report_set_notification(struct db *db, int64_t id, uint64_t message_id, db_query_fn *fn,
                                  void *data);
/* Reply: 0 or 1 report row. */
int store_report_get(struct db *db, int64_t id, db_query_fn *fn, void *data);
/* status is "investigating" or "resolved" (anything else: -1 at once);
 * reply: the report row, or 0 rows if it does not exist or is already
 * resolved (a resolved report is never reopened). */
int store_report_set_status(struct db *db, int64_t id, const char *status, db_query_fn *fn,
                            void *data);
/* Reply: every report not resolved, oldest first. */
int store_report_list_open(struct db *db, db_query_fn *fn, void *data);

/* ---- tracked_channels: rows are (channel_id, category) */
struct store_channel {
	uint64_t channel_id;
	const char *category; /* "proposed" | "permanent" */
};
int store_channel_row(const struct db_reply *reply, int row, struct store_channel *out);

/* Inserts or updates; reply: 0 rows (command only). */
int store_channel_upsert(struct db *db, uint64_t channel_id, const char *category, db_query_fn *fn,
                         void *data);
/* Reply: every tracked channel, by id. */
int store_channel_list(struct db *db, db_query_fn *fn, void *data);
/* Reply: db_affected() is 1 if it was tracked. */
int store_channel_delete(struct db *db, uint64_t channel_id, db_query_fn *fn, void *data);
/* Reply: db_affected() is 1 if it was tracked (promotion, spec 6.5). */
int store_channel_set_category(struct db *db, uint64_t channel_id, const char *category,
                               db_query_fn *fn, void *data);

/* ---- persistent_embeds: rows are (embed_name, channel_id, message_id) */
struct store_embed {
	const char *name;
	uint64_t channel_id, message_id;
};
int store_embed_row(const struct db_reply *reply, int row, struct store_embed *out);

int store_embed_upsert(struct db *db, const char *name, uint64_t channel_id, uint64_t message_id,
                       db_query_fn *fn, void *data);
/* Reply: 0 or 1 row. */
int store_embed_get(struct db *db, const char *name, db_query_fn *fn, void *data);
/* Reply: every embed, by name. */
int store_embed_list(struct db *db, db_query_fn *fn, void *data);

#endif
