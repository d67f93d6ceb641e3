#!/usr/bin/env bash
# services.sh — a throwaway PostgreSQL 15 and Redis on loopback for the tests.
#
#   tests/services.sh start          new temp dir, initdb, start both; prints
#                                    `export NAME=value` lines for the tests
#   tests/services.sh stop           stop both and remove the temp dir
#   tests/services.sh stop pg|redis  stop one (its data and port are kept)
#   tests/services.sh start pg|redis start it again on the same port
#   tests/services.sh restart pg|redis
#
# Every command but the first `start` finds the services through
# AGORA_TEST_SERVICES_DIR (printed by `start`), so a C test can call
# `$AGORA_TEST_SERVICES stop pg` in the middle of a run. Exported to tests:
#   AGORA_TEST_PG_HOST/PORT/USER/PASSWORD/DB  a LOGIN role with a password
#       (scram-sha-256 over TCP, so the tests exercise password auth) that
#       owns the database and may create more (CREATEDB) for fresh-schema tests
#   AGORA_TEST_REDIS_HOST/PORT
#   AGORA_TEST_SERVICES, AGORA_TEST_SERVICES_DIR  this script, its state
#   AGORA_TEST_REQUIRE_SERVICES=1  a test that finds a variable missing
#       FAILS instead of skipping (so ./build.sh test never skips them)
# Running as root, PostgreSQL runs as the `postgres` user (it refuses root).
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SCRIPT=$(cd "$(dirname "$0")" && pwd)/$(basename "$0")

die() {
	echo "services.sh: error: $*" >&2
	exit 1
}

# as_pg CMD... — run CMD as the PostgreSQL server's owner
as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# free_port — a loopback TCP port nobody listens on (a small race with other
# programs picking the same port is accepted: start fails loudly if it hits)
free_port() {
	local p i
	for i in $(seq 1 50); do
		p=$((20000 + (RANDOM * 7 + $$ + i) % 40000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

# the state dir and the ports it recorded
load() {
	DIR=${AGORA_TEST_SERVICES_DIR:-}
	[ -n "$DIR" ] && [ -f "$DIR/env" ] || die "AGORA_TEST_SERVICES_DIR is not set or not a services dir"
	# shellcheck disable=SC1091
	. "$DIR/env"
}

pg_start() {
	as_pg "$PGBIN/pg_ctl" -D "$DIR/pg" -l "$DIR/pg.log" -w -t 30 -s \
		-o "-p $AGORA_TEST_PG_PORT -k $DIR/sock -c listen_addresses=127.0.0.1 -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off -c max_connections=40" start ||
		{
			tail -n 20 "$DIR/pg.log" >&2
			die "PostgreSQL did not start"
		}
}

pg_stop() {
	as_pg "$PGBIN/pg_ctl" -D "$DIR/pg" -m fast -w -t 30 -s stop 2>/dev/null || true
}

redis_start() {
	mkdir -p "$DIR/redis"
	setsid redis-server --port "$AGORA_TEST_REDIS_PORT" --bind 127.0.0.1 --save '' \
		--appendonly no --daemonize no --dir "$DIR/redis" </dev/null >>"$DIR/redis.log" 2>&1 &
	echo $! >"$DIR/redis.pid"
	local i
	for i in $(seq 1 100); do
		redis-cli -h 127.0.0.1 -p "$AGORA_TEST_REDIS_PORT" ping 2>/dev/null | grep -q PONG && return 0
		sleep 0.05
	done
	tail -n 20 "$DIR/redis.log" >&2
	die "Redis did not start"
}

redis_stop() {
	[ -f "$DIR/redis.pid" ] || return 0
	local pid i
	pid=$(cat "$DIR/redis.pid")
	# SHUTDOWN SAVE writes dump.rdb into --dir, which the next start loads:
	# a restart keeps the data, as a production Redis with persistence does
	timeout 5 redis-cli -h 127.0.0.1 -p "$AGORA_TEST_REDIS_PORT" shutdown save >/dev/null 2>&1 || true
	kill "$pid" 2>/dev/null || true
	# gone, or a zombie nobody reaped yet (its port is closed either way)
	for i in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		[ "$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)" = Z ] && break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null || true
	rm -f "$DIR/redis.pid"
}

start_all() {
	DIR=$(mktemp -d "${TMPDIR:-/tmp}/agora-services.XXXXXX")
	chmod 755 "$DIR"
	# a failed start leaves nothing running and no directory behind
	trap 'redis_stop; pg_stop; rm -rf "$DIR"' EXIT
	mkdir -p "$DIR/pg" "$DIR/sock"
	touch "$DIR/pg.log"
	[ "$(id -u)" = 0 ] && chown postgres "$DIR/pg" "$DIR/sock" "$DIR/pg.log"
	local password
	password="test-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
	cat >"$DIR/env" <<EOF
export AGORA_TEST_SERVICES=$SCRIPT
export AGORA_TEST_SERVICES_DIR=$DIR
export AGORA_TEST_PG_HOST=127.0.0.1
export AGORA_TEST_PG_PORT=$(free_port)
export AGORA_TEST_PG_USER=agora
export AGORA_TEST_PG_PASSWORD=$password
export AGORA_TEST_PG_DB=agora
export AGORA_TEST_REDIS_HOST=127.0.0.1
export AGORA_TEST_REDIS_PORT=$(free_port)
export AGORA_TEST_REQUIRE_SERVICES=1
EOF
	. "$DIR/env"
	# trust on the private socket (setup only), scram-sha-256 over TCP
	as_pg "$PGBIN/initdb" -D "$DIR/pg" -U postgres -E UTF8 --locale=C --no-sync \
		--auth-local=trust --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1 ||
		{
			tail -n 20 "$DIR/initdb.log" >&2
			die "initdb failed"
		}
	pg_start
	psql -X -q -v ON_ERROR_STOP=1 -h "$DIR/sock" -p "$AGORA_TEST_PG_PORT" -U postgres -d postgres \
		-c "CREATE ROLE agora LOGIN CREATEDB PASSWORD '$password'" \
		-c "CREATE DATABASE agora OWNER agora" >/dev/null ||
		die "cannot create the test role and database"
	redis_start
	trap - EXIT
	cat "$DIR/env"
}

stop_all() {
	load
	redis_stop
	pg_stop
	case "$DIR" in
	*/agora-services.*) rm -rf "$DIR" ;;
	esac
}

cmd=${1:-}
what=${2:-}
case "$cmd:$what" in
start:)
	# a port picked free can be taken before PostgreSQL or Redis binds it
	# (several suites start services at once): try again on other ports
	for attempt in 1 2 3; do
		(start_all) && exit 0
		echo "services.sh: start attempt $attempt failed; trying other ports" >&2
	done
	die "PostgreSQL and Redis did not start in 3 attempts"
	;;
stop:) stop_all ;;
start:pg) load && pg_start ;;
stop:pg) load && pg_stop ;;
restart:pg) load && pg_stop && pg_start ;;
start:redis) load && redis_start ;;
stop:redis) load && redis_stop ;;
restart:redis) load && redis_stop && redis_start ;;
*) die "usage: services.sh start|stop [pg|redis] | restart pg|redis" ;;
esac
