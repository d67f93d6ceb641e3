/* support_emulator.c — see emulator.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "emulator.h"
#include "json.h"
#include "loop.h"
#include "test.h"

static pid_t emu_pid = -1;
static int emu_failed;
static int control_port;
static char dir[256];
static char ca_file[300];
static char gateway_url[128];
static char api_base[128];

static void
emu_stop(void)
{
	if (emu_pid > 0) {
		kill(emu_pid, SIGTERM);
		for (int i = 0; i < 300; i++) {
			if (waitpid(emu_pid, NULL, WNOHANG) == emu_pid) {
				emu_pid = -1;
				break;
			}
			usleep(10000);
		}
		if (emu_pid > 0) {
			kill(emu_pid, SIGKILL);
			waitpid(emu_pid, NULL, 0);
		}
	}
	if (dir[0]) {
		char cmd[400];
		snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
}

int
emu_start(void)
{
	if (emu_pid > 0)
		return 0;
	if (emu_failed)
		return -1;
	emu_failed = 1; /* until proven otherwise */
	const char *base = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/agora-emu-XXXXXX", base ? base : "/tmp");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		dir[0] = '\0';
		return -1;
	}
	atexit(emu_stop);
	char cmd[600];
	snprintf(cmd, sizeof cmd, "tests/emulator/make_ca.sh '%s' >'%s/make_ca.log' 2>&1", dir,
	         dir);
	if (system(cmd) != 0) {
		printf("    emulator: make_ca.sh failed (see %s/make_ca.log)\n", dir);
		return -1;
	}
	snprintf(ca_file, sizeof ca_file, "%s/ca.pem", dir);
	char cert[300], key[300], ready[300], log_path[300];
	snprintf(cert, sizeof cert, "%s/server.pem", dir);
	snprintf(key, sizeof key, "%s/server.key", dir);
	snprintf(ready, sizeof ready, "%s/ready.json", dir);
	snprintf(log_path, sizeof log_path, "%s/stdout.log", dir);
	emu_pid = fork();
	if (emu_pid < 0)
		return -1;
	if (emu_pid == 0) {
		FILE *out = freopen(log_path, "w", stdout);
		(void)out;
		dup2(1, 2);
		execl("/usr/bin/python3", "python3", "-m", "tests.emulator", "--port", "0",
		      "--control-port", "0", "--cert", cert, "--key", key, "--log-dir", dir,
		      "--ready-file", ready, "--heartbeat-interval", "1000", (char *)NULL);
		_exit(127);
	}
	/* wait for the ready file: written atomically once both ports listen */
	char *text = NULL;
	size_t len = 0;
	for (int i = 0; i < 1500 && !text; i++) {
		text = test_read_file(ready, &len);
		if (!text) {
			if (waitpid(emu_pid, NULL, WNOHANG) == emu_pid) {
				emu_pid = -1;
				printf("    emulator exited at start (see %s)\n", log_path);
				return -1;
			}
			usleep(10000);
		}
	}
	if (!text) {
		printf("    emulator not ready after 15 s (see %s)\n", log_path);
		return -1;
	}
	struct json_doc doc;
	json_doc_init(&doc, 1 << 16);
	const struct json_value *root = json_parse(&doc, text, len);
	int64_t cport = 0;
	const char *gw = json_path_str(root, "gateway_url");
	const char *api = json_path_str(root, "api_base");
	if (json_path_int64(root, "control_port", &cport) < 0 || !gw || !api) {
		printf("    emulator ready file unreadable: %s\n", text);
		json_doc_free(&doc);
		free(text);
		return -1;
	}
	control_port = (int)cport;
	snprintf(gateway_url, sizeof gateway_url, "%s", gw);
	snprintf(api_base, sizeof api_base, "%s", api);
	json_doc_free(&doc);
	free(text);
	emu_failed = 0;
	return 0;
}

const char *
emu_ca_file(void)
{
	return ca_file;
}

const char *
emu_gateway_url(void)
{
	return gateway_url;
}

const char *
emu_api_base(void)
{
	return api_base;
}

const char *
emu_token(void)
{
	return "emulator-bot-token";
}

int
emu_call(const char *method, const char *path, const char *body, struct buf *out)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)control_port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		close(fd);
		return -1;
	}
	char head[512];
	size_t body_len = body ? strlen(body) : 0;
	int n = snprintf(head, sizeof head,
	                 "%s %s HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
	                 "Content-Length: %zu\r\n\r\n",
	                 method, path, body_len);
	if (write(fd, head, (size_t)n) != n ||
	    (body_len && write(fd, body, body_len) != (ssize_t)body_len)) {
		close(fd);
		return -1;
	}
	struct buf reply;
	buf_init(&reply, 64 << 20);
	char chunk[8192];
	ssize_t got;
	while ((got = read(fd, chunk, sizeof chunk)) > 0)
		buf_append(&reply, chunk, (size_t)got);
	close(fd);
	int status = -1;
	if (reply.len > 12 && sscanf(buf_str(&reply), "HTTP/1.%*d %d", &status) != 1)
		status = -1;
	const char *start = strstr(buf_str(&reply), "\r\n\r\n");
	if (out && start)
		buf_puts(out, start + 4);
	buf_free(&reply);
	return status;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct until {
	int (*cond)(void *);
	void *arg;
	int64_t deadline; /* mono_ms() */
	int met;
	struct loop_timer timer;
};

static void
until_tick(struct loop *loop, struct loop_timer *t)
{
	struct until *u = t->data;
	if (u->cond(u->arg)) {
		u->met = 1;
		loop_stop(loop);
		return;
	}
	if (mono_ms() >= u->deadline) {
		loop_stop(loop);
		return;
	}
	loop_timer_start(loop, t, 5);
}

int
test_run_until(struct loop *loop, int (*cond)(void *arg), void *arg, int64_t timeout_ms)
{
	if (cond(arg))
		return 1;
	struct until u = {cond, arg, mono_ms() + timeout_ms, 0, {0}};
	loop_timer_init(&u.timer, until_tick, &u);
	loop_timer_start(loop, &u.timer, 5);
	loop_run(loop);
	loop_timer_stop(loop, &u.timer);
	return u.met;
}
