/* health — see health.h. */
#include "health.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "mem.h"

/* A request is one line and a blank line ("GET /health HTTP/1.0"); a
 * kilobyte is plenty, anything longer is not a health check. */
#define HEALTH_REQUEST_MAX 1024
/* Connections waiting in the kernel to be accepted. Idle peers are drained
 * fast (accepted, read, and closed oldest first when all slots are taken),
 * so a deeper queue only spares a real check a dropped SYN and its 1 s
 * retransmission. */
#define HEALTH_BACKLOG 128
/* How often the count of closed and refused connections is logged while
 * it grows: one line a minute, whatever the rate of refusals. */
#define HEALTH_SUMMARY_MS 60000

struct health_conn {
	struct health *h;
	int fd; /* -1: free slot */
	struct loop_watch watch;
	struct loop_timer timer;
	char in[HEALTH_REQUEST_MAX];
	size_t in_len;
	char out[512];
	size_t out_len, out_sent;
	int64_t opened_at; /* loop time of accept: the oldest idle peer goes first */
	int checking;      /* the peer waits for the owner's answer */
	int owed;          /* the owner still owes an answer: the slot is not reused
	                      before it comes, so a late answer cannot reach a new peer */
};

struct health {
	struct loop *loop;
	int fd;
	uint16_t port;
	struct loop_watch watch;
	health_check_fn *check;
	void *data;
	struct health_conn conns[HEALTH_MAX_CONNECTIONS];
	/* idle peers closed to make room, and peers refused (every slot busy
	 * with a check), since the last summary line */
	long evicted, refused;
	int summary_armed; /* a summary line is due when summary_timer fires */
	struct loop_timer summary_timer;
};

static void
conn_close(struct health_conn *c)
{
	if (c->fd < 0)
		return;
	loop_watch_stop(c->h->loop, &c->watch);
	loop_timer_stop(c->h->loop, &c->timer);
	close(c->fd);
	c->fd = -1;
	c->checking = 0;
}

static void
conn_write(struct health_conn *c)
{
	while (c->out_sent < c->out_len) {
		ssize_t n = write(c->fd, c->out + c->out_sent, c->out_len - c->out_sent);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			loop_watch_start(c->h->loop, &c->watch, c->fd, POLLOUT);
			return;
		}
		if (n <= 0)
			break;
		c->out_sent += (size_t)n;
	}
	conn_close(c);
}

static void
respond(struct health_conn *c, int healthy, const char *summary)
{
	c->checking = 0;
	int n = snprintf(c->out, sizeof c->out,
	                 "HTTP/1.0 %s\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n%s\n",
	                 healthy ? "200 OK" : "503 Service Unavailable", summary);
	c->out_len = n < 0 ? 0 : (size_t)n < sizeof c->out ? (size_t)n : sizeof c->out - 1;
	c->out_sent = 0;
	conn_write(c);
}

static void
answer(void *conn, int healthy, const char *summary)
{
	struct health_conn *c = conn;
	c->owed = 0;
	if (c->fd < 0 || !c->checking)
		return; /* timed out meanwhile */
	respond(c, healthy, summary);
}

static void
on_conn(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)loop;
	struct health_conn *c = w->data;
	if (c->out_len) {
		conn_write(c);
		return;
	}
	if (revents & (POLLERR | POLLHUP | POLLNVAL)) {
		conn_close(c);
		return;
	}
	ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - 1 - c->in_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_close(c);
		return;
	}
	c->in_len += (size_t)n;
	c->in[c->in_len] = '\0';
	if (!strstr(c->in, "\r\n\r\n") && !strstr(c->in, "\n\n")) {
		if (c->in_len >= sizeof c->in - 1)
			conn_close(c);
		return;
	}
	/* the request is complete: stop reading, ask the owner, who has the
	 * rest of HEALTH_TIMEOUT_MS */
	loop_watch_stop(c->h->loop, &c->watch);
	int64_t left = HEALTH_TIMEOUT_MS - (loop_now(c->h->loop) - c->opened_at);
	loop_timer_start(c->h->loop, &c->timer, left > 0 ? left : 1);
	if (strncmp(c->in, "GET ", 4) != 0) {
		respond(c, 0, "only GET is served here");
		return;
	}
	c->checking = 1;
	c->owed = 1;
	c->h->check(c->h->data, answer, c);
}

/* One line for what the listener turned away. The first crowding is
 * logged at once, then at most one line per HEALTH_SUMMARY_MS: a flood of
 * idle connections must not become a flood of log lines. */
static void
summary_note(struct health *h)
{
	if (h->summary_armed)
		return;
	log_warn("health",
	         "health listener crowded: %ld idle connection(s) closed, %ld refused (a summary "
	         "follows each minute while it lasts)",
	         h->evicted, h->refused);
	h->evicted = h->refused = 0;
	h->summary_armed = 1;
	loop_timer_start(h->loop, &h->summary_timer, HEALTH_SUMMARY_MS);
}

