/* permissions — Discord permission bits, a member's permissions in a guild
 * and in a channel computed Discord's way, and what Agora needs where.
 *
 * What it does: the bit values (docs: Topics, Permissions, "Bitwise
 * Permission Flags"); the base permissions from the @everyone role and the
 * member's roles, with the owner and ADMINISTRATOR short-circuits; the
 * channel overwrites applied in Discord's order (@everyone, then the
 * member's roles together, then the member) (docs: "Permission Overwrites",
 * "Permission Hierarchy"); the implicit denials (docs: "Implicit
 * Permissions"). And the one table of what Agora's features need in which
 * place: `agora --invite-url` asks for its union, `agora --check-discord`
 * checks each row, so the two can never disagree.
 * What it does not: I/O, JSON, timeouts (a timed-out member keeps only view
 * and read history; the bot is never timed out by Agora's design), threads.
 * Pure functions; every input is borrowed. */
#ifndef AGORA_PERMISSIONS_H
#define AGORA_PERMISSIONS_H

#include <stddef.h>
#include <stdint.h>

/* Bits Agora reads or needs (docs: Topics, Permissions). */
#define PERMISSION_ADMINISTRATOR            (UINT64_C(1) << 3)
#define PERMISSION_MANAGE_CHANNELS          (UINT64_C(1) << 4)
#define PERMISSION_MANAGE_GUILD             (UINT64_C(1) << 5)
#define PERMISSION_VIEW_CHANNEL             (UINT64_C(1) << 10)
#define PERMISSION_SEND_MESSAGES            (UINT64_C(1) << 11)
#define PERMISSION_SEND_TTS_MESSAGES        (UINT64_C(1) << 12)
#define PERMISSION_EMBED_LINKS              (UINT64_C(1) << 14)
#define PERMISSION_ATTACH_FILES             (UINT64_C(1) << 15)
#define PERMISSION_READ_MESSAGE_HISTORY     (UINT64_C(1) << 16)
#define PERMISSION_MENTION_EVERYONE         (UINT64_C(1) << 17)
#define PERMISSION_MANAGE_GUILD_EXPRESSIONS (UINT64_C(1) << 30)
/* Since 2026-02-23 a bot needs this one to create an emoji; MANAGE_GUILD_
 * EXPRESSIONS alone no longer suffices (docs: Change Log 2025-11-20). */
#define PERMISSION_CREATE_GUILD_EXPRESSIONS (UINT64_C(1) << 43)
/* Every bit Discord defines today (1 << 0 .. 1 << 50): what the owner and an
 * administrator hold. Bits Discord adds later are included by ~0 anyway. */
#define PERMISSION_ALL UINT64_MAX

/* Overwrite types (docs: Channel, "Overwrite Object"). */
enum { PERMISSIONS_OVERWRITE_ROLE = 0, PERMISSIONS_OVERWRITE_MEMBER = 1 };

struct permissions_role {
	uint64_t id;
	uint64_t permissions;
};

struct permissions_overwrite {
	uint64_t id;
	int type; /* PERMISSIONS_OVERWRITE_* */
	uint64_t allow;
	uint64_t deny;
};

/* The member whose permissions are computed (the bot). */
struct permissions_member {
	uint64_t user_id;
	const uint64_t *role_ids;
	size_t role_count;
};

/* Guild-level permissions: PERMISSION_ALL for the owner, else @everyone's
 * (the role whose id is guild_id) OR every role of the member found in
 * roles, PERMISSION_ALL if that holds ADMINISTRATOR. A member role missing
 * from roles counts as none. */
uint64_t permissions_base(uint64_t guild_id, uint64_t owner_id,
                          const struct permissions_role *roles, size_t role_count,
                          const struct permissions_member *member);

/* Permissions in one channel (or category) given base: the overwrites in
 * Discord's order, then the implicit denials (no View Channel: nothing;
 * no Send Messages: no embeds, files, TTS or mentions of everyone).
 * ADMINISTRATOR in base bypasses all of it. */
uint64_t permissions_in_channel(uint64_t base, uint64_t guild_id,
                                const struct permissions_member *member,
                                const struct permissions_overwrite *overwrites,
                                size_t overwrite_count);

/* Where Agora needs permissions. */
enum permissions_place {
	PERMISSIONS_GUILD,        /* server-wide (emojis) */
	PERMISSIONS_TEXT_CHANNEL, /* each configured *_CHANNEL_ID */
	PERMISSIONS_CATEGORY,     /* each configured *_CATEGORY_ID */
};

/* What Agora's features need in place, and why (one row per place). */
uint64_t permissions_agora_needs(enum permissions_place place);
/* The union of every row: the invite URL's permissions integer. */
uint64_t permissions_agora_invite(void);

/* Writes the names of the bits of mask ("View Channel, Send Messages", as
 * Discord's client names them; unknown bits as "bit N") into out, always
 * NUL-terminated (cut with "..." when cap is short). Returns out. */
char *permissions_names(uint64_t mask, char *out, size_t cap);

#endif
