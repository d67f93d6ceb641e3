#!/usr/bin/env bash
# build.sh — the one entry point for building and testing Agora.
#
#   ./build.sh          install missing build tools, fetch + build the pinned
#                       dependencies (cached in .cache/), link ./agora
#   ./build.sh test     build, then run every test; ends "N passed, N failed"
#   ./build.sh fuzz     run each libFuzzer target longer (FUZZ_SECONDS, 300)
#   ./build.sh bench    build and run the benchmarks in bench/
#   ./build.sh demo     build, then a scripted tour of Agora against a throwaway
#                       PostgreSQL + Redis, the Discord emulator and a fake LLM
#                       (tests/demo/demo.py), printed as members and admins see it
#   ./build.sh clean    remove build/ (keeps the dependency cache)
#
# Environment: AGORA_CACHE (default .cache), JOBS (default nproc),
# FUZZ_SECONDS (per target; test default 20), AGORA_SKIP_ASAN=1.
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$PWD
CACHE=${AGORA_CACHE:-$ROOT/.cache}
BUILD=$ROOT/build
JOBS=${JOBS:-$(nproc)}
MODE=${1:-build}

say() { printf '%s\n' "build.sh: $*" >&2; }
die() {
	printf '%s\n' "build.sh: error: $*" >&2
	exit 1
}

# ---------------------------------------------------------------- packages
# Debian packages each mode needs. Only what is missing is installed.
PKGS_BUILD="make gcc musl-tools xz-utils bzip2 file ca-certificates dpkg-dev patch"
PKGS_TEST="clang libclang-rt-14-dev clang-format postgresql redis-server openssl
 python3 python3-aiohttp python3-websockets python3-discord python3-pytest docker-compose"
PKGS_BENCH="g++ libcjson-dev libsimdjson-dev strace"

ensure_packages() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	[ "$(id -u)" = 0 ] || die "missing Debian packages: ${missing[*]} (run as root, or install them)"
	say "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$CACHE/apt-install.log" 2>&1; then
		apt-get update -q >/dev/null 2>&1 || true
		apt-get install -y -q --no-install-recommends "${missing[@]}" >"$CACHE/apt-install.log" 2>&1 ||
			die "apt-get install failed, see $CACHE/apt-install.log"
	fi
}

# ---------------------------------------------------------------- sources
# A private apt state in the cache: our deb-src list, our package lists.
APT_DIR=$CACHE/apt
APT_OPTS=(-o "Dir::Etc::SourceList=$APT_DIR/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
	-o "Dir::State::Lists=$APT_DIR/lists" -o "Dir::Cache=$APT_DIR/cache"
	-o "APT::Sandbox::User=root" -o "Debug::NoLocking=1")

apt_private_update() {
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
	local key=/usr/share/keyrings/debian-archive-keyring.gpg
	cat >"$APT_DIR/sources.list" <<EOF
deb-src [signed-by=$key] http://deb.debian.org/debian bookworm main
deb-src [signed-by=$key] http://deb.debian.org/debian bookworm-updates main
deb-src [signed-by=$key] http://deb.debian.org/debian-security bookworm-security main
EOF
	say "updating the private deb-src lists"
	apt-get "${APT_OPTS[@]}" update -q >"$APT_DIR/update.log" 2>&1 ||
		die "apt-get update (private deb-src list) failed, see $APT_DIR/update.log"
}

# manifest_field NAME COLUMN — one column of vendor/manifest for NAME.
manifest_field() {
	awk -v n="$1" -v c="$2" '$1 == n { print $c; found = 1 } END { exit !found }' vendor/manifest ||
		die "vendor/manifest has no entry '$1'"
}

# verify FILE SUM — the file's sha256 must be SUM; a mismatch stops the build
# and sets the file aside so the next run fetches it again.
verify() {
	local got
	got=$(sha256sum "$1" | cut -d' ' -f1)
	if [ "$got" != "$2" ]; then
		mv -f "$1" "$1.rejected"
		die "sha256 mismatch for $(basename "$1"): vendor/manifest pins $2, the download is $got (moved to $(basename "$1").rejected)"
	fi
}

