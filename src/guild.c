/* guild — see guild.h. */
#include "guild.h"

#include <stdio.h>
#include <string.h>

#include "json.h"
#include "jsonkeep.h"
#include "log.h"
#include "mem.h"

/* Room per channel in the name pool: the longest name and its NUL. */
#define GUILD_NAME_SLOT (GUILD_CHANNEL_NAME_MAX + 1)

struct guild {
	uint64_t guild_id;
	int loaded;
	size_t count, capacity, dropped;
	struct guild_channel *channels; /* capacity entries, allocated once */
	/* every name, NUL-terminated, one after another; renames and deletes
	 * leave garbage, squeezed out when the pool is full. capacity names of
	 * the longest length always fit, so a squeeze always makes room, and
	 * the pages past what names use are never touched */
	char *names;
	size_t names_used;
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
	g->names = mem_calloc(capacity, GUILD_NAME_SLOT);
	if (!g->channels || !g->names) {
		mem_free(g->channels);
		mem_free(g->names);
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
	mem_free(g->names);
	mem_free(g);
}

/* Squeezes the garbage out of the name pool: the live names move down in
 * pool order (the lowest first, so none is overwritten before it moves).
 * Quadratic in the channel count, but only when the pool is full, which
 * takes many renames; a GUILD_CREATE empties the pool instead. */
static void
squeeze_names(struct guild *g)
{
	size_t write = 0;
	const char *last = NULL; /* where the last name moved came from */
	for (;;) {
		struct guild_channel *next = NULL;
		for (size_t i = 0; i < g->count; i++) {
			const char *n = g->channels[i].name;
			/* moved names sit below write <= last: never picked again */
			if (n && (!last || n > last) && (!next || n < next->name))
				next = &g->channels[i];
		}
		if (!next)
			break;
		last = next->name;
		size_t len = strlen(next->name) + 1;
		memmove(g->names + write, next->name, len);
		next->name = g->names + write;
		write += len;
	}
	g->names_used = write;
}

/* ch's name becomes name[0..len) (no NUL inside). ch is not in the pool's
 * live set meanwhile, so with at most capacity - 1 others it always fits. */
static void
set_name(struct guild *g, struct guild_channel *ch, const char *name, size_t len)
{
	if (ch->name && strlen(ch->name) == len && memcmp(ch->name, name, len) == 0)
		return; /* unchanged: most CHANNEL_UPDATEs */
	ch->name = NULL;
	if (len + 1 > g->capacity * GUILD_NAME_SLOT - g->names_used)
		squeeze_names(g);
	char *at = g->names + g->names_used;
	memcpy(at, name, len);
	at[len] = '\0';
	g->names_used += len + 1;
	ch->name = at;
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
	if (!name)
		name = "";
	/* a NUL from "\u0000" ends the name, as it would for any reader */
	name_len = strnlen(name, name_len);
	struct guild_channel *ch = find(g, id);
	if (!ch) {
		if (g->count == g->capacity) {
			if (g->dropped++ == 0)
				log_warn("guild", "more than %zu channels; the rest are not cached",
				         g->capacity);
			return 0;
		}
		ch = &g->channels[g->count++];
		ch->name = NULL; /* the slot may hold a deleted entry's */
	}
	ch->id = id;
	ch->parent_id = parent_id;
	ch->type = type < 0 || type > 1000 ? -1 : (int)type;
	ch->position = position < -1000000 || position > 1000000 ? 0 : (int)position;
	if (name_len > GUILD_CHANNEL_NAME_MAX)
		name_len = GUILD_CHANNEL_NAME_MAX; /* longer than Discord allows: keep a prefix */
	set_name(g, ch, name, name_len);
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
		g->names_used = 0;
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
