/* discord — see discord.h. */
#include "discord.h"

#include <stdio.h>
#include <string.h>

#include "json.h"

/* ------------------------------------------------------------ reading */

static int
copy_str(char *out, size_t cap, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (!s || n >= cap)
		return -1;
	memcpy(out, s, n + 1);
	return 0;
}

int
interaction_parse(const struct json_value *d, struct interaction *it, char *err, size_t err_len)
{
	memset(it, 0, sizeof *it);
	int64_t type;
	if (json_path_id(d, "id", &it->id) < 0 || json_path_int64(d, "type", &type) < 0) {
		snprintf(err, err_len, "interaction without id or type");
		return -1;
	}
	it->type = (int)type;
	if (copy_str(it->token, sizeof it->token, json_path_str(d, "token")) < 0) {
		snprintf(err, err_len, "interaction %llu without a usable token",
		         (unsigned long long)it->id);
		return -1;
	}
	json_path_id(d, "application_id", &it->application_id);
	json_path_id(d, "guild_id", &it->guild_id);
	json_path_id(d, "channel_id", &it->channel_id);
	if (json_path_id(d, "member.user.id", &it->user_id) < 0)
		json_path_id(d, "user.id", &it->user_id);
	static const char *const names[] = {"member.nick", "member.user.global_name",
	                                    "member.user.username", "user.global_name",
	                                    "user.username"};
	for (size_t i = 0; i < sizeof names / sizeof names[0] && !it->user_name[0]; i++) {
		const char *n = json_path_str(d, names[i]);
		/* a name too long for the field is left out, not cut mid-character */
		if (n && copy_str(it->user_name, sizeof it->user_name, n) < 0)
			it->user_name[0] = 0;
	}
	/* permissions arrive as a decimal string of a 64-bit set */
	json_path_id(d, "member.permissions", &it->permissions);
	const struct json_value *roles = json_path(d, "member.roles");
	for (const struct json_value *r = json_first(roles);
	     r && it->role_count < DISCORD_ROLES_MAX; r = json_next(r)) {
		uint64_t id;
		if (json_id(r, &id) == 0)
			it->roles[it->role_count++] = id;
	}
	it->data = json_get(d, "data");
	const char *name = it->type == INTERACTION_COMMAND || it->type == INTERACTION_AUTOCOMPLETE
	                           ? json_path_str(it->data, "name")
	                           : json_path_str(it->data, "custom_id");
	if (name && copy_str(it->name, sizeof it->name, name) < 0) {
		snprintf(err, err_len, "interaction %llu: name or custom_id too long",
		         (unsigned long long)it->id);
		return -1;
	}
	return 0;
}

int
interaction_is_admin(const struct interaction *it, uint64_t admin_role_id)
{
	if (it->permissions & (DISCORD_PERM_ADMINISTRATOR | DISCORD_PERM_MANAGE_GUILD))
		return 1;
	if (admin_role_id)
		for (size_t i = 0; i < it->role_count; i++)
			if (it->roles[i] == admin_role_id)
				return 1;
	return 0;
}

const struct json_value *
interaction_option(const struct interaction *it, const char *name)
{
	for (const struct json_value *o = json_first(json_get(it->data, "options")); o;
	     o = json_next(o)) {
		const char *n = json_path_str(o, "name");
		if (n && strcmp(n, name) == 0)
			return json_get(o, "value");
	}
	return NULL;
}

const char *
interaction_option_str(const struct interaction *it, const char *name)
{
	return json_string(interaction_option(it, name), NULL);
}

int
interaction_option_int(const struct interaction *it, const char *name, int64_t *out)
{
	return json_int64(interaction_option(it, name), out);
}

int
interaction_option_id(const struct interaction *it, const char *name, uint64_t *out)
{
	return json_id(interaction_option(it, name), out);
}

