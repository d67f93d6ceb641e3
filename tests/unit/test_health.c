/* test_health.c — the loopback health listener: 200 when the owner's
 * check says healthy, 503 otherwise, 503 when the check does not answer in
 * time, and a late answer never reaches another connection. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "emulator.h"
#include "health.h"
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

struct client {
	int fd;
	char reply[1024];
	size_t len;
	int done;
	struct loop_watch watch;
};

static void
on_client(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)revents;
	struct client *c = w->data;
	ssize_t n = read(c->fd, c->reply + c->len, sizeof c->reply - 1 - c->len);
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
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
		c->done = 1;
		return;
	}
	if (write(c->fd, request, strlen(request)) < 0)
		c->done = 1;
	loop_watch_init(&c->watch, on_client, c);
	loop_watch_start(loop, &c->watch, c->fd, POLLIN);
}

TEST(health_answers_200_or_503_from_the_owner_check)
{
	struct loop *loop = loop_new();
	struct owner o = {0};
	char err[200];
	struct health *h = health_new(loop, 0, check, &o, err, sizeof err);
	if (!CHECK(h))
		return;
	struct client c;
	ask(loop, health_port(h), "GET /health HTTP/1.0\r\n\r\n", &c);
	CHECK(test_run_until(loop, client_done, &c, 3000));
	CHECK(strncmp(c.reply, "HTTP/1.0 200 OK\r\n", 17) == 0);
	CHECK(strstr(c.reply, "\r\n\r\nStatus: OK.\n"));
	close(c.fd);

	o.mode = 1;
	ask(loop, health_port(h), "GET /health HTTP/1.0\r\n\r\n", &c);
	CHECK(test_run_until(loop, client_done, &c, 3000));
	CHECK(strncmp(c.reply, "HTTP/1.0 503 ", 13) == 0);
	CHECK(strstr(c.reply, "DB: down"));
	close(c.fd);

	/* not a GET: refused without asking the owner */
	int before = o.checks;
	ask(loop, health_port(h), "POST / HTTP/1.0\r\n\r\n", &c);
	CHECK(test_run_until(loop, client_done, &c, 3000));
	CHECK(strncmp(c.reply, "HTTP/1.0 503 ", 13) == 0);
	CHECK_INT(o.checks, before);
	close(c.fd);
	health_free(h);
	loop_free(loop);
}

TEST(health_check_that_never_answers_times_out_and_late_answer_is_dropped)
{
	struct loop *loop = loop_new();
	struct owner o = {.mode = 2};
	char err[200];
	struct health *h = health_new(loop, 0, check, &o, err, sizeof err);
	if (!CHECK(h))
		return;
	struct client c;
	ask(loop, health_port(h), "GET /health HTTP/1.0\r\n\r\n", &c);
	CHECK(test_run_until(loop, client_done, &c, HEALTH_TIMEOUT_MS + 2000));
	CHECK(strncmp(c.reply, "HTTP/1.0 503 ", 13) == 0);
	CHECK(strstr(c.reply, "timed out"));
	close(c.fd);
	/* a new peer meanwhile, then the old answer arrives late */
	o.mode = 0;
	struct client c2;
	ask(loop, health_port(h), "GET /health HTTP/1.0\r\n\r\n", &c2);
	CHECK(test_run_until(loop, client_done, &c2, 3000));
	CHECK(strncmp(c2.reply, "HTTP/1.0 200 OK", 15) == 0);
	close(c2.fd);
	CHECK(o.held_answer != NULL);
	if (o.held_answer)
		o.held_answer(o.held_conn, 0, "late");
	health_free(h);
	loop_free(loop);
}

TEST(health_refuses_a_busy_port)
{
	struct loop *loop = loop_new();
	struct owner o = {0};
	char err[200];
	struct health *h = health_new(loop, 0, check, &o, err, sizeof err);
	if (!CHECK(h))
		return;
	struct health *again = health_new(loop, health_port(h), check, &o, err, sizeof err);
	CHECK(again == NULL);
	CHECK(strstr(err, "Address in use") || strstr(err, "in use"));
	health_free(again);
	health_free(h);
	loop_free(loop);
}
