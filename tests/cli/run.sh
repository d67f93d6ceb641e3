#!/usr/bin/env bash
# tests/cli/run.sh AGORA — the command line of the real binary, end to end:
# exit codes, messages, config errors, secrets never printed, log format and
# filtering, the static binary running alone under chroot, and the
# deployment files (deploy_check.py).
# Ends with "N passed, N failed".
set -u
AGORA=$(realpath "${1:?usage: run.sh PATH-TO-AGORA}")
cd "$(dirname "$0")/../.."
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok - $1"; }
bad() { fail=$((fail + 1)); echo "FAIL - $1"; [ -f "$T/out" ] && sed 's/^/    | /' "$T/out" | head -20; }
# expect NAME STATUS CMD... : runs CMD (stdout+stderr to $T/out), checks the exit status
expect() {
	local name=$1 want=$2 got
	shift 2
	"$@" >"$T/out" 2>&1
	got=$?
	if [ "$got" = "$want" ]; then ok "$name"; else bad "$name (exit $got, expected $want)"; fi
}
# has NAME REGEX : the last output matches REGEX (grep -E)
has() { if grep -qE -- "$2" "$T/out"; then ok "$1"; else bad "$1 (no line matching: $2)"; fi; }
hasnt() { if grep -qF -- "$2" "$T/out"; then bad "$1 (found: $2)"; else ok "$1"; fi; }

unset AGORA_CONFIG LOG_LEVEL GUILD_ID DB_PORT
mkdir -p "$T/secrets"
TOKEN="MTIzNDU2Nzg5.cli-test-token-do-not-print"
printf '  %s\n' "$TOKEN" >"$T/secrets/discord_bot_token"
printf 'pw-cli-secret\n' >"$T/secrets/db_password.txt"
{
	sed -e "s|^SECRETS_DIR = .*|SECRETS_DIR = $T/secrets|" \
		-e "s|^TLS_CA_FILE = .*|TLS_CA_FILE = $PWD/agora.conf.example|" \
		-e "s|^HEALTH_PORT = .*|HEALTH_PORT = 1|" agora.conf.example
} >"$T/good.conf"

# --version
expect "--version exits 0" 0 "$AGORA" --version
has "--version names agora and its version" "^agora [0-9]+\.[0-9]+\.[0-9]+ \(commit [0-9a-f]+|unknown"
has "--version names BearSSL" "^BearSSL 0\.6"
has "--version names zlib" "^zlib 1\.2\.13"
has "--version names hiredis" "^hiredis 0\.14\.1"
has "--version names libpq" "^libpq 15\."
has "--version names stb_image" "^stb_image 2\."

# usage
expect "unknown argument exits 2" 2 "$AGORA" --bogus
has "unknown argument is named" "unknown argument '--bogus'"
expect "-c without a path exits 2" 2 "$AGORA" --check-config -c
expect "--help exits 0" 0 "$AGORA" --help

# --check-config
expect "good config: --check-config exits 0" 0 "$AGORA" --check-config -c "$T/good.conf"
has "good config: says OK" "good.conf: configuration OK"
hasnt "good config: token never printed" "$TOKEN"
expect "AGORA_CONFIG names the file" 0 env AGORA_CONFIG="$T/good.conf" "$AGORA" --check-config
expect "env override is checked" 1 env DB_PORT=70000 "$AGORA" --check-config -c "$T/good.conf"
has "env override problem names the variable" "^environment:DB_PORT: DB_PORT '70000' is out of range"

{
	grep -vE '^(GUILD_ID|MAX_PROPOSED_CHANNELS|OPEN_WEB_UI_URL) ' "$T/good.conf"
	echo "MAX_PROPOSED_CHANNELS = 99"
	echo "NOT_A_KEY = 1"
	echo "this line is wrong"
	echo "OPEN_WEB_UI_URL = $TOKEN"
} >"$T/bad.conf"
expect "bad config: --check-config exits 1" 1 "$AGORA" --check-config -c "$T/bad.conf"
has "bad config: range problem with file and line" "bad\.conf:[0-9]+: MAX_PROPOSED_CHANNELS '99' is out of range: expected a whole number from 1 to 50"
has "bad config: unknown key with file and line" "bad\.conf:[0-9]+: unknown key 'NOT_A_KEY'"
has "bad config: malformed line" "bad\.conf:[0-9]+: expected KEY = value"
has "bad config: missing required key" "bad\.conf:0: GUILD_ID is required"
has "bad config: URL problem" "bad\.conf:[0-9]+: OPEN_WEB_UI_URL .* is not a valid URL"
hasnt "bad config: a token pasted into a value is not printed, not even in part" "${TOKEN:0:8}"
lines=$(wc -l <"$T/out")
if [ "$lines" = 5 ]; then ok "bad config: every problem listed, one line each"; else bad "bad config: expected 5 lines, got $lines"; fi
if grep -vqE '^[^:]+:[0-9]+: ' "$T/out"; then bad "bad config: every line is PATH:LINE: message"; else ok "bad config: every line is PATH:LINE: message"; fi

