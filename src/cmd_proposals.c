/* cmd_proposals — /propose_channel and /propose_emoji (spec 6.1,
 * cogs/proposals.py) and the "Pending Proposals" queue embed (spec 6.2).
 *
 * One job per proposal, a struct with a state and step():
 *   PENDING   does the member already have a pending proposal of this type
 *             (spec 6.1 "Limit Check"; the answer "You already have a
 *             pending channel proposal.")
 *   LIMIT     channels only: the proposed category's channels, counted in
 *             the guild channel cache, against MAX_PROPOSED_CHANNELS
 *   DOWNLOAD  emoji only: the attachment, whose declared size was checked
 *             before (> 256 KiB is refused without a download), fetched
 *             into memory with the same cap, then checked by image.c
 *   INSERT    the pending row (with the emoji's bytes): the database's
 *             unique index decides a race between two submissions, and
 *             the loser hears the same "already pending" answer
 *   ACK       "Thank you! Your proposal has been submitted for review."
 *             (the answer guard defers it if the steps above take more
 *             than 1.5 s, so Discord's 3 s always hold)
 *   LLM       channels: the name suggestion (llm.c), failure text kept
 *   SUGGEST   the suggestion (or the failure text) stored in the row
 *   NOTIFY    the admin-channel embed: proposer, full text, suggestion
 *   QUEUE     the "Pending Proposals" embed refreshed
 * The row is written before the acknowledgement (the spec writes it after
 * the LLM call): only the database can say "already pending" truthfully
 * under concurrent submissions, and the user must hear that instead of a
 * thank-you.
 *
 * Every message sets allowed_mentions (discord_write_message_fields), so
 * the text of a proposal can never ping anyone. */
#include <stdio.h>
#include <string.h>

#include "bot.h"
#include "buf.h"
#include "config.h"
#include "embeds.h"
#include "feature_table.h"
#include "guild.h"
#include "http.h"
#include "image.h"
#include "job.h"
#include "json.h"
#include "llm.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "reply.h"
#include "store.h"
#include "template.h"
#include "userlimit.h"

/* Bounds on a channel idea, in characters (Discord's count): long enough
 * for any honest proposal, short enough that the admin embed's
 * description (4096) holds it whole. */
#define IDEA_MIN       3
#define IDEA_MAX       1000
#define EMOJI_NAME_MIN 2
#define EMOJI_NAME_MAX 32
/* Downloading an attachment from Discord's CDN: it answers in
 * milliseconds; a stuck download must not hold the proposal longer. */
#define DOWNLOAD_TIMEOUT_MS 10000
/* Per-member rate limit on /propose_* (issue 12.11): a member may start
 * PROPOSE_RATE_LIMIT proposals per PROPOSE_RATE_WINDOW_MINUTES (config),
 * so nobody can flood the admin channel (userlimit.h). */
/* A queue line holds this much of the name. */
#define QUEUE_NAME_MAX 60
#define COLOR_BLUE     0x3498db

struct proposals_state {
	struct http_client *cdn;
	struct userlimit rate;
};

enum proposal_step {
	PS_PENDING,
	PS_LIMIT,
	PS_DOWNLOAD,
	PS_CHECK_IMAGE,
	PS_INSERT,
	PS_ACK,
	PS_LLM,
	PS_SUGGEST,
	PS_NOTIFY,
	PS_QUEUE,
};

struct proposal_job {
	struct bot *bot;
	struct job_later later; /* a call refused at once answers through it */
	enum proposal_step state;
	struct interaction it; /* a copy: ids and token for the answer */
	int emoji;             /* 0: channel */
	/* inputs */
	char *text; /* the sanitised idea, or the emoji name */
	char *file_url;
	char *filename;
	char *declared_type;
	/* outcomes */
	char refusal[300]; /* set: answer this and stop */
	char download_error[200];
	int download_status;
	unsigned char *image;
	size_t image_len;
	const char *image_type; /* "image/png" ... (static) */
	int64_t id;
	char suggestion[LLM_ERROR_MAX + 1];
};

