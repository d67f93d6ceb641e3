/* bot — see bot.h. */
#include "bot.h"

#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "buf.h"
#include "cache.h"
#include "config.h"
#include "db.h"
#include "discord.h"
#include "embeds.h"
#include "gateway.h"
#include "guild.h"
#include "health.h"
#include "job.h"
#include "json.h"
#include "llm.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "migrate.h"
#include "reply.h"
#include "store.h"
#include "template.h"
#include "tls.h"
#include "tracked.h"
#include "versions.h"

/* The whole stop must end within 5 s (CONTRACT.md); these are its steps'
 * shares, leaving the rest as margin. */
#define STOP_DEADLINE_MS 4500
#define STOP_GOODBYE_MS  2000 /* posting "Bot Shutting Down" */
#define STOP_GATEWAY_MS  1200 /* the close handshake */
#define STOP_FLUSH_MS    600  /* Redis writes still buffered */
/* GET /gateway/bot failed (Discord down, network): try again after this. */
#define GATEWAY_BOT_RETRY_MS 5000
/* Embed colours. */
#define COLOR_GREEN  0x2ecc71
#define COLOR_ORANGE 0xe67e22
/* A MESSAGE_CREATE whose head cannot be read is warned about at most this
 * often: a flood of them must not flood the log. */
#define MESSAGE_LOG_INTERVAL_MS 60000

enum phase {
	PHASE_NEW,
	PHASE_DB,          /* waiting for PostgreSQL */
	PHASE_MIGRATE,     /* applying sql/ */
	PHASE_LOAD,        /* reading tracked_channels and persistent_embeds */
	PHASE_GATEWAY_BOT, /* asking Discord where the gateway is */
	PHASE_RUNNING,     /* gateway started (connected or reconnecting) */
	PHASE_STOPPING,
	PHASE_STOPPED,
};

struct bot {
	struct loop *loop;
	const struct config *cfg;
	struct tls_trust *trust;
	struct db *db;
	struct cache *cache;
	struct rest *rest;
	struct gateway *gateway;
	struct health *health;

	enum phase phase;
	int exit_status;
	int freeing;
	uint64_t application_id;
	int ever_ready; /* a READY came: the once-per-process steps ran */

	/* the bot layer's modules */
	struct jobs *jobs;
	struct replies *replies;
	struct embeds *embeds;
	struct tracked *tracked;
	struct guild *guild;
	/* read once at start for every feature: one read of TEMPLATES_DIR and
	 * PROMPTS_DIR, one LLM client (its connection reused by all) */
	struct templates templates;
	int templates_loaded;
	struct llm *llm;
	bot_health_fn *health_check; /* set by a feature's start (cmd_core.c) */
	/* each feature's state block, by its index in bot_features */
	void **feature_state;
	size_t features_started;     /* bot_features[0..n) ran start: free them */
	struct job_later load_later; /* the start's one query out at a time */

	struct loop_timer retry_timer;
	struct loop_timer stop_deadline;
	struct loop_timer stop_step_timer;
	int stop_step;

	struct buf scratch;           /* request bodies, built and handed to rest (which copies) */
	struct log_limit message_log; /* unreadable MESSAGE_CREATEs */
};

static void stop_next(struct bot *b);

/* ------------------------------------------------------------ services */

const struct config *
bot_config(const struct bot *b)
{
	return b->cfg;
}

struct db *
bot_db(struct bot *b)
{
	return b->db;
}

struct cache *
bot_cache(struct bot *b)
{
	return b->cache;
}

struct rest *
bot_rest(struct bot *b)
{
	return b->rest;
}

struct loop *
bot_loop(struct bot *b)
{
	return b->loop;
}

const struct tls_trust *
bot_trust(const struct bot *b)
{
	return b->trust;
}

int
bot_exit_status(const struct bot *b)
{
	return b->exit_status;
}

const struct guild *
bot_guild(const struct bot *b)
{
	return b->guild;
}

int
bot_gateway_ready(const struct bot *b)
{
	return b->gateway && gateway_is_ready(b->gateway);
}