int
interaction_option_row_id(const struct interaction *it, const char *name, int32_t *out)
{
	const struct json_value *v = interaction_option(it, name);
	int64_t n;
	switch (json_type(v)) {
	case JSON_NUMBER:
		/* json_int64 refuses fractions, exponents and what does not fit */
		if (json_int64(v, &n) < 0)
			return DISCORD_OPTION_INVALID;
		break;
	case JSON_STRING: {
		size_t len;
		const char *s = json_string(v, &len);
		if (len == 0 || len > 10)
			return DISCORD_OPTION_INVALID;
		n = 0;
		for (size_t i = 0; i < len; i++) {
			if (s[i] < '0' || s[i] > '9')
				return DISCORD_OPTION_INVALID;
			n = n * 10 + (s[i] - '0'); /* 10 digits: no overflow */
		}
		break;
	}
	default:
		return DISCORD_OPTION_ABSENT;
	}
	if (n < 1 || n > DISCORD_ROW_ID_MAX)
		return DISCORD_OPTION_INVALID;
	*out = (int32_t)n;
	return DISCORD_OPTION_OK;
}

/* OK, INVALID (a NUL inside) or ABSENT for a string value v. */
static int
checked_text(const struct json_value *v, const char **out, size_t *len)
{
	size_t n = 0;
	const char *s = json_string(v, &n);
	*out = s;
	*len = s ? n : 0;
	if (!s)
		return DISCORD_OPTION_ABSENT;
	return memchr(s, '\0', n) ? DISCORD_OPTION_INVALID : DISCORD_OPTION_OK;
}

int
interaction_option_text(const struct interaction *it, const char *name, const char **out,
                        size_t *len)
{
	return checked_text(interaction_option(it, name), out, len);
}

const struct json_value *
interaction_attachment(const struct interaction *it, const char *name)
{
	const char *id = json_string(interaction_option(it, name), NULL);
	if (!id)
		return NULL;
	/* data.resolved.attachments is keyed by the attachment's id */
	return json_get(json_path(it->data, "resolved.attachments"), id);
}

/* Looks for a text input named custom_id in one component. */
static const struct json_value *
input_value(const struct json_value *c, const char *custom_id)
{
	const char *id = json_path_str(c, "custom_id");
	const struct json_value *v = json_get(c, "value");
	if (id && strcmp(id, custom_id) == 0 && json_type(v) == JSON_STRING)
		return v;
	return NULL;
}

/* The value of the modal's text input custom_id, in either shape. */
static const struct json_value *
modal_value(const struct interaction *it, const char *custom_id)
{
	for (const struct json_value *c = json_first(json_get(it->data, "components")); c;
	     c = json_next(c)) {
		int64_t type = 0;
		json_path_int64(c, "type", &type);
		const struct json_value *v = NULL;
		if (type == 1) {
			/* action row: {type 1, components: [{type 4, custom_id, value}]} */
			for (const struct json_value *in = json_first(json_get(c, "components"));
			     in && !v; in = json_next(in))
				v = input_value(in, custom_id);
		} else if (type == 18) {
			/* label: {type 18, component: {type 4, custom_id, value}} */
			v = input_value(json_get(c, "component"), custom_id);
		} else {
			v = input_value(c, custom_id);
		}
		if (v)
			return v;
	}
	return NULL;
}

const char *
interaction_modal_value(const struct interaction *it, const char *custom_id)
{
	return json_string(modal_value(it, custom_id), NULL);
}

const char *
interaction_focused_text(const struct interaction *it)
{
	const struct json_value *opts = json_get(it->data, "options");
	for (const struct json_value *o = json_first(opts); o; o = json_next(o))
		if (json_bool(json_get(o, "focused")) == 1) {
			const char *s = json_string(json_get(o, "value"), NULL);
			return s ? s : "";
		}
	return "";
}

int
interaction_modal_text(const struct interaction *it, const char *custom_id, const char **out,
                       size_t *len)
{
	return checked_text(modal_value(it, custom_id), out, len);
}

/* ------------------------------------------------------------ lengths */

/* Bytes in the UTF-8 sequence starting with c (1 for stray bytes). */
static size_t
utf8_seq_len(unsigned char c)
{
	if (c >= 0xf0 && c < 0xf8)
		return 4;
	if (c >= 0xe0)
		return c < 0xf0 ? 3 : 1;
	if (c >= 0xc0)
		return 2;
	return 1;
}

size_t
discord_text_length(const char *s, size_t len)
{
	size_t units = 0;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len((unsigned char)s[i]);
		if (i + n > len)
			n = len - i;
		units += n == 4 ? 2 : 1; /* astral characters are surrogate pairs */
		i += n;
	}
	return units;
}

