/* cmd_user_reports — /report (spec 6.4, cogs/user_reports.py) and the
 * "Pending User Reports" queue embed (spec 6.2).
 *
 * /report description [file]: the user is thanked at once, ephemerally
 * ("Thank you for your report."), as the spec orders: the thank-you only
 * acknowledges receipt, and the user learns it in milliseconds however
 * slow the database or Discord's rate limits are (a burst of reports
 * queues admin notifications behind the channel's bucket for seconds).
 * Deferring and editing the reply with the outcome was the alternative;
 * it would tie every reporter's "thinking..." to the admin channel's
 * bucket. The one outcome the user must hear of — the report was NOT
 * saved — is sent as an ephemeral follow-up message (allowed for 15
 * minutes after the interaction), so nobody believes a lost report filed.
 *
 * Then one job per report, a struct with a state and step():
 *   INSERT   the row, status pending, file_url from the resolved attachment
 *   NOTIFY   a full embed to ADMIN_NOTIFICATION_CHANNEL_ID: "New report #ID",
 *            the reporter as a mention (allowed_mentions stays empty, so
 *            nobody is pinged), the whole description, the attachment's
 *            link, the status
 *   SAVE_ID  the notification's message id into the row
 *   QUEUE    refresh the queue embed (coalesced by embeds_refresh)
 * A failure after the insert is logged with the report id and the job goes
 * on with what still makes sense (no notification: the queue still shows
 * the report).
 *
 * The queue embed lists every open report (pending or investigating),
 * oldest first, one line each: "[#ID] - <@user> - brief description", the
 * description cut to QUEUE_BRIEF_MAX characters; lines that would not fit
 * Discord's description limit become "... and N more". */
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
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "reply.h"
#include "store.h"
#include "userlimit.h"

/* Characters of a description shown in the queue: enough to tell reports
 * apart, short enough for ~40 reports in one embed. */
#define QUEUE_BRIEF_MAX 60
#define COLOR_RED       0xe74c3c

/* The calls of one report, in order; the state names the call in flight
 * (or, in step(), the one whose answer just came). */
enum report_state {
	REPORT_START,
	REPORT_INSERT,  /* the row */
	REPORT_NOTIFY,  /* the admin notification */
	REPORT_SAVE_ID, /* its message id into the row */
	REPORT_QUEUE,   /* the queue embed refresh (no answer: coalesced) */
};

static const char *const report_step_names[] = {"start", "saving", "admin notification",
                                                "saving the notification's id", "queue"};

struct report_job {
	struct bot *bot;
	enum report_state state;
	struct job_later later; /* a call refused at once answers through it */
	struct interaction it;  /* a copy, for the follow-up if the insert fails */
	char *description;
	char *file_url; /* NULL: no attachment */
	/* what the calls answered */
	char error[200]; /* the last call's failure; "" when it worked */
	int64_t id;
	uint64_t notification_id;
};

static void step(struct report_job *j);

static void
job_free(struct report_job *j)
{
	mem_free(j->description);
	mem_free(j->file_url);
	mem_free(j);
}

/* ---- callbacks: record, then step */

static void
on_db(void *data, const struct db_reply *reply)
{
	struct report_job *j = data;
	j->error[0] = 0;
	if (reply->error)
		snprintf(j->error, sizeof j->error, "%s", reply->error);
	else if (j->state == REPORT_INSERT && store_returned_id(reply, &j->id) < 0)
		/* RETURNING report_id: the one strict parser (store.h, issue 9.8) */
		snprintf(j->error, sizeof j->error, "no id in the answer");
	step(j);
}

static void
on_rest(int status, const struct json_value *body, const char *error, void *data)
{
	struct report_job *j = data;
	j->error[0] = 0;
	if (!error && json_path_id(body, "id", &j->notification_id) < 0)
		error = "no message id in the answer";
	if (error)
		snprintf(j->error, sizeof j->error, "%s (HTTP %d)", error, status);
	step(j);
}

/* ---- the calls */

