/* net — see net.h.
 *
 * A lookup by name runs on a detached thread because getaddrinfo blocks
 * (for seconds when a DNS server is slow) and has no asynchronous form in
 * musl. The thread and the loop share one struct net_job, reference-counted:
 * the thread holds one reference until it has written its result and
 * signalled the job's pipe; the requester holds the other until it has read
 * the result or cancelled. Whoever lets go last frees the job and closes the
 * pipe, so a thread finishing after its requester went away writes into a
 * pipe that still exists and then frees everything itself; the fd numbers
 * can never be reused under it. */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"

struct net_job {
	atomic_int refs; /* thread + requester */
	int pipe[2];     /* the thread writes one byte into pipe[1] when done */
	net_resolver_fn *resolver;
	char host[NET_HOST_MAX + 1];
	char service[8];
	/* written by the thread before it signals the pipe */
	struct addrinfo *result;
	int gai_error;
	int sys_errno;
};

static net_resolver_fn *net_resolver = getaddrinfo;
static atomic_int net_jobs_live;

void
net_set_resolver(net_resolver_fn *fn)
{
	net_resolver = fn ? fn : getaddrinfo;
}

int
net_jobs_alive(void)
{
	return atomic_load(&net_jobs_live);
}

static int
net_set_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

void
net_addr_format(const struct net_addr *a, char *out, size_t out_len)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	if (a->addr.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&a->addr;
		inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
		snprintf(out, out_len, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
	} else if (a->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->addr;
		inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
		snprintf(out, out_len, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
	} else {
		snprintf(out, out_len, "(address family %d)", (int)a->addr.ss_family);
	}
}

/* ------------------------------------------------------------- the job */

static void
net_job_release(struct net_job *job)
{
	if (atomic_fetch_sub(&job->refs, 1) != 1)
		return;
	if (job->result)
		freeaddrinfo(job->result);
	close(job->pipe[0]);
	close(job->pipe[1]);
	mem_free(job); /* free() underneath: safe from the thread */
	atomic_fetch_sub(&net_jobs_live, 1);
}

static void *
net_job_thread(void *arg)
{
	struct net_job *job = arg;
	struct addrinfo hints;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	errno = 0;
	job->gai_error = job->resolver(job->host, job->service, &hints, &job->result);
	job->sys_errno = errno;
	if (job->gai_error != 0)
		job->result = NULL;
	/* the write is the hand-over: the loop reads the fields after it */
	unsigned char done = 1;
	while (write(job->pipe[1], &done, 1) < 0 && errno == EINTR) {
	}
	net_job_release(job);
	return NULL;
}

/* ------------------------------------------------------------ resolving */

void
net_resolve_init(struct net_resolve *r)
{
	memset(r, 0, sizeof *r);
	loop_watch_init(&r->watch, NULL, r);
	loop_timer_init(&r->done, NULL, r);
}

const char *
net_resolve_error(const struct net_resolve *r)
{
	return r->error;
}

/* Host names: letters, digits, '-', '.', and '_' (seen in real DNS names);
 * anything else cannot be a name (RFC 1123 2.1) and is refused before a
 * thread is spent on it. */
static int
net_host_valid(const char *host)
{
	size_t n = strlen(host);
	if (n == 0 || n > NET_HOST_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)host[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '.' || c == '_' || c == ':'))
			return 0;
	}
	return 1;
}

/* Copies up to NET_MAX_ADDRS TCP addresses of list into r. */
static void
net_resolve_take(struct net_resolve *r, const struct addrinfo *list)
{
	r->count = 0;
	for (const struct addrinfo *ai = list; ai && r->count < NET_MAX_ADDRS; ai = ai->ai_next) {
		if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
		    ai->ai_addrlen > sizeof r->addrs[0].addr)
			continue;
		memcpy(&r->addrs[r->count].addr, ai->ai_addr, ai->ai_addrlen);
		r->addrs[r->count].len = (socklen_t)ai->ai_addrlen;
		r->count++;
	}
}

static void
net_resolve_set_gai_error(struct net_resolve *r, int gai_error, int sys_errno)
{
	const char *why = gai_error == EAI_SYSTEM && sys_errno ? strerror(sys_errno)
	                                                       : gai_strerror(gai_error);
	snprintf(r->error, sizeof r->error, "cannot resolve %s: %s", r->host, why);
}

/* The one place the callback runs. */
static void
net_resolve_finish(struct net_resolve *r)
{
	if (!r->pending)
		return;
	r->pending = 0;
	loop_timer_stop(r->loop, &r->done);
	r->fn(r, r->addrs, r->count, r->data);
}

static void
net_resolve_done_timer(struct loop *loop, struct loop_timer *t)
{
	(void)loop;
	net_resolve_finish(t->data);
}

