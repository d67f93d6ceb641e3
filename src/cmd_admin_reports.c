/* cmd_admin_reports — /view_report and /resolve_report (spec 6.4,
 * cogs/admin_reports.py). Admin-only: bot.c checks the member's rights
 * before these run.
 *
 * /view_report id: a pending report becomes "investigating" and its
 * reporter gets a DM "Your report is being investigated."; the admin gets,
 * ephemerally, the direct link to the admin notification
 * (https://discord.com/channels/GUILD/CHANNEL/MESSAGE). A report already
 * under investigation just gives the link again (no second DM); a resolved
 * one is said to be resolved.
 *
 * /resolve_report id explanation: the report becomes "resolved", the
 * reporter gets "Your report has been resolved. EXPLANATION", the queue
 * embed is refreshed (the report leaves it), the admin is told.
 * The status is changed BEFORE the DM (the spec lists the DM first): the
 * update is guarded in SQL (never from resolved), so when two admins
 * resolve the same report only the winner DMs the reporter.
 *
 * A DM that fails (403 50007: the member accepts no DMs from the bot) does
 * not stop either command; the admin's reply says the reporter could not
 * be messaged. Replies go through reply_message: a job slower than the
 * answer guard's 1.5 s is deferred by reply.c and the reply becomes an
 * edit.
 *
 * One job struct per command, a state and step() (STYLE.md). */
#include <stdio.h>
#include <string.h>

#include "bot.h"
#include "config.h"
#include "embeds.h"
#include "feature_table.h"
#include "job.h"
#include "json.h"
#include "log.h"
#include "mem.h"
#include "reply.h"
#include "store.h"

/* The calls of one command; the state names the call in flight (or, in
 * step(), the one whose answer just came). */
enum admin_state {
	ADMIN_START,
	ADMIN_GET,    /* read the report */
	ADMIN_DM,     /* tell the reporter */
	ADMIN_STATUS, /* change the status */
};

struct admin_job {
	struct bot *bot;
	enum admin_state state;
	struct job_later later; /* a call refused at once answers through it */
	int resolve;            /* /resolve_report, else /view_report */
	struct interaction it;  /* a copy: the event is gone when the job ends */
	int64_t id;
	char *explanation; /* /resolve_report */
	/* what the report row said */
	int found;
	uint64_t reporter;
	uint64_t notification_id;
	char status[16];
	/* outcomes */
	int status_changed;
	int dm_failed;
	char dm_error[160];
	char db_error[160];
};

static void step(struct admin_job *j);

static void
job_free(struct admin_job *j)
{
	mem_free(j->explanation);
	mem_free(j);
}

/* ---- callbacks: record, then step */

static void
on_db(void *data, const struct db_reply *reply)
{
	struct admin_job *j = data;
	if (reply->error) {
		snprintf(j->db_error, sizeof j->db_error, "%s", reply->error);
		log_error("reports", "report #%lld: %s failed: %s", (long long)j->id,
		          j->state == ADMIN_GET ? "reading" : "the status change", reply->error);
	} else if (j->state == ADMIN_GET) {
		struct store_report r;
		j->found = db_rows(reply) == 1 && store_report_row(reply, 0, &r) == 0;
		if (j->found) {
			j->reporter = r.user_id;
			j->notification_id = r.notification_message_id;
			snprintf(j->status, sizeof j->status, "%s", r.status);
		}
	} else if (db_rows(reply) == 0) {
		/* the guarded update changed nothing: resolved (or deleted)
		 * meanwhile by someone else */
		snprintf(j->status, sizeof j->status, "resolved");
	} else {
		j->status_changed = 1;
		log_info("reports", "report #%lld is now %s", (long long)j->id,
		         j->resolve ? "resolved" : "investigating");
	}
	step(j);
}

static void
on_dm(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	struct admin_job *j = data;
	if (error) {
		j->dm_failed = 1;
		snprintf(j->dm_error, sizeof j->dm_error, "%s", error);
		log_warn("reports", "report #%lld: DM to user %llu failed: %s (HTTP %d)",
		         (long long)j->id, (unsigned long long)j->reporter, error, status);
	}
	step(j);
}

/* ---- the calls */