static void
notify(struct report_job *j)
{
	char title[64], reporter[64];
	snprintf(title, sizeof title, "New report #%lld", (long long)j->id);
	snprintf(reporter, sizeof reporter, "<@%llu>", (unsigned long long)j->it.user_id);
	struct discord_field fields[] = {
	        {"Reporter", reporter, 1},
	        {"Status", "pending", 1},
	        {"Attachment", j->file_url ? j->file_url : "none", 0},
	};
	struct discord_embed e = {
	        .title = title,
	        .description = j->description,
	        .color = COLOR_RED,
	        .fields = fields,
	        .field_count = sizeof fields / sizeof fields[0],
	};
	reply_post(j->bot, bot_config(j->bot)->admin_notification_channel_id, NULL, &e, on_rest, j);
}

/* Makes the call for state `next`; its answer comes back to step(). */
static void
issue(struct report_job *j, enum report_state next)
{
	struct bot *b = j->bot;
	struct db *db = bot_db(b);
	j->state = next;
	switch (next) {
	case REPORT_START:
		break;
	case REPORT_INSERT:
		job_db(b, &j->later,
		       store_report_insert(db, j->it.user_id, j->description, j->file_url, on_db,
		                           j),
		       on_db, j);
		return;
	case REPORT_NOTIFY:
		notify(j);
		return;
	case REPORT_SAVE_ID:
		job_db(b, &j->later,
		       store_report_set_notification(db, j->id, j->notification_id, on_db, j),
		       on_db, j);
		return;
	case REPORT_QUEUE:
		embeds_refresh(b, EMBED_REPORT_QUEUE);
		step(j);
		return;
	}
}

/* The order of a report, in one place:
 *   INSERT -> NOTIFY -> SAVE_ID -> QUEUE -> done
 * A failed INSERT ends it with the apology follow-up (the only failure the
 * reporter hears of); a failed NOTIFY skips SAVE_ID (the queue still shows
 * the report); every other failure is logged and the job goes on. */
static void
step(struct report_job *j)
{
	if (bot_closing(j->bot)) {
		job_free(j); /* the services are going away: nothing more to do */
		return;
	}
	if (j->error[0] && j->state == REPORT_INSERT)
		log_error("reports", "report from user %llu not saved: %s",
		          (unsigned long long)j->it.user_id, j->error);
	else if (j->error[0])
		log_error("reports", "report #%lld: %s failed: %s", (long long)j->id,
		          report_step_names[j->state], j->error);
	switch (j->state) {
	case REPORT_START:
		issue(j, REPORT_INSERT);
		return;
	case REPORT_INSERT:
		if (j->error[0]) {
			reply_followup(
			        j->bot, &j->it,
			        "Sorry, your report could not be saved. Please try again later.",
			        1);
			break;
		}
		log_info("reports", "report #%lld saved (user %llu)", (long long)j->id,
		         (unsigned long long)j->it.user_id);
		issue(j, REPORT_NOTIFY);
		return;
	case REPORT_NOTIFY:
		issue(j, j->error[0] ? REPORT_QUEUE : REPORT_SAVE_ID);
		return;
	case REPORT_SAVE_ID:
		issue(j, REPORT_QUEUE);
		return;
	case REPORT_QUEUE:
		break;
	}
	job_free(j);
}

/* A report's text: long enough for any honest report, short enough that
 * the admin notification embed (description 4096) holds it whole. */
#define DESCRIPTION_MAX 2000