expect "missing config exits 1" 1 "$AGORA" --check-config -c "$T/nope.conf"
has "missing config is one clear line" "nope\.conf:0: cannot read the config file: No such file or directory"
chmod 000 "$T/good.conf"
if [ "$(id -u)" != 0 ]; then
	expect "unreadable config exits 1" 1 "$AGORA" --check-config -c "$T/good.conf"
	has "unreadable config names the reason" "good\.conf:0: cannot read the config file: Permission denied"
fi
chmod 644 "$T/good.conf"
expect "a directory as config exits 1" 1 "$AGORA" --check-config -c "$T"
has "a directory as config says so" ":0: cannot read the config file: not a regular file \(a directory\)"
# issue 12.7: a FIFO (no writer), a device or a directory fails at once
# with "PATH:0: ... not a regular file"; a FIFO used to hang start-up in
# open() with no output (timeout turns a hang into exit 124)
mkfifo "$T/fifo.conf"
expect "a FIFO as config exits 1 at once" 1 timeout 10 "$AGORA" --check-config -c "$T/fifo.conf"
has "a FIFO as config says so" "fifo\.conf:0: cannot read the config file: not a regular file \(a FIFO\)"
expect "a FIFO as config: a run exits 1 at once too" 1 timeout 10 "$AGORA" -c "$T/fifo.conf"
has "a FIFO as config: the run says so" "fifo\.conf:0: .*not a regular file \(a FIFO\)"
expect "/dev/zero as config exits 1 at once" 1 timeout 10 "$AGORA" --check-config -c /dev/zero
has "/dev/zero as config says so" "^/dev/zero:0: cannot read the config file: not a regular file \(a character device\)"
mkdir -p "$T/odd-secrets"
mkfifo "$T/odd-secrets/discord_bot_token"
ln -s /dev/zero "$T/odd-secrets/db_password"
mkdir "$T/odd-secrets/open_webui_token"
sed -e "s|^SECRETS_DIR = .*|SECRETS_DIR = $T/odd-secrets|" "$T/good.conf" >"$T/odd.conf"
expect "FIFO, /dev/zero and directory secrets exit 1 at once" 1 timeout 10 "$AGORA" --check-config -c "$T/odd.conf"
has "a FIFO secret says so" "odd-secrets/discord_bot_token:0: cannot read secret: not a regular file \(a FIFO\)"
has "/dev/zero as a secret says so" "odd-secrets/db_password:0: cannot read secret: not a regular file \(a character device\)"
has "a directory as a secret says so" "odd-secrets/open_webui_token:0: cannot read secret: not a regular file \(a directory\)"
expect "a FIFO secret: a run exits 1 at once too" 1 timeout 10 "$AGORA" -c "$T/odd.conf"
has "a FIFO secret: the run says so" "discord_bot_token:0: cannot read secret: not a regular file \(a FIFO\)"
head -c 100000 /dev/urandom >"$T/random.conf"
expect "binary garbage config exits 1 without crashing" 1 "$AGORA" --check-config -c "$T/random.conf"

rm "$T/secrets/discord_bot_token"
expect "missing token exits 1" 1 "$AGORA" --check-config -c "$T/good.conf"
has "missing token is named" "secrets/discord_bot_token:0: secret file is missing"
printf '%s\n' "$TOKEN" >"$T/secrets/discord_bot_token.txt"
expect "token as discord_bot_token.txt is accepted" 0 "$AGORA" --check-config -c "$T/good.conf"