uint64_t
bot_application_id(const struct bot *b)
{
	return b->application_id;
}

int
bot_closing(const struct bot *b)
{
	return b->freeing;
}

int
bot_stopping(const struct bot *b)
{
	return b->phase == PHASE_STOPPING || b->phase == PHASE_STOPPED;
}

int
bot_stopped(const struct bot *b)
{
	return b->phase == PHASE_STOPPED;
}

void
bot_set_health_check(struct bot *b, bot_health_fn *fn)
{
	b->health_check = fn;
}

const struct templates *
bot_templates(const struct bot *b)
{
	return &b->templates;
}

struct llm *
bot_llm(struct bot *b)
{
	return b->llm;
}

struct jobs *
bot_jobs(struct bot *b)
{
	return b->jobs;
}

struct replies *
bot_replies(struct bot *b)
{
	return b->replies;
}

struct embeds *
bot_embeds(struct bot *b)
{
	return b->embeds;
}

struct tracked *
bot_tracked(struct bot *b)
{
	return b->tracked;
}

void *
bot_feature_state(struct bot *b, const struct bot_feature *f)
{
	for (size_t i = 0; i < bot_feature_count; i++)
		if (bot_features[i] == f)
			return b->feature_state[i];
	return NULL;
}

/* The health listener asks; the feature that provides the check answers
 * (none yet, early in the start: say so, unhealthy). */
static void
health_check(void *data, health_answer_fn *answer, void *conn)
{
	struct bot *b = data;
	if (!b->health_check) {
		answer(conn, 0, "Status: starting.");
		return;
	}
	b->health_check(b, answer, conn);
}

static void
on_commands_registered(int status, const struct json_value *body, const char *error, void *data)
{
	(void)data;
	if (error) {
		log_error("bot", "registering the slash commands failed: %s (HTTP %d)", error,
		          status);
		return;
	}
	log_info("bot", "registered %zu slash commands", json_len(body));
}

static void
register_commands(struct bot *b)
{
	char path[128];
	snprintf(path, sizeof path, "/applications/%llu/guilds/%llu/commands",
	         (unsigned long long)b->application_id, (unsigned long long)b->cfg->guild_id);
	if (bot_commands_json(b->cfg, &b->scratch) < 0) {
		log_error("bot", "the command list does not fit");
		return;
	}
	/* one bulk overwrite: Discord then holds exactly these commands */
	reply_request(b, "PUT", path, b->scratch.data, "command registration",
	              on_commands_registered, b);
}

/* ------------------------------------------------------------ events */

static void
dispatch_interaction(struct bot *b, const struct json_value *d)
{
	struct interaction it;
	char err[200];
	if (interaction_parse(d, &it, err, sizeof err) < 0) {
		log_warn("bot", "unusable interaction: %s", err);
		return;
	}
	if (it.guild_id != b->cfg->guild_id) {
		/* an autocomplete can only be answered with choices (type 8) */
		if (it.type == INTERACTION_AUTOCOMPLETE)
			reply_autocomplete(b, &it, NULL, 0);
		else
			reply_message(b, &it, "Agora works only inside its server.", NULL, 1);
		return;
	}
	if (it.type == INTERACTION_COMMAND) {
		const struct bot_command *c = bot_command_find(it.name);
		if (!c) {
			log_warn("bot", "unknown command /%s", it.name);
			reply_message(b, &it, "This command is not known to Agora.", NULL, 1);
			return;
		}
		if (c->admin && !interaction_is_admin(&it, b->cfg->admin_role_id)) {
			log_info("bot", "refused /%s to user %llu: not an admin", it.name,
			         (unsigned long long)it.user_id);
			reply_message(b, &it, "This command is for admins only.", NULL, 1);
			return;
		}
		log_info("bot", "/%s from user %llu", it.name, (unsigned long long)it.user_id);
		reply_guard(b, &it);
		c->run(b, &it);
		return;
	}
	if (it.type == INTERACTION_AUTOCOMPLETE) {
		/* answered at once with choices (callback 8): no guard, no
		 * defer exists for it; a refusal is an empty list */
		const struct bot_command *c = bot_command_find(it.name);
		if (c && c->autocomplete &&
		    (!c->admin || interaction_is_admin(&it, b->cfg->admin_role_id)))
			c->autocomplete(b, &it);
		else
			reply_autocomplete(b, &it, NULL, 0);
		return;
	}
	if (it.type == INTERACTION_COMPONENT || it.type == INTERACTION_MODAL_SUBMIT) {
		const struct bot_component *c = bot_component_find(it.name);
		if (!c) {
			/* an old button, or one from a removed feature: answer so
			 * the user's client does not spin, and say why */
			log_info("bot", "no handler for custom_id %s", it.name);
			reply_message(b, &it, "This button or form is no longer active.", NULL, 1);
			return;
		}
		if (c->admin && !interaction_is_admin(&it, b->cfg->admin_role_id)) {
			reply_message(b, &it, "This is for admins only.", NULL, 1);
			return;
		}
		reply_guard(b, &it);
		c->run(b, &it);
		return;
	}
}