static struct proposals_state *
state_of(struct bot *b)
{
	return bot_feature_state(b, &feature_proposals);
}

static const char *
type_name(const struct proposal_job *j)
{
	return j->emoji ? "emoji" : "channel";
}

static void
job_free(struct proposal_job *j)
{
	mem_free(j->text);
	mem_free(j->file_url);
	mem_free(j->filename);
	mem_free(j->declared_type);
	mem_free(j->image);
	mem_free(j);
}

static void step(struct proposal_job *j);

static void
refuse(struct proposal_job *j, const char *msg)
{
	snprintf(j->refusal, sizeof j->refusal, "%s", msg);
}

/* ------------------------------------------------------------ callbacks */

static void
on_pending(void *data, const struct db_reply *reply)
{
	struct proposal_job *j = data;
	if (reply->error) {
		log_error("proposals", "pending check for user %llu failed: %s",
		          (unsigned long long)j->it.user_id, reply->error);
		refuse(j, "Sorry, your proposal could not be checked. Please try again later.");
	} else if (db_rows(reply) == 1 && db_value(reply, 0, 0) &&
	           strcmp(db_value(reply, 0, 0), "t") == 0) {
		snprintf(j->refusal, sizeof j->refusal, "You already have a pending %s proposal.",
		         type_name(j));
	}
	step(j);
}

static void
on_downloaded(const struct http_response *res, const char *error, void *data)
{
	struct proposal_job *j = data;
	/* only recorded here (the body is borrowed: copied); step() judges */
	if (error) {
		log_warn("proposals", "emoji download failed: %s", error);
		snprintf(j->download_error, sizeof j->download_error, "%s", error);
	} else {
		j->download_status = res->status;
		if (res->status == 200 && res->body_len > 0) {
			/* held in memory only, never written to disk (spec 6.1) */
			j->image = mem_alloc(res->body_len);
			if (j->image) {
				memcpy(j->image, res->body, res->body_len);
				j->image_len = res->body_len;
			} else {
				snprintf(j->download_error, sizeof j->download_error,
				         "out of memory");
			}
		}
	}
	step(j);
}

static void
on_inserted(void *data, const struct db_reply *reply)
{
	struct proposal_job *j = data;
	if (reply->sqlstate && strcmp(reply->sqlstate, STORE_UNIQUE_VIOLATION) == 0) {
		/* a concurrent submission won the race */
		snprintf(j->refusal, sizeof j->refusal, "You already have a pending %s proposal.",
		         type_name(j));
	} else if (store_returned_id(reply, &j->id) < 0) {
		log_error("proposals", "%s proposal from user %llu not saved: %s", type_name(j),
		          (unsigned long long)j->it.user_id, reply->error ? reply->error : "no id");
		refuse(j, "Sorry, your proposal could not be saved. Please try again later.");
	} else {
		log_info("proposals", "%s proposal #%lld saved (user %llu)", type_name(j),
		         (long long)j->id, (unsigned long long)j->it.user_id);
	}
	step(j);
}

static void
on_suggested(void *data, const char *name, const char *error)
{
	struct proposal_job *j = data;
	snprintf(j->suggestion, sizeof j->suggestion, "%s", name ? name : error);
	step(j);
}

static void
on_suggestion_saved(void *data, const struct db_reply *reply)
{
	struct proposal_job *j = data;
	if (reply->error)
		log_error("proposals", "proposal #%lld: suggestion not saved: %s", (long long)j->id,
		          reply->error);
	step(j);
}

static void
on_notified(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	struct proposal_job *j = data;
	if (error)
		log_error("proposals", "proposal #%lld: admin notification failed: %s (HTTP %d)",
		          (long long)j->id, error, status);
	step(j);
}

/* ------------------------------------------------------------ steps */

