/* discord — the Discord objects Agora reads and writes, as data: no I/O.
 *
 * Reading: an INTERACTION_CREATE's `d` into a struct interaction (ids, the
 * token, who asked, their permissions and roles, the command name or the
 * component's custom_id), with lookups of command options, resolved
 * attachments and modal values — in both shapes Discord sends a modal's
 * text inputs: inside action rows (type 1) and inside Label components
 * (type 18) (docs: Interactions, "Receiving and Responding"; Components).
 *
 * Writing: message and interaction-response bodies with embeds, cut to
 * Discord's limits (docs: Resources, Message, "Embed Limits") so a long
 * user text can never make Discord refuse a message, and always with
 * `allowed_mentions: {"parse": []}` so the bot never pings @everyone, roles
 * or users by accident (CONTRACT.md).
 *
 * Lengths are Discord's: UTF-16 code units, as JavaScript counts them. */
#ifndef AGORA_DISCORD_H
#define AGORA_DISCORD_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct json_value;
struct json_writer;

/* Interaction types and callback types (docs: Interactions). */
enum {
	INTERACTION_PING = 1,
	INTERACTION_COMMAND = 2,
	INTERACTION_COMPONENT = 3,
	INTERACTION_AUTOCOMPLETE = 4,
	INTERACTION_MODAL_SUBMIT = 5,
};
enum {
	CALLBACK_MESSAGE = 4,        /* CHANNEL_MESSAGE_WITH_SOURCE */
	CALLBACK_DEFER = 5,          /* DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE */
	CALLBACK_DEFER_UPDATE = 6,   /* DEFERRED_UPDATE_MESSAGE (components) */
	CALLBACK_UPDATE_MESSAGE = 7, /* UPDATE_MESSAGE (components) */
	CALLBACK_MODAL = 9,
};
#define DISCORD_FLAG_EPHEMERAL 64

/* Permission bits (docs: Topics, Permissions). */
#define DISCORD_PERM_ADMINISTRATOR (UINT64_C(1) << 3)
#define DISCORD_PERM_MANAGE_GUILD  (UINT64_C(1) << 5)

/* Discord's limits (docs: Message "Embed Limits", Channel, Interactions). */
#define DISCORD_CONTENT_MAX      2000
#define DISCORD_EMBED_TITLE_MAX  256
#define DISCORD_EMBED_DESC_MAX   4096
#define DISCORD_EMBED_FIELDS_MAX 25
#define DISCORD_FIELD_NAME_MAX   256
#define DISCORD_FIELD_VALUE_MAX  1024
#define DISCORD_FOOTER_MAX       2048
#define DISCORD_EMBED_TOTAL_MAX  6000
#define DISCORD_CUSTOM_ID_MAX    100
/* A display name: 32 characters (docs: Users, "Usernames and Nicknames"),
 * up to 4 bytes each in UTF-8. */
#define DISCORD_USER_NAME_MAX 128
/* Interaction tokens are opaque; today about 200 characters. */
#define DISCORD_TOKEN_MAX 512
/* A member holds at most 250 roles. */
#define DISCORD_ROLES_MAX 250

struct interaction {
	uint64_t id;
	uint64_t application_id;
	uint64_t guild_id; /* 0 in a DM */
	uint64_t channel_id;
	uint64_t user_id; /* member.user.id, or user.id in a DM */
	/* how the member is shown: member.nick, user.global_name or
	 * user.username, the first present, cut to fit; "" when none */
	char user_name[DISCORD_USER_NAME_MAX + 1];
	int type; /* INTERACTION_* */
	char token[DISCORD_TOKEN_MAX + 1];
	/* the command's name, or the component's / modal's custom_id */
	char name[DISCORD_CUSTOM_ID_MAX + 1];
	uint64_t permissions; /* member.permissions (0 in a DM) */
	uint64_t roles[DISCORD_ROLES_MAX];
	size_t role_count;
	/* `data` of the interaction: borrowed from the event, valid only while
	 * it is dispatched; copy what a job keeps */
	const struct json_value *data;
};

/* Reads an INTERACTION_CREATE's d. Returns 0, or -1 with the reason in err
 * (a missing id, token or type; a token or custom_id over its bound). */
int interaction_parse(const struct json_value *d, struct interaction *it, char *err,
                      size_t err_len);
/* 1 when the member may use admin commands: Administrator or Manage
 * Server permission, or the role admin_role_id (0: none configured). */
int interaction_is_admin(const struct interaction *it, uint64_t admin_role_id);
/* A command option's value by name (top-level options only); NULL if the
 * user left it out. */
const struct json_value *interaction_option(const struct interaction *it, const char *name);
const char *interaction_option_str(const struct interaction *it, const char *name);
/* 0 and *out, or -1 when absent or not an integer. */
int interaction_option_int(const struct interaction *it, const char *name, int64_t *out);
/* An option holding a snowflake (channel, user, attachment): 0 or -1. */
int interaction_option_id(const struct interaction *it, const char *name, uint64_t *out);
/* Results of the checked getters below (issue 12.6): a command answers
 * ABSENT and INVALID with a clear ephemeral message ("Report #N does not
 * exist.", "text must not contain NUL"), never by passing the value on. */
