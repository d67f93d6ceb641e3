/* preflight — see preflight.h. One job, one `state`, one step(): each REST
 * answer is judged by the handler of the state that asked, which sets the
 * next state; step() sends that state's request. */
#include "preflight.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "json.h"
#include "loop.h"
#include "mem.h"
#include "rest.h"

enum preflight_state {
	PF_ME,       /* GET /users/@me */
	PF_APP,      /* GET /oauth2/applications/@me */
	PF_GUILD,    /* GET /guilds/{id} */
	PF_MEMBER,   /* GET /guilds/{id}/members/{bot} */
	PF_CHANNELS, /* GET /guilds/{id}/channels */
	PF_COMMANDS, /* GET /applications/{app}/guilds/{id}/commands */
	PF_DONE,
};

struct preflight {
	struct loop *loop;
	struct rest *rest;
	enum preflight_state state;
	int invite_only;
	struct preflight_target targets[PREFLIGHT_TARGETS_MAX];
	size_t target_count;
	uint64_t application_id;
	char bot_name[64];
	char guild_name[101];
	int failed;
	preflight_line_fn *on_line;
	preflight_done_fn *on_done;
	void *data;
	struct preflight_world world;
};

#define PREFLIGHT_TIMEOUT_MS_DEFAULT 10000

/* What to do when the token is refused; said once, in the token line. */
static const char fix_token[] =
        "put the bot's current token (Developer Portal → your application → Bot → Reset Token) "
        "in SECRETS_DIR/discord_bot_token";
static const char fix_invite[] = "add the bot to the server with the URL `agora --invite-url` "
                                 "prints, or correct GUILD_ID";

static void step(struct preflight *p);

/* Copies a name Discord returned (a channel, server or bot name a server
 * admin chose) for printing on a terminal: control characters become '?',
 * so a name cannot move the cursor or inject escape sequences. */