# fetch NAME — make sure NAME's verified source package (.dsc, upstream
# tarball, Debian tarball) is in $CACHE/dl; prints the .dsc's path.
fetch() {
	local name=$1 pkg ver orig sum dsc_sum dsc
	pkg=$(manifest_field "$name" 2)
	ver=$(manifest_field "$name" 3)
	orig=$(manifest_field "$name" 5)
	sum=$(manifest_field "$name" 6)
	dsc_sum=$(manifest_field "$name" 7)
	# the .dsc is named after the version without its epoch
	dsc="${pkg}_${ver#*:}.dsc"
	mkdir -p "$CACHE/dl"
	if [ ! -f "$CACHE/dl/$orig" ] || [ ! -f "$CACHE/dl/$dsc" ]; then
		[ -d "$APT_DIR/lists" ] || apt_private_update
		say "fetching $pkg=$ver"
		if ! (cd "$CACHE/dl" && apt-get "${APT_OPTS[@]}" source --download-only -q "$pkg=$ver") >"$CACHE/dl/$name.log" 2>&1; then
			apt_private_update
			(cd "$CACHE/dl" && apt-get "${APT_OPTS[@]}" source --download-only -q "$pkg=$ver") >"$CACHE/dl/$name.log" 2>&1 ||
				die "cannot fetch Debian source $pkg=$ver (pinned in vendor/manifest); see $CACHE/dl/$name.log"
		fi
		[ -f "$CACHE/dl/$orig" ] || die "apt-get source $pkg=$ver did not produce $orig"
		[ -f "$CACHE/dl/$dsc" ] || die "apt-get source $pkg=$ver did not produce $dsc"
	fi
	verify "$CACHE/dl/$orig" "$sum"
	verify "$CACHE/dl/$dsc" "$dsc_sum"
	printf '%s\n' "$CACHE/dl/$dsc"
}

# unpack NAME DEST — fresh copy of NAME's source tree in DEST, with Debian's
# patches applied (dpkg-source checks every file against the .dsc's sums).
unpack() {
	local dsc
	dsc=$(fetch "$1")
	rm -rf "$2"
	dpkg-source --no-copy -q -x "$dsc" "$2" >>"$CACHE/dl/$1.log" 2>&1 ||
		die "dpkg-source could not unpack $(basename "$dsc"); see $CACHE/dl/$1.log"
}

# ---------------------------------------------------------------- deps
DEPS_RECIPE=3