static void
notify(struct proposal_job *j)
{
	char title[80], proposer[40], image[16];
	snprintf(title, sizeof title, "New %s proposal #%lld", type_name(j), (long long)j->id);
	snprintf(proposer, sizeof proposer, "<@%llu>", (unsigned long long)j->it.user_id);
	struct discord_field fields[4];
	size_t n = 0;
	fields[n++] = (struct discord_field){"Proposer", proposer, 1};
	if (j->emoji) {
		snprintf(image, sizeof image, "%zu bytes", j->image_len);
		fields[n++] = (struct discord_field){"Name", j->text, 1};
		fields[n++] = (struct discord_field){"Image", image, 1};
		fields[n++] = (struct discord_field){"Attachment", j->file_url, 0};
	} else {
		fields[n++] = (struct discord_field){"Suggested name", j->suggestion, 1};
	}
	struct discord_embed e = {
	        .title = title,
	        .description = j->emoji ? NULL : j->text,
	        .color = COLOR_BLUE,
	        .fields = fields,
	        .field_count = n,
	        .footer = "Approve with /approve_proposal, reject with /reject_proposal",
	};
	reply_post(j->bot, bot_config(j->bot)->admin_notification_channel_id, NULL, &e, on_notified,
	           j);
}

static void
suggest(struct proposal_job *j)
{
	llm_suggest_idea(bot_llm(j->bot),
	                 template_text(bot_templates(j->bot), TEMPLATE_PROMPT_CHANNEL_NAME),
	                 j->text, on_suggested, j);
}

static void
step(struct proposal_job *j)
{
	struct bot *b = j->bot;
	struct db *db = bot_db(b);
	if (bot_closing(b)) {
		job_free(j);
		return;
	}
	if (j->refusal[0]) { /* every refusal is answered here, once */
		reply_message(b, &j->it, j->refusal, NULL, 1);
		job_free(j);
		return;
	}
	for (;;) {
		switch (j->state) {
		case PS_PENDING:
			j->state = j->emoji ? PS_DOWNLOAD : PS_LIMIT;
			job_db(b, &j->later,
			       store_proposal_pending_exists(db, j->it.user_id, type_name(j),
			                                     on_pending, j),
			       on_pending, j);
			return;
		case PS_LIMIT: {
			const struct config *cfg = bot_config(b);
			size_t count =
			        guild_count_in(bot_guild(b), cfg->proposed_channel_category_id);
			if ((long)count >= (long)cfg->max_proposed_channels) {
				log_info("proposals",
				         "channel proposal refused: %zu of %d channels", count,
				         (int)cfg->max_proposed_channels);
				refuse(j, "We are at our limit for new channels. Please try again "
				          "later.");
				step(j);
				return;
			}
			j->state = PS_INSERT;
			continue;
		}
		case PS_DOWNLOAD: {
			j->state = PS_CHECK_IMAGE;
			struct http_client *cdn = state_of(b)->cdn;
			if (!cdn || http_request(cdn, "GET", j->file_url, NULL, 0, NULL, 0,
			                         DOWNLOAD_TIMEOUT_MS, on_downloaded, j) < 0) {
				log_warn("proposals", "emoji download not started: %s",
				         cdn ? http_client_error(cdn) : "no client");
				on_downloaded(NULL, "not started", j);
			}
			return;
		}
		case PS_CHECK_IMAGE: {
			char why[256];
			struct image_info info;
			if (j->download_error[0]) {
				/* the client's body cap is the size limit: a larger body fails */
				refuse(j, strstr(j->download_error, "limit")
				                  ? "The file is too large. An emoji may be at "
				                    "most 256 KB "
				                    "(262,144 bytes)."
				                  : "The file could not be downloaded from "
				                    "Discord. Please "
				                    "upload it again.");
			} else if (j->download_status != 200) {
				snprintf(j->refusal, sizeof j->refusal,
				         "The file could not be downloaded from Discord (HTTP %d). "
				         "Please "
				         "upload it again.",
				         j->download_status);
			} else if (image_check_emoji(j->image, j->image_len, j->filename,
			                             j->declared_type, &info, why,
			                             sizeof why) < 0) {
				refuse(j, why);
			} else {
				j->image_type = image_content_type(info.format);
				log_info("proposals", "emoji '%s': %s %ux%u, %d frame%s, %zu bytes",
				         j->text, image_format_name(info.format), info.width,
				         info.height, info.frames, info.frames == 1 ? "" : "s",
				         j->image_len);
				j->state = PS_INSERT;
				continue;
			}
			step(j); /* answers the refusal */
			return;
		}
		case PS_INSERT: {
			j->state = PS_ACK;
			/* how the member is shown, for the admins' autocomplete */
			const char *shown = j->it.user_name[0] ? j->it.user_name : NULL;
			int rc = j->emoji ? store_proposal_insert_emoji(db, j->it.user_id, j->text,
			                                                j->file_url, j->image,
			                                                j->image_len, j->image_type,
			                                                shown, on_inserted, j)
			                  : store_proposal_insert(db, j->it.user_id, "channel",
			                                          j->text, NULL, shown, on_inserted,
			                                          j);
			job_db(b, &j->later, rc, on_inserted, j);
			return;
		}
		case PS_ACK:
			reply_message(b, &j->it,
			              "Thank you! Your proposal has been submitted for review.",
			              NULL, 1);
			/* the image is in the database now; the job no longer needs it */
			mem_free(j->image);
			j->image = NULL;
			j->state = j->emoji ? PS_NOTIFY : PS_LLM;
			continue;
		case PS_LLM:
			j->state = PS_SUGGEST;
			suggest(j);
			return;
		case PS_SUGGEST:
			j->state = PS_NOTIFY;
			job_db(b, &j->later,
			       store_proposal_set_suggestion(db, j->id, j->suggestion,
			                                     on_suggestion_saved, j),
			       on_suggestion_saved, j);
			return;
		case PS_NOTIFY:
			j->state = PS_QUEUE;
			notify(j);
			return;
		case PS_QUEUE:
			embeds_refresh(b, EMBED_PROPOSAL_QUEUE);
			job_free(j);
			return;
		}
	}
}