/* Makes the call for state `next`; its answer comes back to step(). */
static void
issue(struct admin_job *j, enum admin_state next)
{
	struct bot *b = j->bot;
	struct db *db = bot_db(b);
	/* Discord's limit counts characters; a character is up to 4 bytes */
	char text[DISCORD_CONTENT_MAX * 4 + 1];
	j->state = next;
	switch (next) {
	case ADMIN_START:
		return;
	case ADMIN_GET:
		job_db(b, &j->later, store_report_get(db, j->id, on_db, j), on_db, j);
		return;
	case ADMIN_DM:
		if (!j->resolve) {
			reply_dm(b, j->reporter, "Your report is being investigated.", NULL, on_dm,
			         j);
			return;
		}
		snprintf(text, sizeof text, "Your report has been resolved. %s", j->explanation);
		if (discord_text_length(text, strlen(text)) > DISCORD_CONTENT_MAX) {
			/* too long for a message's content (2,000 UTF-16 units: 1,000
			 * characters outside the BMP are 2,000 alone): the
			 * explanation goes whole into an embed (4,096) instead */
			struct discord_embed e = {.description = j->explanation};
			reply_dm(b, j->reporter, "Your report has been resolved.", &e, on_dm, j);
			return;
		}
		reply_dm(b, j->reporter, text, NULL, on_dm, j);
		return;
	case ADMIN_STATUS:
		job_db(b, &j->later,
		       store_report_set_status(db, j->id, j->resolve ? "resolved" : "investigating",
		                               on_db, j),
		       on_db, j);
		return;
	}
}

/* The admin's answer, from what the job found and did: every outcome,
 * failures included, is worded here and only here. */
static void
answer(struct admin_job *j)
{
	const struct config *cfg = bot_config(j->bot);
	char text[1024], link[160], dm_note[300] = "";
	if (j->db_error[0] && !j->found) {
		snprintf(text, sizeof text, "Report #%lld could not be read: %s", (long long)j->id,
		         j->db_error);
		reply_message(j->bot, &j->it, text, NULL, 1);
		return;
	}
	if (!j->found) {
		snprintf(text, sizeof text, "Report #%lld does not exist.", (long long)j->id);
		reply_message(j->bot, &j->it, text, NULL, 1);
		return;
	}
	if (j->notification_id)
		snprintf(link, sizeof link, "https://discord.com/channels/%llu/%llu/%llu",
		         (unsigned long long)cfg->guild_id,
		         (unsigned long long)cfg->admin_notification_channel_id,
		         (unsigned long long)j->notification_id);
	else
		snprintf(link, sizeof link, "(its admin notification was never posted)");
	if (j->dm_failed)
		snprintf(
		        dm_note, sizeof dm_note,
		        "\nThe reporter <@%llu> could not be messaged (%s); tell them another way.",
		        (unsigned long long)j->reporter, j->dm_error);
	if (j->db_error[0])
		snprintf(text, sizeof text, "Report #%lld: the status could not be changed: %s\n%s",
		         (long long)j->id, j->db_error, link);
	else if (!j->status_changed && strcmp(j->status, "resolved") == 0)
		snprintf(text, sizeof text, "Report #%lld is already resolved.\n%s",
		         (long long)j->id, link);
	else if (!j->resolve && !j->status_changed)
		snprintf(text, sizeof text, "Report #%lld is already being investigated.\n%s",
		         (long long)j->id, link);
	else if (!j->resolve)
		snprintf(text, sizeof text,
		         "Report #%lld is now being investigated; the reporter was %s.\n%s%s",
		         (long long)j->id, j->dm_failed ? "NOT told" : "told by DM", link, dm_note);
	else
		snprintf(text, sizeof text, "Report #%lld is resolved; the reporter was %s.%s",
		         (long long)j->id, j->dm_failed ? "NOT told" : "told by DM", dm_note);
	reply_message(j->bot, &j->it, text, NULL, 1);
}

/* The order of both commands, in one place:
 *   /view_report:    GET -> (pending) DM -> STATUS investigating -> answer
 *                        -> (investigating already) answer with the link again
 *   /resolve_report: GET -> STATUS resolved -> (changed) DM -> answer, queue refresh
 *   either:          GET finds nothing, fails, or finds it resolved -> answer
 * The status is changed BEFORE the resolution DM: the update is guarded
 * in SQL (never from resolved), so of two admins only the winner DMs. A
 * failed DM is told to the admin; a failed status change ends the job. */
static void
step(struct admin_job *j)
{
	if (bot_closing(j->bot)) {
		job_free(j); /* the services are going away: nothing more to do */
		return;
	}
	switch (j->state) {
	case ADMIN_START:
		issue(j, ADMIN_GET);
		return;
	case ADMIN_GET:
		if (j->db_error[0] || !j->found || strcmp(j->status, "resolved") == 0)
			break;
		if (j->resolve)
			issue(j, ADMIN_STATUS);
		else if (strcmp(j->status, "pending") == 0)
			issue(j, ADMIN_DM);
		else
			break; /* investigating already: the link again */
		return;
	case ADMIN_DM:
		if (!j->resolve) {
			issue(j, ADMIN_STATUS);
			return;
		}
		break;
	case ADMIN_STATUS:
		if (j->resolve && j->status_changed) {
			issue(j, ADMIN_DM);
			return;
		}
		break;
	}
	answer(j);
	if (j->resolve && j->status_changed)
		embeds_refresh(j->bot, EMBED_REPORT_QUEUE);
	job_free(j);
}

