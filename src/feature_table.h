/* feature_table — the rows of the feature table (commands.c). Each feature
 * file defines its one `const struct bot_feature feature_<name>` and
 * keeps everything else static; nothing but commands.c reads these
 * names, so features never reach into each other (what two of them
 * share lives a layer down: reply, embeds, tracked, guild). */
#ifndef AGORA_FEATURE_TABLE_H
#define AGORA_FEATURE_TABLE_H

#include "bot.h"

extern const struct bot_feature feature_core;          /* cmd_core.c: /status, health */
extern const struct bot_feature feature_user_reports;  /* cmd_user_reports.c: /report, queue */
extern const struct bot_feature feature_admin_reports; /* cmd_admin_reports.c */
extern const struct bot_feature feature_activity;      /* activity.c: message counting */
extern const struct bot_feature feature_admin_manage;  /* cmd_admin_manage.c: channel lifecycle */

extern const struct bot_feature feature_proposals;   /* cmd_proposals.c: /propose_*, queue */
extern const struct bot_feature feature_admin_queue; /* cmd_admin_queue.c: approve, reject */
#endif