# build_deps TARGET CC — static libraries + headers in $CACHE/deps/TARGET.
# TARGET "musl" links ./agora; "glibc" serves the sanitizer and fuzz builds.
build_deps() {
	local target=$1 cc=$2 out=$CACHE/deps/$1 work=$CACHE/work/$1 stamp
	# bump DEPS_RECIPE when a recipe below changes, so caches rebuild
	stamp="$out/.stamp-$(sha256sum vendor/manifest | cut -c1-16)-$DEPS_RECIPE"
	[ -f "$stamp" ] && return 0
	say "building dependencies for $target with $cc (once; cached in $out)"
	rm -rf "$out" "$work"
	mkdir -p "$out/include" "$out/lib" "$work"
	# musl (the shipped binary): every function and object in its own
	# section, so the final link's --gc-sections drops what Agora never
	# calls, and no unwind tables (C without exceptions never unwinds).
	# glibc (sanitizers, fuzzing, profiling): frame pointers for stacks.
	local cflags="-O2 -fPIC -fno-omit-frame-pointer"
	[ "$target" = musl ] && cflags=$MUSL_CFLAGS
	local log=$work/build.log

	unpack bearssl "$work/bearssl"
	make -C "$work/bearssl" -j"$JOBS" CC="$cc" LD="$cc" LDDLL="$cc" CFLAGS="$cflags" lib >>"$log" 2>&1 ||
		die "BearSSL build failed, see $log"
	cp "$work/bearssl/build/libbearssl.a" "$out/lib/"
	cp "$work"/bearssl/inc/*.h "$out/include/"

	unpack zlib "$work/zlib"
	(cd "$work/zlib" && CC="$cc" CFLAGS="$cflags" ./configure --static && make -j"$JOBS" libz.a) >>"$log" 2>&1 ||
		die "zlib build failed, see $log"
	cp "$work/zlib/libz.a" "$out/lib/"
	cp "$work/zlib/zlib.h" "$work/zlib/zconf.h" "$out/include/"

	unpack hiredis "$work/hiredis"
	make -C "$work/hiredis" -j"$JOBS" CC="$cc" OPTIMIZATION="-O2" CFLAGS="$cflags" static >>"$log" 2>&1 ||
		die "hiredis build failed, see $log"
	cp "$work/hiredis/libhiredis.a" "$out/lib/"
	mkdir -p "$out/include/hiredis"
	cp "$work"/hiredis/*.h "$out/include/hiredis/"

	# libpq alone, without OpenSSL/GSSAPI/LDAP/ICU/readline, so that it
	# links statically; only src/port, src/common and libpq are built.
	unpack libpq "$work/pg"
	(cd "$work/pg" && CC="$cc" CFLAGS="$cflags" ./configure -q --without-openssl --without-readline \
		--without-zlib --without-icu --without-gssapi --without-ldap --without-llvm \
		--without-libxml --without-pam --without-systemd --disable-nls &&
		make -C src/port -j"$JOBS" all && make -C src/common -j"$JOBS" all &&
		make -C src/interfaces/libpq -j"$JOBS" all-static-lib) >>"$log" 2>&1 ||
		die "libpq build failed, see $log"
	cp "$work/pg/src/interfaces/libpq/libpq.a" "$work/pg/src/common/libpgcommon_shlib.a" \
		"$work/pg/src/port/libpgport_shlib.a" "$out/lib/"
	cp "$work/pg/src/interfaces/libpq/libpq-fe.h" "$work/pg/src/include/postgres_ext.h" \
		"$work/pg/src/include/pg_config_ext.h" "$out/include/"

	unpack stb_image "$work/stb"
	cp "$work/stb/stb_image.h" "$out/include/"

	rm -rf "$work"
	touch "$stamp"
}

# versions.h — upstream versions from the manifest, for `agora --version`.
write_versions() {
	local out=$1/versions.h tmp
	mkdir -p "$1"
	tmp=$(mktemp)
	{
		echo "/* generated by build.sh from vendor/manifest */"
		printf '#define AGORA_VERSION "%s"\n' "$(cat VERSION)"
		printf '#define AGORA_COMMIT "%s"\n' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
		printf '#define AGORA_BUILD_DATE "%s"\n' "$(date -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}" +%Y-%m-%d)"
		awk '!/^#/ && NF >= 6 { printf "#define VERSION_%s \"%s\"\n", toupper($1), $4
			split($4, v, "."); printf "#define VERSION_%s_MAJOR %d\n", toupper($1), v[1] }' vendor/manifest
	} >"$tmp"
	cmp -s "$tmp" "$out" || mv "$tmp" "$out"
	rm -f "$tmp"
}

# the shipped binary's compile flags: sections per function and object for
# --gc-sections, no unwind tables (see build_deps)
MUSL_CFLAGS="-O2 -ffunction-sections -fdata-sections -fno-asynchronous-unwind-tables -fno-unwind-tables"

make_target() { # make_target TARGET-DIR DEPS-DIR CC CFLAGS goals...
	local out=$1 deps=$2 cc=$3 cflags=$4
	shift 4
	write_versions "$out"
	# make does not see a change of flags or of the dependency build:
	# objects made with other ones are removed, so everything is rebuilt
	local key
	key="$cc $cflags $(cd "$deps" 2>/dev/null && ls -a | grep '^\.stamp-' || true)"
	if [ "$(cat "$out/flags" 2>/dev/null)" != "$key" ]; then
		find "$out" -name '*.o' -delete 2>/dev/null || true
		printf '%s' "$key" >"$out/flags"
	fi
	make -s -j"$JOBS" OUT="$out" DEPS="$deps" CC="$cc" OPTFLAGS="$cflags" "$@"
}

build_agora() {
	ensure_packages $PKGS_BUILD
	build_deps musl musl-gcc
	make_target "$BUILD/musl" "$CACHE/deps/musl" musl-gcc "$MUSL_CFLAGS" agora
	cp "$BUILD/musl/agora" "$ROOT/agora.tmp" && mv "$ROOT/agora.tmp" "$ROOT/agora"
	say "built ./agora: $(stat -c %s agora) bytes ($(($(stat -c %s agora) / 1024)) KiB); $(file -b agora)"
}

# ---------------------------------------------------------------- test
PASSED=0
FAILED=0
FAILED_NAMES=()