/* An explanation sent to the reporter: bounded like a rejection reason. */
#define EXPLANATION_MAX 1000

static void
start(struct bot *b, const struct interaction *it, int resolve)
{
	int32_t id;
	int got = interaction_option_row_id(it, "report_id", &id);
	if (got == DISCORD_OPTION_INVALID) {
		/* 0, negative, 2^31 and up: no report can have that number,
		 * so no query is made (issue 12.6) */
		reply_message(b, it, "There is no such report: report numbers are 1 or more.", NULL,
		              1);
		return;
	}
	if (got != DISCORD_OPTION_OK) {
		reply_message(b, it, "Please give a report number.", NULL, 1);
		return;
	}
	const char *explanation = NULL;
	size_t explanation_len = 0;
	if (resolve) {
		got = interaction_option_text(it, "explanation", &explanation, &explanation_len);
		if (got == DISCORD_OPTION_INVALID) {
			reply_message(b, it,
			              "The explanation contains a NUL character (\\u0000), which "
			              "cannot be sent. Please remove it.",
			              NULL, 1);
			return;
		}
		if (got != DISCORD_OPTION_OK || explanation_len == 0) {
			reply_message(b, it, "Please give an explanation for the reporter.", NULL,
			              1);
			return;
		}
	}
	struct admin_job *j = mem_calloc(1, sizeof *j);
	if (j && explanation)
		j->explanation = mem_strndup(explanation, explanation_len);
	if (!j || (explanation && !j->explanation)) {
		mem_free(j);
		reply_message(b, it, "Sorry: out of memory. Please try again.", NULL, 1);
		return;
	}
	j->bot = b;
	j->resolve = resolve;
	j->it = *it;
	j->it.data = NULL;
	j->id = id;
	j->state = ADMIN_START;
	step(j);
}

static void
cmd_view_report(struct bot *b, const struct interaction *it)
{
	start(b, it, 0);
}

static void
cmd_resolve_report(struct bot *b, const struct interaction *it)
{
	start(b, it, 1);
}

/* ------------------------------------------------------------ autocomplete */

/* report_id of /view_report and /resolve_report (issue 10.6): the open
 * reports, "#5 pending: brief description", filtered by what the admin
 * typed (the id or any word of the line), at most 25. */
static int
report_choice(const struct db_reply *reply, int row, char *line, size_t cap, int64_t *value)
{
	struct store_report r;
	if (store_report_row(reply, row, &r) < 0 || cap < 8)
		return -1;
	int head = snprintf(line, cap, "#%lld %s: ", (long long)r.id, r.status);
	if (head < 0 || (size_t)head >= cap)
		return -1;
	/* the description's start, on one line, within Discord's 100 */
	size_t len = strlen(r.description);
	size_t keep = discord_text_prefix(r.description, len, 60);
	size_t k = (size_t)head;
	for (size_t b = 0; b < keep && k < cap - 4; b++)
		line[k++] = r.description[b] == '\n' || r.description[b] == '\r' ? ' '
		                                                                 : r.description[b];
	if (keep < len && k < cap - 4) {
		memcpy(line + k, "\xe2\x80\xa6", 3);
		k += 3;
	}
	line[k] = 0;
	*value = r.id;
	return 0;
}

static void
ac_report_id(struct bot *b, const struct interaction *it)
{
	reply_choices_matching(b, it, store_report_list_open, report_choice);
}

/* ------------------------------------------------------------ the feature */

static const struct bot_command commands[] = {
        {"view_report",
         "Mark a report as investigating and get a link to it",
         1,
         {{"report_id", "The report's number", OPTION_INTEGER, 1, 1, 0, 0, 0, 0, 1}},
         cmd_view_report,
         ac_report_id},
        {"resolve_report",
         "Close a report and tell the reporter the outcome",
         1,
         {{"report_id", "The report's number", OPTION_INTEGER, 1, 1, 0, 0, 0, 0, 1},
          {"explanation", "The resolution (sent to the reporter)", OPTION_STRING, 1, 0, 0, 1,
           EXPLANATION_MAX, 0, 0}},
         cmd_resolve_report,
         ac_report_id},
};

const struct bot_feature feature_admin_reports = {
        .name = "admin_reports",
        .commands = commands,
        .command_count = sizeof commands / sizeof commands[0],
};
