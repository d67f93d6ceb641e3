/* test_net — lookups off the loop and non-blocking connect (src/net.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "loop.h"
#include "net.h"
#include "test.h"

struct net_test {
	struct loop *loop;
	struct net_connect conn;
	struct net_resolve res;
	struct loop_timer guard, tick;
	int fd, calls, timer_fired, timer_fired_before_result;
	size_t count;
	char addr0[80];
	char error[256];
};

static void
net_test_guard(struct loop *loop, struct loop_timer *t)
{
	(void)t;
	loop_stop(loop); /* the test took too long; its checks will fail */
}

static void
net_test_init(struct net_test *s, int64_t guard_ms)
{
	memset(s, 0, sizeof *s);
	s->loop = loop_new();
	s->fd = -2;
	net_connect_init(&s->conn);
	net_resolve_init(&s->res);
	loop_timer_init(&s->guard, net_test_guard, s);
	loop_timer_init(&s->tick, net_test_guard, s);
	loop_timer_start(s->loop, &s->guard, guard_ms);
}

/* A finished lookup thread lets go of its job just after handing the
 * result over: wait for that, so each test starts with no thread alive. */
static void
net_test_wait_jobs(void)
{
	for (int i = 0; i < 2000 && net_jobs_alive() > 0; i++) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
}

static void
net_test_done(struct net_test *s)
{
	loop_timer_stop(s->loop, &s->guard);
	loop_timer_stop(s->loop, &s->tick);
	net_connect_cancel(&s->conn);
	net_resolve_cancel(&s->res);
	loop_free(s->loop);
	net_test_wait_jobs();
}

static void
on_connected(struct net_connect *c, int fd, void *data)
{
	struct net_test *s = data;
	(void)c;
	s->calls++;
	s->fd = fd;
	snprintf(s->error, sizeof s->error, "%s", net_connect_error(c));
	loop_stop(s->loop);
}

TEST(net_connect_local_listener)
{
	uint16_t port;
	int lfd = test_listen(&port);
	CHECK(lfd >= 0);
	struct net_test s;
	net_test_init(&s, 3000);
	CHECK_INT(net_connect_start(s.loop, &s.conn, "127.0.0.1", port, on_connected, &s), 0);
	CHECK_INT(s.calls, 0); /* never called back from inside start */
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.calls, 1);
	CHECK(s.fd >= 0);
	CHECK_STR(s.error, "");
	/* the fd is really connected to our listener */
	int peer = accept(lfd, NULL, NULL);
	CHECK(peer >= 0);
	CHECK_INT(write(s.fd, "ping", 4), 4);
	char got[8] = {0};
	CHECK_INT(read(peer, got, sizeof got - 1), 4);
	CHECK_STR(got, "ping");
	close(peer);
	close(s.fd);
	close(lfd);
	net_test_done(&s);
}

TEST(net_connect_by_name_localhost)
{
	/* "localhost" may give ::1 first, where nothing listens: the next
	 * address is tried */
	uint16_t port;
	int lfd = test_listen(&port);
	struct net_test s;
	net_test_init(&s, 5000);
	CHECK_INT(net_connect_start(s.loop, &s.conn, "localhost", port, on_connected, &s), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.calls, 1);
	CHECK(s.fd >= 0);
	if (s.fd >= 0)
		close(s.fd);
	close(lfd);
	net_test_done(&s);
	CHECK_INT(net_jobs_alive(), 0); /* the thread freed its job */
}

TEST(net_connect_refused)
{
	/* a port that was just free: bound, then closed without listening */
	uint16_t port;
	int lfd = test_listen(&port);
	close(lfd);
	struct net_test s;
	net_test_init(&s, 3000);
	CHECK_INT(net_connect_start(s.loop, &s.conn, "127.0.0.1", port, on_connected, &s), 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.calls, 1);
	CHECK_INT(s.fd, -1);
	char want[128];
	snprintf(want, sizeof want, "connect to 127.0.0.1:%u: Connection refused", (unsigned)port);
	CHECK_STR(s.error, want);
	net_test_done(&s);
}

static void
on_resolved(struct net_resolve *r, const struct net_addr *addrs, size_t count, void *data)
{
	struct net_test *s = data;
	s->calls++;
	s->count = count;
	s->timer_fired_before_result = s->timer_fired;
	if (count > 0)
		net_addr_format(&addrs[0], s->addr0, sizeof s->addr0);
	for (size_t i = 0; i < count; i++) {
		char a[80];
		net_addr_format(&addrs[i], a, sizeof a);
		if (strcmp(a, "127.0.0.1:80") == 0 || strcmp(a, "[::1]:80") == 0)
			snprintf(s->addr0, sizeof s->addr0, "%s", a);
	}
	snprintf(s->error, sizeof s->error, "%s", net_resolve_error(r));
	loop_stop(s->loop);
}

TEST(net_resolve_localhost)
{
	struct net_test s;
	net_test_init(&s, 5000);
	CHECK_INT(net_resolve_start(s.loop, &s.res, "localhost", 80, on_resolved, &s), 0);
	CHECK_INT(s.calls, 0);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.calls, 1);
	CHECK(s.count > 0);
	CHECK(strcmp(s.addr0, "127.0.0.1:80") == 0 || strcmp(s.addr0, "[::1]:80") == 0);
	CHECK_STR(s.error, "");
	net_test_done(&s);
}

