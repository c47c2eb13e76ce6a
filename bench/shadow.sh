#!/usr/bin/env bash
# shadow.sh measures the Device Shadow service of a real `thingcore serve`:
# N devices (mTLS, one connection each, client id = thing name) update their
# own shadows at a steady total rate, and loadgen reports accepted updates/s,
# update -> update/accepted latency (p50/p99/max) and the hub's CPU per
# update. The hub runs with --insecure-allow-all so that one registered
# certificate serves every simulated device; policies are measured elsewhere.
#
# Usage: bench/shadow.sh [THINGS] [RATE] [DURATION] [QOS]   (default 1000 10000 20s 1)
# Output: one JSON line per run on stdout and in bench/out/shadow/results.jsonl.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
things="${1:-1000}"
rate="${2:-10000}"
duration="${3:-20s}"
qos="${4:-1}"
out="bench/out/shadow"
mqtt="127.0.0.1:18883"
https="127.0.0.1:18443"

rm -rf "$out"
mkdir -p "$out"
# THINGCORE_BIN=FILE runs a hub built beforehand (A/B comparisons of two
# commits back to back) instead of building this tree's.
if [[ -n "${THINGCORE_BIN:-}" ]]; then
	cp "$THINGCORE_BIN" "$out/thingcore"
else
	go build -o "$out/thingcore" ./cmd/thingcore
fi
go build -o "$out/loadgen" ./bench/loadgen

THINGCORE_CPUPROFILE="${THINGCORE_CPUPROFILE:-}" THINGCORE_MEMPROFILE="${THINGCORE_MEMPROFILE:-}" "$out/thingcore" serve --data-dir "$out/data" --mqtt-addr "$mqtt" --https-addr "$https" \
	--server-name 127.0.0.1 --insecure-allow-all --log-level warn 2>"$out/thingcore.log" &
hub=$!
trap 'kill "$hub" 2>/dev/null || true; wait "$hub" 2>/dev/null || true' EXIT

cli_flags=(--data-dir "$out/data" --endpoint "https://$https")
for _ in $(seq 1 100); do
	if "$out/thingcore" thing list "${cli_flags[@]}" >/dev/null 2>&1; then
		break
	fi
	sleep 0.1 # waiting for the hub to listen
done
"$out/thingcore" thing create "${cli_flags[@]}" bench-device --out "$out/device" --mqtt-host 127.0.0.1 --mqtt-port "${mqtt##*:}" >/dev/null

"$out/loadgen" shadow -addr "$mqtt" -ca "$out/device/root-CA.pem" \
	-cert "$out/device/certificate.pem.crt" -key "$out/device/private.pem.key" \
	-prefix bench -n "$things" -c 50 -rate "$rate" -duration "$duration" -warmup 3s -qos "$qos" -pid "$hub" ${LOADGEN_FLAGS:-} |
	tee -a "$out/results.jsonl"
