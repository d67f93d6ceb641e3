/* guild — see guild.h. */
#include "guild.h"

#include <stdio.h>
#include <string.h>

#include "json.h"
#include "jsonkeep.h"
#include "log.h"
#include "mem.h"

struct guild {
	uint64_t guild_id;
	int loaded;
	size_t count, capacity, dropped;
	struct guild_channel *channels; /* capacity entries, allocated once */
};

struct guild *
guild_new(uint64_t guild_id, size_t capacity)
{
	if (capacity == 0)
		capacity = GUILD_CHANNELS_MAX;
	struct guild *g = mem_calloc(1, sizeof *g);
	if (!g)
		return NULL;
	g->channels = mem_calloc(capacity, sizeof *g->channels);
	if (!g->channels) {
		mem_free(g);
		return NULL;
	}
	g->guild_id = guild_id;
	g->capacity = capacity;
	return g;
}

void
guild_free(struct guild *g)
{
	if (!g)
		return;
	mem_free(g->channels);
	mem_free(g);
}

static struct guild_channel *
find(const struct guild *g, uint64_t id)
{
	for (size_t i = 0; i < g->count; i++)
		if (g->channels[i].id == id)
			return &g->channels[i];
	return NULL;
}

/* Reads one channel object into the cache (new or updated). 1 changed,
 * 0 dropped (full), -1 malformed. */
static int
put(struct guild *g, const struct json_value *c)
{
	uint64_t id, parent_id = 0;
	int64_t type = 0, position = 0;
	if (json_path_id(c, "id", &id) < 0 || json_path_int64(c, "type", &type) < 0)
		return -1;
	/* parent_id is null or absent for top-level channels */
	if (json_path_id(c, "parent_id", &parent_id) < 0)
		parent_id = 0;
	if (json_path_int64(c, "position", &position) < 0)
		position = 0;
	size_t name_len = 0;
	const char *name = json_string(json_get(c, "name"), &name_len);
	struct guild_channel *ch = find(g, id);
	if (!ch) {
		if (g->count == g->capacity) {
			if (g->dropped++ == 0)
				log_warn("guild", "more than %zu channels; the rest are not cached",
				         g->capacity);
			return 0;
		}
		ch = &g->channels[g->count++];
	}
	ch->id = id;
	ch->parent_id = parent_id;
	ch->type = type < 0 || type > 1000 ? -1 : (int)type;
	ch->position = position < -1000000 || position > 1000000 ? 0 : (int)position;
	if (!name)
		name_len = 0;
	if (name_len > GUILD_CHANNEL_NAME_MAX)
		name_len = GUILD_CHANNEL_NAME_MAX; /* longer than Discord allows: keep a prefix */
	if (name_len)
		memcpy(ch->name, name, name_len);
	ch->name[name_len] = '\0';
	return 1;
}

/* The guild an event is for: d.guild_id (channel events) or d.id. */
static int
for_us(const struct guild *g, const struct json_value *d, const char *key)
{
	uint64_t id;
	return json_path_id(d, key, &id) == 0 && id == g->guild_id;
}

/* what put() and guild_on_event read, and nothing more (see guild.h) */
static const struct jsonkeep_spec guild_keep_channel[] = {
        {"id", NULL},   {"type", NULL},     {"parent_id", NULL}, {"position", NULL},
        {"name", NULL}, {"guild_id", NULL}, {NULL, NULL}};
static const struct jsonkeep_spec guild_keep_d[] = {
        {"id", NULL}, {"unavailable", NULL}, {"channels", guild_keep_channel}, {NULL, NULL}};
static const struct jsonkeep_spec guild_keep_root[] = {
        {"op", NULL}, {"s", NULL}, {"t", NULL}, {"d", guild_keep_d}, {NULL, NULL}};
static const struct jsonkeep_rule guild_keep_rules[] = {{"GUILD_CREATE", guild_keep_root},
                                                        {NULL, NULL}};

const struct jsonkeep_rule *
guild_gateway_keep(void)
{
	return guild_keep_rules;
}

int
guild_on_event(struct guild *g, const char *event_name, const struct json_value *d)
{
	if (strcmp(event_name, "GUILD_CREATE") == 0) {
		if (!for_us(g, d, "id"))
			return 0;
		/* an unavailable guild (outage) carries no channels: keep ours */
		if (json_bool(json_get(d, "unavailable")) == 1)
			return 0;
		const struct json_value *list = json_get(d, "channels");
		if (json_type(list) != JSON_ARRAY)
			return -1;
		g->count = 0;
		for (const struct json_value *c = json_first(list); c; c = json_next(c))
			put(g, c); /* a malformed entry is skipped, the rest kept */
		g->loaded = 1;
		return 1;
	}
	int create = strcmp(event_name, "CHANNEL_CREATE") == 0;
	int update = strcmp(event_name, "CHANNEL_UPDATE") == 0;
	int delete = strcmp(event_name, "CHANNEL_DELETE") == 0;
	if (!create && !update && !delete)
		return 0;
	if (!for_us(g, d, "guild_id"))
		return 0;
	if (delete) {
		uint64_t id;
		if (json_path_id(d, "id", &id) < 0)
			return -1;
		struct guild_channel *ch = find(g, id);
		if (!ch)
			return 0;
		*ch = g->channels[--g->count]; /* arrival order is not promised */
		return 1;
	}
	return put(g, d);
}

int
guild_loaded(const struct guild *g)
{
	return g->loaded;
}

const struct guild_channel *
guild_channel(const struct guild *g, uint64_t id)
{
	return find(g, id);
}

size_t
guild_channel_count(const struct guild *g)
{
	return g->count;
}

const struct guild_channel *
guild_channel_at(const struct guild *g, size_t i)
{
	return i < g->count ? &g->channels[i] : NULL;
}

size_t
guild_count_in(const struct guild *g, uint64_t parent_id)
{
	size_t n = 0;
	for (size_t i = 0; i < g->count; i++)
		if (g->channels[i].parent_id == parent_id)
			n++;
	return n;
}

static int
before(const struct guild_channel *a, const struct guild_channel *b)
{
	if (a->position != b->position)
		return a->position < b->position;
	return a->id < b->id;
}

size_t
guild_list_in(const struct guild *g, uint64_t parent_id, const struct guild_channel **out,
              size_t max)
{
	size_t n = 0;
	for (size_t i = 0; i < g->count; i++) {
		const struct guild_channel *c = &g->channels[i];
		if (c->parent_id != parent_id)
			continue;
		/* insertion into the first max in order: a category is small */
		size_t filled = n < max ? n : max;
		if (filled < max || (max > 0 && before(c, out[max - 1]))) {
			size_t k = filled < max ? filled : max - 1;
			while (k > 0 && before(c, out[k - 1])) {
				out[k] = out[k - 1];
				k--;
			}
			out[k] = c;
		}
		n++;
	}
	return n;
}

size_t
guild_dropped(const struct guild *g)
{
	return g->dropped;
}