# record NAME LOG — add the "N passed, N failed" line at the end of LOG.
record() {
	local line p f
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$2" | tail -n 1 || true)
	if [ -z "$line" ]; then
		FAILED=$((FAILED + 1))
		FAILED_NAMES+=("$1 (no summary line; see $2)")
		return
	fi
	p=$(echo "$line" | cut -d' ' -f1)
	f=$(echo "$line" | cut -d' ' -f3)
	PASSED=$((PASSED + p))
	FAILED=$((FAILED + f))
	[ "$f" = 0 ] || FAILED_NAMES+=("$1 ($f failed; see $2)")
	say "$1: $line"
}

# check NAME CMD... — one pass/fail test from a command's exit status.
check() {
	local name=$1 log
	shift
	log=$BUILD/logs/$(echo "$name" | tr -c 'A-Za-z0-9_.-' _).log
	if "$@" >"$log" 2>&1; then
		PASSED=$((PASSED + 1))
		say "$name: ok"
	else
		FAILED=$((FAILED + 1))
		FAILED_NAMES+=("$name (see $log)")
		say "$name: FAILED (see $log)"
		tail -n 20 "$log" >&2
	fi
}

SANFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"

# C files of ours, for the format and banned-call gates
our_c_files() { git ls-files -co --exclude-standard -- '*.c' '*.h' 2>/dev/null || find src tests bench -name '*.[ch]'; }

# The tree is formatted with the checked-in .clang-format.
check_format() { our_c_files | xargs -r clang-format --dry-run -Werror; }

# curl's banned list: unbounded or locale-dependent calls that have safe
# replacements (snprintf, strtol, memcpy with a length, ...)
check_banned_calls() {
	if our_c_files | xargs -r grep -nE '\b(atoi|atol|sprintf|vsprintf|strcpy|strcat|strtok|gets)[[:space:]]*\('; then
		echo "banned call(s) above: use snprintf, strtol, memcpy with a bound"
		return 1
	fi
}

fuzz_targets() { ls tests/fuzz/fuzz_*.c 2>/dev/null | sed 's|tests/fuzz/fuzz_||; s|\.c$||'; }

# run_fuzz NAME SECONDS — bounded libFuzzer run from the checked-in corpus.
run_fuzz() {
	local name=$1 secs=$2 corpus=$BUILD/fuzz-corpus/$1
	mkdir -p "$corpus"
	[ -d "tests/fuzz/corpus/$name" ] && cp -n tests/fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
	# seeds made at test time (real images: no binary checked in)
	[ -f "tests/fuzz/gen_$name.py" ] && /usr/bin/python3 "tests/fuzz/gen_$name.py" "$corpus"
	(cd "$BUILD/logs" && "$BUILD/fuzz/fuzz_$name" -max_total_time="$secs" -rss_limit_mb=2048 \
		-max_len=65536 -print_final_stats=1 "$corpus")
}

# fuzz_result NAME — a finished run_fuzz's output and exit status
fuzz_result() {
	cat "$BUILD/logs/fuzz-$1.out" 2>/dev/null
	return "$(cat "$BUILD/logs/fuzz-$1.rc" 2>/dev/null || echo 1)"
}