static void
announce_online(struct bot *b)
{
	char text[160];
	snprintf(text, sizeof text, "Agora %s is connected and ready.", AGORA_VERSION);
	struct discord_embed e = {.title = "Bot Online", .description = text, .color = COLOR_GREEN};
	reply_post(b, b->cfg->admin_notification_channel_id, NULL, &e, NULL, NULL);
}

static void
fail(struct bot *b, const char *why)
{
	log_crit("bot", "%s", why);
	b->exit_status = 1;
	bot_shutdown(b);
}

static void
on_gateway_event(struct gateway *g, enum gateway_event ev, const char *name,
                 const struct json_value *d, void *data)
{
	struct bot *b = data;
	switch (ev) {
	case GATEWAY_READY: {
		int first = !b->ever_ready;
		if (first) {
			/* the start's cost, all threads (issue 13.6; bench/startup.py) */
			struct timespec cpu;
			struct rusage ru;
			clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu);
			getrusage(RUSAGE_SELF, &ru);
			log_info("bot",
			         "first READY after %.2f ms CPU since exec (%ld page faults)",
			         (double)cpu.tv_sec * 1e3 + (double)cpu.tv_nsec / 1e6,
			         ru.ru_minflt + ru.ru_majflt);
		}
		b->ever_ready = 1;
		if (json_path_id(d, "application.id", &b->application_id) < 0)
			json_path_id(d, "user.id", &b->application_id);
		register_commands(b);
		if (first) {
			/* once per process: every persistent embed is drawn, so
			 * each is right after downtime whatever happened
			 * meanwhile, and "Bot Online" is posted */
			embeds_refresh_all(b);
			announce_online(b);
		}
		for (size_t i = 0; i < bot_feature_count; i++)
			if (bot_features[i]->ready)
				bot_features[i]->ready(b);
		break;
	}
	case GATEWAY_RESUMED:
		break;
	case GATEWAY_DISPATCH:
		if (strcmp(name, "INTERACTION_CREATE") == 0) {
			dispatch_interaction(b, d);
			break;
		}
		/* the guild cache first, so features see the channel it names */
		if (guild_on_event(b->guild, name, d) < 0)
			log_warn("bot", "%s without a usable channel id", name);
		for (size_t i = 0; i < bot_feature_count; i++)
			if (bot_features[i]->dispatch)
				bot_features[i]->dispatch(b, name, d);
		break;
	case GATEWAY_DOWN:
		break;
	case GATEWAY_CLOSED:
		if (b->phase == PHASE_STOPPING && b->stop_step == 2)
			stop_next(b);
		break;
	case GATEWAY_FATAL:
		fail(b, gateway_error(g));
		break;
	}
}

/* The events the gateway hands over raw, without a DOM (gateway.h): the
 * hot path. Nothing but the features' message hook reads MESSAGE_CREATE
 * (the guild cache ignores it), so nothing needs its DOM. */