# logging: TIMESTAMP LEVEL component: message, filtered by LOG_LEVEL
expect "run with a good config logs and exits" 1 "$AGORA" -c "$T/good.conf"
has "log line format" "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z INFO main: agora .* starting"
hasnt "log never shows the token" "$TOKEN"
expect "LOG_LEVEL=CRITICAL run" 1 env LOG_LEVEL=CRITICAL "$AGORA" -c "$T/good.conf"
hasnt "LOG_LEVEL=CRITICAL drops INFO lines" " INFO "
has "LOG_LEVEL=CRITICAL keeps CRITICAL lines" "^[0-9T:.-]+Z CRITICAL main: "

# --healthcheck with no bot running
expect "--healthcheck with nothing listening exits 1" 1 "$AGORA" --healthcheck -c "$T/good.conf"
has "--healthcheck says why" "cannot reach the bot on 127\.0\.0\.1:1"

# --check-discord / --invite-url without Discord (tests/e2e/060 runs them
# against the emulator): the config is checked first, every failure exits 1
expect "--help lists --check-discord" 0 "$AGORA" --help
has "--help names --check-discord" "--check-discord \[-c PATH\]"
has "--help names --invite-url" "--invite-url \[-c PATH\]"
expect "--check-discord with a bad config exits 1" 1 "$AGORA" --check-discord -c "$T/bad.conf"
has "--check-discord lists the config problems first" "bad\.conf:[0-9]+: unknown key 'NOT_A_KEY'"
expect "--check-discord with an unusable CA file exits 1" 1 "$AGORA" --check-discord -c "$T/good.conf"
has "--check-discord names the CA problem" "agora: .*agora\.conf\.example"
hasnt "--check-discord never shows the token" "$TOKEN"
sed -e "s|^TLS_CA_FILE = .*|TLS_CA_FILE = /etc/ssl/certs/ca-certificates.crt|" \
	-e "s|^DISCORD_API_URL = .*|DISCORD_API_URL = https://127.0.0.1:1/api/v10|" "$T/good.conf" >"$T/nodiscord.conf"
grep -q '^DISCORD_API_URL' "$T/nodiscord.conf" || echo "DISCORD_API_URL = https://127.0.0.1:1/api/v10" >>"$T/nodiscord.conf"
if [ -s /etc/ssl/certs/ca-certificates.crt ]; then
	expect "--check-discord with Discord unreachable exits 1" 1 "$AGORA" --check-discord -c "$T/nodiscord.conf"
	has "--check-discord says it could not ask Discord" "^FAIL token: could not ask Discord"
	has "--check-discord skips what depends on the token" "^skip guild [0-9]+: needs a valid token"
	has "--check-discord ends with the count" "^check-discord: 12 checks did not pass"
	hasnt "--check-discord unreachable: token not shown" "$TOKEN"
	expect "--invite-url with Discord unreachable exits 1" 1 "$AGORA" --invite-url -c "$T/nodiscord.conf"
	has "--invite-url says why" "agora: invite-url: application: "
fi

# the binary: static, stripped, and alone in an empty root
file -b "$AGORA" >"$T/out"
has "binary is statically linked" "statically linked"
has "binary is stripped" "stripped"
has "binary is x86-64" "x86-64"
if [ "$(id -u)" = 0 ]; then
	mkdir -p "$T/root"
	cp "$AGORA" "$T/root/agora"
	expect "runs under chroot in an empty directory" 0 chroot "$T/root" /agora --version
	has "chroot run prints the version" "^agora "
fi

# deployment files: .dockerignore, Dockerfile's final stage, docker-compose
# config, the systemd unit (tests/cli/deploy_check.py says what each proves)
/usr/bin/python3 tests/cli/deploy_check.py "$AGORA" >"$T/deploy" 2>&1
while IFS= read -r line; do
	case $line in
	"ok - "*) ok "deploy: ${line#ok - }" ;;
	"FAIL - "*) bad "deploy: ${line#FAIL - }" ;;
	"    | "*) echo "$line" ;;
	esac
done <"$T/deploy"
grep -qE '^[0-9]+ passed, 0 failed$' "$T/deploy" || bad "deploy_check.py ended without its summary (see above)"

# the README's config table lists every key of the example
missing=""
for k in $(sed -n 's/^\([A-Z_]*\) =.*/\1/p' agora.conf.example); do
	grep -q "\`$k\`" README.md || missing="$missing $k"
done
if [ -z "$missing" ]; then ok "README documents every config key"; else bad "README lacks:$missing"; fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
