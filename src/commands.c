/* commands — the feature table: every feature Agora runs, and through
 * them the slash commands it registers (spec 7, Command Reference) and
 * the buttons and forms it handles. One table, so registration and
 * dispatch cannot disagree. Each feature's commands live in its own file
 * (cmd_*.c, activity.c) next to their handlers; adding a feature adds its
 * line here and in feature_table.h. */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "config.h"
#include "feature_table.h"
#include "json.h"
#include "reply.h"

/* ------------------------------------------------------------ the table */

const struct bot_feature *const bot_features[] = {
        &feature_core,      &feature_user_reports, &feature_admin_reports, &feature_activity,
        &feature_proposals, &feature_admin_queue,  &feature_admin_manage,
};

const size_t bot_feature_count = sizeof bot_features / sizeof bot_features[0];

/* ------------------------------------------------------------ lookups */

const struct bot_command *
bot_command_find(const char *name)
{
	for (size_t f = 0; f < bot_feature_count; f++)
		for (size_t i = 0; i < bot_features[f]->command_count; i++)
			if (strcmp(bot_features[f]->commands[i].name, name) == 0)
				return &bot_features[f]->commands[i];
	return NULL;
}

/* The handler whose prefix starts custom_id ("status:refresh"). */
const struct bot_component *
bot_component_find(const char *custom_id)
{
	for (size_t f = 0; f < bot_feature_count; f++)
		for (size_t i = 0; i < bot_features[f]->component_count; i++) {
			const struct bot_component *c = &bot_features[f]->components[i];
			if (strncmp(custom_id, c->prefix, strlen(c->prefix)) == 0)
				return c;
		}
	return NULL;
}

/* ------------------------------------------------------------ registration */

static void
write_option(struct json_writer *w, const struct config *cfg, const struct bot_option *o)
{
	json_write_object_begin(w);
	json_write_key_int64(w, "type", o->type);
	json_write_key_string(w, "name", o->name);
	json_write_key_string(w, "description", o->description);
	json_write_key_bool(w, "required", o->required);
	if (o->min_value)
		json_write_key_int64(w, "min_value", o->min_value);
	if (o->max_value == -1)
		json_write_key_int64(w, "max_value", cfg->stats_recalculation_month_limit);
	else if (o->max_value)
		json_write_key_int64(w, "max_value", o->max_value);
	if (o->min_length)
		json_write_key_int64(w, "min_length", o->min_length);
	if (o->max_length)
		json_write_key_int64(w, "max_length", o->max_length);
	if (o->text_channels) {
		json_write_key(w, "channel_types");
		json_write_array_begin(w);
		json_write_int64(w, 0); /* GUILD_TEXT */
		json_write_array_end(w);
	}
	if (o->autocomplete)
		json_write_key_bool(w, "autocomplete", 1);
	json_write_object_end(w);
}

int
bot_commands_json(const struct config *cfg, struct buf *out)
{
	struct json_writer w;
	buf_reset(out);
	json_writer_init(&w, out);
	json_write_array_begin(&w);
	for (size_t f = 0; f < bot_feature_count; f++)
		for (size_t i = 0; i < bot_features[f]->command_count; i++) {
			const struct bot_command *c = &bot_features[f]->commands[i];
			json_write_object_begin(&w);
			json_write_key_string(&w, "name", c->name);
			json_write_key_string(&w, "description", c->description);
			json_write_key_int64(&w, "type", 1); /* CHAT_INPUT */
			if (c->admin) {
				/* hidden from members without Manage Server by
				 * default; the run-time check still applies */
				json_write_key_string(&w, "default_member_permissions", "32");
			}
			json_write_key(&w, "options");
			json_write_array_begin(&w);
			for (size_t k = 0; k < BOT_OPTIONS_MAX && c->options[k].name; k++)
				write_option(&w, cfg, &c->options[k]);
			json_write_array_end(&w);
			json_write_object_end(&w);
		}
	json_write_array_end(&w);
	return json_writer_finish(&w);
}
