#!/usr/bin/env bash
# tests/build/manifest.sh — build.sh refuses a dependency whose sha256 does
# not match vendor/manifest, with a clear error, and sets the download aside.
# Works offline: it plants the real (cached) tarball and alters the pin.
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
CACHE=${AGORA_CACHE:-$ROOT/.cache}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; sed 's/^/    | /' "$T/out" | tail -5; }

orig=$(awk '$1 == "zlib" { print $5 }' vendor/manifest)
if [ ! -f "$CACHE/dl/$orig" ]; then
	echo "FAIL - no cached $orig to plant (run ./build.sh first)"
	echo "0 passed, 1 failed"
	exit 1
fi
mkdir -p "$T/tree/vendor" "$T/cache/dl" "$T/cache/apt/lists"
cp build.sh Makefile VERSION "$T/tree/"
# the whole source package: .dsc, upstream and Debian tarballs
cp "$CACHE"/dl/zlib_* "$T/cache/dl/"
rm -f "$T"/cache/dl/*.log "$T"/cache/dl/*.rejected
# the pin for zlib says all zeros
awk '$1 == "zlib" { $6 = "0000000000000000000000000000000000000000000000000000000000000000" } { print }' \
	vendor/manifest >"$T/tree/vendor/manifest"
# bearssl is first in the recipe; plant it too so the build reaches zlib
cp "$CACHE"/dl/bearssl_* "$T/cache/dl/"
rm -f "$T"/cache/dl/*.log "$T"/cache/dl/*.rejected

(cd "$T/tree" && AGORA_CACHE="$T/cache" ./build.sh) >"$T/out" 2>&1
rc=$?
if [ "$rc" != 0 ]; then ok "mismatch stops the build (exit $rc)"; else bad "mismatch stops the build"; fi
if grep -q "error: sha256 mismatch for $orig: vendor/manifest pins 0000" "$T/out"; then
	ok "the error names the file and both sums"
else
	bad "the error names the file and both sums"
fi
if [ -f "$T/cache/dl/$orig.rejected" ] && [ ! -f "$T/cache/dl/$orig" ]; then
	ok "the bad download is set aside"
else
	bad "the bad download is set aside"
fi
if [ ! -e "$T/tree/agora" ]; then ok "no binary is linked"; else bad "no binary is linked"; fi
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