static void
net_resolve_readable(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)revents;
	struct net_resolve *r = w->data;
	struct net_job *job = r->job;
	unsigned char byte;
	if (read(job->pipe[0], &byte, 1) != 1)
		return; /* spurious wake-up; the byte is still to come */
	loop_watch_stop(loop, w);
	if (job->gai_error != 0)
		net_resolve_set_gai_error(r, job->gai_error, job->sys_errno);
	else {
		net_resolve_take(r, job->result);
		if (r->count == 0)
			snprintf(r->error, sizeof r->error, "cannot resolve %s: no TCP address",
			         r->host);
	}
	r->job = NULL;
	net_job_release(job);
	net_resolve_finish(r);
}

void
net_resolve_cancel(struct net_resolve *r)
{
	if (r->loop) {
		loop_watch_stop(r->loop, &r->watch);
		loop_timer_stop(r->loop, &r->done);
	}
	if (r->job) {
		/* the thread still holds its reference and frees the job */
		net_job_release(r->job);
		r->job = NULL;
	}
	r->pending = 0;
}

/* Schedules the callback for the next iteration (results known at once:
 * literals and early failures), so it never runs inside the start call. */
static int
net_resolve_soon(struct net_resolve *r)
{
	if (loop_timer_start(r->loop, &r->done, 0) < 0) {
		snprintf(r->error, sizeof r->error, "cannot resolve %s: out of memory", r->host);
		r->pending = 0;
		return -1;
	}
	return 0;
}

/* Starts the lookup thread; -1 with r->error set on failure. */
static int
net_resolve_spawn(struct net_resolve *r, const char *service)
{
	struct net_job *job = mem_calloc(1, sizeof *job);
	if (!job) {
		snprintf(r->error, sizeof r->error, "cannot resolve %s: out of memory", r->host);
		return -1;
	}
	if (pipe(job->pipe) < 0) {
		snprintf(r->error, sizeof r->error, "cannot resolve %s: pipe: %s", r->host,
		         strerror(errno));
		mem_free(job);
		return -1;
	}
	net_set_nonblock_cloexec(job->pipe[0]);
	net_set_nonblock_cloexec(job->pipe[1]);
	memcpy(job->host, r->host, sizeof job->host);
	snprintf(job->service, sizeof job->service, "%s", service);
	job->resolver = net_resolver;
	atomic_init(&job->refs, 2);
	if (loop_watch_start(r->loop, &r->watch, job->pipe[0], POLLIN) < 0) {
		snprintf(r->error, sizeof r->error, "cannot resolve %s: out of memory", r->host);
		goto fail;
	}

	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* getaddrinfo needs little stack; musl's default (128 KiB) is
	 * plenty, glibc's (8 MiB of address space) is wasteful */
	pthread_attr_setstacksize(&attr, 256 * 1024);
	/* the thread inherits a full signal mask, so signals keep going to
	 * the loop thread and its self-pipe */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	atomic_fetch_add(&net_jobs_live, 1);
	pthread_t tid;
	int err = pthread_create(&tid, &attr, net_job_thread, job);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		atomic_fetch_sub(&net_jobs_live, 1);
		snprintf(r->error, sizeof r->error, "cannot resolve %s: cannot start a thread: %s",
		         r->host, strerror(err));
		loop_watch_stop(r->loop, &r->watch);
		goto fail;
	}
	r->job = job;
	return 0;
fail:
	close(job->pipe[0]);
	close(job->pipe[1]);
	mem_free(job);
	return -1;
}

int
net_resolve_start(struct loop *loop, struct net_resolve *r, const char *host, uint16_t port,
                  net_resolve_fn *fn, void *data)
{
	if (!loop || !r || !host || !fn)
		return -1;
	net_resolve_cancel(r);
	r->loop = loop;
	r->fn = fn;
	r->data = data;
	r->count = 0;
	r->error[0] = 0;
	r->watch.fn = net_resolve_readable;
	r->watch.data = r;
	r->done.fn = net_resolve_done_timer;
	r->done.data = r;
	r->pending = 1;

	/* "[::1]" as written in URLs is the literal ::1 */
	size_t len = strlen(host);
	if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
		host++;
		len -= 2;
	}
	if (len > NET_HOST_MAX) {
		snprintf(r->error, sizeof r->error, "invalid host name (longer than %d bytes)",
		         NET_HOST_MAX);
		r->host[0] = 0;
		return net_resolve_soon(r);
	}
	memcpy(r->host, host, len);
	r->host[len] = 0;
	if (!net_host_valid(r->host)) {
		snprintf(r->error, sizeof r->error, "invalid host name \"%.100s\"", r->host);
		return net_resolve_soon(r);
	}
	char service[8];
	snprintf(service, sizeof service, "%u", (unsigned)port);

	/* an IP literal needs no lookup: AI_NUMERICHOST never blocks */
	struct addrinfo hints, *list = NULL;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	if (getaddrinfo(r->host, service, &hints, &list) == 0) {
		net_resolve_take(r, list);
		freeaddrinfo(list);
		return net_resolve_soon(r);
	}
	if (net_resolve_spawn(r, service) < 0)
		return net_resolve_soon(r);
	return 0;
}