static void
on_summary_timer(struct loop *loop, struct loop_timer *t)
{
	struct health *h = t->data;
	if (h->evicted == 0 && h->refused == 0) {
		h->summary_armed = 0; /* quiet for a minute: the next crowding logs at once */
		return;
	}
	log_warn("health", "in the last %d s: %ld idle connection(s) closed, %ld refused",
	         HEALTH_SUMMARY_MS / 1000, h->evicted, h->refused);
	h->evicted = h->refused = 0;
	loop_timer_start(loop, t, HEALTH_SUMMARY_MS);
}

/* The slot for a new peer: a free one, else the oldest idle peer's (still
 * sending its request, not waiting for a check nor being answered), which
 * is closed. NULL when every slot holds a check. */
static struct health_conn *
take_slot(struct health *h)
{
	struct health_conn *oldest = NULL;
	for (size_t i = 0; i < HEALTH_MAX_CONNECTIONS; i++) {
		struct health_conn *c = &h->conns[i];
		if (c->fd < 0 && !c->owed)
			return c;
		if (c->fd >= 0 && !c->checking && !c->owed && c->out_len == 0 &&
		    (!oldest || c->opened_at < oldest->opened_at))
			oldest = c;
	}
	if (oldest) {
		conn_close(oldest);
		h->evicted++;
	}
	return oldest;
}

static void
on_conn_timeout(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	struct health_conn *c = t->data;
	if (c->checking) {
		/* the check took too long: that is an answer too */
		respond(c, 0, "Status: check timed out");
		return;
	}
	conn_close(c);
}

static void
on_accept(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)revents;
	struct health *h = w->data;
	for (;;) {
		/* accept4 is not POSIX; two fcntl calls do the same */
		int fd = accept(h->fd, NULL, NULL);
		if (fd < 0)
			return; /* EAGAIN, or a transient error: wait for the next */
		if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
			close(fd);
			continue;
		}
		struct health_conn *c = take_slot(h);
		if (!c) {
			h->refused++;
			close(fd);
			summary_note(h);
			continue;
		}
		if (h->evicted)
			summary_note(h);
		c->fd = fd;
		c->in_len = 0;
		c->out_len = 0;
		c->out_sent = 0;
		c->checking = 0;
		c->opened_at = loop_now(loop);
		loop_watch_start(loop, &c->watch, fd, POLLIN);
		/* the request must come soon (a real check sends it with the
		 * connect); the check then gets the rest of HEALTH_TIMEOUT_MS */
		loop_timer_start(loop, &c->timer, HEALTH_READ_MS);
		/* a request already here is read now, so the next accept in
		 * this burst cannot take its slot for an idle peer */
		on_conn(loop, &c->watch, POLLIN);
	}
}

struct health *
health_new(struct loop *loop, uint16_t port, health_check_fn *check, void *data, char *err,
           size_t err_len)
{
	struct health *h = mem_calloc(1, sizeof *h);
	if (!h) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	h->loop = loop;
	h->check = check;
	h->data = data;
	for (size_t i = 0; i < HEALTH_MAX_CONNECTIONS; i++) {
		h->conns[i].h = h;
		h->conns[i].fd = -1;
		loop_watch_init(&h->conns[i].watch, on_conn, &h->conns[i]);
		loop_timer_init(&h->conns[i].timer, on_conn_timeout, &h->conns[i]);
	}
	loop_timer_init(&h->summary_timer, on_summary_timer, h);
	loop_watch_init(&h->watch, on_accept, h);
	h->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->fd < 0) {
		snprintf(err, err_len, "health listener: socket: %s", strerror(errno));
		mem_free(h);
		return NULL;
	}
	int one = 1;
	setsockopt(h->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/* loopback only: the health answer is for this host's Docker, no one else */
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof sa;
	if (bind(h->fd, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    listen(h->fd, HEALTH_BACKLOG) < 0 ||
	    getsockname(h->fd, (struct sockaddr *)&sa, &len) < 0) {
		snprintf(err, err_len, "health listener on 127.0.0.1:%u: %s", (unsigned)port,
		         strerror(errno));
		close(h->fd);
		mem_free(h);
		return NULL;
	}
	h->port = ntohs(sa.sin_port);
	if (loop_watch_start(loop, &h->watch, h->fd, POLLIN) < 0) {
		snprintf(err, err_len, "health listener: out of memory");
		close(h->fd);
		mem_free(h);
		return NULL;
	}
	return h;
}

void
health_free(struct health *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < HEALTH_MAX_CONNECTIONS; i++)
		conn_close(&h->conns[i]);
	loop_timer_stop(h->loop, &h->summary_timer);
	loop_watch_stop(h->loop, &h->watch);
	close(h->fd);
	mem_free(h);
}

uint16_t
health_port(const struct health *h)
{
	return h->port;
}
