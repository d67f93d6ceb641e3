/* cmd_admin_queue — /approve_proposal and /reject_proposal (spec 6.3,
 * cogs/admin_queue.py): the buttons, the Override Name modal, the re-run
 * of the LLM suggestion, and the autocomplete of the id options.
 *
 * /approve_proposal ID answers (ephemerally) with the proposal and the
 * buttons "Approve as NAME", "Override Name" and, for channels, "Re-run
 * LLM Suggestion". Each button's custom_id is "pq:<action>:<id>", so a
 * button keeps working after a restart; the dispatcher checks admin
 * rights again for every click and modal (admin component rows).
 *
 * One job per action, a struct with a state and step():
 *   GET       the proposal (what it is, which name "Approve as" means)
 *   LLM, SUGGEST   re-run: a new suggestion, stored, the same buttons again
 *   APPROVE   pending -> approving with final_name in one statement; 0
 *             rows means someone else decided first (double click, two
 *             admins): LOST reads the row again to say what happened
 *   IMAGE     emoji: the stored bytes (never the expired attachment URL)
 *   CREATE    the channel under PROPOSED_CHANNEL_CATEGORY_ID, or the emoji
 *   APPROVED  approving -> approved, once Discord created it
 *   UNDO      Discord refused (name taken, category full, emoji slots
 *             full): back to pending, and the admin is told why
 *   TRACK     channel: tracked_channels row + the in-memory set
 *   DM        "Your [type] proposal '[final_name]' has been approved!"
 *             (a member who accepts no DMs is logged, not an error)
 *   ANNOUNCE  channel: templates/new_channel_announcement.md posted to
 *             PUBLIC_ANNOUNCEMENT_CHANNEL_ID
 *   QUEUE     the "Pending Proposals" embed refreshed
 *   REPLY     the admin's answer, written once for every outcome
 * /reject_proposal ID REASON: REJECT (same race rule), DM with the reason,
 * QUEUE, REPLY.
 *
 * A bot stopped between APPROVE and APPROVED (sql/004) leaves the row
 * 'approving'. At the first READY a RECOVER job per such row asks Discord
 * (FIND: one read of the guild's channels or emojis) for what it was
 * creating: the name, created since the approval began and, for a
 * channel, under the category and not tracked already. Found, the
 * approval finishes (APPROVED, TRACK, DM, ANNOUNCE, QUEUE); not found, it
 * goes back to pending (UNDO, QUEUE). Either way REPLY tells the admin
 * channel. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bot.h"
#include "buf.h"
#include "config.h"
#include "embeds.h"
#include "feature_table.h"
#include "job.h"
#include "json.h"
#include "llm.h"
#include "log.h"
#include "mem.h"
#include "reply.h"
#include "store.h"
#include "template.h"
#include "tracked.h"

#define REASON_MAX     1000
#define EMOJI_NAME_MIN 2
#define EMOJI_NAME_MAX 32
/* A button label holds 80 characters: "Approve as " and the name cut. */
#define LABEL_NAME_MAX 60
#define COLOR_GREEN    0x2ecc71

enum aq_kind { AQ_SHOW, AQ_RERUN, AQ_APPROVE, AQ_REJECT, AQ_RECOVER };

/* The feature's state: the recovery of 'approving' rows runs once, and
 * only while every such row is a stop's: before this process began an
 * approval of its own (else the next start does it). */
struct admin_queue_state {
	int recovering, recovered, approvals_begun;
	struct job_later later;
};

enum aq_state {
	AQ_GET,
	AQ_CHECKED,
	AQ_LLM,
	AQ_SUGGEST,
	AQ_APPROVE_ROW,
	AQ_LOST,
	AQ_LOST_READ,
	AQ_IMAGE,
	AQ_CREATE,
	AQ_APPROVED,
	AQ_FIND,
	AQ_UNDO,
	AQ_TRACK,
	AQ_DM,
	AQ_ANNOUNCE,
	AQ_QUEUE,
	AQ_REPLY,
};

struct aq_job {
	struct bot *bot;
	struct job_later later; /* a call refused at once answers through it */
	enum aq_kind kind;
	enum aq_state state;
	struct interaction it;
	int64_t id;
	/* input: the admin's name (modal) or reason (reject); NULL: none */
	char *override_name;
	char *reason;
	/* the proposal as read */
	int found;
	int emoji;
	char status[16];
	uint64_t user_id;
	char *original_text;
	char suggestion[LLM_ERROR_MAX + 1];
	char final_name[LLM_NAME_MAX + 1];
	int64_t approving_since; /* RECOVER: Unix seconds the approval began */
	/* outcomes */
	char *image_uri; /* data:image/...;base64,... */
	uint64_t created_id;
	int dm_refused;
	int decided; /* the row changed: the queue embed needs a refresh */
	/* what a callback saw, for step() to act on */
	int failed;  /* the answer is set: reply with it */
	int lost;    /* the guarded update touched no row: someone decided first */
	int refused; /* Discord refused the creation: the answer says why */
	char answer[DISCORD_CONTENT_MAX * 2]; /* bytes; finish() cuts it whole */
	char *components;                     /* buttons for the answer, NULL: none */
};