/* ----------------------------------------------------------- connecting */

void
net_connect_init(struct net_connect *c)
{
	memset(c, 0, sizeof *c);
	c->fd = -1;
	net_resolve_init(&c->resolve);
	loop_watch_init(&c->watch, NULL, c);
}

const char *
net_connect_error(const struct net_connect *c)
{
	return c->error;
}

static void
net_connect_close_fd(struct net_connect *c)
{
	if (c->fd >= 0) {
		loop_watch_stop(c->loop, &c->watch);
		close(c->fd);
		c->fd = -1;
	}
}

void
net_connect_cancel(struct net_connect *c)
{
	net_resolve_cancel(&c->resolve);
	if (c->loop)
		net_connect_close_fd(c);
	c->pending = 0;
}

static void
net_connect_finish(struct net_connect *c, int fd)
{
	if (!c->pending)
		return;
	c->pending = 0;
	c->fn(c, fd, c->data);
}

static void
net_connect_succeeded(struct net_connect *c)
{
	int fd = c->fd;
	loop_watch_stop(c->loop, &c->watch);
	c->fd = -1;
	/* requests and frames are written whole; do not hold them back
	 * waiting for ACKs (Nagle) */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->error[0] = 0;
	net_connect_finish(c, fd);
}

static void
net_connect_failed_addr(struct net_connect *c, const struct net_addr *a, int err)
{
	char where[80];
	net_addr_format(a, where, sizeof where);
	snprintf(c->error, sizeof c->error, "connect to %s: %s", where, strerror(err));
}

/* Tries the remaining addresses until one is connecting or all failed. */
static void
net_connect_next(struct net_connect *c)
{
	while (c->next < c->count) {
		const struct net_addr *a = &c->addrs[c->next++];
		int fd = socket(a->addr.ss_family, SOCK_STREAM, 0);
		if (fd < 0) {
			net_connect_failed_addr(c, a, errno);
			continue;
		}
		if (net_set_nonblock_cloexec(fd) < 0) {
			net_connect_failed_addr(c, a, errno);
			close(fd);
			continue;
		}
		c->fd = fd;
		if (connect(fd, (const struct sockaddr *)&a->addr, a->len) == 0) {
			net_connect_succeeded(c);
			return;
		}
		if (errno == EINPROGRESS || errno == EINTR) {
			/* completion shows as writability; SO_ERROR says how */
			if (loop_watch_start(c->loop, &c->watch, fd, POLLOUT) == 0)
				return;
			snprintf(c->error, sizeof c->error, "connect: out of memory");
		} else {
			net_connect_failed_addr(c, a, errno);
		}
		close(fd);
		c->fd = -1;
	}
	if (c->count == 0 && !c->error[0])
		snprintf(c->error, sizeof c->error, "connect: no address");
	net_connect_finish(c, -1);
}

static void
net_connect_writable(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)loop;
	(void)revents;
	struct net_connect *c = w->data;
	int err = 0;
	socklen_t len = sizeof err;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0) {
		net_connect_succeeded(c);
		return;
	}
	net_connect_failed_addr(c, &c->addrs[c->next - 1], err);
	net_connect_close_fd(c);
	net_connect_next(c);
}

static void
net_connect_resolved(struct net_resolve *r, const struct net_addr *addrs, size_t count, void *data)
{
	struct net_connect *c = data;
	(void)r;
	if (count == 0) {
		snprintf(c->error, sizeof c->error, "%s", net_resolve_error(&c->resolve));
		net_connect_finish(c, -1);
		return;
	}
	memcpy(c->addrs, addrs, count * sizeof *addrs);
	c->count = count;
	c->next = 0;
	net_connect_next(c);
}

int
net_connect_start(struct loop *loop, struct net_connect *c, const char *host, uint16_t port,
                  net_connect_fn *fn, void *data)
{
	if (!loop || !c || !host || !fn)
		return -1;
	net_connect_cancel(c);
	c->loop = loop;
	c->fn = fn;
	c->data = data;
	c->count = c->next = 0;
	c->error[0] = 0;
	c->watch.fn = net_connect_writable;
	c->watch.data = c;
	c->pending = 1;
	if (net_resolve_start(loop, &c->resolve, host, port, net_connect_resolved, c) < 0) {
		snprintf(c->error, sizeof c->error, "%s", net_resolve_error(&c->resolve));
		c->pending = 0;
		return -1;
	}
	return 0;
}