static void
copy_name(char *out, size_t cap, const char *name)
{
	snprintf(out, cap, "%s", name ? name : "?");
	for (char *c = out; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
}

static void line(struct preflight *p, enum preflight_result r, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void
line(struct preflight *p, enum preflight_result r, const char *fmt, ...)
{
	char text[PREFLIGHT_LINE_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	if (r != PREFLIGHT_OK)
		p->failed++;
	p->on_line(r, text, p->data);
}

static const char *
place_word(enum permissions_place place)
{
	return place == PERMISSIONS_CATEGORY ? "category" : "text channel";
}

/* The lines of every check after `from` that can no longer run. */
static void
skip_rest(struct preflight *p, enum preflight_state from, const char *why)
{
	if (from < PF_APP)
		line(p, PREFLIGHT_SKIP, "application: %s", why);
	if (from < PF_GUILD)
		line(p, PREFLIGHT_SKIP, "guild %" PRIu64 ": %s", p->world.guild_id, why);
	if (from < PF_CHANNELS) {
		for (size_t i = 0; i < p->target_count; i++)
			line(p, PREFLIGHT_SKIP, "%s %" PRIu64 ": %s", p->targets[i].key,
			     p->targets[i].id, why);
		line(p, PREFLIGHT_SKIP, "server permissions: %s", why);
	}
	if (from < PF_COMMANDS)
		line(p, PREFLIGHT_SKIP, "application commands: %s", why);
}

/* ------------------------------------------------------------ handlers */

static void
on_me(struct preflight *p, int status, const struct json_value *body, const char *error)
{
	if (error) {
		if (status == 401)
			line(p, PREFLIGHT_FAIL, "token: %s: %s", error, fix_token);
		else
			line(p, PREFLIGHT_FAIL,
			     "token: could not ask Discord (%s): check DISCORD_API_URL, "
			     "TLS_CA_FILE "
			     "and the network",
			     error);
		skip_rest(p, PF_ME, "needs a valid token");
		p->state = PF_DONE;
		return;
	}
	const char *name = json_path_str(body, "username");
	if (json_path_id(body, "id", &p->world.bot_id) < 0) {
		line(p, PREFLIGHT_FAIL, "token: GET /users/@me answered without a user id");
		skip_rest(p, PF_ME, "needs the bot's user id");
		p->state = PF_DONE;
		return;
	}
	copy_name(p->bot_name, sizeof p->bot_name, name);
	line(p, PREFLIGHT_OK, "token: valid; the bot user is %s (%" PRIu64 ")", p->bot_name,
	     p->world.bot_id);
	p->state = PF_APP;
}

static void
on_app(struct preflight *p, int status, const struct json_value *body, const char *error)
{
	(void)status;
	if (error || json_path_id(body, "id", &p->application_id) < 0) {
		p->application_id = 0;
		if (p->invite_only && status == 401)
			line(p, PREFLIGHT_FAIL, "application: %s: %s", error, fix_token);
		else
			line(p, PREFLIGHT_FAIL,
			     "application: GET /oauth2/applications/@me failed (%s)",
			     error ? error : "no application id in the answer");
	} else {
		const char *name = json_path_str(body, "name");
		line(p, PREFLIGHT_OK, "application: id %" PRIu64 " (%s)", p->application_id,
		     name ? name : "?");
	}
	p->state = p->invite_only ? PF_DONE : PF_GUILD;
}

static void
not_a_member(struct preflight *p, int status, const char *error)
{
	line(p, PREFLIGHT_FAIL,
	     "guild %" PRIu64 ": the bot is not a member of this server (HTTP %d, %s): %s",
	     p->world.guild_id, status, error, fix_invite);
	skip_rest(p, PF_GUILD, "needs the bot in the server");
	p->state = PF_DONE;
}

static void
on_guild(struct preflight *p, int status, const struct json_value *body, const char *error)
{
	char err[256];
	if (error) {
		if (status == 403 || status == 404)
			not_a_member(p, status, error);
		else {
			line(p, PREFLIGHT_FAIL, "guild %" PRIu64 ": could not read the server (%s)",
			     p->world.guild_id, error);
			skip_rest(p, PF_GUILD, "needs the server's roles");
			p->state = PF_DONE;
		}
		return;
	}
	if (preflight_read_guild(&p->world, body, err, sizeof err) < 0) {
		line(p, PREFLIGHT_FAIL, "guild %" PRIu64 ": %s", p->world.guild_id, err);
		skip_rest(p, PF_GUILD, "needs the server's roles");
		p->state = PF_DONE;
		return;
	}
	const char *name = json_path_str(body, "name");
	copy_name(p->guild_name, sizeof p->guild_name, name);
	p->state = PF_MEMBER;
}

static void
on_member(struct preflight *p, int status, const struct json_value *body, const char *error)
{
	char err[256];
	if (error) {
		if (status == 403 || status == 404)
			not_a_member(p, status, error);
		else {
			line(p, PREFLIGHT_FAIL,
			     "guild %" PRIu64 ": could not read the bot's member (%s)",
			     p->world.guild_id, error);
			skip_rest(p, PF_GUILD, "needs the bot's roles");
			p->state = PF_DONE;
		}
		return;
	}
	if (preflight_read_member(&p->world, body, err, sizeof err) < 0) {
		line(p, PREFLIGHT_FAIL, "guild %" PRIu64 ": %s", p->world.guild_id, err);
		skip_rest(p, PF_GUILD, "needs the bot's roles");
		p->state = PF_DONE;
		return;
	}
	line(p, PREFLIGHT_OK, "guild %" PRIu64 ": the bot is a member of \"%s\"%s",
	     p->world.guild_id, p->guild_name,
	     p->world.owner_id == p->world.bot_id ? " (and its owner)" : "");
	p->state = PF_CHANNELS;
}

static void
on_channels(struct preflight *p, int status, const struct json_value *body, const char *error)
{
	(void)status;
	char err[256];
	if (!error && preflight_read_channels(&p->world, body, p->targets, p->target_count, err,
	                                      sizeof err) < 0)
		error = err;
	if (error) {
		for (size_t i = 0; i < p->target_count; i++)
			line(p, PREFLIGHT_FAIL,
			     "%s %" PRIu64 ": could not list the server's channels (%s)",
			     p->targets[i].key, p->targets[i].id, error);
	} else {
		char text[PREFLIGHT_LINE_MAX];
		for (size_t i = 0; i < p->target_count; i++) {
			enum preflight_result r = preflight_judge_target(&p->world, &p->targets[i],
			                                                 i, text, sizeof text);
			line(p, r, "%s", text);
		}
	}
	char text[PREFLIGHT_LINE_MAX];
	enum preflight_result r = preflight_judge_guild(&p->world, text, sizeof text);
	line(p, r, "%s", text);
	p->state = PF_COMMANDS;
}

static void
on_commands(struct preflight *p, int status, const struct json_value *body, const char *error)
{
	if (error && status == 403)
		line(p, PREFLIGHT_FAIL,
		     "application commands: Discord refuses them in this server (HTTP 403, %s): "
		     "the bot was added without the applications.commands scope; open the URL "
		     "`agora "
		     "--invite-url` prints (no need to remove the bot first)",
		     error);
	else if (error)
		line(p, PREFLIGHT_FAIL, "application commands: could not list them (%s)", error);
	else
		line(p, PREFLIGHT_OK,
		     "application commands: the applications.commands scope is granted (%zu "
		     "registered)",
		     json_len(body));
	p->state = PF_DONE;
}

static void
handle(struct preflight *p, int status, const struct json_value *body, const char *error)
{
	switch (p->state) {
	case PF_ME:
		on_me(p, status, body, error);
		break;
	case PF_APP:
		on_app(p, status, body, error);
		break;
	case PF_GUILD:
		on_guild(p, status, body, error);
		break;
	case PF_MEMBER:
		on_member(p, status, body, error);
		break;
	case PF_CHANNELS:
		on_channels(p, status, body, error);
		break;
	case PF_COMMANDS:
		on_commands(p, status, body, error);
		break;
	case PF_DONE:
		break;
	}
}

static void
on_reply(int status, const struct json_value *body, const char *error, void *data)
{
	struct preflight *p = data;
	handle(p, status, body, error);
	step(p);
}

static void
step(struct preflight *p)
{
	char path[256];
	const struct preflight_world *w = &p->world;
	for (;;) {
		switch (p->state) {
		case PF_ME:
			snprintf(path, sizeof path, "/users/@me");
			break;
		case PF_APP:
			snprintf(path, sizeof path, "/oauth2/applications/@me");
			break;
		case PF_GUILD:
			snprintf(path, sizeof path, "/guilds/%" PRIu64, w->guild_id);
			break;
		case PF_MEMBER:
			snprintf(path, sizeof path, "/guilds/%" PRIu64 "/members/%" PRIu64,
			         w->guild_id, w->bot_id);
			break;
		case PF_CHANNELS:
			snprintf(path, sizeof path, "/guilds/%" PRIu64 "/channels", w->guild_id);
			break;
		case PF_COMMANDS:
			if (!p->application_id) {
				line(p, PREFLIGHT_SKIP,
				     "application commands: needs the application id");
				p->state = PF_DONE;
				continue;
			}
			snprintf(path, sizeof path,
			         "/applications/%" PRIu64 "/guilds/%" PRIu64 "/commands",
			         p->application_id, w->guild_id);
			break;
		case PF_DONE:
			p->on_done(p->failed, p->data);
			return;
		}
		if (rest_request(p->rest, "GET", path, NULL, NULL, on_reply, p) == 0)
			return;
		/* refused at once (a 401 already made rest fatal, or memory):
		 * the same as an error answer for this state */
		handle(p, 0, NULL, rest_error(p->rest));
	}
}

/* ------------------------------------------------------------ public */

struct preflight *
preflight_new(struct loop *loop, const struct preflight_options *opt, preflight_line_fn *on_line,
              preflight_done_fn *on_done, void *data, char *err, size_t err_len)
{
	if (opt->target_count > PREFLIGHT_TARGETS_MAX) {
		snprintf(err, err_len, "too many channels to check (at most %d)",
		         PREFLIGHT_TARGETS_MAX);
		return NULL;
	}
	struct preflight *p = mem_calloc(1, sizeof *p);
	if (!p) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	struct rest_options ro = {
	        .api_url = opt->api_url,
	        .token = opt->token,
	        .version = opt->version,
	        .trust = opt->trust,
	        .max_retries = 1,
	        .timeout_ms = opt->timeout_ms ? opt->timeout_ms : PREFLIGHT_TIMEOUT_MS_DEFAULT,
	        .retry_base_ms = 500,
	};
	p->rest = rest_new(loop, &ro, err, err_len);
	if (!p->rest) {
		mem_free(p);
		return NULL;
	}
	p->loop = loop;
	p->invite_only = opt->invite_only;
	p->state = opt->invite_only ? PF_APP : PF_ME;
	if (opt->target_count)
		memcpy(p->targets, opt->targets, opt->target_count * sizeof *opt->targets);
	p->target_count = opt->target_count;
	p->world.guild_id = opt->guild_id;
	p->on_line = on_line;
	p->on_done = on_done;
	p->data = data;
	return p;
}

int
preflight_start(struct preflight *p)
{
	step(p);
	return 0;
}

uint64_t
preflight_application_id(const struct preflight *p)
{
	return p->application_id;
}

void
preflight_free(struct preflight *p)
{
	if (!p)
		return;
	rest_free(p->rest);
	mem_free(p);
}

/* ---------------------------------------------------------------- pure */

int
preflight_invite_url(uint64_t application_id, char *out, size_t cap)
{
	/* docs: OAuth2, "Bot Authorization Flow": scope is space-separated,
	 * '+' in a query */
	int n = snprintf(out, cap,
	                 "https://discord.com/oauth2/authorize?client_id=%" PRIu64
	                 "&scope=bot+applications.commands&permissions=%" PRIu64,
	                 application_id, permissions_agora_invite());
	return n < 0 || (size_t)n >= cap ? -1 : n;
}

int
preflight_read_guild(struct preflight_world *w, const struct json_value *guild, char *err,
                     size_t err_len)
{
	if (json_path_id(guild, "owner_id", &w->owner_id) < 0) {
		snprintf(err, err_len, "the server's answer has no owner_id");
		return -1;
	}
	const struct json_value *roles = json_get(guild, "roles");
	if (json_type(roles) != JSON_ARRAY) {
		snprintf(err, err_len, "the server's answer has no roles");
		return -1;
	}
	w->role_count = 0;
	for (const struct json_value *r = json_first(roles); r; r = json_next(r)) {
		if (w->role_count == PREFLIGHT_ROLES_MAX) {
			snprintf(err, err_len, "the server has more than %d roles",
			         PREFLIGHT_ROLES_MAX);
			return -1;
		}
		struct permissions_role *role = &w->roles[w->role_count];
		/* permissions are a decimal string since API v8 */
		if (json_path_id(r, "id", &role->id) < 0 ||
		    json_path_id(r, "permissions", &role->permissions) < 0) {
			snprintf(err, err_len,
			         "a role without id or permissions in the server's answer");
			return -1;
		}
		w->role_count++;
	}
	return 0;
}

int
preflight_read_member(struct preflight_world *w, const struct json_value *member, char *err,
                      size_t err_len)
{
	const struct json_value *roles = json_get(member, "roles");
	if (json_type(roles) != JSON_ARRAY) {
		snprintf(err, err_len, "the bot's member has no roles list");
		return -1;
	}
	w->member_role_count = 0;
	for (const struct json_value *r = json_first(roles); r; r = json_next(r)) {
		if (w->member_role_count == PREFLIGHT_ROLES_MAX) {
			snprintf(err, err_len, "the bot holds more than %d roles",
			         PREFLIGHT_ROLES_MAX);
			return -1;
		}
		if (json_id(r, &w->member_roles[w->member_role_count]) < 0) {
			snprintf(err, err_len, "a role id of the bot's member is not an id");
			return -1;
		}
		w->member_role_count++;
	}
	return 0;
}

/* An overwrite's type: 0/1 since API v8, "role"/"member" before. */
static int
overwrite_type(const struct json_value *v)
{
	int64_t t;
	if (json_int64(v, &t) == 0)
		return t == 1 ? PERMISSIONS_OVERWRITE_MEMBER : PERMISSIONS_OVERWRITE_ROLE;
	const char *s = json_string(v, NULL);
	return s && strcmp(s, "member") == 0 ? PERMISSIONS_OVERWRITE_MEMBER
	                                     : PERMISSIONS_OVERWRITE_ROLE;
}

static void
read_channel(struct preflight_channel *c, const struct json_value *ch)
{
	int64_t type = -1;
	json_path_int64(ch, "type", &type);
	c->found = 1;
	c->type = (int)(type < -1 || type > 1000 ? -1 : type);
	const char *name = json_path_str(ch, "name");
	copy_name(c->name, sizeof c->name, name ? name : "");
	c->overwrite_count = 0;
	c->too_many_overwrites = 0;
	const struct json_value *ows = json_get(ch, "permission_overwrites");
	for (const struct json_value *o = json_first(ows); o; o = json_next(o)) {
		if (c->overwrite_count == PREFLIGHT_OVERWRITES_MAX) {
			c->too_many_overwrites = 1;
			break;
		}
		struct permissions_overwrite *ow = &c->overwrites[c->overwrite_count];
		ow->allow = ow->deny = 0;
		if (json_path_id(o, "id", &ow->id) < 0)
			continue;
		ow->type = overwrite_type(json_get(o, "type"));
		/* absent allow/deny mean nothing allowed/denied */
		json_path_id(o, "allow", &ow->allow);
		json_path_id(o, "deny", &ow->deny);
		c->overwrite_count++;
	}
}

int
preflight_read_channels(struct preflight_world *w, const struct json_value *channels,
                        const struct preflight_target *targets, size_t target_count, char *err,
                        size_t err_len)
{
	if (json_type(channels) != JSON_ARRAY) {
		snprintf(err, err_len, "the channel list is not a list");
		return -1;
	}
	if (target_count > PREFLIGHT_TARGETS_MAX)
		target_count = PREFLIGHT_TARGETS_MAX;
	for (size_t i = 0; i < target_count; i++)
		w->channels[i].found = 0;
	for (const struct json_value *ch = json_first(channels); ch; ch = json_next(ch)) {
		uint64_t id;
		if (json_path_id(ch, "id", &id) < 0)
			continue;
		for (size_t i = 0; i < target_count; i++)
			if (targets[i].id == id)
				read_channel(&w->channels[i], ch);
	}
	return 0;
}

static const char *
channel_type_name(int type)
{
	/* docs: Channel, "Channel Types" */
	switch (type) {
	case 0:
		return "a text channel";
	case 2:
		return "a voice channel";
	case 4:
		return "a category";
	case 5:
		return "an announcement channel";
	case 13:
		return "a stage channel";
	case 15:
		return "a forum channel";
	case 16:
		return "a media channel";
	default:
		return "a channel of another kind";
	}
}

static uint64_t
world_base(const struct preflight_world *w, struct permissions_member *m)
{
	m->user_id = w->bot_id;
	m->role_ids = w->member_roles;
	m->role_count = w->member_role_count;
	return permissions_base(w->guild_id, w->owner_id, w->roles, w->role_count, m);
}

enum preflight_result
preflight_judge_target(const struct preflight_world *w, const struct preflight_target *t, size_t i,
                       char *out, size_t cap)
{
	if (i >= PREFLIGHT_TARGETS_MAX || !w->channels[i].found) {
		snprintf(out, cap,
		         "%s %" PRIu64 ": no channel with this id in server %" PRIu64
		         ": copy the %s's id again (Developer Mode on, right-click → Copy Channel "
		         "ID)",
		         t->key, t->id, w->guild_id, place_word(t->place));
		return PREFLIGHT_FAIL;
	}
	const struct preflight_channel *c = &w->channels[i];
	/* Agora posts and edits messages in its channels; an announcement
	 * channel takes messages too */
	int type_ok =
	        t->place == PERMISSIONS_CATEGORY ? c->type == 4 : (c->type == 0 || c->type == 5);
	if (!type_ok) {
		snprintf(out, cap,
		         "%s %" PRIu64 " (%s): is %s (type %d), not %s: set %s to a %s's id",
		         t->key, t->id, c->name, channel_type_name(c->type), c->type,
		         t->place == PERMISSIONS_CATEGORY ? "a category (type 4)"
		                                          : "a text channel (type 0)",
		         t->key, place_word(t->place));
		return PREFLIGHT_FAIL;
	}
	if (c->too_many_overwrites) {
		snprintf(out, cap,
		         "%s %" PRIu64 " (%s): has more than %d permission overwrites; not checked",
		         t->key, t->id, c->name, PREFLIGHT_OVERWRITES_MAX);
		return PREFLIGHT_FAIL;
	}
	struct permissions_member m;
	uint64_t base = world_base(w, &m);
	uint64_t have =
	        permissions_in_channel(base, w->guild_id, &m, c->overwrites, c->overwrite_count);
	uint64_t need = permissions_agora_needs(t->place);
	uint64_t missing = need & ~have;
	char names[256];
	if (!missing) {
		snprintf(out, cap, "%s %" PRIu64 " (%s): %s; the bot has %s", t->key, t->id,
		         c->name, place_word(t->place),
		         permissions_names(need, names, sizeof names));
		return PREFLIGHT_OK;
	}
	/* where each missing bit comes from: the roles never grant it, or they
	 * do and this channel's overwrites take it away */
	uint64_t from_roles = missing & ~base;
	uint64_t from_overwrites = missing & base;
	size_t len =
	        (size_t)snprintf(out, cap, "%s %" PRIu64 " (%s): the bot lacks %s:", t->key, t->id,
	                         c->name, permissions_names(missing, names, sizeof names));
	if (from_roles && len < cap)
		len += (size_t)snprintf(
		        out + len, cap - len,
		        " its roles do not grant %s (Server Settings → Roles: allow "
		        "them for the bot's role)%s",
		        permissions_names(from_roles, names, sizeof names),
		        from_overwrites ? ";" : "");
	if (from_overwrites && len < cap)
		snprintf(out + len, cap - len,
		         " this %s's permission overwrites deny %s (Edit %s → Permissions: "
		         "allow them for the bot's role or the bot, or remove the deny)",
		         place_word(t->place),
		         permissions_names(from_overwrites, names, sizeof names),
		         t->place == PERMISSIONS_CATEGORY ? "Category" : "Channel");
	return PREFLIGHT_FAIL;
}

enum preflight_result
preflight_judge_guild(const struct preflight_world *w, char *out, size_t cap)
{
	struct permissions_member m;
	uint64_t base = world_base(w, &m);
	uint64_t need = permissions_agora_needs(PERMISSIONS_GUILD);
	uint64_t missing = need & ~base;
	char names[256];
	if (!missing) {
		snprintf(out, cap, "server permissions: the bot has %s (approved emojis)",
		         permissions_names(need, names, sizeof names));
		return PREFLIGHT_OK;
	}
	snprintf(out, cap,
	         "server permissions: the bot lacks %s, needed to create approved emojis: Server "
	         "Settings → Roles: allow them for the bot's role",
	         permissions_names(missing, names, sizeof names));
	return PREFLIGHT_FAIL;
}