size_t
discord_text_prefix(const char *s, size_t len, size_t max)
{
	size_t units = 0, i = 0;
	while (i < len) {
		size_t n = utf8_seq_len((unsigned char)s[i]);
		if (i + n > len)
			n = len - i;
		size_t u = n == 4 ? 2 : 1;
		if (units + u > max)
			break;
		units += u;
		i += n;
	}
	return i;
}

/* Writes key: s cut to max units ("…" marks a cut); returns units used. */
static size_t
write_cut(struct json_writer *w, const char *key, const char *s, size_t max)
{
	static const char ellipsis[] = "\xe2\x80\xa6"; /* U+2026, one unit */
	size_t len = strlen(s);
	size_t units = discord_text_length(s, len);
	json_write_key(w, key);
	if (units <= max) {
		json_write_stringn(w, s, len);
		return units;
	}
	if (max == 0) {
		json_write_string(w, "");
		return 0;
	}
	size_t keep = discord_text_prefix(s, len, max - 1);
	char tmp[DISCORD_EMBED_DESC_MAX * 4 + 8];
	if (keep > sizeof tmp - sizeof ellipsis)
		keep = sizeof tmp - sizeof ellipsis;
	memcpy(tmp, s, keep);
	memcpy(tmp + keep, ellipsis, sizeof ellipsis);
	json_write_string(w, tmp);
	return max;
}

/* ------------------------------------------------------------ writing */

void
discord_write_embed(struct json_writer *w, const struct discord_embed *e)
{
	/* the total budget is spent in the order Discord shows the parts */
	size_t budget = DISCORD_EMBED_TOTAL_MAX;
	json_write_object_begin(w);
	if (e->title)
		budget -= write_cut(w, "title", e->title, DISCORD_EMBED_TITLE_MAX);
	if (e->url)
		json_write_key_string(w, "url", e->url);
	if (e->color)
		json_write_key_int64(w, "color", e->color & 0xffffff);
	/* fields and footer first take what they need, so a long description
	 * is what gets cut */
	size_t fields = e->field_count < DISCORD_EMBED_FIELDS_MAX ? e->field_count
	                                                          : DISCORD_EMBED_FIELDS_MAX;
	size_t reserved = 0;
	for (size_t i = 0; i < fields; i++) {
		const char *n = e->fields[i].name ? e->fields[i].name : "";
		const char *v = e->fields[i].value ? e->fields[i].value : "";
		size_t nu = discord_text_length(n, strlen(n));
		size_t vu = discord_text_length(v, strlen(v));
		reserved += (nu < DISCORD_FIELD_NAME_MAX ? nu : DISCORD_FIELD_NAME_MAX) +
		            (vu < DISCORD_FIELD_VALUE_MAX ? vu : DISCORD_FIELD_VALUE_MAX);
	}
	if (e->footer) {
		size_t fu = discord_text_length(e->footer, strlen(e->footer));
		reserved += fu < DISCORD_FOOTER_MAX ? fu : DISCORD_FOOTER_MAX;
	}
	if (e->description) {
		size_t room = budget > reserved ? budget - reserved : 0;
		size_t max = room < DISCORD_EMBED_DESC_MAX ? room : DISCORD_EMBED_DESC_MAX;
		budget -= write_cut(w, "description", e->description, max);
	}
	if (fields) {
		json_write_key(w, "fields");
		json_write_array_begin(w);
		for (size_t i = 0; i < fields && budget > 2; i++) {
			/* Discord requires a non-empty name and value */
			const char *n = e->fields[i].name && *e->fields[i].name ? e->fields[i].name
			                                                        : "\xe2\x80\x8b";
			const char *v = e->fields[i].value && *e->fields[i].value
			                        ? e->fields[i].value
			                        : "\xe2\x80\x8b";
			json_write_object_begin(w);
			size_t nmax = budget - 1 < DISCORD_FIELD_NAME_MAX ? budget - 1
			                                                  : DISCORD_FIELD_NAME_MAX;
			budget -= write_cut(w, "name", n, nmax);
			size_t vmax =
			        budget < DISCORD_FIELD_VALUE_MAX ? budget : DISCORD_FIELD_VALUE_MAX;
			budget -= write_cut(w, "value", v, vmax ? vmax : 1);
			if (e->fields[i].inline_field)
				json_write_key_bool(w, "inline", 1);
			json_write_object_end(w);
		}
		json_write_array_end(w);
	}
	if (e->footer && budget > 0) {
		json_write_key(w, "footer");
		json_write_object_begin(w);
		write_cut(w, "text", e->footer,
		          budget < DISCORD_FOOTER_MAX ? budget : DISCORD_FOOTER_MAX);
		json_write_object_end(w);
	}
	json_write_object_end(w);
}

