/* guild — a cache of one guild's channels, fed by gateway events, so the
 * features can count a category's channels (spec 6.1's limit) and list
 * them (/refresh_channels) without a REST call.
 *
 * Fed by: GUILD_CREATE (d.channels: replaces the whole set),
 * CHANNEL_CREATE, CHANNEL_UPDATE, CHANNEL_DELETE (docs: Topics, Gateway
 * Events, "Guild Create", "Channel Create/Update/Delete"). Events for
 * other guilds, and threads (they arrive through other events), are
 * ignored. Keeps per channel: id, type, name, parent_id, position.
 *
 * Bounded: at most `capacity` channels (Discord allows 500 per guild), all
 * allocated by guild_new, so no event allocates. Names live in one pool
 * sized for every channel at the longest name, of which only what names
 * really use is ever touched (500 channels: about 24 KB resident, not
 * 216 KB as with a fixed name field per entry). A channel past the cap
 * is dropped and counted (guild_dropped). Lookups are linear: a few
 * hundred entries compared by integer, once per event. */
#ifndef AGORA_GUILD_H
#define AGORA_GUILD_H

#include <stddef.h>
#include <stdint.h>

struct guild;
struct json_value;
struct jsonkeep_rule;

/* Discord's limit of channels per guild (categories included). */
#define GUILD_CHANNELS_MAX 500
/* A channel name holds at most 100 characters, each up to 4 bytes in
 * UTF-8. */
#define GUILD_CHANNEL_NAME_MAX 400

/* docs: Resources, Channel, "Channel Types" (the ones the features use). */
enum {
	GUILD_CHANNEL_TEXT = 0,
	GUILD_CHANNEL_VOICE = 2,
	GUILD_CHANNEL_CATEGORY = 4,
	GUILD_CHANNEL_ANNOUNCEMENT = 5,
	GUILD_CHANNEL_FORUM = 15,
};

struct guild_channel {
	uint64_t id;
	uint64_t parent_id; /* the category; 0: none */
	int type;           /* GUILD_CHANNEL_* or another Discord type */
	int position;
	/* NUL-terminated, at most GUILD_CHANNEL_NAME_MAX bytes; in the
	 * guild's name pool (names take their length, not the maximum) */
	const char *name;
};

/* A cache for guild_id, holding up to capacity channels (0: the default,
 * GUILD_CHANNELS_MAX). NULL when out of memory. */
struct guild *guild_new(uint64_t guild_id, size_t capacity);
void guild_free(struct guild *g);

/* Takes in a gateway dispatch (name, d). Returns 1 if it changed the
 * cache, 0 if the event is not one of the four or not for this guild, -1
 * when it is one of them but malformed (no id; the cache is unchanged). */
int guild_on_event(struct guild *g, const char *event_name, const struct json_value *d);

/* Exactly what guild_on_event reads of a GUILD_CREATE (op, s, t; d.id,
 * d.unavailable, d.channels[].{id, type, parent_id, position, name,
 * guild_id}), as keep rules for the gateway (gateway_options.keep): a big
 * GUILD_CREATE (members, roles, topics: a MiB) is pruned to this as it
 * streams and never held whole. Nothing else reads GUILD_CREATE; a
 * feature that starts to must add its fields here. */
const struct jsonkeep_rule *guild_gateway_keep(void);

/* 1 once a GUILD_CREATE for this guild arrived. */
int guild_loaded(const struct guild *g);
/* The channel with this id, or NULL. Borrowed until the next event. */
const struct guild_channel *guild_channel(const struct guild *g, uint64_t id);
/* How many channels there are, and the i-th (order: arrival, not
 * position). */
size_t guild_channel_count(const struct guild *g);
const struct guild_channel *guild_channel_at(const struct guild *g, size_t i);
/* How many channels have parent_id as their category. */
size_t guild_count_in(const struct guild *g, uint64_t parent_id);
/* Writes up to max of them into out (borrowed pointers), sorted by
 * position then id (Discord's own order); returns how many there are
 * in all (may exceed max). */
size_t guild_list_in(const struct guild *g, uint64_t parent_id, const struct guild_channel **out,
                     size_t max);
/* Channels dropped because the cache was full (since guild_new). */
size_t guild_dropped(const struct guild *g);

#endif
