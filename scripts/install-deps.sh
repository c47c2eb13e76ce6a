#!/usr/bin/env bash
# install-deps.sh installs what thingcore's tests need beyond Go: the Debian
# tools the interop tests drive (mosquitto, mosquitto-clients, nats-server,
# openssl, the AWS CLI v2 and boto3), chromium for the console's browser
# tests, the npm clients in test/interop and Playwright in test/e2e. It
# is idempotent: a rerun on a machine that already has everything only checks
# and returns in seconds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf 'install-deps: %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------
# Each entry is "package:command"; a package counts as present when dpkg says
# it is installed and its command is on PATH (or in an sbin directory, which a
# non-root PATH may lack). A command given as an absolute path must exist
# there: /usr/bin/aws is Debian's AWS CLI v2, which an AWS CLI v1 earlier on
# PATH would otherwise hide, and python3-boto3 is a module, not a command.
apt_wanted=(
	"mosquitto:mosquitto"
	"mosquitto-clients:mosquitto_pub"
	"nats-server:nats-server"
	"openssl:openssl"
	"awscli:/usr/bin/aws"
	"python3-boto3:/usr/lib/python3/dist-packages/boto3/__init__.py"
	"chromium:/usr/bin/chromium"
)

have_cmd() {
	if [[ "$1" == /* ]]; then
		[[ -e "$1" ]]
		return
	fi
	command -v "$1" >/dev/null 2>&1 || [[ -x "/usr/sbin/$1" || -x "/usr/bin/$1" || -x "/sbin/$1" ]]
}

missing=()
for entry in "${apt_wanted[@]}"; do
	pkg="${entry%%:*}"
	cmd="${entry##*:}"
	if dpkg -s "$pkg" >/dev/null 2>&1 && have_cmd "$cmd"; then
		continue
	fi
	missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
	log "debian packages present: ${apt_wanted[*]%%:*}"
else
	sudo=()
	if [[ "$(id -u)" -ne 0 ]]; then
		if ! command -v sudo >/dev/null 2>&1; then
			log "need root or sudo to install: ${missing[*]}" >&2
			exit 1
		fi
		sudo=(sudo -n)
	fi
	export DEBIAN_FRONTEND=noninteractive
	log "apt-get update"
	"${sudo[@]}" apt-get update -q
	log "apt-get install ${missing[*]}"
	"${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
fi

# The mosquitto package may start a system broker on port 1883. Tests never
# use it (each starts its own on a random port), so it is left alone.

# --- npm packages for the interop and browser tests ---------------------------
# npm_ci DIR CHECK installs DIR's package-lock.json into DIR/node_modules when
# it is missing or older than the lock, then runs the node expression CHECK.
npm_ci() {
	local dir="$1" check="$2" name="${1#"$root"/}"
	[[ -f "$dir/package-lock.json" ]] || return 0
	if ! command -v npm >/dev/null 2>&1; then
		log "npm not found; install node 20+ to run the tests in $name" >&2
		exit 1
	fi
	local stamp="$dir/node_modules/.package-lock.json"
	if [[ ! -d "$dir/node_modules" || ! -f "$stamp" || "$dir/package-lock.json" -nt "$stamp" ]]; then
		# --ignore-scripts: aws-crt ships its prebuilt native addon inside the
		# npm package; its install script would only try to rebuild it.
		# playwright-core has no install script and downloads no browser: the
		# browser tests drive Debian's chromium.
		log "npm ci in $name"
		(cd "$dir" && npm ci --ignore-scripts --no-audit --no-fund)
		(cd "$dir" && node -e "$check")
		log "npm packages in $name load"
	else
		log "$name/node_modules up to date"
	fi
}
npm_ci "$root/test/interop" "require('aws-iot-device-sdk-v2'); require('aws-iot-device-sdk'); require('mqtt')"
npm_ci "$root/test/e2e" "require('playwright-core')"

log "done"