static const char *const raw_events[] = {"MESSAGE_CREATE", NULL};

/* A MESSAGE_CREATE, read in the gateway's one pass: d's head paths
 * (discord_message_head_paths) come as values. */
static void
on_gateway_raw(struct gateway *g, const char *name, const char *d, size_t d_len,
               const struct json_span *values, void *data)
{
	(void)g;
	(void)name; /* only MESSAGE_CREATE is raw */
	(void)d_len;
	struct bot *b = data;
	struct discord_message_head m;
	if (!d || discord_message_head_read(values, &m) < 0) {
		log_limited(&b->message_log, MESSAGE_LOG_INTERVAL_MS, LOG_WARNING, "bot",
		            "MESSAGE_CREATE without a usable id or channel_id: dropped");
		return;
	}
	for (size_t i = 0; i < bot_feature_count; i++)
		if (bot_features[i]->message)
			bot_features[i]->message(b, &m);
}

/* ------------------------------------------------------------ start */

static void ask_gateway_bot(struct bot *b);

static void
on_retry_timer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct bot *b = t->data;
	if (b->phase == PHASE_GATEWAY_BOT)
		ask_gateway_bot(b);
}

/* The gateway gave up an unreachable resume URL and starts a new session:
 * Discord is asked again where the gateway is (issue 12.1). Without an
 * answer the gateway goes on, after a bounded wait, with the URL it has. */
static void
on_fresh_gateway_bot(int status, const struct json_value *body, const char *error, void *data)
{
	(void)status;
	struct bot *b = data;
	const char *url = json_path_str(body, "url");
	if (b->freeing || !b->gateway || error || !url)
		return;
	gateway_set_url(b->gateway, url);
}

static void
on_gateway_wants_url(struct gateway *g, void *data)
{
	(void)g;
	reply_request(data, "GET", "/gateway/bot", NULL, "GET /gateway/bot", on_fresh_gateway_bot,
	              data);
}

static void
on_gateway_bot(int status, const struct json_value *body, const char *error, void *data)
{
	struct bot *b = data;
	if (b->freeing || b->phase != PHASE_GATEWAY_BOT)
		return;
	const char *url = json_path_str(body, "url");
	if (error || !url) {
		if (rest_is_fatal(b->rest)) {
			fail(b, rest_error(b->rest));
			return;
		}
		log_error("bot", "GET /gateway/bot failed: %s (HTTP %d); retrying in %d s",
		          error ? error : "no url in the answer", status,
		          GATEWAY_BOT_RETRY_MS / 1000);
		loop_timer_start(b->loop, &b->retry_timer, GATEWAY_BOT_RETRY_MS);
		return;
	}
	int64_t remaining = 1000, reset_after = 0;
	json_path_int64(body, "session_start_limit.remaining", &remaining);
	json_path_int64(body, "session_start_limit.reset_after", &reset_after);
	struct gateway_options opt = {
	        .token = b->cfg->discord_bot_token,
	        /* GUILDS (channels, categories) and GUILD_MESSAGES (activity):
	         * no privileged intent is needed (CONTRACT.md) */
	        .intents = GATEWAY_INTENT_GUILDS | GATEWAY_INTENT_GUILD_MESSAGES,
	        .url = url,
	        .refresh_url = on_gateway_wants_url,
	        .trust = b->trust,
	        .identify_remaining = (long)remaining,
	        .identify_reset_after_ms = reset_after,
	        /* a big GUILD_CREATE is pruned to what the guild cache reads */
	        .keep = guild_gateway_keep(),
	        .raw_events = raw_events,
	        .raw = on_gateway_raw,
	        .raw_paths = discord_message_head_paths,
	};
	b->gateway = gateway_new(b->loop, &opt, on_gateway_event, b);
	if (!b->gateway) {
		fail(b, "out of memory creating the gateway");
		return;
	}
	if (gateway_start(b->gateway) < 0) {
		fail(b, gateway_error(b->gateway));
		return;
	}
	b->phase = PHASE_RUNNING;
}

