/* permissions — see permissions.h. */
#include "permissions.h"

#include <stdio.h>
#include <string.h>

static int
member_has_role(const struct permissions_member *m, uint64_t role_id)
{
	for (size_t i = 0; i < m->role_count; i++)
		if (m->role_ids[i] == role_id)
			return 1;
	return 0;
}

/* docs: Permissions, "Permission Overwrites", compute_base_permissions */
uint64_t
permissions_base(uint64_t guild_id, uint64_t owner_id, const struct permissions_role *roles,
                 size_t role_count, const struct permissions_member *member)
{
	if (member->user_id == owner_id)
		return PERMISSION_ALL;
	uint64_t p = 0;
	for (size_t i = 0; i < role_count; i++) {
		/* @everyone's id is the guild's; every member holds it implicitly
		 * (it is never listed in member.roles) */
		if (roles[i].id == guild_id || member_has_role(member, roles[i].id))
			p |= roles[i].permissions;
	}
	if (p & PERMISSION_ADMINISTRATOR)
		return PERMISSION_ALL;
	return p;
}

/* docs: Permissions, "Permission Overwrites", compute_overwrites, then
 * "Implicit Permissions" */
uint64_t
permissions_in_channel(uint64_t base, uint64_t guild_id, const struct permissions_member *member,
                       const struct permissions_overwrite *overwrites, size_t overwrite_count)
{
	if (base & PERMISSION_ADMINISTRATOR)
		return PERMISSION_ALL;
	uint64_t p = base;
	/* 1. the @everyone overwrite */
	for (size_t i = 0; i < overwrite_count; i++) {
		const struct permissions_overwrite *o = &overwrites[i];
		if (o->type == PERMISSIONS_OVERWRITE_ROLE && o->id == guild_id) {
			p &= ~o->deny;
			p |= o->allow;
		}
	}
	/* 2. the member's roles together: an allow on one role wins over a
	 * deny on another */
	uint64_t allow = 0, deny = 0;
	for (size_t i = 0; i < overwrite_count; i++) {
		const struct permissions_overwrite *o = &overwrites[i];
		if (o->type == PERMISSIONS_OVERWRITE_ROLE && o->id != guild_id &&
		    member_has_role(member, o->id)) {
			allow |= o->allow;
			deny |= o->deny;
		}
	}
	p &= ~deny;
	p |= allow;
	/* 3. the member's own overwrite, last */
	for (size_t i = 0; i < overwrite_count; i++) {
		const struct permissions_overwrite *o = &overwrites[i];
		if (o->type == PERMISSIONS_OVERWRITE_MEMBER && o->id == member->user_id) {
			p &= ~o->deny;
			p |= o->allow;
		}
	}
	/* implicit: a channel one cannot see grants nothing; without Send
	 * Messages the permissions that only qualify sending are void */
	if (!(p & PERMISSION_VIEW_CHANNEL))
		return 0;
	if (!(p & PERMISSION_SEND_MESSAGES))
		p &= ~(PERMISSION_MENTION_EVERYONE | PERMISSION_SEND_TTS_MESSAGES |
		       PERMISSION_ATTACH_FILES | PERMISSION_EMBED_LINKS);
	return p;
}

uint64_t
permissions_agora_needs(enum permissions_place place)
{
	switch (place) {
	case PERMISSIONS_GUILD:
		/* /approve_proposal on an emoji creates it (create); managing
		 * covers servers still on the older single permission and lets
		 * an admin's later clean-up through the bot work */
		return PERMISSION_CREATE_GUILD_EXPRESSIONS | PERMISSION_MANAGE_GUILD_EXPRESSIONS;
	case PERMISSIONS_TEXT_CHANNEL:
		/* notifications, queue and activity embeds, announcements: post
		 * and edit embeds, and find its own persistent messages again */
		return PERMISSION_VIEW_CHANNEL | PERMISSION_SEND_MESSAGES | PERMISSION_EMBED_LINKS |
		       PERMISSION_READ_MESSAGE_HISTORY;
	case PERMISSIONS_CATEGORY:
		/* approved channels are created in the proposed category and
		 * moved to the permanent one (manage channels in both);
		 * /refresh_channels lists them and /recalculate_stats reads
		 * their history, which new channels inherit from the category */
		return PERMISSION_VIEW_CHANNEL | PERMISSION_MANAGE_CHANNELS |
		       PERMISSION_READ_MESSAGE_HISTORY;
	}
	return 0;
}

uint64_t
permissions_agora_invite(void)
{
	return permissions_agora_needs(PERMISSIONS_GUILD) |
	       permissions_agora_needs(PERMISSIONS_TEXT_CHANNEL) |
	       permissions_agora_needs(PERMISSIONS_CATEGORY);
}

/* The names Discord's client shows (Server Settings → Roles). */
static const struct {
	uint64_t bit;
	const char *name;
} permission_names[] = {
        {PERMISSION_ADMINISTRATOR, "Administrator"},
        {PERMISSION_MANAGE_CHANNELS, "Manage Channels"},
        {PERMISSION_MANAGE_GUILD, "Manage Server"},
        {PERMISSION_VIEW_CHANNEL, "View Channel"},
        {PERMISSION_SEND_MESSAGES, "Send Messages"},
        {PERMISSION_SEND_TTS_MESSAGES, "Send Text-to-Speech Messages"},
        {PERMISSION_EMBED_LINKS, "Embed Links"},
        {PERMISSION_ATTACH_FILES, "Attach Files"},
        {PERMISSION_READ_MESSAGE_HISTORY, "Read Message History"},
        {PERMISSION_MENTION_EVERYONE, "Mention @everyone"},
        {PERMISSION_MANAGE_GUILD_EXPRESSIONS, "Manage Expressions"},
        {PERMISSION_CREATE_GUILD_EXPRESSIONS, "Create Expressions"},
};

char *
permissions_names(uint64_t mask, char *out, size_t cap)
{
	if (cap == 0)
		return out;
	size_t len = 0;
	out[0] = '\0';
	for (int bit = 0; bit < 64; bit++) {
		uint64_t b = UINT64_C(1) << bit;
		if (!(mask & b))
			continue;
		const char *name = NULL;
		for (size_t i = 0; i < sizeof permission_names / sizeof permission_names[0]; i++)
			if (permission_names[i].bit == b)
				name = permission_names[i].name;
		char unknown[16];
		if (!name) {
			snprintf(unknown, sizeof unknown, "bit %d", bit);
			name = unknown;
		}
		int n = snprintf(out + len, cap - len, "%s%s", len ? ", " : "", name);
		if (n < 0 || (size_t)n >= cap - len) {
			/* cut: end in "..." where it still fits */
			if (cap >= 4)
				memcpy(out + cap - 4, "...", 4);
			else
				out[cap - 1] = '\0';
			return out;
		}
		len += (size_t)n;
	}
	return out;
}
