/* loop — see loop.h.
 *
 * One iteration: run deferred calls, drop stopped watchers from the poll
 * table, poll() until the earliest timer is due, dispatch the fds that
 * fired, fire the due timers, and run deferred calls after every callback.
 *
 * Dispatch safety. A callback may stop or start any watcher or timer, so
 * dispatch never walks a structure that a callback can reshuffle:
 * - watchers: stopping one only clears its entry in the table (the slot is
 *   reclaimed before the next poll), so the slots polled this iteration keep
 *   their meaning; a new or restarted watcher gets a fresh slot past those
 *   being dispatched or a cleared revents, so it never sees stale events;
 * - timers: the due timers are first moved from the heap to a "firing" list
 *   (linked through the timers themselves), so a timer that a callback
 *   restarts with delay 0 waits for the next iteration instead of firing
 *   forever, and one stopped before its turn leaves the list. */
#include "loop.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"

/* Signals a loop can route; only a handful (SIGTERM, SIGINT, SIGHUP) are
 * ever used, and a fixed table keeps the signal handler trivial. */
#define LOOP_MAX_SIGNALS 8

struct loop_signal_entry {
	int signo;
	loop_signal_fn *fn;
	void *data;
	struct sigaction old; /* restored by loop_free */
};

struct loop {
	/* watchers: fds[i] is polled for watches[i]; NULL once stopped */
	struct pollfd *fds;
	struct loop_watch **watches;
	size_t watch_count, watch_cap;
	size_t dispatch_limit; /* slots polled this iteration */

	/* timers: an intrusive pairing heap on (due_ms, seq), plus the list
	 * of those firing this iteration; neither allocates */
	struct loop_timer *timer_root;
	struct loop_timer *firing_head, *firing_tail;
	uint64_t timer_seq;

	struct loop_defer *defer_head, *defer_tail;

	/* signals: the handler writes the signal number into sig_pipe[1] */
	int sig_pipe[2];
	struct loop_watch sig_watch;
	struct loop_signal_entry signals[LOOP_MAX_SIGNALS];
	size_t signal_count;

	int64_t now_ms;
	int stopping;
	int running; /* inside loop_run */
};

/* The write end of the self-pipe of the loop that owns signals: a signal
 * handler can reach no loop but through a global. One loop per process
 * routes signals (Agora has one loop). */
static volatile sig_atomic_t loop_signal_write_fd = -1;

static int64_t
loop_clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
loop_set_nonblock_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -1;
	return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

struct loop *
loop_new(void)
{
	struct loop *loop = mem_calloc(1, sizeof *loop);
	if (!loop)
		return NULL;
	loop->sig_pipe[0] = loop->sig_pipe[1] = -1;
	loop->now_ms = loop_clock_ms();
	/* a peer closing a socket must surface as EPIPE from write(), not
	 * kill the process */
	signal(SIGPIPE, SIG_IGN);
	return loop;
}

static void loop_run_defers(struct loop *loop);

void
loop_free(struct loop *loop)
{
	if (!loop)
		return;
	loop_run_defers(loop);
	for (size_t i = 0; i < loop->signal_count; i++)
		sigaction(loop->signals[i].signo, &loop->signals[i].old, NULL);
	if (loop->sig_pipe[0] >= 0) {
		loop_watch_stop(loop, &loop->sig_watch);
		if (loop_signal_write_fd == loop->sig_pipe[1])
			loop_signal_write_fd = -1;
		close(loop->sig_pipe[0]);
		close(loop->sig_pipe[1]);
	}
	mem_free(loop->fds);
	mem_free(loop->watches);
	mem_free(loop);
}

int64_t
loop_now(const struct loop *loop)
{
	return loop->now_ms;
}

void
loop_stop(struct loop *loop)
{
	loop->stopping = 1;
}

/* ------------------------------------------------------------ watchers */

void
loop_watch_init(struct loop_watch *w, loop_watch_fn *fn, void *data)
{
	w->fd = -1;
	w->events = 0;
	w->fn = fn;
	w->data = data;
	w->slot = -1;
}

