/* fuzz_peer.h — a scripted peer on loopback, run by the code's own loop,
 * for fuzz targets whose parser is reached only through a socket: the
 * health listener's request reader, the gateway's payload handling, REST's
 * rate-limit headers and the Redis replies. The targets then drive the
 * modules through their public API only, exactly as the bot does, with the
 * fuzzer's bytes on the wire.
 *
 * Server mode (fuzz_peer_listen): the module under test connects to
 * 127.0.0.1:fuzz_peer_port(); on_input sees everything received so far and
 * appends what to answer to p->out. Client mode (fuzz_peer_connect): the
 * peer connects to the module's port and sends p->out.
 *
 * The listening socket is made once per process (a fresh one per input
 * would cost more than the parse); connections are closed with SO_LINGER 0
 * so a long run leaves no TIME_WAIT behind and never runs out of ports.
 * Everything here is static: each target includes it in its own unit. */
#ifndef AGORA_FUZZ_PEER_H
#define AGORA_FUZZ_PEER_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "buf.h"
#include "loop.h"

/* The longest a single input may run: only a hang would reach it (each
 * target stops its loop as soon as the exchange is over). */
#define FUZZ_PEER_GUARD_MS 3000

struct fuzz_peer {
	struct loop *loop;
	int fd; /* the connection; -1 when none */
	struct loop_watch watch, listen_watch;
	struct loop_timer guard;
	struct buf in;  /* everything received */
	struct buf out; /* what to send; sent from out_sent on */
	size_t out_sent;
	int shut_when_sent; /* shutdown(SHUT_WR) once out is sent */
	int shut;
	int eof;       /* the other side closed (or reset) */
	int accepted;  /* connections accepted (server mode) */
	int listening; /* server mode, until fuzz_peer_free */
	void (*on_accept)(struct fuzz_peer *p);
	void (*on_input)(struct fuzz_peer *p);
	void (*on_eof)(struct fuzz_peer *p);
	void *data;
};

static int fuzz_peer_listen_fd = -1;
static uint16_t fuzz_peer_listen_port;

static inline void fuzz_peer_update(struct fuzz_peer *p);

static inline void
fuzz_peer_close(struct fuzz_peer *p)
{
	if (p->fd < 0)
		return;
	loop_watch_stop(p->loop, &p->watch);
	struct linger l = {1, 0};
	setsockopt(p->fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
	close(p->fd);
	p->fd = -1;
	if (p->listening)
		loop_watch_start(p->loop, &p->listen_watch, fuzz_peer_listen_fd, POLLIN);
}

static inline void
fuzz_peer_on_io(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)loop;
	struct fuzz_peer *p = w->data;
	if (revents & POLLOUT) {
		while (p->out_sent < p->out.len) {
			ssize_t n = send(p->fd, p->out.data + p->out_sent, p->out.len - p->out_sent,
			                 MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			p->out_sent += (size_t)n;
		}
		if (p->out_sent == p->out.len && p->shut_when_sent && !p->shut) {
			shutdown(p->fd, SHUT_WR);
			p->shut = 1;
		}
	}
	if (revents & (POLLIN | POLLHUP | POLLERR)) {
		char chunk[4096];
		ssize_t n = recv(p->fd, chunk, sizeof chunk, 0);
		if (n > 0) {
			if (buf_append(&p->in, chunk, (size_t)n) == 0 && p->on_input)
				p->on_input(p);
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
			p->eof = 1;
			fuzz_peer_close(p);
			if (p->on_eof)
				p->on_eof(p);
			return;
		}
	}
	fuzz_peer_update(p);
}

/* Watches for what is left to do: reading always, writing while out has
 * unsent bytes. Call after appending to p->out outside on_input. */
static inline void
fuzz_peer_update(struct fuzz_peer *p)
{
	if (p->fd < 0)
		return;
	short ev = POLLIN;
	if (p->out_sent < p->out.len || (p->shut_when_sent && !p->shut))
		ev |= POLLOUT;
	loop_watch_start(p->loop, &p->watch, p->fd, ev);
}

static inline void
fuzz_peer_on_accept(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)loop;
	(void)revents;
	struct fuzz_peer *p = w->data;
	int fd = accept(fuzz_peer_listen_fd, NULL, NULL);
	if (fd < 0)
		return;
	if (fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
		close(fd);
		return;
	}
	/* one connection at a time: the next waits in the backlog until this
	 * one is closed (fuzz_peer_close listens again) */
	loop_watch_stop(p->loop, &p->listen_watch);
	p->fd = fd;
	p->accepted++;
	p->eof = 0;
	p->shut = 0;
	p->out_sent = 0;
	buf_reset(&p->in);
	buf_reset(&p->out);
	if (p->on_accept)
		p->on_accept(p);
	fuzz_peer_update(p);
}

