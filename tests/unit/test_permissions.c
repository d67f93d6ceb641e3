/* test_permissions — Discord's permission computation (docs: Topics,
 * Permissions, "Permission Overwrites", "Implicit Permissions"), the table
 * of what Agora needs, the invite URL, and preflight's readers and verdicts
 * on JSON shaped like Discord's answers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "permissions.h"
#include "preflight.h"
#include "test.h"

enum { GUILD = 100, BOT = 200, ROLE_A = 300, ROLE_B = 301, OWNER = 400 };

#define VIEW    PERMISSION_VIEW_CHANNEL
#define SEND    PERMISSION_SEND_MESSAGES
#define EMBED   PERMISSION_EMBED_LINKS
#define HISTORY PERMISSION_READ_MESSAGE_HISTORY

TEST(permissions_base_roles_owner_admin)
{
	struct permissions_role roles[] = {{GUILD, VIEW}, {ROLE_A, SEND}, {ROLE_B, EMBED}};
	uint64_t held[] = {ROLE_A};
	struct permissions_member m = {BOT, held, 1};
	/* @everyone always, plus held roles only */
	CHECK_INT(permissions_base(GUILD, OWNER, roles, 3, &m), VIEW | SEND);
	/* the owner holds everything, whatever the roles */
	CHECK(permissions_base(GUILD, BOT, roles, 3, &m) == PERMISSION_ALL);
	roles[1].permissions = PERMISSION_ADMINISTRATOR;
	CHECK(permissions_base(GUILD, OWNER, roles, 3, &m) == PERMISSION_ALL);
	/* a held role the guild does not list counts as none */
	uint64_t ghost[] = {999};
	struct permissions_member g = {BOT, ghost, 1};
	CHECK_INT(permissions_base(GUILD, OWNER, roles, 3, &g), VIEW);
}

TEST(permissions_overwrite_order)
{
	uint64_t held[] = {ROLE_A, ROLE_B};
	struct permissions_member m = {BOT, held, 2};
	uint64_t base = VIEW | SEND | EMBED;
	/* @everyone deny, then a role allow brings it back */
	struct permissions_overwrite o1[] = {{GUILD, PERMISSIONS_OVERWRITE_ROLE, 0, SEND},
	                                     {ROLE_A, PERMISSIONS_OVERWRITE_ROLE, SEND, 0}};
	CHECK_INT(permissions_in_channel(base, GUILD, &m, o1, 2), VIEW | SEND | EMBED);
	/* role overwrites combine: an allow on one beats a deny on another */
	struct permissions_overwrite o2[] = {{ROLE_B, PERMISSIONS_OVERWRITE_ROLE, 0, SEND},
	                                     {ROLE_A, PERMISSIONS_OVERWRITE_ROLE, SEND, 0}};
	CHECK_INT(permissions_in_channel(VIEW, GUILD, &m, o2, 2), VIEW | SEND);
	/* the member's own overwrite comes last */
	struct permissions_overwrite o3[] = {{BOT, PERMISSIONS_OVERWRITE_MEMBER, 0, EMBED},
	                                     {ROLE_A, PERMISSIONS_OVERWRITE_ROLE, EMBED, 0}};
	CHECK_INT(permissions_in_channel(base, GUILD, &m, o3, 2), VIEW | SEND);
	/* a member overwrite with the id of a role is not the member's */
	struct permissions_overwrite o4[] = {{ROLE_A, PERMISSIONS_OVERWRITE_MEMBER, 0, SEND}};
	CHECK_INT(permissions_in_channel(base, GUILD, &m, o4, 1), base);
	/* administrator bypasses every overwrite */
	struct permissions_overwrite o5[] = {{GUILD, PERMISSIONS_OVERWRITE_ROLE, 0, VIEW}};
	CHECK(permissions_in_channel(PERMISSION_ALL, GUILD, &m, o5, 1) == PERMISSION_ALL);
}

TEST(permissions_implicit)
{
	struct permissions_member m = {BOT, NULL, 0};
	struct permissions_overwrite hide[] = {{GUILD, PERMISSIONS_OVERWRITE_ROLE, 0, VIEW}};
	CHECK_INT(permissions_in_channel(VIEW | SEND | EMBED | HISTORY, GUILD, &m, hide, 1), 0);
	struct permissions_overwrite mute[] = {{GUILD, PERMISSIONS_OVERWRITE_ROLE, 0, SEND}};
	CHECK_INT(permissions_in_channel(VIEW | SEND | EMBED | HISTORY, GUILD, &m, mute, 1),
	          VIEW | HISTORY);
}