int
loop_watch_start(struct loop *loop, struct loop_watch *w, int fd, short events)
{
	if (w->slot >= 0 && w->fd == fd) {
		/* same fd, new interest: keep the slot; any events already
		 * polled are filtered against the new mask at dispatch */
		w->events = events;
		loop->fds[w->slot].events = events;
		return 0;
	}
	loop_watch_stop(loop, w);
	if (loop->watch_count == loop->watch_cap) {
		/* poll() takes an nfds_t and slots are ints: far below overflow,
		 * but the multiplications are checked all the same */
		if (loop->watch_cap > INT32_MAX / 2)
			return -1;
		size_t cap = loop->watch_cap ? loop->watch_cap * 2 : 16;
		struct pollfd *fds = mem_reallocarray(loop->fds, cap, sizeof *fds);
		if (!fds)
			return -1;
		loop->fds = fds;
		struct loop_watch **watches = mem_reallocarray(loop->watches, cap, sizeof *watches);
		if (!watches)
			return -1;
		loop->watches = watches;
		loop->watch_cap = cap;
	}
	size_t slot = loop->watch_count++;
	loop->fds[slot].fd = fd;
	loop->fds[slot].events = events;
	loop->fds[slot].revents = 0; /* never dispatched with stale events */
	loop->watches[slot] = w;
	w->fd = fd;
	w->events = events;
	w->slot = (int)slot;
	return 0;
}

void
loop_watch_stop(struct loop *loop, struct loop_watch *w)
{
	if (w->slot < 0)
		return;
	/* leave a hole; loop_compact() reclaims it before the next poll */
	loop->watches[w->slot] = NULL;
	loop->fds[w->slot].fd = -1;
	loop->fds[w->slot].revents = 0;
	w->slot = -1;
}

/* Closes the holes left by stopped watchers (never during dispatch). */
static void
loop_compact(struct loop *loop)
{
	size_t out = 0;
	for (size_t i = 0; i < loop->watch_count; i++) {
		struct loop_watch *w = loop->watches[i];
		if (!w)
			continue;
		loop->watches[out] = w;
		loop->fds[out] = loop->fds[i];
		w->slot = (int)out;
		out++;
	}
	loop->watch_count = out;
}

static void
loop_dispatch_watchers(struct loop *loop)
{
	/* watchers started by a callback land past dispatch_limit and wait
	 * for the next poll */
	for (size_t i = 0; i < loop->dispatch_limit; i++) {
		struct loop_watch *w = loop->watches[i];
		short revents = loop->fds[i].revents;
		if (!w || !revents)
			continue;
		loop->fds[i].revents = 0;
		revents &= (short)(w->events | POLLERR | POLLHUP | POLLNVAL);
		if (!revents)
			continue;
		w->fn(loop, w, revents);
		loop_run_defers(loop);
	}
}

/* -------------------------------------------------------------- timers */

/* Timers form a pairing heap (Fredman, Sedgewick, Sleator, Tarjan 1986)
 * made of their own links, so a start never allocates: insert is one meld,
 * removing the minimum or any timer is O(log n) amortized. Each node keeps
 * its first child, its next sibling, and in prev its previous sibling or,
 * for a first child, its parent. The root has no siblings. */

enum { LOOP_TIMER_STOPPED, LOOP_TIMER_PENDING, LOOP_TIMER_FIRING };

void
loop_timer_init(struct loop_timer *t, loop_timer_fn *fn, void *data)
{
	t->due_ms = 0;
	t->fn = fn;
	t->data = data;
	t->child = t->next = t->prev = NULL;
	t->seq = 0;
	t->where = LOOP_TIMER_STOPPED;
}

int
loop_timer_active(const struct loop_timer *t)
{
	return t->where != LOOP_TIMER_STOPPED;
}

/* Whether a fires before b: by due time, then by start order, so that
 * timers due at the same instant fire in the order they were started. */
