/* store.c — see store.h. The SQL lives here, one constant per query. */
#include "store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "18446744073709551615" and a sign fit in 24 */
#define STORE_NUM 24

#define PROPOSAL_COLUMNS                                                                           \
	"proposal_id, user_id, proposal_type, status, original_text, llm_suggestion, final_name, " \
	"file_url, extract(epoch FROM created_at)::bigint, proposer_name"
#define REPORT_COLUMNS                                                                             \
	"report_id, user_id, status, description, file_url, notification_message_id, "             \
	"extract(epoch FROM created_at)::bigint"

static const char *
store_u64(char out[STORE_NUM], uint64_t v)
{
	snprintf(out, STORE_NUM, "%llu", (unsigned long long)v);
	return out;
}

static const char *
store_i64(char out[STORE_NUM], int64_t v)
{
	snprintf(out, STORE_NUM, "%lld", (long long)v);
	return out;
}

/* strict decimal parse of a column; 0 on success */
static int
store_parse_i64(const char *s, int64_t *out)
{
	if (!s || !*s)
		return -1;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static int
store_parse_u64(const char *s, uint64_t *out)
{
	int64_t v;
	if (store_parse_i64(s, &v) < 0 || v < 0)
		return -1;
	*out = (uint64_t)v;
	return 0;
}

int
store_id_in_range(int64_t id)
{
	return id >= 1 && id <= STORE_ID_MAX;
}

int
store_returned_id(const struct db_reply *reply, int64_t *out)
{
	*out = 0;
	if (reply->error || !reply->result || db_rows(reply) != 1 || db_cols(reply) < 1)
		return -1;
	const char *s = db_value(reply, 0, 0);
	/* digits only, no leading zero, at most 10 of them: strtoll would take
	 * "+7", " 7" and "007", and a NULL or "" must not read as 0 */
	if (!s || s[0] < '1' || s[0] > '9')
		return -1;
	int64_t v = 0;
	for (size_t i = 0; s[i]; i++) {
		if (i >= 10 || s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (!store_id_in_range(v))
		return -1;
	*out = v;
	return 0;
}

static int
store_valid_type(const char *type)
{
	return type && (strcmp(type, "channel") == 0 || strcmp(type, "emoji") == 0);
}

static int
store_valid_category(const char *category)
{
	return category &&
	       (strcmp(category, "proposed") == 0 || strcmp(category, "permanent") == 0);
}

/* ------------------------------------------------------------ proposals */

int
store_proposal_row(const struct db_reply *reply, int row, struct store_proposal *out)
{
	memset(out, 0, sizeof *out);
	if (!reply->result || row >= db_rows(reply) || db_cols(reply) < 9)
		return -1;
	if (store_parse_i64(db_value(reply, row, 0), &out->id) < 0 ||
	    store_parse_u64(db_value(reply, row, 1), &out->user_id) < 0 ||
	    store_parse_i64(db_value(reply, row, 8), &out->created_at) < 0)
		return -1;
	out->type = db_value(reply, row, 2);
	out->status = db_value(reply, row, 3);
	out->original_text = db_value(reply, row, 4);
	out->llm_suggestion = db_value(reply, row, 5);
	out->final_name = db_value(reply, row, 6);
	out->file_url = db_value(reply, row, 7);
	out->proposer_name = db_cols(reply) > 9 ? db_value(reply, row, 9) : NULL;
	return out->type && out->status && out->original_text ? 0 : -1;
}

int
store_proposal_insert(struct db *db, uint64_t user_id, const char *type, const char *original_text,
                      const char *file_url, const char *proposer_name, db_query_fn *fn, void *data)
{
	if (!store_valid_type(type) || !original_text)
		return -1;
	char uid[STORE_NUM];
	const char *p[] = {store_u64(uid, user_id), type, original_text, file_url, proposer_name};
	return db_query(db,
	                "INSERT INTO proposals (user_id, proposal_type, original_text, file_url, "
	                "proposer_name) VALUES ($1, $2, $3, $4, $5) RETURNING proposal_id",
	                5, p, 0, fn, data);
}

static int
store_valid_image_type(const char *content_type)
{
	return content_type &&
	       (strcmp(content_type, "image/png") == 0 || strcmp(content_type, "image/jpeg") == 0 ||
	        strcmp(content_type, "image/gif") == 0);
}

int
store_proposal_insert_emoji(struct db *db, uint64_t user_id, const char *name, const char *file_url,
                            const void *image, size_t len, const char *content_type,
                            const char *proposer_name, db_query_fn *fn, void *data)
{
	if (!name || !image || len == 0 || len > STORE_EMOJI_IMAGE_MAX ||
	    !store_valid_image_type(content_type))
		return -1;
	/* bytea travels as text in its hex form (\x...), 2 * 256 KiB at most,
	 * well inside DB_MAX_QUERY_BYTES */
	static const char hex[] = "0123456789abcdef";
	char *text = malloc(2 + 2 * len + 1);
	if (!text)
		return -1;
	const unsigned char *b = image;
	text[0] = '\\';
	text[1] = 'x';
	for (size_t i = 0; i < len; i++) {
		text[2 + 2 * i] = hex[b[i] >> 4];
		text[3 + 2 * i] = hex[b[i] & 15];
	}
	text[2 + 2 * len] = 0;
	char uid[STORE_NUM];
	const char *p[] = {
	        store_u64(uid, user_id), name, file_url, text, content_type, proposer_name};
	int rc = db_query(db,
	                  "INSERT INTO proposals (user_id, proposal_type, original_text, file_url, "
	                  "emoji_image, emoji_content_type, proposer_name) "
	                  "VALUES ($1, 'emoji', $2, $3, $4::bytea, $5, $6) RETURNING proposal_id",
	                  6, p, 0, fn, data);
	free(text); /* db_query copied it */
	return rc;
}

int
store_proposal_emoji_image(struct db *db, int64_t id, db_query_fn *fn, void *data)
{
	char n[STORE_NUM];
	const char *p[] = {store_i64(n, id)};
	/* encode(..., 'base64') breaks lines every 76 characters; a data URI
	 * must not hold them */
	return db_query(db,
	                "SELECT emoji_content_type, translate(encode(emoji_image, 'base64'), "
	                "E'\\n', '') FROM proposals WHERE proposal_id = $1 "
	                "AND emoji_image IS NOT NULL",
	                1, p, 0, fn, data);
}

int
store_proposal_pending_exists(struct db *db, uint64_t user_id, const char *type, db_query_fn *fn,
                              void *data)
{
	if (!store_valid_type(type))
		return -1;
	char uid[STORE_NUM];
	const char *p[] = {store_u64(uid, user_id), type};
	return db_query(db,
	                "SELECT EXISTS (SELECT 1 FROM proposals WHERE user_id = $1 AND "
	                "proposal_type = $2 AND status IN ('pending', 'approving'))",
	                2, p, 0, fn, data);
}

int
store_proposal_get(struct db *db, int64_t id, db_query_fn *fn, void *data)
{
	char n[STORE_NUM];
	const char *p[] = {store_i64(n, id)};
	return db_query(db, "SELECT " PROPOSAL_COLUMNS " FROM proposals WHERE proposal_id = $1", 1,
	                p, 0, fn, data);
}

int
store_proposal_list_pending(struct db *db, db_query_fn *fn, void *data)
{
	return db_query(db,
	                "SELECT " PROPOSAL_COLUMNS " FROM proposals WHERE status = 'pending' "
	                "ORDER BY proposal_id",
	                0, NULL, 0, fn, data);
}

int
store_proposal_approve(struct db *db, int64_t id, const char *final_name, db_query_fn *fn,
                       void *data)
{
	if (!final_name)
		return -1;
	char n[STORE_NUM];
	const char *p[] = {store_i64(n, id), final_name};
	return db_query(db,
	                "UPDATE proposals SET status = 'approving', final_name = $2, "
	                "approving_since = now() "
	                "WHERE proposal_id = $1 AND status = 'pending' RETURNING " PROPOSAL_COLUMNS,
	                2, p, 0, fn, data);
}

int
store_proposal_approved(struct db *db, int64_t id, db_query_fn *fn, void *data)
{
	char n[STORE_NUM];
	const char *p[] = {store_i64(n, id)};
	return db_query(
	        db,
	        "UPDATE proposals SET status = 'approved' "
	        "WHERE proposal_id = $1 AND status = 'approving' RETURNING " PROPOSAL_COLUMNS,
	        1, p, 0, fn, data);
}

int
store_proposal_unapprove(struct db *db, int64_t id, db_query_fn *fn, void *data)
{
	char n[STORE_NUM];
	const char *p[] = {store_i64(n, id)};
	return db_query(
	        db,
	        "UPDATE proposals SET status = 'pending', final_name = NULL, "
	        "approving_since = NULL "
	        "WHERE proposal_id = $1 AND status = 'approving' RETURNING " PROPOSAL_COLUMNS,
	        1, p, 0, fn, data);
}

_Static_assert(STORE_APPROVING_MAX == 25, "the LIMIT of store_proposal_list_approving");

int
store_proposal_list_approving(struct db *db, db_query_fn *fn, void *data)
{
	return db_query(db,
	                "SELECT " PROPOSAL_COLUMNS ", extract(epoch FROM approving_since)::bigint "
	                "FROM proposals WHERE status = 'approving' ORDER BY proposal_id LIMIT 25",
	                0, NULL, 0, fn, data);
}

int
store_proposal_reject(struct db *db, int64_t id, db_query_fn *fn, void *data)
{
	char n[STORE_NUM];
	const char *p[] = {store_i64(n, id)};
	return db_query(db,
	                "UPDATE proposals SET status = 'rejected' "
	                "WHERE proposal_id = $1 AND status = 'pending' RETURNING " PROPOSAL_COLUMNS,
	                1, p, 0, fn, data);
}

int
store_proposal_set_suggestion(struct db *db, int64_t id, const char *suggestion, db_query_fn *fn,
                              void *data)
{
	if (!suggestion)
		return -1;
	char n[STORE_NUM];
	const char *p[] = {store_i64(n, id), suggestion};
	return db_query(db,
	                "UPDATE proposals SET llm_suggestion = $2 WHERE proposal_id = $1 "
	                "AND status = 'pending' RETURNING proposal_id",
	                2, p, 0, fn, data);
}

/* ------------------------------------------------------------ reports */

int
store_report_row(const struct db_reply *reply, int row, struct store_report *out)
{
	memset(out, 0, sizeof *out);
	if (!reply->result || row >= db_rows(reply) || db_cols(reply) < 7)
		return -1;
	if (store_parse_i64(db_value(reply, row, 0), &out->id) < 0 ||
	    store_parse_u64(db_value(reply, row, 1), &out->user_id) < 0 ||
	    store_parse_i64(db_value(reply, row, 6), &out->created_at) < 0)
		return -1;
	const char *msg = db_value(reply, row, 5);
	if (msg && store_parse_u64(msg, &out->notification_message_id) < 0)
		return -1;
	out->status = db_value(reply, row, 2);
	out->description = db_value(reply, row, 3);
	out->file_url = db_value(reply, row, 4);
	return out->status && out->description ? 0 : -1;
}

int
store_report_insert(struct db *db, uint64_t user_id, const char *description, const char *file_url,
                    db_query_fn *fn, void *data)
{
	if (!description)
		return -1;
	char uid[STORE_NUM];
	const char *p[] = {store_u64(uid, user_id), description, file_url};
	return db_query(db,
	                "INSERT INTO reports (user_id, description, file_url) VALUES ($1, $2, $3) "
	                "RETURNING report_id",
	                3, p, 0, fn, data);
}

int
store_report_set_notification(struct db *db, int64_t id, uint64_t message_id, db_query_fn *fn,
                              void *data)
{
	char n[STORE_NUM], m[STORE_NUM];
	const char *p[] = {store_i64(n, id), store_u64(m, message_id)};
	return db_query(db,
	                "UPDATE reports SET notification_message_id = $2 WHERE report_id = $1 "
	                "RETURNING report_id",
	                2, p, 0, fn, data);
}

int
store_report_get(struct db *db, int64_t id, db_query_fn *fn, void *data)
{
	char n[STORE_NUM];
	const char *p[] = {store_i64(n, id)};
	return db_query(db, "SELECT " REPORT_COLUMNS " FROM reports WHERE report_id = $1", 1, p, 0,
	                fn, data);
}

int
store_report_set_status(struct db *db, int64_t id, const char *status, db_query_fn *fn, void *data)
{
	if (!status || (strcmp(status, "investigating") != 0 && strcmp(status, "resolved") != 0))
		return -1;
	char n[STORE_NUM];
	const char *p[] = {store_i64(n, id), status};
	return db_query(db,
	                "UPDATE reports SET status = $2 WHERE report_id = $1 AND status <> "
	                "'resolved' RETURNING " REPORT_COLUMNS,
	                2, p, 0, fn, data);
}

int
store_report_list_open(struct db *db, db_query_fn *fn, void *data)
{
	return db_query(db,
	                "SELECT " REPORT_COLUMNS " FROM reports WHERE status <> 'resolved' "
	                "ORDER BY report_id",
	                0, NULL, 0, fn, data);
}

/* ------------------------------------------------------------ channels */

int
store_channel_row(const struct db_reply *reply, int row, struct store_channel *out)
{
	memset(out, 0, sizeof *out);
	if (!reply->result || row >= db_rows(reply) || db_cols(reply) < 2 ||
	    store_parse_u64(db_value(reply, row, 0), &out->channel_id) < 0)
		return -1;
	out->category = db_value(reply, row, 1);
	return out->category ? 0 : -1;
}

int
store_channel_upsert(struct db *db, uint64_t channel_id, const char *category, db_query_fn *fn,
                     void *data)
{
	if (!store_valid_category(category))
		return -1;
	char c[STORE_NUM];
	const char *p[] = {store_u64(c, channel_id), category};
	return db_query(db,
	                "INSERT INTO tracked_channels (channel_id, category) VALUES ($1, $2) "
	                "ON CONFLICT (channel_id) DO UPDATE SET category = EXCLUDED.category",
	                2, p, 0, fn, data);
}

int
store_channel_list(struct db *db, db_query_fn *fn, void *data)
{
	return db_query(db, "SELECT channel_id, category FROM tracked_channels ORDER BY channel_id",
	                0, NULL, 0, fn, data);
}

int
store_channel_delete(struct db *db, uint64_t channel_id, db_query_fn *fn, void *data)
{
	char c[STORE_NUM];
	const char *p[] = {store_u64(c, channel_id)};
	return db_query(db, "DELETE FROM tracked_channels WHERE channel_id = $1", 1, p, 0, fn,
	                data);
}

int
store_channel_set_category(struct db *db, uint64_t channel_id, const char *category,
                           db_query_fn *fn, void *data)
{
	if (!store_valid_category(category))
		return -1;
	char c[STORE_NUM];
	const char *p[] = {store_u64(c, channel_id), category};
	return db_query(db, "UPDATE tracked_channels SET category = $2 WHERE channel_id = $1", 2, p,
	                0, fn, data);
}

/* ------------------------------------------------------------ embeds */

int
store_embed_row(const struct db_reply *reply, int row, struct store_embed *out)
{
	memset(out, 0, sizeof *out);
	if (!reply->result || row >= db_rows(reply) || db_cols(reply) < 3 ||
	    store_parse_u64(db_value(reply, row, 1), &out->channel_id) < 0 ||
	    store_parse_u64(db_value(reply, row, 2), &out->message_id) < 0)
		return -1;
	out->name = db_value(reply, row, 0);
	return out->name ? 0 : -1;
}

int
store_embed_upsert(struct db *db, const char *name, uint64_t channel_id, uint64_t message_id,
                   db_query_fn *fn, void *data)
{
	if (!name)
		return -1;
	char c[STORE_NUM], m[STORE_NUM];
	const char *p[] = {name, store_u64(c, channel_id), store_u64(m, message_id)};
	return db_query(db,
	                "INSERT INTO persistent_embeds (embed_name, channel_id, message_id) "
	                "VALUES ($1, $2, $3) ON CONFLICT (embed_name) DO UPDATE SET "
	                "channel_id = EXCLUDED.channel_id, message_id = EXCLUDED.message_id",
	                3, p, 0, fn, data);
}

int
store_embed_get(struct db *db, const char *name, db_query_fn *fn, void *data)
{
	if (!name)
		return -1;
	const char *p[] = {name};
	return db_query(db,
	                "SELECT embed_name, channel_id, message_id FROM persistent_embeds "
	                "WHERE embed_name = $1",
	                1, p, 0, fn, data);
}

int
store_embed_list(struct db *db, db_query_fn *fn, void *data)
{
	return db_query(db,
	                "SELECT embed_name, channel_id, message_id FROM persistent_embeds "
	                "ORDER BY embed_name",
	                0, NULL, 0, fn, data);
}