TEST(permissions_agora_table_and_invite)
{
	uint64_t all = permissions_agora_invite();
	CHECK(all == (permissions_agora_needs(PERMISSIONS_GUILD) |
	              permissions_agora_needs(PERMISSIONS_TEXT_CHANNEL) |
	              permissions_agora_needs(PERMISSIONS_CATEGORY)));
	/* the documented bits, written out: 1<<4 | 1<<10 | 1<<11 | 1<<14 |
	 * 1<<16 | 1<<30 | 1<<43 */
	CHECK(all == 8797166849040ULL);
	CHECK(!(all & PERMISSION_ADMINISTRATOR));
	char url[256];
	CHECK(preflight_invite_url(1234, url, sizeof url) > 0);
	CHECK_STR(url, "https://discord.com/oauth2/authorize?client_id=1234&scope=bot+"
	               "applications.commands&permissions=8797166849040");
	CHECK(preflight_invite_url(1234, url, 20) == -1);
	char names[64];
	CHECK_STR(permissions_names(VIEW | SEND, names, sizeof names),
	          "View Channel, Send Messages");
	CHECK_STR(permissions_names(UINT64_C(1) << 60, names, sizeof names), "bit 60");
	permissions_names(all, names, 12);
	CHECK(strlen(names) == 11 && strcmp(names + 8, "...") == 0);
}

static const struct json_value *
parse(struct json_doc *doc, const char *text)
{
	return json_parse(doc, text, strlen(text));
}

TEST(preflight_readers_and_verdicts)
{
	struct preflight_world *w = calloc(1, sizeof *w);
	char err[128], line[PREFLIGHT_LINE_MAX];
	w->guild_id = 100;
	w->bot_id = 200;
	struct json_doc d1, d2, d3;
	json_doc_init(&d1, 1 << 16);
	json_doc_init(&d2, 1 << 16);
	json_doc_init(&d3, 1 << 16);
	CHECK(preflight_read_guild(w,
	                           parse(&d1, "{\"owner_id\":\"400\",\"roles\":["
	                                      "{\"id\":\"100\",\"permissions\":\"3072\"},"
	                                      "{\"id\":\"300\",\"permissions\":\"16384\"}]}"),
	                           err, sizeof err) == 0);
	CHECK(preflight_read_member(w, parse(&d2, "{\"roles\":[\"300\"]}"), err, sizeof err) == 0);
	struct preflight_target t[] = {
	        {"A_CHANNEL_ID", 10, PERMISSIONS_TEXT_CHANNEL},
	        {"B_CHANNEL_ID", 11, PERMISSIONS_TEXT_CHANNEL},
	        {"C_CATEGORY_ID", 10, PERMISSIONS_CATEGORY},
	        {"D_CHANNEL_ID", 99, PERMISSIONS_TEXT_CHANNEL},
	};
	/* overwrite types in both spellings (v8+: 0/1; older: "role") */
	CHECK(preflight_read_channels(
	              w,
	              parse(&d3,
	                    "[{\"id\":\"10\",\"type\":0,\"name\":\"a\\u001b[2J\",\"permission_"
	                    "overwrites\":[]"
	                    "},"
	                    "{\"id\":\"11\",\"type\":0,\"name\":\"b\",\"permission_overwrites\":"
	                    "[{\"id\":\"300\",\"type\":\"role\",\"allow\":\"0\",\"deny\":\"16384\"}"
	                    "]},"
	                    "{\"id\":\"nope\"}]"),
	              t, 4, err, sizeof err) == 0);
	/* base: view+send from @everyone, embed from the role; no history */
	CHECK(preflight_judge_target(w, &t[0], 0, line, sizeof line) == PREFLIGHT_FAIL);
	CHECK(strstr(line, "lacks Read Message History: its roles do not grant") != NULL);
	/* a name's control characters never reach the terminal */
	CHECK(strstr(line, "(a?[2J)") != NULL);
	CHECK(preflight_judge_target(w, &t[1], 1, line, sizeof line) == PREFLIGHT_FAIL);
	CHECK(strstr(line, "overwrites deny Embed Links") != NULL);
	CHECK(preflight_judge_target(w, &t[2], 2, line, sizeof line) == PREFLIGHT_FAIL);
	CHECK(strstr(line, "is a text channel (type 0), not a category") != NULL);
	CHECK(preflight_judge_target(w, &t[3], 3, line, sizeof line) == PREFLIGHT_FAIL);
	CHECK(strstr(line, "no channel with this id") != NULL);
	CHECK(preflight_judge_guild(w, line, sizeof line) == PREFLIGHT_FAIL);
	/* the owner passes everything that exists with the right type */
	w->owner_id = 200;
	CHECK(preflight_judge_target(w, &t[0], 0, line, sizeof line) == PREFLIGHT_OK);
	CHECK(preflight_judge_target(w, &t[1], 1, line, sizeof line) == PREFLIGHT_OK);
	CHECK(preflight_judge_guild(w, line, sizeof line) == PREFLIGHT_OK);
	/* malformed answers are refused with a reason, never guessed */
	CHECK(preflight_read_guild(w, parse(&d1, "{\"roles\":[]}"), err, sizeof err) == -1);
	CHECK(preflight_read_guild(w, parse(&d1, "{\"owner_id\":\"1\",\"roles\":[{\"id\":\"1\"}]}"),
	                           err, sizeof err) == -1);
	CHECK(preflight_read_member(w, parse(&d2, "{\"roles\":[true]}"), err, sizeof err) == -1);
	CHECK(preflight_read_channels(w, parse(&d3, "{}"), t, 4, err, sizeof err) == -1);
	json_doc_free(&d1);
	json_doc_free(&d2);
	json_doc_free(&d3);
	free(w);
}
