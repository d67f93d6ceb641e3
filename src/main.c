/* main — the command line (CONTRACT.md, "Command line"), config loading and
 * wiring of the layers. Everything below main.c returns errors; only this
 * file decides to exit. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>
#include <hiredis/hiredis.h>
#include <libpq-fe.h>
#include <zlib.h>

#include "bot.h"
#include "buf.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "preflight.h"
#include "tls.h"
#include "versions.h"

/* Exit statuses: 0 success, 1 failure (bad config, unhealthy, runtime
 * error), 2 wrong command line. */
enum { EXIT_USAGE = 2 };

static void
usage(FILE *out)
{
	fputs("usage: agora [-c PATH]                 run the bot\n"
	      "       agora --check-config [-c PATH]  check the config and secrets, print every "
	      "problem\n"
	      "       agora --healthcheck [-c PATH]   exit 0 if the running bot is healthy\n"
	      "       agora --check-discord [-c PATH] check the token, server, channels and "
	      "permissions\n"
	      "       agora --invite-url [-c PATH]    print the URL that adds the bot to a server\n"
	      "       agora --version                 print version and library versions\n"
	      "The config file is PATH, else $AGORA_CONFIG, else ./agora.conf.\n",
	      out);
}

static void
print_version(void)
{
	/* run-time versions where the library reports one, else the pinned
	 * version it was built from (vendor/manifest) */
	int pq = PQlibVersion();
	printf("agora %s (commit %s, built %s)\n", AGORA_VERSION, AGORA_COMMIT, AGORA_BUILD_DATE);
	printf("BearSSL %s\n", VERSION_BEARSSL);
	printf("zlib %s\n", zlibVersion());
	printf("hiredis %d.%d.%d\n", HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);
	printf("libpq %d.%d\n", pq / 10000, pq % 10000);
	/* image.c reads untrusted images by their headers alone (stb_image
	 * 2.27 carries unpatched GIF CVEs); stb_image only checks it in tests */
	printf("stb_image %s (tests only: emoji images are never decoded)\n", VERSION_STB_IMAGE);
}

/* Loads the config; prints the problems as PATH:LINE: message to out.
 * Returns 0 when usable. */
static int
load_config(struct config *cfg, const char *path, FILE *out)
{
	struct buf problems;
	buf_init(&problems, 1 << 20);
	int n = config_load(cfg, path, &problems);
	if (n < 0)
		fprintf(out, "%s:0: out of memory while reading the configuration\n", path);
	else if (problems.len)
		fputs(buf_str(&problems), out);
	buf_free(&problems);
	return n == 0 ? 0 : -1;
}

static int
check_config(const char *path)
{
	struct config cfg;
	int rc = load_config(&cfg, path, stdout);
	if (rc == 0) {
		printf("%s: configuration OK (secrets: discord_bot_token present, db_password %s, "
		       "open_webui_token %s)\n",
		       path, cfg.db_password ? "present" : "absent (trusted login)",
		       cfg.open_webui_token ? "present" : "absent (LLM not configured)");
	}
	config_free(&cfg);
	return rc == 0 ? 0 : 1;
}

/* Asks the running bot's loopback health listener (HEALTH_PORT) and exits 0
 * only on "200". Blocking with a deadline is fine here: this is a separate
 * short-lived process (Docker's HEALTHCHECK), not the bot's loop. */
