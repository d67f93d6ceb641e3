/* loop — the one-threaded poll() event loop (after redis's ae.c).
 *
 * What it does: watches file descriptors, runs timers (millisecond
 * resolution, a binary heap), turns signals into ordinary callbacks (a
 * self-pipe, so handlers never run application code), and runs deferred
 * calls after the current callback returns (how objects free themselves
 * safely). What it does not: threads, or any I/O of its own.
 *
 * Watchers, timers and deferred calls are EMBEDDED in their owner (no
 * allocation per registration): the owner keeps the struct alive while it is
 * registered and stops it before freeing. Timers are intrusive (the heap is
 * made of their own links), so starting one never allocates and never fails:
 * a heartbeat, a reconnect or a shutdown deadline cannot be lost to memory
 * pressure. Callbacks may start and stop any
 * watcher or timer, including their own. Time is CLOCK_MONOTONIC in ms,
 * read once per iteration (loop_now). */
#ifndef AGORA_LOOP_H
#define AGORA_LOOP_H

#include <stddef.h>
#include <stdint.h>

struct loop;
struct loop_watch;
struct loop_timer;
struct loop_defer;

typedef void loop_watch_fn(struct loop *loop, struct loop_watch *watch, short revents);
typedef void loop_timer_fn(struct loop *loop, struct loop_timer *timer);
typedef void loop_defer_fn(struct loop *loop, struct loop_defer *defer);
typedef void loop_signal_fn(struct loop *loop, int signo, void *data);

/* An fd watcher. events/revents are poll() bits (POLLIN, POLLOUT; POLLERR
 * and POLLHUP are always reported). */
struct loop_watch {
	int fd;
	short events;
	loop_watch_fn *fn;
	void *data;
	int slot; /* index in the loop's table; -1 when stopped */
};

/* A one-shot timer; restart it from its callback to repeat. */
struct loop_timer {
	int64_t due_ms;
	loop_timer_fn *fn;
	void *data;
	/* loop.c's: links of the pairing heap while pending (first child,
	 * next sibling, previous sibling or parent), of the firing list while
	 * its callback is due this iteration */
	struct loop_timer *child, *next, *prev;
	uint64_t seq; /* start order: equal due times fire in start order */
	int where;    /* LOOP_TIMER_STOPPED, _PENDING or _FIRING (loop.c) */
};

/* A call to run once after the current callback returns. */
struct loop_defer {
	loop_defer_fn *fn;
	void *data;
	struct loop_defer *next;
	int queued;
};

/* Allocates a loop; NULL when out of memory. */
struct loop *loop_new(void);
/* Frees the loop. Every watcher, timer and signal must be stopped first;
 * pending deferred calls are run. */
void loop_free(struct loop *loop);

/* Prepares w (call once before first use). */
void loop_watch_init(struct loop_watch *w, loop_watch_fn *fn, void *data);
/* Starts watching fd for events; restarting with new events is fine.
 * Returns 0, or -1 when out of memory (w stays stopped). */
int loop_watch_start(struct loop *loop, struct loop_watch *w, int fd, short events);
/* Stops watching; harmless when already stopped. */
void loop_watch_stop(struct loop *loop, struct loop_watch *w);

/* Prepares t (call once before first use). */
void loop_timer_init(struct loop_timer *t, loop_timer_fn *fn, void *data);
/* (Re)starts t to fire once after delay_ms (0 = on the next iteration;
 * negative counts as 0). Allocates nothing and cannot fail: it always
 * returns 0 (the int stays so that older `< 0` checks still compile). */
int loop_timer_start(struct loop *loop, struct loop_timer *t, int64_t delay_ms);
/* Stops t; harmless when already stopped. */
void loop_timer_stop(struct loop *loop, struct loop_timer *t);
/* 1 while t is started and has not fired yet. */
int loop_timer_active(const struct loop_timer *t);

void loop_defer_init(struct loop_defer *d, loop_defer_fn *fn, void *data);
/* Queues d to run once after the current callback; queuing twice is one run. */
void loop_defer(struct loop *loop, struct loop_defer *d);

/* Delivers signo as a callback from the loop (SIGTERM, SIGINT, ...).
 * SIGPIPE is always ignored by loop_new. Returns 0 or -1. */
int loop_signal(struct loop *loop, int signo, loop_signal_fn *fn, void *data);

/* Monotonic milliseconds, as read at the start of this iteration. */
int64_t loop_now(const struct loop *loop);
/* Runs until loop_stop(); returns 0, or -1 if poll() fails for good. */
int loop_run(struct loop *loop);
/* Makes loop_run return after the current iteration. */
void loop_stop(struct loop *loop);

#endif