/* ------------------------------------------------------------ commands */

/* 1 when the member may start another proposal now (and counts it). */
static int
rate_allows(struct bot *b, uint64_t user_id)
{
	const struct config *cfg = bot_config(b);
	return userlimit_allows(&state_of(b)->rate, user_id, loop_now(bot_loop(b)),
	                        cfg->propose_rate_limit,
	                        (int64_t)cfg->propose_rate_window_minutes * 60000);
}

static struct proposal_job *
job_new(struct bot *b, const struct interaction *it, int emoji)
{
	struct proposal_job *j = mem_calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->bot = b;
	j->it = *it;
	j->it.data = NULL;
	j->emoji = emoji;
	j->state = PS_PENDING;
	return j;
}

/* The idea as it will be stored and shown: control characters (C0 but
 * line feed, DEL, C1) become spaces, surrounding white space goes. NULL
 * when out of memory. */
static char *
sanitize_idea(const char *text, size_t len)
{
	char *out = mem_alloc(len + 1);
	if (!out)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)text[i];
		if (c == 0xc2 && i + 1 < len && (unsigned char)text[i + 1] >= 0x80 &&
		    (unsigned char)text[i + 1] <= 0x9f) {
			out[n++] = ' '; /* U+0080..U+009F */
			i++;
			continue;
		}
		out[n++] = (c < 0x20 && c != '\n') || c == 0x7f ? ' ' : (char)c;
	}
	size_t start = 0;
	while (start < n && (out[start] == ' ' || out[start] == '\n'))
		start++;
	while (n > start && (out[n - 1] == ' ' || out[n - 1] == '\n'))
		n--;
	memmove(out, out + start, n - start);
	out[n - start] = 0;
	return out;
}