run_tests() {
	ensure_packages $PKGS_BUILD $PKGS_TEST
	build_agora
	mkdir -p "$BUILD/logs"
	# every fuzz target runs in the suite: 13 today (about 15 with image
	# validation and LLM answers), so 8 s each keeps the total near two
	# minutes, as 6 x 20 s did; ./build.sh fuzz runs them 300 s each
	local fuzz_secs=${FUZZ_SECONDS:-8}

	# a throwaway PostgreSQL + Redis on loopback for the db/cache tests
	# (tests/services.sh); stopped and removed on every exit, failures too
	local services
	services=$(tests/services.sh start) || die "cannot start the test PostgreSQL and Redis"
	eval "$services"
	trap 'tests/services.sh stop >/dev/null 2>&1 || true' EXIT
	trap 'exit 130' INT TERM
	say "test services: PostgreSQL on 127.0.0.1:$AGORA_TEST_PG_PORT, Redis on 127.0.0.1:$AGORA_TEST_REDIS_PORT"

	check "format (clang-format --dry-run)" check_format
	check "no banned calls (atoi sprintf strcpy strcat strtok gets)" check_banned_calls

	# unit tests in the shipped configuration: musl, static
	make_target "$BUILD/musl" "$CACHE/deps/musl" musl-gcc "$MUSL_CFLAGS" unit tools
	"$BUILD/musl/unit" >"$BUILD/logs/unit-musl.log" 2>&1 || true
	record "unit tests (musl)" "$BUILD/logs/unit-musl.log"

	# jsoncheck at build/jsoncheck, run over tests/data/json
	cp "$BUILD/musl/jsoncheck" "$BUILD/jsoncheck.tmp" && mv "$BUILD/jsoncheck.tmp" "$BUILD/jsoncheck"
	tests/cli/jsoncheck.sh "$BUILD/jsoncheck" >"$BUILD/logs/jsoncheck.log" 2>&1 || true
	record "jsoncheck (tests/data/json)" "$BUILD/logs/jsoncheck.log"

	# the same tests under AddressSanitizer + UBSan (glibc; musl has no ASan)
	if [ "${AGORA_SKIP_ASAN:-0}" != 1 ]; then
		build_deps glibc gcc
		make_target "$BUILD/asan" "$CACHE/deps/glibc" clang "$SANFLAGS" unit
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
			"$BUILD/asan/unit" >"$BUILD/logs/unit-asan.log" 2>&1 || true
		record "unit tests (ASan+UBSan)" "$BUILD/logs/unit-asan.log"

		# libFuzzer targets, each for a bounded time
		build_deps glibc gcc
		make_target "$BUILD/fuzz" "$CACHE/deps/glibc" clang "$SANFLAGS" FUZZ=1 fuzz
		# as many at once as there are cores (JOBS): 20 targets x 8 s
		# take 80 s on two, not 160; each is recorded as one check
		local t n=0
		for t in $(fuzz_targets); do
			(
				run_fuzz "$t" "$fuzz_secs" >"$BUILD/logs/fuzz-$t.out" 2>&1
				echo $? >"$BUILD/logs/fuzz-$t.rc"
			) &
			n=$((n + 1))
			[ $((n % JOBS)) != 0 ] || wait
		done
		wait
		for t in $(fuzz_targets); do
			check "fuzz $t (${fuzz_secs}s)" fuzz_result "$t"
		done
	fi

	# the CLI, end to end: exit codes and messages of the real binary
	if [ -x tests/cli/run.sh ]; then
		tests/cli/run.sh "$ROOT/agora" >"$BUILD/logs/cli.log" 2>&1 || true
		record "command line" "$BUILD/logs/cli.log"
	fi

	# build.sh itself: a dependency with the wrong sha256 is refused
	AGORA_CACHE="$CACHE" tests/build/manifest.sh >"$BUILD/logs/manifest.log" 2>&1 || true
	record "dependency pins" "$BUILD/logs/manifest.log"

	# The end-to-end tests of ./agora with the bot built under ASan + UBSan
	# (glibc): memory errors and leaks in the whole program, exercised by
	# real traffic, fail the run (an ASan report changes the exit status).
	# They run beside the plain pass, with a PostgreSQL and Redis of their
	# own: both passes mostly wait on the bot and the emulator, so together
	# they take little more than one of them.
	local asan_e2e_pid=
	if [ "${AGORA_SKIP_ASAN:-0}" != 1 ]; then
		make_target "$BUILD/asan" "$CACHE/deps/glibc" clang "$SANFLAGS" agora
		(
			unset AGORA_TEST_SERVICES_DIR # the first pass's; never stop those here
			trap '[ -z "${AGORA_TEST_SERVICES_DIR:-}" ] || tests/services.sh stop >/dev/null 2>&1 || true' EXIT
			services=$(tests/services.sh start) || {
				echo "FAIL cannot start a second PostgreSQL and Redis"
				echo "0 passed, 1 failed"
				exit 1
			}
			eval "$services"
			AGORA_BIN="$BUILD/asan/agora" ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
				/usr/bin/python3 tests/e2e/run.py --only e2e -k agora- --logs "$BUILD/logs/e2e-asan"
		) >"$BUILD/logs/e2e-asan.log" 2>&1 &
		asan_e2e_pid=$!
		trap 'kill $asan_e2e_pid 2>/dev/null; wait; tests/services.sh stop >/dev/null 2>&1 || true' EXIT
	fi

	# the Discord emulator's self-tests and the end-to-end tests against it,
	# from an empty Redis (the unit tests above wrote to it)
	redis-cli -h "$AGORA_TEST_REDIS_HOST" -p "$AGORA_TEST_REDIS_PORT" FLUSHALL >/dev/null
	/usr/bin/python3 tests/e2e/run.py --logs "$BUILD/logs/e2e" >"$BUILD/logs/e2e.log" 2>&1 || true
	record "emulator + end-to-end (tests/e2e/run.py)" "$BUILD/logs/e2e.log"

	if [ -n "$asan_e2e_pid" ]; then
		wait "$asan_e2e_pid" || true
		trap 'tests/services.sh stop >/dev/null 2>&1 || true' EXIT
		record "end-to-end, agora under ASan+UBSan" "$BUILD/logs/e2e-asan.log"
	fi

	echo
	if [ ${#FAILED_NAMES[@]} -gt 0 ]; then
		say "failures:"
		printf '  %s\n' "${FAILED_NAMES[@]}" >&2
	fi
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" = 0 ]
}

mkdir -p "$CACHE"
case "$MODE" in
build) build_agora ;;
test) run_tests ;;
fuzz)
	ensure_packages $PKGS_BUILD $PKGS_TEST
	build_deps glibc gcc
	make_target "$BUILD/fuzz" "$CACHE/deps/glibc" clang "$SANFLAGS" FUZZ=1 fuzz
	mkdir -p "$BUILD/logs"
	for t in $(fuzz_targets); do run_fuzz "$t" "${FUZZ_SECONDS:-300}"; done
	;;
