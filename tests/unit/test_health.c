/* test_health.c — the loopback health listener: 200 when the owner's
 * check says healthy, 503 otherwise, 503 when the check does not answer in
 * time, and a late answer never reaches another connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emulator.h"
#include "health.h"
#include "log.h"
#include "loop.h"
#include "test.h"

struct owner {
	int mode; /* 0 healthy, 1 unhealthy, 2 never answer (keeps it) */
	int checks;
	health_answer_fn *held_answer;
	void *held_conn;
};

static void
check(void *data, health_answer_fn *answer, void *conn)
{
	struct owner *o = data;
	o->checks++;
	if (o->mode == 2) {
		o->held_answer = answer;
		o->held_conn = conn;
		return;
	}
	answer(conn, o->mode == 0, o->mode == 0 ? "Status: OK." : "Status: DEGRADED. DB: down.");
}

/* A non-blocking connect, so 300 of them never block the loop's thread
 * while the listener's queue is full. */
static int
connect_nonblocking(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A health check as `agora --healthcheck` makes it, but non-blocking:
 * the request goes out once the connection is up (none when it is ""),
 * then the reply is read until the listener closes. */
struct client {
	int fd, sent, done;
	const char *request;
	char reply[1024];
	size_t len;
	struct loop_watch watch;
};

static void
on_client(struct loop *loop, struct loop_watch *w, short revents)
{
	struct client *c = w->data;
	if (!c->sent) {
		size_t len = strlen(c->request);
		if (revents & (POLLERR | POLLHUP)) {
			c->done = 1;
			loop_watch_stop(loop, w);
			return;
		}
		if (write(c->fd, c->request, len) == (ssize_t)len) {
			c->sent = 1;
			loop_watch_start(loop, w, c->fd, POLLIN);
		}
		return;
	}
	ssize_t n = read(c->fd, c->reply + c->len, sizeof c->reply - 1 - c->len);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		c->done = 1;
		loop_watch_stop(loop, w);
		return;
	}
	c->len += (size_t)n;
	c->reply[c->len] = '\0';
}

static int
client_done(void *arg)
{
	return ((struct client *)arg)->done;
}

static void
ask(struct loop *loop, uint16_t port, const char *request, struct client *c)
{
	memset(c, 0, sizeof *c);
	c->request = request;
	c->fd = connect_nonblocking(port);
	if (c->fd < 0) {
		c->done = 1;
		return;
	}
	loop_watch_init(&c->watch, on_client, c);
	loop_watch_start(loop, &c->watch, c->fd, POLLOUT);
}

/* ask, then run the loop until the peer closed (at most timeout_ms); the
 * socket is closed, the reply stays in c. */
static void
ask_and_wait(struct loop *loop, uint16_t port, const char *request, struct client *c,
             int timeout_ms)
{
	ask(loop, port, request, c);
	CHECK(test_run_until(loop, client_done, c, timeout_ms));
	close(c->fd);
}

/* A loop and a listener on a free port with its owner. */
struct fixture {
	struct loop *loop;
	struct owner o;
	struct health *h;
};

static int
fixture_start(struct fixture *f, int mode)
{
	memset(f, 0, sizeof *f);
	f->loop = loop_new();
	f->o.mode = mode;
	char err[200];
	f->h = health_new(f->loop, 0, check, &f->o, err, sizeof err);
	if (!CHECK(f->h)) {
		loop_free(f->loop);
		return -1;
	}
	return 0;
}

static void
fixture_stop(struct fixture *f)
{
	health_free(f->h);
	loop_free(f->loop);
}

TEST(health_answers_200_or_503_from_the_owner_check)
{
	struct fixture f;
	if (fixture_start(&f, 0) < 0)
		return;
	uint16_t port = health_port(f.h);
	struct client c;
	ask_and_wait(f.loop, port, "GET /health HTTP/1.0\r\n\r\n", &c, 3000);
	CHECK(strncmp(c.reply, "HTTP/1.0 200 OK\r\n", 17) == 0);
	CHECK(strstr(c.reply, "\r\n\r\nStatus: OK.\n"));

	f.o.mode = 1;
	ask_and_wait(f.loop, port, "GET /health HTTP/1.0\r\n\r\n", &c, 3000);
	CHECK(strncmp(c.reply, "HTTP/1.0 503 ", 13) == 0);
	CHECK(strstr(c.reply, "DB: down"));

	/* not a GET: refused without asking the owner */
	int before = f.o.checks;
	ask_and_wait(f.loop, port, "POST / HTTP/1.0\r\n\r\n", &c, 3000);
	CHECK(strncmp(c.reply, "HTTP/1.0 503 ", 13) == 0);
	CHECK_INT(f.o.checks, before);
	fixture_stop(&f);
}