TEST(net_resolve_literals)
{
	struct net_test s;
	net_test_init(&s, 2000);
	CHECK_INT(net_resolve_start(s.loop, &s.res, "10.1.2.3", 443, on_resolved, &s), 0);
	CHECK_INT(s.calls, 0);          /* even a literal is answered from the loop */
	CHECK_INT(net_jobs_alive(), 0); /* and without a thread */
	loop_run(s.loop);
	CHECK_INT(s.calls, 1);
	CHECK_INT(s.count, 1);
	CHECK_STR(s.addr0, "10.1.2.3:443");

	CHECK_INT(net_resolve_start(s.loop, &s.res, "[::1]", 8080, on_resolved, &s), 0);
	loop_run(s.loop);
	CHECK_INT(s.calls, 2);
	CHECK_STR(s.addr0, "[::1]:8080");
	net_test_done(&s);
}

TEST(net_resolve_bad_names)
{
	struct net_test s;
	net_test_init(&s, 20000);
	/* not a host name at all: refused without a lookup */
	CHECK_INT(net_resolve_start(s.loop, &s.res, "bad host/name", 80, on_resolved, &s), 0);
	loop_run(s.loop);
	CHECK_INT(s.calls, 1);
	CHECK_INT(s.count, 0);
	CHECK_STR(s.error, "invalid host name \"bad host/name\"");

	/* RFC 6761 6.4: ".invalid" names never exist */
	CHECK_INT(net_resolve_start(s.loop, &s.res, "nosuch.invalid", 80, on_resolved, &s), 0);
	loop_run(s.loop);
	CHECK_INT(s.calls, 2);
	CHECK_INT(s.count, 0);
	const char *prefix = "cannot resolve nosuch.invalid: ";
	CHECK(strncmp(s.error, prefix, strlen(prefix)) == 0);
	CHECK(strlen(s.error) > strlen(prefix) + 3); /* and says why */
	printf("    (%s)\n", s.error);

	/* the same failure through net_connect */
	CHECK_INT(net_connect_start(s.loop, &s.conn, "nosuch.invalid", 80, on_connected, &s), 0);
	loop_run(s.loop);
	CHECK_INT(s.calls, 3);
	CHECK_INT(s.fd, -1);
	CHECK(strncmp(s.error, prefix, strlen(prefix)) == 0);
	net_test_done(&s);
}

/* ---- a resolver the test holds until it says go */

static atomic_int net_test_release;
static atomic_int net_test_entered;

static int
net_test_slow_resolver(const char *host, const char *service, const struct addrinfo *hints,
                       struct addrinfo **res)
{
	(void)host;
	atomic_store(&net_test_entered, 1);
	while (!atomic_load(&net_test_release)) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	struct addrinfo h = *hints;
	h.ai_flags |= AI_NUMERICHOST;
	return getaddrinfo("127.0.0.2", service, &h, res);
}

static void
on_tick_release(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct net_test *s = t->data;
	s->timer_fired = 1;
	atomic_store(&net_test_release, 1);
}

TEST(net_resolve_loop_runs_during_lookup)
{
	struct net_test s;
	net_test_init(&s, 5000);
	atomic_store(&net_test_release, 0);
	net_set_resolver(net_test_slow_resolver);
	CHECK_INT(net_resolve_start(s.loop, &s.res, "slow.example", 80, on_resolved, &s), 0);
	net_set_resolver(NULL);
	/* the lookup can only finish after this timer ran on the loop */
	loop_timer_init(&s.tick, on_tick_release, &s);
	loop_timer_start(s.loop, &s.tick, 20);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(s.calls, 1);
	CHECK_INT(s.timer_fired_before_result, 1);
	CHECK_INT(s.count, 1);
	CHECK_STR(s.addr0, "127.0.0.2:80");
	net_test_done(&s);
}

static void
on_poll_jobs(struct loop *loop, struct loop_timer *t)
{
	if (net_jobs_alive() == 0)
		loop_stop(loop);
	else
		loop_timer_start(loop, t, 2);
}

TEST(net_resolve_cancelled_lookup_is_dropped)
{
	struct net_test s;
	net_test_init(&s, 5000);
	atomic_store(&net_test_release, 0);
	atomic_store(&net_test_entered, 0);
	net_set_resolver(net_test_slow_resolver);
	CHECK_INT(net_resolve_start(s.loop, &s.res, "gone.example", 80, on_resolved, &s), 0);
	CHECK_INT(net_jobs_alive(), 1);
	/* the requester goes away while the thread is inside the resolver;
	 * its struct is even scribbled over, as a freed owner would be */
	while (!atomic_load(&net_test_entered)) {
		struct timespec ms = {0, 1000000};
		nanosleep(&ms, NULL);
	}
	net_resolve_cancel(&s.res);
	memset(&s.res, 0xA5, sizeof s.res);
	net_resolve_init(&s.res);
	net_set_resolver(NULL);
	atomic_store(&net_test_release, 1);
	/* the thread finishes and frees its job on its own */
	loop_timer_init(&s.tick, on_poll_jobs, &s);
	loop_timer_start(s.loop, &s.tick, 1);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(net_jobs_alive(), 0);
	CHECK_INT(s.calls, 0);

	/* and cancelling a connect mid-lookup is as safe */
	atomic_store(&net_test_release, 0);
	net_set_resolver(net_test_slow_resolver);
	CHECK_INT(net_connect_start(s.loop, &s.conn, "gone2.example", 80, on_connected, &s), 0);
	net_set_resolver(NULL);
	net_connect_cancel(&s.conn);
	atomic_store(&net_test_release, 1);
	loop_timer_start(s.loop, &s.tick, 1);
	CHECK_INT(loop_run(s.loop), 0);
	CHECK_INT(net_jobs_alive(), 0);
	CHECK_INT(s.calls, 0);
	net_test_done(&s);
}