static void
job_free(struct aq_job *j)
{
	mem_free(j->override_name);
	mem_free(j->reason);
	mem_free(j->original_text);
	mem_free(j->image_uri);
	mem_free(j->components);
	mem_free(j);
}

static const char *
type_of(const struct aq_job *j)
{
	return j->emoji ? "emoji" : "channel";
}

static void step(struct aq_job *j);

/* Sets the answer and jumps to the reply. */
static void finish(struct aq_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* How many bytes of user text s hold at most units UTF-16 code units,
 * cut between characters, for "%.*s" (a byte cut like %.100s can split a
 * character, which reaches the member as U+FFFD). */
static int
upto(const char *s, size_t units)
{
	return (int)discord_text_prefix(s, strlen(s), units);
}

/* A text vsnprintf cut at the buffer's end may end inside a character:
 * drop that torn character. */
static void
trim_torn_tail(char *s)
{
	size_t n = strlen(s), i = n;
	while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	if (n - (i - 1) < need)
		s[i - 1] = '\0';
}

static void
finish(struct aq_job *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(j->answer, sizeof j->answer, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof j->answer)
		trim_torn_tail(j->answer);
	j->state = AQ_REPLY;
}

/* For callbacks: records a failure answer; step() replies with it. */
static void
fail_with(struct aq_job *j, const char *msg)
{
	snprintf(j->answer, sizeof j->answer, "%s", msg);
	j->failed = 1;
}

/* A suggestion that is a usable channel name (failure texts start "LLM "
 * and hold spaces, which a name never does). */
static int
suggestion_usable(const char *s)
{
	return s[0] && !strchr(s, ' ');
}

static int
emoji_name_valid(const char *s)
{
	size_t len = strlen(s);
	if (len < EMOJI_NAME_MIN || len > EMOJI_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return 0;
	return 1;
}

/* Copies a proposal row into the job (strings are borrowed from reply). */
static int
take_row_at(struct aq_job *j, const struct db_reply *reply, int row)
{
	struct store_proposal p;
	if (reply->error || db_rows(reply) <= row || store_proposal_row(reply, row, &p) < 0)
		return 0;
	j->found = 1;
	j->id = p.id;
	j->emoji = strcmp(p.type, "emoji") == 0;
	snprintf(j->status, sizeof j->status, "%s", p.status);
	j->user_id = p.user_id;
	snprintf(j->suggestion, sizeof j->suggestion, "%s",
	         p.llm_suggestion ? p.llm_suggestion : "");
	if (p.final_name)
		snprintf(j->final_name, sizeof j->final_name, "%s", p.final_name);
	mem_free(j->original_text);
	j->original_text = mem_strdup(p.original_text);
	return 1;
}

static int
take_row(struct aq_job *j, const struct db_reply *reply)
{
	return take_row_at(j, reply, 0);
}

/* ------------------------------------------------------------ callbacks */

static void
on_row(void *data, const struct db_reply *reply)
{
	struct aq_job *j = data;
	if (reply->error) {
		log_error("admin_queue", "proposal #%lld: %s", (long long)j->id, reply->error);
		fail_with(j, "Sorry, the database could not be reached. Please try again.");
	} else if (!take_row(j, reply)) {
		j->found = 0;
	}
	step(j);
}

static void
on_decided(void *data, const struct db_reply *reply)
{
	struct aq_job *j = data;
	if (reply->error) {
		log_error("admin_queue", "proposal #%lld: %s", (long long)j->id, reply->error);
		fail_with(j, "Sorry, the database could not be reached. Please try again.");
	} else if (take_row(j, reply)) {
		j->decided = 1;
	} else {
		j->lost = 1; /* no longer pending: someone else decided first */
	}
	step(j);
}

static void
on_suggested(void *data, const char *name, const char *error)
{
	struct aq_job *j = data;
	snprintf(j->suggestion, sizeof j->suggestion, "%s", name ? name : error);
	step(j);
}

static void
on_db_logged(void *data, const struct db_reply *reply)
{
	struct aq_job *j = data;
	if (reply->error)
		log_error("admin_queue", "proposal #%lld: %s", (long long)j->id, reply->error);
	step(j);
}

/* approving -> approved: the channel or emoji exists whatever this says;
 * a row left approving is finished by the next start's recovery. */
static void
on_marked(void *data, const struct db_reply *reply)
{
	struct aq_job *j = data;
	if (reply->error || db_rows(reply) < 1)
		log_error("admin_queue",
		          "proposal #%lld: the %s exists but the row could not be marked approved "
		          "(%s); the next start finishes it",
		          (long long)j->id, type_of(j),
		          reply->error ? reply->error : "not approving");
	j->decided = 1;
	step(j);
}

/* Discord's epoch in Unix milliseconds: a snowflake's creation time. */
#define AQ_DISCORD_EPOCH_MS INT64_C(1420070400000)
/* A creation this long before approving_since still counts: our clock
 * and Discord's differ. */
#define AQ_RECOVER_SKEW_S 60

/* RECOVER: the guild's channels or emojis; is the one being created
 * there? Sets created_id, or refused (back to pending), or failed (stays
 * approving: asked again at the next start). */
static void
on_found(int status, const struct json_value *body, const char *error, void *data)
{
	struct aq_job *j = data;
	const struct config *cfg = bot_config(j->bot);
	if (error || json_type(body) != JSON_ARRAY) {
		log_error("admin_queue",
		          "proposal #%lld: cannot list the guild's %ss: %s (HTTP %d)",
		          (long long)j->id, type_of(j), error ? error : "not a list", status);
		fail_with(j, "");
		snprintf(j->answer, sizeof j->answer,
		         "Proposal #%lld (%s '%s') was being approved when the bot stopped, and "
		         "Discord could not be asked whether the %s exists (%.200s). It stays "
		         "'approving'; the next start asks again.",
		         (long long)j->id, type_of(j), j->final_name, type_of(j),
		         error ? error : "not a list");
		step(j);
		return;
	}
	for (const struct json_value *v = json_first(body); v; v = json_next(v)) {
		const char *name = json_path_str(v, "name");
		uint64_t id, parent = 0;
		if (!name || strcmp(name, j->final_name) != 0 || json_path_id(v, "id", &id) < 0)
			continue;
		/* a channel: ours are made under the category and tracked once
		 * made, so a tracked one of the same name is an older one */
		if (!j->emoji && (json_path_id(v, "parent_id", &parent) < 0 ||
		                  parent != cfg->proposed_channel_category_id ||
		                  tracked_contains(j->bot, id, NULL)))
			continue;
		/* made since the approval began, not before */
		int64_t made_s = ((int64_t)(id >> 22) + AQ_DISCORD_EPOCH_MS) / 1000;
		if (made_s < j->approving_since - AQ_RECOVER_SKEW_S)
			continue;
		j->created_id = id;
		break;
	}
	if (!j->created_id) {
		j->refused = 1;
		snprintf(j->answer, sizeof j->answer,
		         "Proposal #%lld (%s '%s') was being approved when the bot stopped, before "
		         "Discord created the %s. It is pending again: approve it once more.",
		         (long long)j->id, type_of(j), j->final_name, type_of(j));
	}
	step(j);
}

static void
on_image(void *data, const struct db_reply *reply)
{
	struct aq_job *j = data;
	const char *type = reply->error ? NULL : db_value(reply, 0, 0);
	const char *b64 = reply->error ? NULL : db_value(reply, 0, 1);
	if (!type || !b64) {
		log_error("admin_queue", "proposal #%lld: no stored image: %s", (long long)j->id,
		          reply->error ? reply->error : "0 rows");
		j->refused = 1;
		snprintf(j->answer, sizeof j->answer,
		         "Proposal #%lld has no stored image, so the emoji cannot be created. It "
		         "stays "
		         "pending.",
		         (long long)j->id);
	} else {
		size_t n = strlen("data:;base64,") + strlen(type) + strlen(b64) + 1;
		j->image_uri = mem_alloc(n);
		if (j->image_uri)
			snprintf(j->image_uri, n, "data:%s;base64,%s", type, b64);
		else {
			j->refused = 1;
			snprintf(j->answer, sizeof j->answer,
			         "Out of memory; proposal #%lld stays pending.", (long long)j->id);
		}
	}
	step(j);
}

/* The first "_errors[0].message" anywhere under v (Discord's nested form
 * errors), or NULL. */
static const char *
first_form_error(const struct json_value *v, int depth)
{
	if (!v || depth > 8 || json_type(v) != JSON_OBJECT)
		return NULL;
	const char *m = json_path_str(v, "_errors[0].message");
	if (m)
		return m;
	for (const struct json_value *c = json_first(v); c; c = json_next(c))
		if ((m = first_form_error(c, depth + 1)))
			return m;
	return NULL;
}

static void
on_created(int status, const struct json_value *body, const char *error, void *data)
{
	struct aq_job *j = data;
	if (!error && json_path_id(body, "id", &j->created_id) < 0)
		error = "no id in Discord's answer";
	if (error) {
		const char *why = first_form_error(json_get(body, "errors"), 0);
		if (!why)
			why = json_path_str(body, "message");
		if (!why)
			why = error;
		log_warn("admin_queue", "proposal #%lld: Discord refused the %s: %s (HTTP %d)",
		         (long long)j->id, type_of(j), why, status);
		snprintf(j->answer, sizeof j->answer,
		         "Discord refused to create the %s '%s': %.300s. Proposal #%lld stays "
		         "pending.",
		         type_of(j), j->final_name, why, (long long)j->id);
		j->refused = 1;
	}
	step(j);
}

static void
on_dm(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	struct aq_job *j = data;
	if (error) {
		j->dm_refused = 1;
		/* a member who accepts no DMs (403, 50007) is not an error of ours */
		log_info("admin_queue",
		         "proposal #%lld: the proposer could not be messaged: %s (HTTP %d)",
		         (long long)j->id, error, status);
	}
	step(j);
}

static void
on_posted(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	struct aq_job *j = data;
	if (error)
		log_error("admin_queue", "proposal #%lld: announcement failed: %s (HTTP %d)",
		          (long long)j->id, error, status);
	step(j);
}

/* ------------------------------------------------------------ pieces */

/* The buttons for a pending proposal, as a JSON array of one action row. */
static char *
buttons_json(const struct aq_job *j)
{
	struct buf out;
	buf_init(&out, 4096);
	struct json_writer w;
	json_writer_init(&w, &out);
	char id[80], label[128];
	const char *name = j->emoji ? j->original_text : j->suggestion;
	int usable = j->emoji || suggestion_usable(j->suggestion);
	size_t keep = usable ? discord_text_prefix(name, strlen(name), LABEL_NAME_MAX) : 0;
	json_write_array_begin(&w);
	json_write_object_begin(&w);
	json_write_key_int64(&w, "type", 1);
	json_write_key(&w, "components");
	json_write_array_begin(&w);
	/* Approve as NAME (disabled without a usable name) */
	json_write_object_begin(&w);
	json_write_key_int64(&w, "type", 2);
	json_write_key_int64(&w, "style", 3);
	snprintf(label, sizeof label, "Approve as %.*s", (int)keep, usable ? name : "");
	json_write_key_string(&w, "label", usable ? label : "Approve (no name yet)");
	snprintf(id, sizeof id, "pq:approve:%lld", (long long)j->id);
	json_write_key_string(&w, "custom_id", id);
	json_write_key_bool(&w, "disabled", !usable);
	json_write_object_end(&w);
	json_write_object_begin(&w);
	json_write_key_int64(&w, "type", 2);
	json_write_key_int64(&w, "style", 2);
	json_write_key_string(&w, "label", "Override Name");
	snprintf(id, sizeof id, "pq:override:%lld", (long long)j->id);
	json_write_key_string(&w, "custom_id", id);
	json_write_object_end(&w);
	if (!j->emoji) {
		json_write_object_begin(&w);
		json_write_key_int64(&w, "type", 2);
		json_write_key_int64(&w, "style", 1);
		json_write_key_string(&w, "label", "Re-run LLM Suggestion");
		snprintf(id, sizeof id, "pq:rerun:%lld", (long long)j->id);
		json_write_key_string(&w, "custom_id", id);
		json_write_object_end(&w);
	}
	json_write_array_end(&w);
	json_write_object_end(&w);
	json_write_array_end(&w);
	if (json_writer_finish(&w) < 0) {
		buf_free(&out);
		return NULL;
	}
	char *s = mem_strdup(buf_str(&out));
	buf_free(&out);
	return s;
}

/* What the admin sees above the buttons. */
static void
describe(struct aq_job *j, const char *prefix)
{
	if (j->emoji)
		finish(j, "%sProposal #%lld (emoji) by <@%llu>: name '%s'.", prefix,
		       (long long)j->id, (unsigned long long)j->user_id, j->original_text);
	else
		finish(j, "%sProposal #%lld (channel) by <@%llu>: %.*s\nSuggested name: %s", prefix,
		       (long long)j->id, (unsigned long long)j->user_id,
		       upto(j->original_text, 300), j->original_text,
		       j->suggestion[0] ? j->suggestion : "(none yet)");
	mem_free(j->components);
	j->components = buttons_json(j);
}

/* Says why a proposal cannot be acted on; 1 when it can. */
static int
actionable(struct aq_job *j)
{
	if (!j->found) {
		finish(j, "Proposal #%lld does not exist.", (long long)j->id);
		return 0;
	}
	if (strcmp(j->status, "pending") != 0) {
		if (strcmp(j->status, "approving") == 0)
			finish(j, "Proposal #%lld is being approved as '%s' right now.",
			       (long long)j->id, j->final_name);
		else if (strcmp(j->status, "approved") == 0)
			finish(j, "Proposal #%lld was already approved as '%s'.", (long long)j->id,
			       j->final_name);
		else
			finish(j, "Proposal #%lld was already rejected.", (long long)j->id);
		return 0;
	}
	return 1;
}

static void
create(struct aq_job *j)
{
	const struct config *cfg = bot_config(j->bot);
	struct buf body;
	buf_init(&body, 1 << 20);
	struct json_writer w;
	json_writer_init(&w, &body);
	json_write_object_begin(&w);
	json_write_key_string(&w, "name", j->final_name);
	char path[96];
	if (j->emoji) {
		json_write_key_string(&w, "image", j->image_uri);
		snprintf(path, sizeof path, "/guilds/%llu/emojis",
		         (unsigned long long)cfg->guild_id);
	} else {
		json_write_key_int64(&w, "type", 0);
		json_write_key(&w, "parent_id");
		json_write_id(&w, cfg->proposed_channel_category_id);
		/* the idea as the topic (Discord: at most 1024 characters) */
		size_t len = strlen(j->original_text);
		json_write_key(&w, "topic");
		json_write_stringn(&w, j->original_text,
		                   discord_text_prefix(j->original_text, len, 1024));
		snprintf(path, sizeof path, "/guilds/%llu/channels",
		         (unsigned long long)cfg->guild_id);
	}
	json_write_object_end(&w);
	if (json_writer_finish(&w) < 0) {
		buf_free(&body);
		on_created(0, NULL, "request too large", j);
		return;
	}
	reply_request(j->bot, "POST", path, buf_str(&body),
	              j->emoji ? "emoji creation" : "channel creation", on_created, j);
	buf_free(&body);
}

static void
announce(struct aq_job *j)
{
	char channel[40], proposer[40];
	snprintf(channel, sizeof channel, "<#%llu>", (unsigned long long)j->created_id);
	snprintf(proposer, sizeof proposer, "<@%llu>", (unsigned long long)j->user_id);
	struct template_var vars[] = {
	        {"channel", channel},
	        {"proposer", proposer},
	        {"name", j->final_name},
	        {"description", j->original_text},
	};
	struct buf text;
	buf_init(&text, 64 * 1024);
	if (template_render(template_text(bot_templates(j->bot), TEMPLATE_NEW_CHANNEL), vars, 4,
	                    &text) < 0) {
		buf_free(&text);
		on_posted(0, NULL, "template too large", j);
		return;
	}
	struct discord_embed e = {.description = buf_str(&text), .color = COLOR_GREEN};
	reply_post(j->bot, bot_config(j->bot)->public_announcement_channel_id, NULL, &e, on_posted,
	           j);
	buf_free(&text);
}

static void
step(struct aq_job *j)
{
	struct bot *b = j->bot;
	struct db *db = bot_db(b);
	if (bot_closing(b)) {
		job_free(j);
		return;
	}
	/* what the last callback saw decides where to go, here only */
	if (j->failed)
		j->state = AQ_REPLY;
	else if (j->lost)
		j->state = AQ_LOST;
	else if (j->refused)
		j->state = AQ_UNDO;
	j->failed = j->lost = j->refused = 0;
	for (;;) {
		switch (j->state) {
		case AQ_GET:
			j->state = AQ_CHECKED;
			job_db(b, &j->later, store_proposal_get(db, j->id, on_row, j), on_row, j);
			return;
		case AQ_CHECKED:
			if (!actionable(j))
				continue;
			if (j->kind == AQ_SHOW) {
				describe(j, "");
				continue;
			}
			if (j->kind == AQ_RERUN) {
				if (j->emoji) {
					finish(j,
					       "Proposal #%lld is an emoji: only channel names "
					       "come from the "
					       "LLM.",
					       (long long)j->id);
					continue;
				}
				j->state = AQ_LLM;
				continue;
			}
			if (j->kind == AQ_REJECT) {
				j->state = AQ_DM; /* after the row changed */
				job_db(b, &j->later,
				       store_proposal_reject(db, j->id, on_decided, j), on_decided,
				       j);
				return;
			}
			/* approve: the admin's name, or the one the button showed */
			if (j->override_name) {
				if (j->emoji) {
					if (!emoji_name_valid(j->override_name)) {
						finish(j, "An emoji name must be 2-32 characters: "
						          "letters, digits "
						          "and underscores only.");
						continue;
					}
					snprintf(j->final_name, sizeof j->final_name, "%s",
					         j->override_name);
				} else if (llm_channel_name(j->override_name,
				                            strlen(j->override_name), j->final_name,
				                            sizeof j->final_name) == 0) {
					finish(j,
					       "That name has no character a channel name may hold "
					       "(a-z, 0-9, - and _).");
					continue;
				}
			} else if (j->emoji) {
				snprintf(j->final_name, sizeof j->final_name, "%s",
				         j->original_text);
			} else if (suggestion_usable(j->suggestion)) {
				snprintf(j->final_name, sizeof j->final_name, "%.*s",
				         upto(j->suggestion, LLM_NAME_MAX), j->suggestion);
			} else {
				finish(j,
				       "Proposal #%lld has no suggested name: use Override Name.",
				       (long long)j->id);
				continue;
			}
			j->state = AQ_APPROVE_ROW;
			continue;
		case AQ_LLM: {
			j->state = AQ_SUGGEST;
			llm_suggest_idea(
			        bot_llm(b),
			        template_text(bot_templates(b), TEMPLATE_PROMPT_CHANNEL_NAME),
			        j->original_text, on_suggested, j);
			return;
		}
		case AQ_SUGGEST:
			describe(j, "New suggestion. "); /* the answer, and state AQ_REPLY */
			job_db(b, &j->later,
			       store_proposal_set_suggestion(db, j->id, j->suggestion, on_db_logged,
			                                     j),
			       on_db_logged, j);
			return;
		case AQ_APPROVE_ROW: {
			char name[LLM_NAME_MAX + 1];
			snprintf(name, sizeof name, "%s", j->final_name);
			j->state = j->emoji ? AQ_IMAGE : AQ_CREATE;
			((struct admin_queue_state *)bot_feature_state(b, &feature_admin_queue))
			        ->approvals_begun = 1;
			job_db(b, &j->later, store_proposal_approve(db, j->id, name, on_decided, j),
			       on_decided, j);
			return;
		}
		case AQ_LOST:
			/* read the row again to say who won and how */
			j->state = AQ_LOST_READ;
			j->found = 0;
			job_db(b, &j->later, store_proposal_get(db, j->id, on_row, j), on_row, j);
			return;
		case AQ_LOST_READ:
			if (actionable(j)) /* pending again: it changed under us */
				finish(j, "Proposal #%lld changed meanwhile. Please try again.",
				       (long long)j->id);
			continue;
		case AQ_IMAGE:
			j->state = AQ_CREATE;
			job_db(b, &j->later, store_proposal_emoji_image(db, j->id, on_image, j),
			       on_image, j);
			return;
		case AQ_CREATE:
			j->state = AQ_APPROVED;
			create(j);
			return;
		case AQ_APPROVED:
			j->state = j->emoji ? AQ_DM : AQ_TRACK;
			job_db(b, &j->later, store_proposal_approved(db, j->id, on_marked, j),
			       on_marked, j);
			return;
		case AQ_FIND: {
			/* found: finish as an approval does; not found: UNDO */
			j->state = AQ_APPROVED;
			char path[96];
			snprintf(path, sizeof path, "/guilds/%llu/%s",
			         (unsigned long long)bot_config(b)->guild_id,
			         j->emoji ? "emojis" : "channels");
			reply_request(b, "GET", path, NULL, "proposal recovery", on_found, j);
			return;
		}
		case AQ_UNDO:
			/* the answer says why; the buttons stay for another try (a
			 * recovery has no buttons: the queue shows it again) */
			j->state = j->kind == AQ_RECOVER ? AQ_QUEUE : AQ_REPLY;
			j->decided = 0;
			mem_free(j->components);
			j->components = j->kind == AQ_RECOVER ? NULL : buttons_json(j);
			job_db(b, &j->later, store_proposal_unapprove(db, j->id, on_db_logged, j),
			       on_db_logged, j);
			return;
		case AQ_TRACK:
			j->state = AQ_DM;
			tracked_add(b, j->created_id, TRACKED_PROPOSED, on_db_logged, j);
			return;
		case AQ_DM: {
			/* 100 units of name and a REASON_MAX reason, 4 bytes a
			 * character at worst: the whole reason always fits */
			char msg[96 + 4 * (100 + REASON_MAX)];
			if (j->kind == AQ_REJECT) {
				const char *name = j->emoji || !suggestion_usable(j->suggestion)
				                           ? j->original_text
				                           : j->suggestion;
				snprintf(msg, sizeof msg,
				         "Your %s proposal '%.*s' has been rejected. Reason: %s",
				         type_of(j), upto(name, 100), name,
				         j->reason ? j->reason : "");
			} else {
				snprintf(msg, sizeof msg,
				         "Your %s proposal '%s' has been approved!", type_of(j),
				         j->final_name);
			}
			j->state = (j->kind == AQ_APPROVE || j->kind == AQ_RECOVER) && !j->emoji
			                   ? AQ_ANNOUNCE
			                   : AQ_QUEUE;
			reply_dm(b, j->user_id, msg, NULL, on_dm, j);
			return;
		}
		case AQ_ANNOUNCE:
			j->state = AQ_QUEUE;
			announce(j);
			return;
		case AQ_QUEUE: {
			embeds_refresh(b, EMBED_PROPOSAL_QUEUE);
			const char *dm =
			        j->dm_refused
			                ? " The proposer accepts no DMs, so they were not told."
			                : "";
			if (j->kind == AQ_RECOVER && !j->created_id)
				j->state = AQ_REPLY; /* back to pending: on_found wrote the note */
			else if (j->kind == AQ_RECOVER)
				finish(j,
				       "Proposal #%lld (%s '%s') was being approved when the bot "
				       "stopped; Discord has the %s (%s%llu%s), so the approval is "
				       "finished now.%s",
				       (long long)j->id, type_of(j), j->final_name, type_of(j),
				       j->emoji ? "emoji id " : "<#",
				       (unsigned long long)j->created_id, j->emoji ? "" : ">", dm);
			else if (j->kind == AQ_REJECT)
				finish(j, "Proposal #%lld rejected.%s", (long long)j->id, dm);
			else if (j->emoji)
				finish(j, "Proposal #%lld approved: emoji :%s: created.%s",
				       (long long)j->id, j->final_name, dm);
			else
				finish(j,
				       "Proposal #%lld approved: channel <#%llu> (%s) created.%s",
				       (long long)j->id, (unsigned long long)j->created_id,
				       j->final_name, dm);
			continue;
		}
		case AQ_REPLY:
			/* a recovery has no interaction: the admin channel is told */
			if (j->kind == AQ_RECOVER) {
				log_info("admin_queue", "%s", j->answer);
				reply_post(b, bot_config(b)->admin_notification_channel_id,
				           j->answer, NULL, NULL, NULL);
				job_free(j);
				return;
			}
			/* a click replaces the message it is on (the buttons go, or the new
			 * ones come); a command or a modal gets its own ephemeral answer */
			if (j->it.type == INTERACTION_COMPONENT)
				reply_update(b, &j->it, j->answer, NULL,
				             j->components ? j->components : "[]");
			else if (j->components)
				reply_components(b, &j->it, j->answer, NULL, 1, j->components);
			else
				reply_message(b, &j->it, j->answer, NULL, 1);
			job_free(j);
			return;
		}
	}
}

/* ------------------------------------------------------------ entry points */

static struct aq_job *
job_new(struct bot *b, const struct interaction *it, enum aq_kind kind, int64_t id)
{
	struct aq_job *j = mem_calloc(1, sizeof *j);
	if (!j) {
		reply_message(b, it, "Sorry, out of memory. Please try again.", NULL, 1);
		return NULL;
	}
	j->bot = b;
	j->it = *it;
	j->it.data = NULL;
	j->kind = kind;
	j->id = id;
	j->state = AQ_GET;
	return j;
}

/* The proposal_id option; answers and returns -1 when it names nothing. */
static int
option_id(struct bot *b, const struct interaction *it, int64_t *id)
{
	int32_t v;
	if (interaction_option_row_id(it, "proposal_id", &v) != DISCORD_OPTION_OK) {
		reply_message(b, it, "There is no such proposal.", NULL, 1);
		return -1;
	}
	*id = v;
	return 0;
}

static void
cmd_approve(struct bot *b, const struct interaction *it)
{
	int64_t id;
	if (option_id(b, it, &id) < 0)
		return;
	struct aq_job *j = job_new(b, it, AQ_SHOW, id);
	if (j)
		step(j);
}

static void
cmd_reject(struct bot *b, const struct interaction *it)
{
	int64_t id;
	if (option_id(b, it, &id) < 0)
		return;
	const char *reason;
	size_t len;
	int rc = interaction_option_text(it, "reason", &reason, &len);
	if (rc == DISCORD_OPTION_INVALID) {
		reply_message(b, it, "The reason must not contain NUL characters.", NULL, 1);
		return;
	}
	if (rc != DISCORD_OPTION_OK || len == 0) {
		reply_message(b, it, "Please give a reason: it is sent to the proposer.", NULL, 1);
		return;
	}
	struct aq_job *j = job_new(b, it, AQ_REJECT, id);
	if (!j)
		return;
	j->reason = mem_strndup(reason, len);
	if (!j->reason) {
		job_free(j);
		reply_message(b, it, "Sorry, out of memory. Please try again.", NULL, 1);
		return;
	}
	step(j);
}

/* "pq:<action>:<id>": the action and the id, parsed strictly. */
static int
parse_custom_id(const char *custom_id, char *action, size_t cap, int64_t *id)
{
	if (strncmp(custom_id, "pq:", 3) != 0)
		return -1;
	const char *a = custom_id + 3, *colon = strchr(a, ':');
	if (!colon || (size_t)(colon - a) >= cap)
		return -1;
	memcpy(action, a, (size_t)(colon - a));
	action[colon - a] = 0;
	const char *d = colon + 1;
	int64_t v = 0;
	if (*d < '1' || *d > '9')
		return -1;
	for (; *d; d++) {
		if (*d < '0' || *d > '9' || v > STORE_ID_MAX / 10)
			return -1;
		v = v * 10 + (*d - '0');
	}
	if (!store_id_in_range(v))
		return -1;
	*id = v;
	return 0;
}

static void
on_component(struct bot *b, const struct interaction *it)
{
	char action[16];
	int64_t id;
	if (parse_custom_id(it->name, action, sizeof action, &id) < 0) {
		reply_message(b, it, "This button is not one of ours any more.", NULL, 1);
		return;
	}
	if (strcmp(action, "override") == 0 && it->type == INTERACTION_COMPONENT) {
		/* a modal with one text input inside a Label component (type 18,
		 * Discord's current shape; the submit is read in either shape by
		 * interaction_modal_text) */
		char data[600];
		snprintf(data, sizeof data,
		         "{\"custom_id\":\"pq:name:%lld\",\"title\":\"Name for proposal #%lld\","
		         "\"components\":[{\"type\":18,\"label\":\"New name\",\"description\":"
		         "\"Channels: a-z, 0-9, - and _ (other characters are dropped). Emojis: "
		         "2-32 letters, digits or _.\",\"component\":{\"type\":4,\"custom_id\":"
		         "\"name\",\"style\":1,\"min_length\":1,\"max_length\":100,"
		         "\"required\":true}}]}",
		         (long long)id, (long long)id);
		reply_modal(b, it, data);
		return;
	}
	enum aq_kind kind;
	if (strcmp(action, "approve") == 0 && it->type == INTERACTION_COMPONENT)
		kind = AQ_APPROVE;
	else if (strcmp(action, "rerun") == 0 && it->type == INTERACTION_COMPONENT)
		kind = AQ_RERUN;
	else if (strcmp(action, "name") == 0 && it->type == INTERACTION_MODAL_SUBMIT)
		kind = AQ_APPROVE;
	else {
		reply_message(b, it, "This button is not one of ours any more.", NULL, 1);
		return;
	}
	struct aq_job *j = job_new(b, it, kind, id);
	if (!j)
		return;
	if (it->type == INTERACTION_MODAL_SUBMIT) {
		const char *name;
		size_t len;
		if (interaction_modal_text(it, "name", &name, &len) != DISCORD_OPTION_OK) {
			job_free(j);
			reply_message(b, it, "Please type a name without NUL characters.", NULL, 1);
			return;
		}
		j->override_name = mem_strndup(name, len);
		if (!j->override_name) {
			job_free(j);
			reply_message(b, it, "Sorry, out of memory. Please try again.", NULL, 1);
			return;
		}
	}
	step(j);
}

/* ------------------------------------------------------------ autocomplete */

/* "#12 channel: retro-gaming by bob" for one pending proposal. */
static int
proposal_choice(const struct db_reply *reply, int row, char *line, size_t cap, int64_t *value)
{
	struct store_proposal p;
	if (store_proposal_row(reply, row, &p) < 0)
		return -1;
	const char *name = strcmp(p.type, "emoji") == 0 ? p.original_text
	                   : p.llm_suggestion && suggestion_usable(p.llm_suggestion)
	                           ? p.llm_suggestion
	                           : "(no name yet)";
	char by[160];
	if (p.proposer_name)
		snprintf(by, sizeof by, "%s", p.proposer_name);
	else /* proposals older than sql/003 */
		snprintf(by, sizeof by, "user %llu", (unsigned long long)p.user_id);
	snprintf(line, cap, "#%lld %s: %.*s by %s", (long long)p.id, p.type, upto(name, 40), name,
	         by);
	*value = p.id;
	return 0;
}

static void
ac_proposal_id(struct bot *b, const struct interaction *it)
{
	reply_choices_matching(b, it, store_proposal_list_pending, proposal_choice);
}

/* ------------------------------------------------------------ recovery */

/* The rows a stop left approving: one RECOVER job each. */
static void
on_approving_list(void *data, const struct db_reply *reply)
{
	struct bot *b = data;
	if (bot_closing(b))
		return;
	struct admin_queue_state *s = bot_feature_state(b, &feature_admin_queue);
	s->recovering = 0;
	if (!reply->error && s->approvals_begun) {
		/* an approving row may be one of ours, in flight: not a stop's */
		log_warn("admin_queue", "approvals left by a stop are resolved at the next start");
		s->recovered = 1;
		return;
	}
	if (reply->error) {
		log_error("admin_queue",
		          "cannot list the approvals a stop left unfinished: %s; the next READY "
		          "tries again",
		          reply->error);
		return;
	}
	s->recovered = 1;
	for (int i = 0; i < db_rows(reply); i++) {
		struct aq_job *j = mem_calloc(1, sizeof *j);
		if (!j) {
			log_error("admin_queue", "out of memory recovering approvals; the next "
			                         "start tries again");
			return;
		}
		j->bot = b;
		j->kind = AQ_RECOVER;
		j->state = AQ_FIND;
		j->decided = 1;
		const char *since = db_value(reply, i, 10);
		char *end = NULL;
		if (take_row_at(j, reply, i) && since)
			j->approving_since = strtoll(since, &end, 10);
		if (!j->found || !j->final_name[0] || !j->original_text || !end || *end) {
			log_error("admin_queue",
			          "an approving proposal row is unreadable: skipped");
			job_free(j);
			continue;
		}
		log_info("admin_queue",
		         "proposal #%lld was left approving by a stop: is the %s '%s' on Discord?",
		         (long long)j->id, type_of(j), j->final_name);
		step(j);
	}
}

/* At the first READY (no approval of this process is running yet; a later
 * READY must not take this process's own approvals for a stop's). */
static void
admin_queue_ready(struct bot *b)
{
	struct admin_queue_state *s = bot_feature_state(b, &feature_admin_queue);
	if (!s || s->recovering || s->recovered)
		return;
	s->recovering = 1;
	job_db(b, &s->later, store_proposal_list_approving(bot_db(b), on_approving_list, b),
	       on_approving_list, b);
}

/* ------------------------------------------------------------ the feature */

static const struct bot_command commands[] = {
        {"approve_proposal",
         "Approve a pending channel or emoji proposal",
         1,
         {{"proposal_id", "The proposal's number", OPTION_INTEGER, 1, 1, 0, 0, 0, 0, 1}},
         cmd_approve,
         ac_proposal_id},
        {"reject_proposal",
         "Reject a pending proposal and tell the proposer why",
         1,
         {{"proposal_id", "The proposal's number", OPTION_INTEGER, 1, 1, 0, 0, 0, 0, 1},
          {"reason", "Why it is rejected (sent to the proposer)", OPTION_STRING, 1, 0, 0, 1,
           REASON_MAX, 0, 0}},
         cmd_reject,
         ac_proposal_id},
};

static const struct bot_component components[] = {
        {"pq:", 1, on_component},
};

const struct bot_feature feature_admin_queue = {
        .name = "admin_queue",
        .commands = commands,
        .command_count = sizeof commands / sizeof commands[0],
        .components = components,
        .component_count = sizeof components / sizeof components[0],
        .state_size = sizeof(struct admin_queue_state),
        .ready = admin_queue_ready,
};