static int
healthcheck(const char *path)
{
	struct config cfg;
	if (load_config(&cfg, path, stderr) < 0) {
		config_free(&cfg);
		return 1;
	}
	long port = cfg.health_port;
	config_free(&cfg);
	if (port == 0) {
		fprintf(stderr,
		        "agora: healthcheck: HEALTH_PORT is 0, the health listener is off\n");
		return 1;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "agora: healthcheck: socket: %s\n", strerror(errno));
		return 1;
	}
	struct timeval tv = {3, 0}; /* the whole check must end well within Docker's timeout */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
		fprintf(stderr, "agora: healthcheck: cannot reach the bot on 127.0.0.1:%ld: %s\n",
		        port, strerror(errno));
		close(fd);
		return 1;
	}
	static const char request[] = "GET /health HTTP/1.0\r\n\r\n";
	char reply[512];
	size_t got = 0;
	if (write(fd, request, sizeof request - 1) != (ssize_t)(sizeof request - 1)) {
		fprintf(stderr, "agora: healthcheck: write: %s\n", strerror(errno));
		close(fd);
		return 1;
	}
	while (got < sizeof reply - 1) {
		ssize_t n = read(fd, reply + got, sizeof reply - 1 - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	reply[got] = '\0';
	/* the body says what is up and down; show it either way */
	const char *body = strstr(reply, "\r\n\r\n");
	int healthy =
	        strncmp(reply, "HTTP/1.0 200", 12) == 0 || strncmp(reply, "HTTP/1.1 200", 12) == 0;
	fprintf(healthy ? stdout : stderr, "%s\n",
	        body ? body + 4 : (got ? "unexpected reply" : "no reply"));
	return healthy ? 0 : 1;
}

/* ------------------------------------------------ --check-discord, --invite-url */

struct preflight_run {
	struct loop *loop;
	int failed;
	int done;
};

static void
on_preflight_line(enum preflight_result result, const char *text, void *data)
{
	(void)data;
	static const char *const word[] = {"ok  ", "FAIL", "skip"};
	printf("%s %s\n", word[result], text);
	fflush(stdout);
}

static void
on_invite_line(enum preflight_result result, const char *text, void *data)
{
	(void)data;
	if (result != PREFLIGHT_OK)
		fprintf(stderr, "agora: invite-url: %s\n", text);
}

static void
on_preflight_done(int failed, void *data)
{
	struct preflight_run *run = data;
	run->failed = failed;
	run->done = 1;
	loop_stop(run->loop);
}

/* The configured channels and categories, each with the place whose
 * permissions it needs (permissions_agora_needs). */
static size_t
preflight_targets(const struct config *cfg, struct preflight_target *t)
{
	size_t n = 0;
#define TARGET(key, field, place) t[n++] = (struct preflight_target){key, cfg->field, place}
	TARGET("ADMIN_NOTIFICATION_CHANNEL_ID", admin_notification_channel_id,
	       PERMISSIONS_TEXT_CHANNEL);
	TARGET("QUEUE_CHANNEL_ID", queue_channel_id, PERMISSIONS_TEXT_CHANNEL);
	TARGET("PUBLIC_ANNOUNCEMENT_CHANNEL_ID", public_announcement_channel_id,
	       PERMISSIONS_TEXT_CHANNEL);
	TARGET("PROPOSED_ACTIVITY_REPORT_CHANNEL_ID", proposed_activity_report_channel_id,
	       PERMISSIONS_TEXT_CHANNEL);
	TARGET("PERMANENT_ACTIVITY_REPORT_CHANNEL_ID", permanent_activity_report_channel_id,
	       PERMISSIONS_TEXT_CHANNEL);
	TARGET("PROPOSED_CHANNEL_CATEGORY_ID", proposed_channel_category_id, PERMISSIONS_CATEGORY);
	TARGET("PERMANENT_CHANNEL_CATEGORY_ID", permanent_channel_category_id,
	       PERMISSIONS_CATEGORY);
#undef TARGET
	return n;
}

/* Runs the preflight job on its own loop until it is done. REST only: no
 * database, Redis or gateway is touched. Returns the exit status. */
static int
run_preflight(const char *path, int invite_only)
{
	struct config cfg;
	if (load_config(&cfg, path, stderr) < 0) {
		config_free(&cfg);
		return 1;
	}
	/* this mode's own output is the report; logs only for real trouble */
	log_set_level(LOG_ERROR);
	int status = 1;
	char err[256] = "";
	struct preflight_target targets[PREFLIGHT_TARGETS_MAX];
	struct preflight_options o = {
	        .api_url = cfg.discord_api_url,
	        .token = cfg.discord_bot_token,
	        .version = AGORA_VERSION,
	        .guild_id = cfg.guild_id,
	        .targets = targets,
	        .target_count = preflight_targets(&cfg, targets),
	        .invite_only = invite_only,
	};
	struct preflight_run run = {0};
	struct preflight *p = NULL;
	struct tls_trust *trust = tls_trust_load(cfg.tls_ca_file, err, sizeof err);
	struct loop *loop = trust ? loop_new() : NULL;
	o.trust = trust;
	run.loop = loop;
	if (!trust) {
		fprintf(stderr, "agora: %s\n", err);
	} else if (!loop) {
		fprintf(stderr, "agora: out of memory\n");
	} else if (!(p = preflight_new(loop, &o, invite_only ? on_invite_line : on_preflight_line,
	                               on_preflight_done, &run, err, sizeof err))) {
		fprintf(stderr, "agora: %s\n", err);
	} else {
		if (preflight_start(p) == 0 && (run.done || loop_run(loop) == 0) && run.done) {
			if (invite_only) {
				char url[256];
				uint64_t app = preflight_application_id(p);
				if (app && preflight_invite_url(app, url, sizeof url) > 0) {
					printf("%s\n", url);
					status = 0;
				}
			} else {
				if (run.failed)
					printf("check-discord: %d check%s did not pass\n",
					       run.failed, run.failed == 1 ? "" : "s");
				else
					printf("check-discord: every check passed\n");
				status = run.failed ? 1 : 0;
			}
		}
	}
	preflight_free(p);
	loop_free(loop);
	tls_trust_free(trust);
	config_free(&cfg);
	return status;
}

static void
on_signal(struct loop *loop, int signo, void *data)
{
	(void)loop;
	struct bot *b = data;
	log_info("main", "%s received", signo == SIGTERM ? "SIGTERM" : "SIGINT");
	bot_shutdown(b);
}

static int
run_bot(const char *path)
{
	struct config cfg;
	if (load_config(&cfg, path, stderr) < 0) {
		config_free(&cfg);
		return 1;
	}
	log_set_level(cfg.log_level);
	log_info("main", "agora %s starting (config %s, guild %llu)", AGORA_VERSION, path,
	         (unsigned long long)cfg.guild_id);
	int status = 1;
	char err[256] = "";
	struct loop *loop = loop_new();
	struct bot *b = loop ? bot_new(loop, &cfg, err, sizeof err) : NULL;
	if (!b) {
		log_crit("main", "cannot start: %s", loop ? err : "out of memory");
	} else if (loop_signal(loop, SIGTERM, on_signal, b) < 0 ||
	           loop_signal(loop, SIGINT, on_signal, b) < 0) {
		log_crit("main", "cannot install signal handlers");
	} else if (bot_start(b, err, sizeof err) < 0) {
		log_crit("main", "cannot start: %s", err);
	} else if (loop_run(loop) < 0) {
		log_crit("main", "the event loop failed");
	} else {
		status = bot_exit_status(b);
	}
	bot_free(b);
	loop_free(loop);
	config_free(&cfg);
	log_info("main", "exit %d", status);
	return status;
}

int
main(int argc, char **argv)
{
	enum { RUN, CHECK_CONFIG, HEALTHCHECK, CHECK_DISCORD, INVITE_URL, VERSION } mode = RUN;
	const char *path = getenv("AGORA_CONFIG");
	if (!path || !*path)
		path = "agora.conf";

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "agora: %s needs a PATH\n", a);
				usage(stderr);
				return EXIT_USAGE;
			}
			path = argv[++i];
		} else if (strncmp(a, "--config=", 9) == 0) {
			path = a + 9;
		} else if (strcmp(a, "--check-config") == 0) {
			mode = CHECK_CONFIG;
		} else if (strcmp(a, "--healthcheck") == 0) {
			mode = HEALTHCHECK;
		} else if (strcmp(a, "--check-discord") == 0) {
			mode = CHECK_DISCORD;
		} else if (strcmp(a, "--invite-url") == 0) {
			mode = INVITE_URL;
		} else if (strcmp(a, "--version") == 0 || strcmp(a, "-V") == 0) {
			mode = VERSION;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			fprintf(stderr, "agora: unknown argument '%s'\n", a);
			usage(stderr);
			return EXIT_USAGE;
		}
	}

	switch (mode) {
	case VERSION:
		print_version();
		return 0;
	case CHECK_CONFIG:
		return check_config(path);
	case HEALTHCHECK:
		return healthcheck(path);
	case CHECK_DISCORD:
		return run_preflight(path, 0);
	case INVITE_URL:
		return run_preflight(path, 1);
	case RUN:
		break;
	}
	return run_bot(path);
}