TEST(health_check_that_never_answers_times_out_and_late_answer_is_dropped)
{
	struct fixture f;
	if (fixture_start(&f, 2) < 0)
		return;
	uint16_t port = health_port(f.h);
	struct client c;
	ask_and_wait(f.loop, port, "GET /health HTTP/1.0\r\n\r\n", &c, HEALTH_TIMEOUT_MS + 2000);
	CHECK(strncmp(c.reply, "HTTP/1.0 503 ", 13) == 0);
	CHECK(strstr(c.reply, "timed out"));
	/* a new peer meanwhile, then the old answer arrives late */
	f.o.mode = 0;
	struct client c2;
	ask_and_wait(f.loop, port, "GET /health HTTP/1.0\r\n\r\n", &c2, 3000);
	CHECK(strncmp(c2.reply, "HTTP/1.0 200 OK", 15) == 0);
	CHECK(f.o.held_answer != NULL);
	if (f.o.held_answer)
		f.o.held_answer(f.o.held_conn, 0, "late");
	fixture_stop(&f);
}

TEST(health_refuses_a_busy_port)
{
	struct fixture f;
	if (fixture_start(&f, 0) < 0)
		return;
	char err[200];
	struct health *again = health_new(f.loop, health_port(f.h), check, &f.o, err, sizeof err);
	CHECK(again == NULL);
	CHECK(strstr(err, "Address in use") || strstr(err, "in use"));
	health_free(again);
	fixture_stop(&f);
}

/* 300 idle connections (connected, never a byte) cannot make the health
 * check fail: the listener closes the oldest idle peer for each new one,
 * so the real check is served; and what it turned away is logged as a
 * count, not as one warning per connection. Measured: the check's answer
 * and the listener's warning lines in the log. */
TEST(health_300_idle_connections_do_not_starve_the_check)
{
	struct fixture f;
	if (fixture_start(&f, 0) < 0)
		return;
	struct loop *loop = f.loop;
	struct health *h = f.h;
	/* the log goes to a file we can count lines in */
	char path[512];
	snprintf(path, sizeof path, "%s/health-log.txt", test_tmpdir());
	int log_fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0600);
	CHECK(log_fd >= 0);
	log_set_fd(log_fd);

	static int idle[300];
	int opened = 0;
	for (int i = 0; i < 300; i++) {
		idle[i] = connect_nonblocking(health_port(h));
		opened += idle[i] >= 0;
		/* let the listener drain its queue now and then, as it would
		 * between a real attacker's connects */
		if (i % 50 == 49) {
			struct client dummy = {.done = 0};
			test_run_until(loop, client_done, &dummy, 20);
		}
	}
	CHECK_INT(opened, 300);
	struct client c;
	ask_and_wait(loop, health_port(h), "GET /health HTTP/1.0\r\n\r\n", &c, 3000);
	CHECK(strncmp(c.reply, "HTTP/1.0 200 OK\r\n", 17) == 0);
	/* and again while the idle ones are still open */
	struct client c2;
	ask_and_wait(loop, health_port(h), "GET /health HTTP/1.0\r\n\r\n", &c2, 3000);
	CHECK(strncmp(c2.reply, "HTTP/1.0 200 OK\r\n", 17) == 0);

	log_set_fd(2);
	close(log_fd);
	size_t len = 0;
	char *text = test_read_file(path, &len);
	int lines = 0;
	for (const char *p = text; p && (p = strstr(p, "health:")) != NULL; p++)
		lines++;
	printf("health: 300 idle connections, the check answered \"%.15s\"; %d health log "
	       "line(s)\n",
	       c.reply, lines);
	CHECK(lines >= 1);
	CHECK(lines <= 2);
	free(text);
	for (int i = 0; i < 300; i++)
		if (idle[i] >= 0)
			close(idle[i]);
	fixture_stop(&f);
}

/* An idle peer is closed after HEALTH_READ_MS, not held for the whole
 * HEALTH_TIMEOUT_MS. */
TEST(health_idle_peer_is_closed_after_the_read_deadline)
{
	struct fixture f;
	if (fixture_start(&f, 0) < 0)
		return;
	struct loop *loop = f.loop;
	struct health *h = f.h;
	struct client c;
	ask(loop, health_port(h), "", &c); /* connects, sends nothing */
	int64_t t0 = loop_now(loop);
	CHECK(test_run_until(loop, client_done, &c, HEALTH_TIMEOUT_MS + 1000));
	int64_t took = loop_now(loop) - t0;
	CHECK(took >= HEALTH_READ_MS - 50);
	CHECK(took < HEALTH_TIMEOUT_MS);
	CHECK_INT((long long)c.len, 0);
	close(c.fd);
	fixture_stop(&f);
}