static void
cmd_propose_channel(struct bot *b, const struct interaction *it)
{
	const char *text;
	size_t len;
	int rc = interaction_option_text(it, "idea_text", &text, &len);
	if (rc == DISCORD_OPTION_INVALID) {
		reply_message(b, it, "Your idea must not contain NUL characters.", NULL, 1);
		return;
	}
	if (rc != DISCORD_OPTION_OK) {
		reply_message(b, it, "Please describe the channel you would like.", NULL, 1);
		return;
	}
	if (!rate_allows(b, it->user_id)) {
		reply_message(
		        b, it,
		        "You are proposing too quickly. Please wait a few minutes and try again.",
		        NULL, 1);
		return;
	}
	struct proposal_job *j = job_new(b, it, 0);
	if (j)
		j->text = sanitize_idea(text, len);
	if (!j || !j->text) {
		if (j)
			job_free(j);
		reply_message(b, it,
		              "Sorry, your proposal could not be saved. Please try again later.",
		              NULL, 1);
		return;
	}
	size_t chars = discord_text_length(j->text, strlen(j->text));
	if (chars < IDEA_MIN)
		refuse(j, "Your idea is too short: please describe the channel in at least 3 "
		          "characters.");
	else if (chars > IDEA_MAX)
		refuse(j, "Your idea is too long: please keep it within 1000 characters.");
	step(j);
}

static int
emoji_name_valid(const char *s, size_t len)
{
	if (len < EMOJI_NAME_MIN || len > EMOJI_NAME_MAX)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return 0;
	}
	return 1;
}

static void
cmd_propose_emoji(struct bot *b, const struct interaction *it)
{
	const char *name;
	size_t name_len;
	int rc = interaction_option_text(it, "name", &name, &name_len);
	if (rc != DISCORD_OPTION_OK || !emoji_name_valid(name, name_len)) {
		reply_message(
		        b, it,
		        "The emoji name must be 2-32 characters: letters, digits and underscores "
		        "only, no spaces.",
		        NULL, 1);
		return;
	}
	const struct json_value *att = interaction_attachment(it, "file");
	const char *url = json_path_str(att, "url");
	const char *filename = json_path_str(att, "filename");
	const char *declared = json_path_str(att, "content_type");
	int64_t size = -1;
	if (!att || !url || !filename || json_path_int64(att, "size", &size) < 0) {
		reply_message(b, it, "Please attach the emoji image (PNG, JPEG or GIF).", NULL, 1);
		return;
	}
	/* refused on what Discord declares, before any download */
	if (size > IMAGE_EMOJI_MAX_BYTES) {
		char msg[160];
		snprintf(msg, sizeof msg,
		         "The file is too large: %lld bytes. An emoji may be at most 256 KB "
		         "(262,144 "
		         "bytes).",
		         (long long)size);
		reply_message(b, it, msg, NULL, 1);
		return;
	}
	if (image_format_of_name(filename) == IMAGE_UNKNOWN) {
		reply_message(b, it, "The file name must end in .png, .jpg, .jpeg or .gif.", NULL,
		              1);
		return;
	}
	if (!rate_allows(b, it->user_id)) {
		reply_message(
		        b, it,
		        "You are proposing too quickly. Please wait a few minutes and try again.",
		        NULL, 1);
		return;
	}
	struct proposal_job *j = job_new(b, it, 1);
	if (j) {
		j->text = mem_strndup(name, name_len);
		j->file_url = mem_strdup(url);
		j->filename = mem_strdup(filename);
		j->declared_type = declared ? mem_strdup(declared) : NULL;
	}
	if (!j || !j->text || !j->file_url || !j->filename || (declared && !j->declared_type)) {
		if (j)
			job_free(j);
		reply_message(b, it,
		              "Sorry, your proposal could not be saved. Please try again later.",
		              NULL, 1);
		return;
	}
	step(j);
}

