/* commands — the slash commands Agora registers (spec 7, Command
 * Reference): names, descriptions, typed options and who may use them.
 * One table, so registration and dispatch cannot disagree. The handlers
 * live in cmd_*.c, one file per command group as in the spec's cogs. */
#include <stdio.h>

#include "bot.h"

/* A command whose feature is not built yet answers honestly instead of
 * leaving the user's client waiting. */
static void
cmd_not_yet(struct bot *b, const struct interaction *it)
{
	char text[160];
	snprintf(text, sizeof text, "/%s is not available yet in this version of Agora.", it->name);
	bot_reply(b, it, text, NULL, 1);
}

/* Bounds on user text: long enough for any honest proposal or report,
 * short enough that the admin notification embed (description 4096)
 * holds it whole. */
#define IDEA_MAX        1000
#define REASON_MAX      1000
#define DESCRIPTION_MAX 2000

const struct bot_command bot_commands[] = {
        /* 7.1 user commands (cogs/proposals.py, cogs/user_reports.py) */
        {"propose_channel",
         "Propose a new channel for the server",
         0,
         {{"idea_text", "What the channel would be about", OPTION_STRING, 1, 0, 0, 3, IDEA_MAX, 0}},
         cmd_not_yet},
        {"propose_emoji",
         "Propose a new emoji (PNG, JPEG or GIF, square, 32-256 px, up to 256 KB)",
         0,
         {{"name", "Emoji name: 2-32 letters, digits or underscores", OPTION_STRING, 1, 0, 0, 2, 32,
           0},
          {"file", "The emoji image", OPTION_ATTACHMENT, 1, 0, 0, 0, 0, 0}},
         cmd_not_yet},
        {"report",
         "Send a confidential report to the admin team",
         0,
         {{"description", "What happened", OPTION_STRING, 1, 0, 0, 3, DESCRIPTION_MAX, 0},
          {"file", "An optional screenshot", OPTION_ATTACHMENT, 0, 0, 0, 0, 0, 0}},
         cmd_report},
        /* 7.2 admin commands (cogs/admin_queue.py, admin_reports.py,
         * admin_manage.py, core.py) */
        {"approve_proposal",
         "Approve a pending channel or emoji proposal",
         1,
         {{"proposal_id", "The proposal's number", OPTION_INTEGER, 1, 1, 0, 0, 0, 0}},
         cmd_not_yet},
        {"reject_proposal",
         "Reject a pending proposal and tell the proposer why",
         1,
         {{"proposal_id", "The proposal's number", OPTION_INTEGER, 1, 1, 0, 0, 0, 0},
          {"reason", "Why it is rejected (sent to the proposer)", OPTION_STRING, 1, 0, 0, 1,
           REASON_MAX, 0}},
         cmd_not_yet},
        {"view_report",
         "Mark a report as investigating and get a link to it",
         1,
         {{"report_id", "The report's number", OPTION_INTEGER, 1, 1, 0, 0, 0, 0}},
         cmd_view_report},
        {"resolve_report",
         "Close a report and tell the reporter the outcome",
         1,
         {{"report_id", "The report's number", OPTION_INTEGER, 1, 1, 0, 0, 0, 0},
          {"explanation", "The resolution (sent to the reporter)", OPTION_STRING, 1, 0, 0, 1,
           REASON_MAX, 0}},
         cmd_resolve_report},
        {"promote_channel",
         "Move a proposed channel to the permanent category",
         1,
         {{"channel", "The channel to promote", OPTION_CHANNEL, 1, 0, 0, 0, 0, 1}},
         cmd_not_yet},
        {"recalculate_stats",
         "Rebuild the activity statistics from message history",
         1,
         {{"months_limit", "How many months back to read", OPTION_INTEGER, 1, 1, -1, 0, 0, 0}},
         cmd_not_yet},
        {"refresh_channels",
         "Re-scan the proposed and permanent categories",
         1,
         {{0}},
         cmd_not_yet},
        {"status", "Check the bot's database and cache connections", 1, {{0}}, cmd_status},
};

const size_t bot_command_count = sizeof bot_commands / sizeof bot_commands[0];

/* Buttons and forms, by custom_id prefix. */
const struct bot_component bot_components[] = {
        {"status:", 1, cmd_status_refresh},
};

const size_t bot_component_count = sizeof bot_components / sizeof bot_components[0];