static void
ask_gateway_bot(struct bot *b)
{
	b->phase = PHASE_GATEWAY_BOT;
	reply_request(b, "GET", "/gateway/bot", NULL, "GET /gateway/bot", on_gateway_bot, b);
}

/* 1 when a load query's reply should be used: the bot is still loading
 * and the query worked (a failed one stops the bot: it cannot run
 * without its tables). */
static int
loading(struct bot *b, const struct db_reply *reply)
{
	if (b->freeing || b->phase != PHASE_LOAD)
		return 0;
	if (reply->error) {
		fail(b, reply->error);
		return 0;
	}
	return 1;
}

static void
on_embeds(void *data, const struct db_reply *reply)
{
	struct bot *b = data;
	if (!loading(b, reply))
		return;
	embeds_load(b, reply);
	log_info("bot", "loaded %zu tracked channels and %zu persistent embeds", tracked_count(b),
	         embeds_count(b));
	ask_gateway_bot(b);
}

static void
on_tracked(void *data, const struct db_reply *reply)
{
	struct bot *b = data;
	if (!loading(b, reply))
		return;
	if (tracked_load(b, reply) < 0) {
		fail(b, "out of memory loading tracked channels");
		return;
	}
	/* a refusal answers through on_embeds too (job.h): one failure path */
	job_db(b, &b->load_later, store_embed_list(b->db, on_embeds, b), on_embeds, b);
}

static void
on_migrated(void *data, int applied, const char *error)
{
	struct bot *b = data;
	if (b->freeing || b->phase != PHASE_MIGRATE)
		return;
	if (error) {
		fail(b, error);
		return;
	}
	log_info("bot", "database schema up to date (%d migration%s applied)", applied,
	         applied == 1 ? "" : "s");
	b->phase = PHASE_LOAD;
	job_db(b, &b->load_later, store_channel_list(b->db, on_tracked, b), on_tracked, b);
}

static void
on_db_state(void *data, int connected, const char *error)
{
	struct bot *b = data;
	if (b->freeing)
		return;
	if (!connected) {
		log_warn("bot", "PostgreSQL unavailable: %s", error ? error : "disconnected");
		return;
	}
	log_info("bot", "connected to PostgreSQL");
	if (b->phase == PHASE_DB) {
		b->phase = PHASE_MIGRATE;
		if (migrate_run(b->db, migrate_embedded, migrate_embedded_count, on_migrated, b) <
		    0)
			fail(b, db_error(b->db));
	}
}

static void
on_cache_state(void *data, int connected, const char *error)
{
	struct bot *b = data;
	if (b->freeing)
		return;
	if (connected)
		log_info("bot", "connected to Redis");
	else
		log_warn("bot", "Redis unavailable: %s", error ? error : "disconnected");
}

/* The cache's write buffer is full while Redis is up (or has room again):
 * stop (resume) reading the gateway, so no count is dropped (issue 13.1). */
static void
on_cache_pressure(void *data, int full)
{
	struct bot *b = data;
	if (!b->freeing && b->gateway)
		gateway_pause_reading(b->gateway, full);
}

struct bot *
bot_new(struct loop *loop, const struct config *cfg, char *err, size_t err_len)
{
	struct bot *b = mem_calloc(1, sizeof *b);
	if (!b) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	b->loop = loop;
	b->cfg = cfg;
	buf_init(&b->scratch, 1 << 20);
	loop_timer_init(&b->retry_timer, on_retry_timer, b);
	b->jobs = jobs_new(b);
	b->replies = replies_new(b);
	b->embeds = embeds_new(b);
	b->tracked = tracked_new();
	b->guild = guild_new(cfg->guild_id, 0);
	b->feature_state = mem_calloc(bot_feature_count, sizeof *b->feature_state);
	int ok = b->jobs && b->replies && b->embeds && b->tracked && b->guild && b->feature_state;
	for (size_t i = 0; ok && i < bot_feature_count; i++)
		if (bot_features[i]->state_size &&
		    !(b->feature_state[i] = mem_calloc(1, bot_features[i]->state_size)))
			ok = 0;
	if (!ok) {
		snprintf(err, err_len, "out of memory");
		bot_free(b);
		return NULL;
	}
	b->trust = tls_trust_load(cfg->tls_ca_file, err, err_len);
	if (!b->trust) {
		bot_free(b);
		return NULL;
	}
	log_info("bot", "loaded %zu trust anchors from %s", tls_trust_count(b->trust),
	         cfg->tls_ca_file);
	return b;
}