static inline void
fuzz_peer_on_guard(struct loop *loop, struct loop_timer *t)
{
	(void)t;
	loop_stop(loop);
}

static inline void
fuzz_peer_init(struct fuzz_peer *p, struct loop *loop)
{
	memset(p, 0, sizeof *p);
	p->loop = loop;
	p->fd = -1;
	buf_init(&p->in, 1 << 20);
	buf_init(&p->out, 1 << 22);
	loop_watch_init(&p->watch, fuzz_peer_on_io, p);
	loop_watch_init(&p->listen_watch, fuzz_peer_on_accept, p);
	loop_timer_init(&p->guard, fuzz_peer_on_guard, p);
	loop_timer_start(loop, &p->guard, FUZZ_PEER_GUARD_MS);
}

/* Ends the run after ms instead of FUZZ_PEER_GUARD_MS (for modules that
 * may wait on purpose, e.g. a Retry-After). */
static inline void
fuzz_peer_set_guard(struct fuzz_peer *p, int64_t ms)
{
	loop_timer_start(p->loop, &p->guard, ms);
}

/* Server mode: accept connections on the process's loopback port. */
static inline int
fuzz_peer_listen(struct fuzz_peer *p)
{
	if (fuzz_peer_listen_fd < 0) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a;
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t alen = sizeof a;
		if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 64) < 0 ||
		    getsockname(fd, (struct sockaddr *)&a, &alen) < 0 ||
		    fcntl(fd, F_SETFL, O_NONBLOCK) < 0) {
			if (fd >= 0)
				close(fd);
			return -1;
		}
		fuzz_peer_listen_fd = fd;
		fuzz_peer_listen_port = ntohs(a.sin_port);
	}
	p->listening = 1;
	return loop_watch_start(p->loop, &p->listen_watch, fuzz_peer_listen_fd, POLLIN);
}

static inline uint16_t
fuzz_peer_port(void)
{
	return fuzz_peer_listen_port;
}

/* Client mode: connect to 127.0.0.1:port and send p->out. */
static inline int
fuzz_peer_connect(struct fuzz_peer *p, uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(port);
	if (fd < 0 || fcntl(fd, F_SETFL, O_NONBLOCK) < 0 ||
	    (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS)) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	p->fd = fd;
	fuzz_peer_update(p);
	return 0;
}

/* Stops everything the peer started; the loop may then be freed. */
static inline void
fuzz_peer_free(struct fuzz_peer *p)
{
	p->listening = 0;
	fuzz_peer_close(p);
	loop_watch_stop(p->loop, &p->listen_watch);
	loop_timer_stop(p->loop, &p->guard);
	/* a connection the module made and the peer never accepted */
	for (;;) {
		int fd = fuzz_peer_listen_fd >= 0 ? accept(fuzz_peer_listen_fd, NULL, NULL) : -1;
		if (fd < 0)
			break;
		struct linger l = {1, 0};
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
		close(fd);
	}
	buf_free(&p->in);
	buf_free(&p->out);
}

#endif