bench)
	ensure_packages $PKGS_BUILD $PKGS_BENCH
	build_deps musl musl-gcc
	build_deps glibc gcc
	make_target "$BUILD/bench" "$CACHE/deps/glibc" gcc "-O2" BENCH_REF=1 bench
	for b in "$BUILD"/bench/bench_*; do [ -x "$b" ] && "$b"; done
	# the JSON parser also as shipped: musl, static
	make_target "$BUILD/bench-musl" "$CACHE/deps/musl" musl-gcc "$MUSL_CFLAGS" "$BUILD/bench-musl/bench_json"
	"$BUILD/bench-musl/bench_json"
	# the hot path from outside: the emulator streams MESSAGE_CREATEs over
	# TLS + zlib-stream to the real ./agora counting into a real Redis,
	# burst and trickle, the parts alone and the discord.py peer beside
	# (bench/ingest.py; BENCH_RUNS, BENCH_BURST, BENCH_TRICKLE, BENCH_PEER)
	ensure_packages $PKGS_TEST
	build_agora
	services=$(tests/services.sh start) || die "cannot start the bench PostgreSQL and Redis"
	eval "$services"
	trap 'tests/services.sh stop >/dev/null 2>&1 || true' EXIT
	trap 'exit 130' INT TERM
	BENCH_PARTS="$BUILD/bench/bench_ingest_parts" /usr/bin/python3 bench/ingest.py
	# start CPU to READY, RSS with a ~1 MB GUILD_CREATE, binary size (13.6)
	/usr/bin/python3 bench/startup.py
	# interaction latency: /status and a proposal's acknowledgement (13.7)
	/usr/bin/python3 bench/latency.py
	# the stats task and /recalculate_stats (issue 13.8; BENCH_RUNS)
	/usr/bin/python3 bench/activity.py
	# allocations per message once warm (the unit runner counts every one)
	make_target "$BUILD/musl" "$CACHE/deps/musl" musl-gcc "$MUSL_CFLAGS" unit
	"$BUILD/musl/unit" hotpath_counting 2>&1 | grep -E '^hot path|passed'
	;;
demo)
	# what the tour runs: PostgreSQL, Redis, the emulator (aiohttp, openssl
	# for its test CA) and the fake LLM
	ensure_packages $PKGS_BUILD postgresql redis-server openssl python3 python3-aiohttp
	build_agora
	exec /usr/bin/python3 tests/demo/demo.py --pace "${DEMO_PACE:-1}"
	;;
clean) rm -rf "$BUILD" agora ;;
*) die "unknown mode '$MODE' (build, test, fuzz, bench, demo, clean)" ;;
esac