int
bot_start(struct bot *b, char *err, size_t err_len)
{
	const struct config *cfg = b->cfg;
	struct rest_options ro = {
	        .api_url = cfg->discord_api_url,
	        .token = cfg->discord_bot_token,
	        .version = AGORA_VERSION,
	        .trust = b->trust,
	};
	b->rest = rest_new(b->loop, &ro, err, err_len);
	if (!b->rest)
		return -1;
	char why[512];
	if (template_load(&b->templates, cfg->templates_dir, cfg->prompts_dir, why, sizeof why) <
	    0) {
		snprintf(err, err_len, "templates: %s", why);
		return -1;
	}
	b->templates_loaded = 1;
	struct llm_options lo = {
	        .url = cfg->open_web_ui_url,
	        .model = cfg->open_web_ui_model,
	        .token = cfg->open_webui_token,
	        .timeout_ms = (int)cfg->llm_timeout_seconds * 1000,
	        .trust = b->trust,
	};
	b->llm = llm_new(b->loop, &lo);
	if (!b->llm) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	/* in table order; bot_free frees exactly the ones that started */
	for (; b->features_started < bot_feature_count; b->features_started++) {
		const struct bot_feature *f = bot_features[b->features_started];
		if (f->start && f->start(b) < 0) {
			snprintf(err, err_len, "feature %s could not start", f->name);
			return -1;
		}
	}
	if (cfg->health_port) {
		b->health = health_new(b->loop, (uint16_t)cfg->health_port, health_check, b, err,
		                       err_len);
		if (!b->health)
			return -1;
		log_info("bot", "health listener on 127.0.0.1:%u",
		         (unsigned)health_port(b->health));
	}
	struct cache_config cc = {
	        .host = cfg->redis_host,
	        .port = (uint16_t)cfg->redis_port,
	        .on_state = on_cache_state,
	        .state_data = b,
	        .on_pressure = on_cache_pressure,
	        .pressure_data = b,
	};
	b->cache = cache_new(b->loop, &cc);
	struct db_config dc = {
	        .host = cfg->db_host,
	        .port = (uint16_t)cfg->db_port,
	        .dbname = cfg->db_name,
	        .user = cfg->db_user,
	        .password = cfg->db_password,
	        /* the answer guard's give-up time counts on this bound */
	        .query_timeout_ms = REPLY_DB_QUERY_MS,
	        .on_state = on_db_state,
	        .state_data = b,
	};
	b->phase = PHASE_DB;
	b->db = db_new(b->loop, &dc);
	if (!b->cache || !b->db) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	log_info("bot", "waiting for PostgreSQL at %s:%ld", cfg->db_host, cfg->db_port);
	return 0;
}

/* ------------------------------------------------------------ stop */

static void
on_stop_deadline(struct loop *loop, struct loop_timer *t)
{
	(void)t;
	struct bot *b = t->data;
	log_warn("bot", "stop took too long; exiting now");
	b->phase = PHASE_STOPPED;
	loop_stop(loop);
}

static void
on_stop_step_timer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct bot *b = t->data;
	stop_next(b);
}

static void
on_goodbye_posted(int status, const struct json_value *body, const char *error, void *data)
{
	(void)body;
	struct bot *b = data;
	if (b->freeing)
		return;
	if (error)
		log_warn("bot", "posting \"Bot Shutting Down\" failed: %s (HTTP %d)", error,
		         status);
	if (b->phase == PHASE_STOPPING && b->stop_step == 1)
		stop_next(b);
}

