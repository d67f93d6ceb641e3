#!/usr/bin/env bash
# jsoncheck.sh — the jsoncheck tool end to end, over tests/data/json:
# every valid/y_*.json exits 0, every invalid/n_*.json exits 1 with the
# error's byte offset on stderr, usage and I/O errors exit 2, and nothing
# crashes (a signal would show as a status above 128).
#
#     tests/cli/jsoncheck.sh [build/jsoncheck]
#
# Ends with "N passed, N failed" (build.sh records that line).
set -u
cd "$(dirname "$0")/../.."
TOOL=${1:-build/jsoncheck}
PASSED=0
FAILED=0
ERR=$(mktemp)
trap 'rm -f "$ERR"' EXIT

# expect NAME WANT-STATUS WANT-STDERR-PATTERN ARGS... ("" wants no stderr)
expect() {
	local name=$1 want=$2 pattern=$3 got
	shift 3
	"$TOOL" "$@" 2>"$ERR" >/dev/null
	got=$?
	if [ "$got" = "$want" ] && if [ -z "$pattern" ]; then [ ! -s "$ERR" ]; else grep -qE -- "$pattern" "$ERR"; fi; then
		PASSED=$((PASSED + 1))
	else
		FAILED=$((FAILED + 1))
		echo "FAIL $name: exit $got (want $want), stderr: $(head -c 300 "$ERR")"
	fi
}

for f in tests/data/json/valid/y_*.json; do
	expect "$f" 0 '' "$f"
done
for f in tests/data/json/invalid/n_*.json; do
	expect "$f" 1 ': offset [0-9]+: ' "$f"
done
expect "no argument" 2 'usage'
expect "two arguments" 2 'usage' a b
expect "missing file" 2 'No such file' tests/data/json/does-not-exist.json
expect "a directory" 2 'jsoncheck: ' tests/data/json
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