enum {
	DISCORD_OPTION_OK = 0,
	DISCORD_OPTION_ABSENT = -1,  /* not given, or not of the option's type */
	DISCORD_OPTION_INVALID = -2, /* given, but not a usable value */
};
/* The largest row id a report or proposal can have: the database's
 * `integer` columns (SERIAL) hold 2^31 - 1 at most. */
#define DISCORD_ROW_ID_MAX INT32_MAX
/* An option naming a database row (report_id, proposal_id): OK with *out
 * in 1..DISCORD_ROW_ID_MAX; INVALID for 0, a negative number, 2^31 and up,
 * a fraction, an exponent ("1e3"), or a string that is not such a number
 * in plain decimal digits; ABSENT when left out (or null, or not a number
 * or string). *out is set only on OK. Nothing out of range ever reaches a
 * query, so no database error can be the answer. */
int interaction_option_row_id(const struct interaction *it, const char *name, int32_t *out);
/* A string option's text: OK with *out (NUL-terminated) and *len, its
 * length in bytes; INVALID when the text holds a NUL byte ("\u0000"
 * decodes to one): strlen would silently cut it there, so a caller refuses
 * it, or stores the *len bytes faithfully (*out and *len are set for
 * INVALID too); ABSENT when left out or not a string (*out NULL, *len 0). */
int interaction_option_text(const struct interaction *it, const char *name, const char **out,
                            size_t *len);
/* The same for a modal's text input (either shape, as interaction_modal_value). */
int interaction_modal_text(const struct interaction *it, const char *custom_id, const char **out,
                           size_t *len);
/* The attachment object (url, filename, size, content_type, width,
 * height) that an attachment option refers to; NULL if absent. */
const struct json_value *interaction_attachment(const struct interaction *it, const char *name);
/* A modal's submitted value for the text input custom_id, from either
 * shape; NULL if absent. */
const char *interaction_modal_value(const struct interaction *it, const char *custom_id);
/* An autocomplete interaction's focused option: what the member has typed
 * so far, as text (Discord sends it as a string whatever the option's
 * type); "" when none is focused. */
const char *interaction_focused_text(const struct interaction *it);

/* ------------------------------------------------------------ messages */

/* What counting needs of a MESSAGE_CREATE (docs: Message object), read
 * from its d without a DOM (json.h, scanning): the hot path. */
struct discord_message_head {
	uint64_t id;
	uint64_t channel_id;
	uint64_t guild_id;  /* 0 when absent (a DM) */
	uint64_t author_id; /* 0 when absent or not an ID */
	int author_bot;     /* 1 when author.bot is true, else 0 */
};

struct json_span;

/* The paths inside a message object the head is read from, NULL-
 * terminated (json_scan_paths): a scanner that reads them as it goes (the
 * gateway's raw events, gateway_options.raw_paths) hands their values to
 * discord_message_head_read in this order. */
#define DISCORD_MESSAGE_HEAD_PATHS 5
extern const char *const discord_message_head_paths[DISCORD_MESSAGE_HEAD_PATHS + 1];
/* Fills *m from the values of discord_message_head_paths (absent: p NULL).
 * 0, or -1 when id or channel_id is missing or not an ID (json_id's rules:
 * snowflake string or integral number). */
int discord_message_head_read(const struct json_span *values, struct discord_message_head *m);
/* The same from a message object's JSON text[0..len), scanned whole in one
 * pass (json_scan_paths). -1 also when text is not a well-formed object. */
int discord_message_head_scan(const char *text, size_t len, struct discord_message_head *m);

/* ------------------------------------------------------------ writing */

struct discord_field {
	const char *name;
	const char *value;
	int inline_field;
};

struct discord_embed {
	const char *title;       /* NULL: none */
	const char *description; /* NULL: none */
	uint32_t color;          /* 0xRRGGBB; 0: none */
	const char *footer;      /* NULL: none */
	const char *url;         /* NULL: none */
	const struct discord_field *fields;
	size_t field_count;
};

/* How many UTF-16 code units Discord counts in the UTF-8 text s[0..len). */
size_t discord_text_length(const char *s, size_t len);
/* The byte length of the longest prefix of s (len bytes) holding at most
 * max UTF-16 code units, never cutting a character. */
size_t discord_text_prefix(const char *s, size_t len, size_t max);

/* Writes e as one embed object, every text cut to its limit (with "…") and
 * the whole kept within DISCORD_EMBED_TOTAL_MAX. */
void discord_write_embed(struct json_writer *w, const struct discord_embed *e);
/* Writes the members of a message body (inside an open object): content
 * (cut to 2000; NULL: none), the embed (NULL: none), flags (ephemeral),
 * components (pre-encoded JSON array; NULL: none), allowed_mentions. */
void discord_write_message_fields(struct json_writer *w, const char *content,
                                  const struct discord_embed *embed, int ephemeral,
                                  const char *components_json);
/* A whole message body into out (reset first): for POST /channels/{id}/
 * messages, followups and original-response edits. 0, or -1 if too big. */
int discord_message_json(struct buf *out, const char *content, const struct discord_embed *embed,
                         int ephemeral, const char *components_json);
/* An interaction callback body {type, data: message} into out. */
int discord_callback_json(struct buf *out, int type, const char *content,
                          const struct discord_embed *embed, int ephemeral,
                          const char *components_json);

#endif
