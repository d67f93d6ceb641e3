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
#include "json.h"
#include "log.h"
#include "mem.h"
#include "reply.h"
#include "store.h"

enum admin_state {
	ADMIN_GET,    /* read the report */
	ADMIN_DM,     /* tell the reporter */
	ADMIN_STATUS, /* change the status */
	ADMIN_REPLY,  /* answer the admin, refresh the queue, done */
};

struct admin_job {
	struct bot *bot;
	enum admin_state state;
	int resolve;           /* /resolve_report, else /view_report */
	struct interaction it; /* a copy: the event is gone when the job ends */
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

/* Copies what the job needs from a report row reply (0 or 1 row). */
static void
read_row(struct admin_job *j, const struct db_reply *reply)
{
	struct store_report r;
	j->found =
	        reply->error == NULL && db_rows(reply) == 1 && store_report_row(reply, 0, &r) == 0;
	if (!j->found)
		return;
	j->reporter = r.user_id;
	j->notification_id = r.notification_message_id;
	snprintf(j->status, sizeof j->status, "%s", r.status);
}

static void
on_got(void *data, const struct db_reply *reply)
{
	struct admin_job *j = data;
	if (bot_closing(j->bot)) {
		job_free(j);
		return;
	}
	if (reply->error)
		snprintf(j->db_error, sizeof j->db_error, "%s", reply->error);
	read_row(j, reply);
	if (!j->found || strcmp(j->status, "resolved") == 0)
		j->state = ADMIN_REPLY;
	else if (j->resolve)
		j->state = ADMIN_STATUS;
	else if (strcmp(j->status, "pending") == 0)
		j->state = ADMIN_DM;
	else
		j->state = ADMIN_REPLY; /* investigating already: the link again */
	step(j);
}

static void
on_dm(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	struct admin_job *j = data;
	if (bot_closing(j->bot)) {
		job_free(j);
		return;
	}
	if (error) {
		j->dm_failed = 1;
		snprintf(j->dm_error, sizeof j->dm_error, "%s", error);
		log_warn("reports", "report #%lld: DM to user %llu failed: %s (HTTP %d)",
		         (long long)j->id, (unsigned long long)j->reporter, error, status);
	}
	/* /view_report changes the status after the DM; /resolve_report did it before */
	j->state = j->resolve ? ADMIN_REPLY : ADMIN_STATUS;
	step(j);
}

static void
on_status_set(void *data, const struct db_reply *reply)
{
	struct admin_job *j = data;
	if (bot_closing(j->bot)) {
		job_free(j);
		return;
	}
	if (reply->error) {
		snprintf(j->db_error, sizeof j->db_error, "%s", reply->error);
		log_error("reports", "report #%lld: status change failed: %s", (long long)j->id,
		          reply->error);
		j->state = ADMIN_REPLY;
	} else if (db_rows(reply) == 0) {
		/* resolved (or deleted) meanwhile by someone else */
		snprintf(j->status, sizeof j->status, "resolved");
		j->state = ADMIN_REPLY;
	} else {
		j->status_changed = 1;
		log_info("reports", "report #%lld is now %s", (long long)j->id,
		         j->resolve ? "resolved" : "investigating");
		j->state = j->resolve ? ADMIN_DM : ADMIN_REPLY;
	}
	step(j);
}

static void
dm_reporter(struct admin_job *j)
{
	char text[DISCORD_CONTENT_MAX + 1];
	if (j->resolve)
		snprintf(text, sizeof text, "Your report has been resolved. %s", j->explanation);
	else
		snprintf(text, sizeof text, "Your report is being investigated.");
	reply_dm(j->bot, j->reporter, text, NULL, on_dm, j);
}

/* The admin's answer, from what the job found and did. */
static void
reply(struct admin_job *j)
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

/* Each case issues one asynchronous call and returns; its callback records
 * the outcome, sets the next state and calls step again. */
static void
step(struct admin_job *j)
{
	struct db *db = bot_db(j->bot);
	switch (j->state) {
	case ADMIN_GET:
		if (store_report_get(db, j->id, on_got, j) < 0) {
			struct db_reply failed = {.error = db_error(db), .sqlstate = ""};
			on_got(j, &failed);
		}
		return;
	case ADMIN_DM:
		dm_reporter(j);
		return;
	case ADMIN_STATUS:
		if (store_report_set_status(db, j->id, j->resolve ? "resolved" : "investigating",
		                            on_status_set, j) < 0) {
			struct db_reply failed = {.error = db_error(db), .sqlstate = ""};
			on_status_set(j, &failed);
		}
		return;
	case ADMIN_REPLY:
		reply(j);
		if (j->resolve && j->status_changed)
			embeds_refresh(j->bot, EMBED_REPORT_QUEUE);
		job_free(j);
		return;
	}
}

static void
start(struct bot *b, const struct interaction *it, int resolve)
{
	int64_t id;
	if (interaction_option_int(it, "report_id", &id) < 0 || id < 1) {
		reply_message(b, it, "Please give a report number.", NULL, 1);
		return;
	}
	const char *explanation = resolve ? interaction_option_str(it, "explanation") : NULL;
	if (resolve && (!explanation || !*explanation)) {
		reply_message(b, it, "Please give an explanation for the reporter.", NULL, 1);
		return;
	}
	struct admin_job *j = mem_calloc(1, sizeof *j);
	if (j && explanation)
		j->explanation = mem_strdup(explanation);
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
	j->state = ADMIN_GET;
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

/* ------------------------------------------------------------ the feature */

/* An explanation sent to the reporter: bounded like a rejection reason. */
#define EXPLANATION_MAX 1000

static const struct bot_command commands[] = {
        {"view_report",
         "Mark a report as investigating and get a link to it",
         1,
         {{"report_id", "The report's number", OPTION_INTEGER, 1, 1, 0, 0, 0, 0, 0}},
         cmd_view_report,
         NULL},
        {"resolve_report",
         "Close a report and tell the reporter the outcome",
         1,
         {{"report_id", "The report's number", OPTION_INTEGER, 1, 1, 0, 0, 0, 0, 0},
          {"explanation", "The resolution (sent to the reporter)", OPTION_STRING, 1, 0, 0, 1,
           EXPLANATION_MAX, 0, 0}},
         cmd_resolve_report,
         NULL},
};

const struct bot_feature feature_admin_reports = {
        .name = "admin_reports",
        .commands = commands,
        .command_count = sizeof commands / sizeof commands[0],
};