/* ------------------------------------------------------------ queue embed */

/* The name a queue line shows: the emoji name, the channel's suggestion,
 * or what happened to it. Failure texts start "LLM " (a valid name never
 * holds a capital or a space). */
static const char *
shown_name(const struct store_proposal *p)
{
	if (strcmp(p->type, "emoji") == 0)
		return p->original_text;
	if (!p->llm_suggestion)
		return "(suggestion pending)";
	if (strncmp(p->llm_suggestion, "LLM ", 4) == 0)
		return "(no suggestion)";
	return p->llm_suggestion;
}

/* "[#12] - Channel - <@user> - name" for one pending proposal. */
static int
queue_line(const struct db_reply *reply, int row, struct buf *out)
{
	struct store_proposal p;
	if (store_proposal_row(reply, row, &p) < 0)
		return -1;
	const char *name = shown_name(&p);
	size_t len = strlen(name);
	size_t keep = discord_text_prefix(name, len, QUEUE_NAME_MAX);
	buf_printf(out, "[#%lld] - %s - <@%llu> - ", (long long)p.id,
	           strcmp(p.type, "emoji") == 0 ? "Emoji" : "Channel",
	           (unsigned long long)p.user_id);
	buf_append(out, name, keep);
	if (keep < len)
		buf_puts(out, "\xe2\x80\xa6");
	buf_putc(out, '\n');
	return 0;
}

static const struct embeds_list queue = {
        .title = "Pending Proposals",
        .color = COLOR_BLUE,
        .query = store_proposal_list_pending,
        .line = queue_line,
        .empty = "No pending proposals.",
        .ellipsis = "\xe2\x80\xa6",
        .noun = "pending proposal",
};

/* ------------------------------------------------------------ the feature */

static int
proposals_start(struct bot *b)
{
	const struct config *cfg = bot_config(b);
	struct proposals_state *s = state_of(b);
	struct http_client_options ho = {
	        .trust = bot_trust(b),
	        .user_agent = "Agora (emoji download)",
	        .max_body = IMAGE_EMOJI_MAX_BYTES, /* the download is capped, not just checked */
	        .max_conns_per_host = 2,
	};
	s->cdn = http_client_new(bot_loop(b), &ho);
	if (!s->cdn) {
		log_error("proposals", "out of memory");
		return -1;
	}
	return embeds_register_list(b, EMBED_PROPOSAL_QUEUE, cfg->queue_channel_id, &queue);
}

static void
proposals_free(struct bot *b)
{
	struct proposals_state *s = state_of(b);
	/* pending downloads get their callbacks now, see bot_closing() */
	if (s->cdn)
		http_client_free(s->cdn);
	s->cdn = NULL;
}

static const struct bot_command commands[] = {
        {"propose_channel",
         "Propose a new channel for the server",
         0,
         {{"idea_text", "What the channel would be about", OPTION_STRING, 1, 0, 0, IDEA_MIN,
           IDEA_MAX, 0, 0}},
         cmd_propose_channel,
         NULL},
        {"propose_emoji",
         "Propose a new emoji (PNG, JPEG or GIF, square, 32-256 px, up to 256 KB)",
         0,
         {{"name", "Emoji name: 2-32 letters, digits or underscores", OPTION_STRING, 1, 0, 0,
           EMOJI_NAME_MIN, EMOJI_NAME_MAX, 0, 0},
          {"file", "The emoji image", OPTION_ATTACHMENT, 1, 0, 0, 0, 0, 0, 0}},
         cmd_propose_emoji,
         NULL},
};

const struct bot_feature feature_proposals = {
        .name = "proposals",
        .commands = commands,
        .command_count = sizeof commands / sizeof commands[0],
        .state_size = sizeof(struct proposals_state),
        .start = proposals_start,
        .free = proposals_free,
};