static int
loop_timer_before(const struct loop_timer *a, const struct loop_timer *b)
{
	return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

/* Melds two roots (no siblings, no parent); returns the new root. */
static struct loop_timer *
loop_heap_meld(struct loop_timer *a, struct loop_timer *b)
{
	if (loop_timer_before(b, a)) {
		struct loop_timer *swap = a;
		a = b;
		b = swap;
	}
	/* b becomes a's first child */
	b->next = a->child;
	if (a->child)
		a->child->prev = b;
	b->prev = a;
	a->child = b;
	return a;
}

/* The standard two-pass merge of a sibling list (the children of a removed
 * node): meld pairs left to right, then the pairs right to left. Iterative,
 * so a long sibling list cannot exhaust the stack. */
static struct loop_timer *
loop_heap_merge_pairs(struct loop_timer *first)
{
	struct loop_timer *pairs = NULL; /* melded pairs, last first */
	while (first) {
		struct loop_timer *a = first, *b = first->next;
		if (!b) {
			a->prev = NULL;
			a->next = pairs;
			pairs = a;
			break;
		}
		first = b->next;
		a->next = a->prev = b->next = b->prev = NULL;
		struct loop_timer *m = loop_heap_meld(a, b);
		m->next = pairs;
		pairs = m;
	}
	struct loop_timer *root = NULL;
	while (pairs) {
		struct loop_timer *next = pairs->next;
		pairs->next = pairs->prev = NULL;
		root = root ? loop_heap_meld(root, pairs) : pairs;
		pairs = next;
	}
	return root;
}

static void
loop_heap_insert(struct loop *loop, struct loop_timer *t)
{
	t->child = t->next = t->prev = NULL;
	loop->timer_root = loop->timer_root ? loop_heap_meld(loop->timer_root, t) : t;
}

static void
loop_heap_remove(struct loop *loop, struct loop_timer *t)
{
	struct loop_timer *children = t->child;
	if (t == loop->timer_root) {
		loop->timer_root = loop_heap_merge_pairs(children);
	} else {
		/* unlink t from its parent's list of children */
		if (t->prev->child == t)
			t->prev->child = t->next;
		else
			t->prev->next = t->next;
		if (t->next)
			t->next->prev = t->prev;
		struct loop_timer *sub = loop_heap_merge_pairs(children);
		if (sub)
			loop->timer_root = loop_heap_meld(loop->timer_root, sub);
	}
	t->child = t->next = t->prev = NULL;
}

void
loop_timer_stop(struct loop *loop, struct loop_timer *t)
{
	if (t->where == LOOP_TIMER_PENDING) {
		loop_heap_remove(loop, t);
	} else if (t->where == LOOP_TIMER_FIRING) {
		/* due this iteration but not run yet: leave the firing list */
		if (t->prev)
			t->prev->next = t->next;
		else
			loop->firing_head = t->next;
		if (t->next)
			t->next->prev = t->prev;
		else
			loop->firing_tail = t->prev;
		t->next = t->prev = NULL;
	}
	t->where = LOOP_TIMER_STOPPED;
}

int
loop_timer_start(struct loop *loop, struct loop_timer *t, int64_t delay_ms)
{
	loop_timer_stop(loop, t);
	/* outside loop_run the iteration's clock reading may be old (set-up
	 * code, tests between runs): count from the real present */
	if (!loop->running)
		loop->now_ms = loop_clock_ms();
	if (delay_ms < 0)
		delay_ms = 0;
	if (delay_ms > INT64_MAX / 4) /* "never", without overflowing due_ms */
		delay_ms = INT64_MAX / 4;
	t->due_ms = loop->now_ms + delay_ms;
	t->seq = loop->timer_seq++;
	t->where = LOOP_TIMER_PENDING;
	loop_heap_insert(loop, t);
	return 0;
}

static void
loop_fire_timers(struct loop *loop)
{
	/* move every due timer to the firing list first (in due order), so
	 * timers started by the callbacks below wait for the next round */
	while (loop->timer_root && loop->timer_root->due_ms <= loop->now_ms) {
		struct loop_timer *t = loop->timer_root;
		loop_heap_remove(loop, t);
		t->where = LOOP_TIMER_FIRING;
		t->prev = loop->firing_tail;
		if (loop->firing_tail)
			loop->firing_tail->next = t;
		else
			loop->firing_head = t;
		loop->firing_tail = t;
	}
	/* a callback may stop any timer still in the list (it unlinks) */
	while (loop->firing_head) {
		struct loop_timer *t = loop->firing_head;
		loop->firing_head = t->next;
		if (loop->firing_head)
			loop->firing_head->prev = NULL;
		else
			loop->firing_tail = NULL;
		t->next = t->prev = NULL;
		t->where = LOOP_TIMER_STOPPED;
		t->fn(loop, t);
		loop_run_defers(loop);
	}
}

/* -------------------------------------------------------------- defers */

void
loop_defer_init(struct loop_defer *d, loop_defer_fn *fn, void *data)
{
	d->fn = fn;
	d->data = data;
	d->next = NULL;
	d->queued = 0;
}

void
loop_defer(struct loop *loop, struct loop_defer *d)
{
	if (d->queued)
		return;
	d->queued = 1;
	d->next = NULL;
	if (loop->defer_tail)
		loop->defer_tail->next = d;
	else
		loop->defer_head = d;
	loop->defer_tail = d;
}

static void
loop_run_defers(struct loop *loop)
{
	/* a deferred call may queue more (including itself again): run until
	 * the queue is empty */
	while (loop->defer_head) {
		struct loop_defer *d = loop->defer_head;
		loop->defer_head = d->next;
		if (!loop->defer_head)
			loop->defer_tail = NULL;
		d->next = NULL;
		d->queued = 0;
		d->fn(loop, d);
	}
}

/* ------------------------------------------------------------- signals */

static void
loop_signal_handler(int signo)
{
	int saved = errno;
	unsigned char byte = (unsigned char)signo;
	int fd = loop_signal_write_fd;
	/* a full pipe already holds a wake-up; dropping this byte is fine */
	if (fd >= 0 && write(fd, &byte, 1) < 0) {
	}
	errno = saved;
}

static void
loop_signal_readable(struct loop *loop, struct loop_watch *w, short revents)
{
	(void)w;
	(void)revents;
	unsigned char bytes[64];
	ssize_t n;
	while ((n = read(loop->sig_pipe[0], bytes, sizeof bytes)) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			for (size_t k = 0; k < loop->signal_count; k++) {
				struct loop_signal_entry *e = &loop->signals[k];
				if (e->signo == bytes[i] && e->fn) {
					e->fn(loop, e->signo, e->data);
					loop_run_defers(loop);
				}
			}
		}
	}
}