/* The stop, one step per call: 1 goodbye, 2 gateway, 3 flush, 4 done. */
static void
stop_next(struct bot *b)
{
	loop_timer_stop(b->loop, &b->stop_step_timer);
	b->stop_step++;
	switch (b->stop_step) {
	case 1:
		if (b->ever_ready && b->rest && !rest_is_fatal(b->rest)) {
			struct discord_embed e = {.title = "Bot Shutting Down",
			                          .description = "Agora is stopping.",
			                          .color = COLOR_ORANGE};
			loop_timer_start(b->loop, &b->stop_step_timer, STOP_GOODBYE_MS);
			reply_post(b, b->cfg->admin_notification_channel_id, NULL, &e,
			           on_goodbye_posted, b);
			return;
		}
		stop_next(b);
		return;
	case 2:
		if (b->gateway) {
			loop_timer_start(b->loop, &b->stop_step_timer, STOP_GATEWAY_MS);
			gateway_close(b->gateway); /* GATEWAY_CLOSED calls us again */
			return;
		}
		stop_next(b);
		return;
	case 3:
		if (b->cache && cache_buffered(b->cache) > 0 && cache_connected(b->cache)) {
			log_info("bot", "flushing %zu Redis writes", cache_buffered(b->cache));
			loop_timer_start(b->loop, &b->stop_step_timer, STOP_FLUSH_MS);
			return;
		}
		stop_next(b);
		return;
	default:
		b->phase = PHASE_STOPPED;
		loop_timer_stop(b->loop, &b->stop_deadline);
		if (b->cache && cache_buffered(b->cache) > 0)
			log_warn("bot", "%zu Redis writes could not be flushed",
			         cache_buffered(b->cache));
		log_info("bot", "stopped");
		loop_stop(b->loop);
	}
}

void
bot_shutdown(struct bot *b)
{
	if (b->phase == PHASE_STOPPING || b->phase == PHASE_STOPPED)
		return;
	log_info("bot", "shutting down");
	b->phase = PHASE_STOPPING;
	b->stop_step = 0;
	loop_timer_stop(b->loop, &b->retry_timer);
	loop_timer_init(&b->stop_deadline, on_stop_deadline, b);
	loop_timer_init(&b->stop_step_timer, on_stop_step_timer, b);
	loop_timer_start(b->loop, &b->stop_deadline, STOP_DEADLINE_MS);
	stop_next(b);
}

void
bot_free(struct bot *b)
{
	if (!b)
		return;
	b->freeing = 1;
	loop_timer_stop(b->loop, &b->retry_timer);
	if (b->phase == PHASE_STOPPING || b->phase == PHASE_STOPPED) {
		loop_timer_stop(b->loop, &b->stop_deadline);
		loop_timer_stop(b->loop, &b->stop_step_timer);
	}
	/* features first (their timers and caches), then whatever may still
	 * answer a status check or post through rest; rest and the health
	 * listener last; the bot layer's modules after every callback ran */
	for (size_t i = 0; i < b->features_started; i++)
		if (bot_features[i]->free)
			bot_features[i]->free(b);
	llm_free(b->llm); /* pending suggestions call back now, bot_closing 1 */
	gateway_free(b->gateway);
	db_free(b->db);
	cache_free(b->cache);
	rest_free(b->rest);
	health_free(b->health);
	tls_trust_free(b->trust);
	/* answers still waiting for the loop run now, with bot_closing 1 */
	jobs_free(b->jobs);
	b->jobs = NULL;
	replies_free(b->replies);
	embeds_free(b->embeds);
	tracked_free(b->tracked);
	guild_free(b->guild);
	if (b->templates_loaded)
		template_free(&b->templates);
	for (size_t i = 0; b->feature_state && i < bot_feature_count; i++)
		mem_free(b->feature_state[i]);
	mem_free(b->feature_state);
	buf_free(&b->scratch);
	mem_free(b);
}