void
discord_write_message_fields(struct json_writer *w, const char *content,
                             const struct discord_embed *embed, int ephemeral,
                             const char *components_json)
{
	if (content)
		write_cut(w, "content", content, DISCORD_CONTENT_MAX);
	if (embed) {
		json_write_key(w, "embeds");
		json_write_array_begin(w);
		discord_write_embed(w, embed);
		json_write_array_end(w);
	}
	if (ephemeral)
		json_write_key_int64(w, "flags", DISCORD_FLAG_EPHEMERAL);
	if (components_json) {
		json_write_key(w, "components");
		json_write_raw(w, components_json, strlen(components_json));
	}
	/* never ping anyone: no @everyone, no roles, no users */
	json_write_key(w, "allowed_mentions");
	json_write_object_begin(w);
	json_write_key(w, "parse");
	json_write_array_begin(w);
	json_write_array_end(w);
	json_write_object_end(w);
}

int
discord_message_json(struct buf *out, const char *content, const struct discord_embed *embed,
                     int ephemeral, const char *components_json)
{
	struct json_writer w;
	buf_reset(out);
	json_writer_init(&w, out);
	json_write_object_begin(&w);
	discord_write_message_fields(&w, content, embed, ephemeral, components_json);
	json_write_object_end(&w);
	return json_writer_finish(&w);
}

int
discord_callback_json(struct buf *out, int type, const char *content,
                      const struct discord_embed *embed, int ephemeral, const char *components_json)
{
	struct json_writer w;
	buf_reset(out);
	json_writer_init(&w, out);
	json_write_object_begin(&w);
	json_write_key_int64(&w, "type", type);
	json_write_key(&w, "data");
	json_write_object_begin(&w);
	if (type == CALLBACK_DEFER || type == CALLBACK_DEFER_UPDATE) {
		if (ephemeral)
			json_write_key_int64(&w, "flags", DISCORD_FLAG_EPHEMERAL);
	} else {
		discord_write_message_fields(&w, content, embed, ephemeral, components_json);
	}
	json_write_object_end(&w);
	json_write_object_end(&w);
	return json_writer_finish(&w);
}

/* ------------------------------------------------------------ messages */

const char *const discord_message_head_paths[DISCORD_MESSAGE_HEAD_PATHS + 1] = {
        "id", "channel_id", "guild_id", "author.bot", "author.id", NULL,
};

int
discord_message_head_read(const struct json_span *v, struct discord_message_head *m)
{
	memset(m, 0, sizeof *m);
	if (json_span_id(v[0], &m->id) < 0 || json_span_id(v[1], &m->channel_id) < 0)
		return -1;
	json_span_id(v[2], &m->guild_id); /* absent or null (a DM): 0 */
	/* json_bool(json_path(d, "author.bot")) == 1, as the DOM path read it */
	m->author_bot = json_span_bool(v[3]) == 1;
	json_span_id(v[4], &m->author_id);
	return 0;
}

int
discord_message_head_scan(const char *text, size_t len, struct discord_message_head *m)
{
	struct json_scan_path p[DISCORD_MESSAGE_HEAD_PATHS];
	struct json_span v[DISCORD_MESSAGE_HEAD_PATHS];
	for (size_t i = 0; i < DISCORD_MESSAGE_HEAD_PATHS; i++)
		p[i].path = discord_message_head_paths[i];
	if (json_scan_paths(text, len, p, DISCORD_MESSAGE_HEAD_PATHS) < 0) {
		memset(m, 0, sizeof *m);
		return -1;
	}
	for (size_t i = 0; i < DISCORD_MESSAGE_HEAD_PATHS; i++)
		v[i] = p[i].value;
	return discord_message_head_read(v, m);
}