int
loop_signal(struct loop *loop, int signo, loop_signal_fn *fn, void *data)
{
	if (signo <= 0 || signo > 255)
		return -1;
	for (size_t k = 0; k < loop->signal_count; k++) {
		if (loop->signals[k].signo == signo) {
			loop->signals[k].fn = fn;
			loop->signals[k].data = data;
			return 0;
		}
	}
	if (loop->signal_count == LOOP_MAX_SIGNALS)
		return -1;
	if (loop->sig_pipe[0] < 0) {
		int p[2];
		if (pipe(p) < 0)
			return -1;
		if (loop_set_nonblock_cloexec(p[0]) < 0 || loop_set_nonblock_cloexec(p[1]) < 0) {
			close(p[0]);
			close(p[1]);
			return -1;
		}
		loop_watch_init(&loop->sig_watch, loop_signal_readable, NULL);
		if (loop_watch_start(loop, &loop->sig_watch, p[0], POLLIN) < 0) {
			close(p[0]);
			close(p[1]);
			return -1;
		}
		loop->sig_pipe[0] = p[0];
		loop->sig_pipe[1] = p[1];
	}
	loop_signal_write_fd = loop->sig_pipe[1];

	struct loop_signal_entry *e = &loop->signals[loop->signal_count];
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = loop_signal_handler;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	if (sigaction(signo, &sa, &e->old) < 0)
		return -1;
	e->signo = signo;
	e->fn = fn;
	e->data = data;
	loop->signal_count++;
	return 0;
}

/* ---------------------------------------------------------------- run */

/* poll() timeout: until the earliest timer, 0 if work is already waiting,
 * -1 (forever) when there is no timer. */
static int
loop_poll_timeout(const struct loop *loop)
{
	if (loop->defer_head || loop->stopping)
		return 0;
	if (!loop->timer_root)
		return -1;
	int64_t wait = loop->timer_root->due_ms - loop_clock_ms();
	if (wait <= 0)
		return 0;
	if (wait > 60 * 60 * 1000) /* poll takes an int; an hour is plenty */
		wait = 60 * 60 * 1000;
	return (int)wait;
}

int
loop_run(struct loop *loop)
{
	int rc = 0;
	loop->running = 1;
	loop->now_ms = loop_clock_ms();
	while (!loop->stopping) {
		loop_run_defers(loop);
		loop_compact(loop);
		int timeout = loop_poll_timeout(loop);
		int n = poll(loop->fds, loop->watch_count, timeout);
		loop->now_ms = loop_clock_ms();
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue; /* signals arrive through the self-pipe */
			rc = -1;
			break;
		}
		loop->dispatch_limit = n > 0 ? loop->watch_count : 0;
		loop_dispatch_watchers(loop);
		loop->dispatch_limit = 0;
		loop_fire_timers(loop);
		loop_run_defers(loop);
	}
	loop->stopping = 0;
	loop->running = 0;
	return rc;
}