static void
cmd_report(struct bot *b, const struct interaction *it)
{
	const char *description = NULL;
	size_t description_len = 0;
	int got = interaction_option_text(it, "description", &description, &description_len);
	if (got == DISCORD_OPTION_INVALID) {
		/* PostgreSQL text cannot hold a NUL byte, and cutting the report
		 * there would thank the user for words never stored */
		reply_message(b, it,
		              "Your report contains a NUL character (\\u0000), which cannot be "
		              "stored. Please remove it and send the report again.",
		              NULL, 1);
		return;
	}
	if (got != DISCORD_OPTION_OK || description_len == 0) {
		reply_message(b, it, "Please describe what happened.", NULL, 1);
		return;
	}
	/* issue 12.11: one member cannot flood the admin channel */
	const struct config *cfg = bot_config(b);
	struct userlimit *limit = bot_feature_state(b, &feature_user_reports);
	if (!userlimit_allows(limit, it->user_id, loop_now(bot_loop(b)), cfg->report_rate_limit,
	                      (int64_t)cfg->report_rate_window_minutes * 60000)) {
		log_info("reports", "report from user %llu refused: over REPORT_RATE_LIMIT",
		         (unsigned long long)it->user_id);
		reply_message(b, it,
		              "You have sent several reports in a short time. Please wait a few "
		              "minutes before sending another; the admins have the earlier ones.",
		              NULL, 1);
		return;
	}
	/* Discord sends the attachment's CDN url in data.resolved */
	const char *url = json_path_str(interaction_attachment(it, "file"), "url");
	struct report_job *j = mem_calloc(1, sizeof *j);
	if (j) {
		j->description = mem_strndup(description, description_len);
		j->file_url = url ? mem_strdup(url) : NULL;
	}
	if (!j || !j->description || (url && !j->file_url)) {
		if (j)
			job_free(j);
		log_error("reports", "report from user %llu dropped: out of memory",
		          (unsigned long long)it->user_id);
		reply_message(b, it,
		              "Sorry, your report could not be saved. Please try again later.",
		              NULL, 1);
		return;
	}
	reply_message(b, it, "Thank you for your report.", NULL, 1);
	j->bot = b;
	j->it = *it;
	j->it.data = NULL;
	j->state = REPORT_START;
	step(j);
}

/* ------------------------------------------------------------ queue embed */

/* Appends one queue line for a report to out: "[#ID] - <@user> - brief". */
static int
queue_line(const struct db_reply *reply, int row, struct buf *out)
{
	struct store_report r;
	if (store_report_row(reply, row, &r) < 0)
		return -1;
	char head[80];
	snprintf(head, sizeof head, "[#%lld] - <@%llu> - ", (long long)r.id,
	         (unsigned long long)r.user_id);
	buf_append(out, head, strlen(head));
	size_t len = strlen(r.description);
	size_t keep = discord_text_prefix(r.description, len, QUEUE_BRIEF_MAX);
	/* one line per report: line breaks in the text become spaces */
	for (size_t i = 0; i < keep; i++) {
		char c = r.description[i] == '\n' || r.description[i] == '\r' ? ' '
		                                                              : r.description[i];
		buf_append(out, &c, 1);
	}
	if (keep < len)
		buf_append(out, "\xe2\x80\xa6", 3); /* "…" */
	buf_append(out, "\n", 1);
	return 0;
}

static const struct embeds_list queue = {
        .title = "Pending User Reports",
        .color = COLOR_RED,
        .query = store_report_list_open,
        .line = queue_line,
        .empty = "No pending reports.",
        .ellipsis = "...",
        .noun = "open report",
};

/* ------------------------------------------------------------ the feature */

static int
user_reports_start(struct bot *b)
{
	return embeds_register_list(b, EMBED_REPORT_QUEUE, bot_config(b)->queue_channel_id, &queue);
}

static const struct bot_command commands[] = {
        {"report",
         "Send a confidential report to the admin team",
         0,
         {{"description", "What happened", OPTION_STRING, 1, 0, 0, 3, DESCRIPTION_MAX, 0, 0},
          {"file", "An optional screenshot", OPTION_ATTACHMENT, 0, 0, 0, 0, 0, 0, 0}},
         cmd_report,
         NULL},
};

const struct bot_feature feature_user_reports = {
        .name = "user_reports",
        .commands = commands,
        .command_count = sizeof commands / sizeof commands[0],
        .state_size = sizeof(struct userlimit), /* the per-member rate limit */
        .start = user_reports_start,
};
