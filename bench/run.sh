#!/usr/bin/env bash
# run.sh is `make bench`: it compares thingcore's broker with mosquitto and
# nats-server's MQTT gateway over MQTT 3.1.1 + mTLS with 64-byte payloads,
# the same EC P-256 certificates for all, and writes a Markdown table to
# stdout and bench/out/results.md (raw JSON lines in bench/out/raw.jsonl).
#
# Each broker runs alone, pinned to CPU 0, on its own loopback port; the load
# generator (bench/loadgen) runs pinned to CPU 1. Broker CPU is utime+stime
# from /proc/PID/stat over the measured window, so CPU per operation holds
# even when throughput is limited by the generator or a busy machine.
#
# Environment:
#   BROKERS    brokers to run, default "thingcore mosquitto nats"
#   N_IDLE     idle connections for the memory row, default 10000
#   IDLE_PROCS loadgen processes they are spread over, default 4
#   N_CONNECT  connections for the connection-rate row, default 3000
#   DURATION   measured window of each traffic run, default 10s
#   SETTLE     seconds to wait before reading RSS, default 5
#   PORT_BASE  thingcore's port; mosquitto +1, nats MQTT +2, nats client +3;
#              default 28883
#   ROWS       "all" (default), "idle": only the idle-memory row, for a
#              quick look at memory, or "latency": only the latency rows
#              (the other rows read n/a)
#
# Needs: Go, mosquitto and nats-server on PATH, taskset, 2+ CPUs. Loopback only.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH="$PATH:/usr/local/go/bin"
fi

BROKERS=${BROKERS:-"thingcore mosquitto nats"}
N_IDLE=${N_IDLE:-10000}
IDLE_PROCS=${IDLE_PROCS:-4}
N_CONNECT=${N_CONNECT:-3000}
DURATION=${DURATION:-10s}
SETTLE=${SETTLE:-5}
PORT_BASE=${PORT_BASE:-28883}
ROWS=${ROWS:-all}

out=bench/out
pki=$out/pki
raw=$out/raw.jsonl
mkdir -p "$out"
: >"$raw"

# More connections than the default soft limit of 1024.
ulimit -n "$(ulimit -Hn)"

log() { echo "bench: $*" >&2; }

log "building into $out/"
go build -o "$out/" ./bench/loadgen ./bench/certs ./bench/broker
"$out/certs" -dir "$pki"

# Everything started here is killed on exit.
started=()
cleanup() {
	local p
	for p in "${started[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${started[@]}"; do
		wait "$p" 2>/dev/null || true
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

write_mosquitto_conf() { # PORT
	cat >"$out/mosquitto.conf" <<-EOF
		# Written by bench/run.sh. mTLS: a client certificate from ca.pem is
		# required; its CN becomes the username.
		per_listener_settings false
		listener $1 127.0.0.1
		cafile $root/$pki/ca.pem
		certfile $root/$pki/server.pem
		keyfile $root/$pki/server.key
		require_certificate true
		use_identity_as_username true
		allow_anonymous false
		# Keep the key readable: mosquitto drops root privileges otherwise.
		user $(id -un)
		max_connections -1
		# 0 = no limit: 2.0.11's inflight quota strands queued QoS 1 messages
		# (fixed in 2.0.13); the load generator bounds what is in flight.
		max_inflight_messages 0
		max_queued_messages 100000
		set_tcp_nodelay true
		persistence false
		connection_messages false
		log_dest stderr
		log_type error
		log_type warning
	EOF
}

write_nats_conf() { # MQTT_PORT CLIENT_PORT
	rm -rf "$out/nats"
	cat >"$out/nats.conf" <<-EOF
		# Written by bench/run.sh. MQTT needs a server name and JetStream.
		server_name: bench
		listen: 127.0.0.1:$2
		jetstream { store_dir: "$root/$out/nats" }
		mqtt {
		  listen: 127.0.0.1:$1
		  tls {
		    cert_file: "$root/$pki/server.pem"
		    key_file: "$root/$pki/server.key"
		    ca_file: "$root/$pki/ca.pem"
		    verify: true
		  }
		}
	EOF
}

# start_broker NAME sets BPID and PORT.
start_broker() {
	local name=$1
	case $name in
	thingcore)
		PORT=$PORT_BASE
		taskset -c 0 "$out/broker" -addr "127.0.0.1:$PORT" -ca "$pki/ca.pem" \
			-cert "$pki/server.pem" -key "$pki/server.key" >"$out/$name.log" 2>&1 &
		;;
	mosquitto)
		PORT=$((PORT_BASE + 1))
		write_mosquitto_conf "$PORT"
		taskset -c 0 mosquitto -c "$out/mosquitto.conf" >"$out/$name.log" 2>&1 &
		;;
	nats)
		PORT=$((PORT_BASE + 2))
		write_nats_conf "$PORT" $((PORT_BASE + 3))
		taskset -c 0 nats-server -c "$out/nats.conf" >"$out/$name.log" 2>&1 &
		;;
	*)
		log "unknown broker $name (want thingcore, mosquitto or nats)"
		exit 2
		;;
	esac
	BPID=$!
	started+=("$BPID")
	local i
	for ((i = 0; i < 100; i++)); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$BPID" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	log "$name did not start listening on $PORT; its log:"
	cat "$out/$name.log" >&2
	exit 1
}

stop_broker() {
	kill "$BPID" 2>/dev/null || true
	wait "$BPID" 2>/dev/null || true
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# jget KEY JSON prints a number field of a loadgen JSON line.
jget() { sed -n "s/.*\"$1\":\([-0-9.e+]*\).*/\1/p" <<<"$2"; }

# lg MODE ARGS... runs the load generator on CPU 1 against the current broker
# and prints its JSON line, which also goes to raw.jsonl.
lg() {
	local line
	line=$(taskset -c 1 "$out/loadgen" "$@" -addr "127.0.0.1:$PORT" -ca "$pki/ca.pem" \
		-cert "$pki/client.pem" -key "$pki/client.key" -pid "$BPID" 2>>"$out/loadgen.log")
	echo "{\"broker\":\"$name\",\"run\":$line}" >>"$raw"
	echo "$line"
}

declare -A R # R[metric,broker] = value

# note_loss METRIC JSON appends the loss count to a result cell.
note_loss() {
	local lost
	lost=$(jget lost "$2")
	if [[ -n $lost && $lost != 0 ]]; then
		R[$1,$name]="${R[$1,$name]} (lost $lost)"
	fi
}

measure_idle() {
	local before after conns=0 errs=0 i n j line files=()
	sleep 1
	before=$(rss_kb "$BPID")
	n=$((N_IDLE / IDLE_PROCS))
	local idle_pids=()
	for ((i = 0; i < IDLE_PROCS; i++)); do
		files+=("$out/idle.$i.out")
		taskset -c 1 "$out/loadgen" idle -n "$n" -c 25 -prefix "idle$i-$$" -addr "127.0.0.1:$PORT" \
			-ca "$pki/ca.pem" -cert "$pki/client.pem" -key "$pki/client.key" \
			>"$out/idle.$i.out" 2>>"$out/loadgen.log" &
		idle_pids+=("$!")
		started+=("$!")
	done
	for ((j = 0; j < 1200; j++)); do # up to 120s for all to connect
		local ready=0
		for i in "${!files[@]}"; do
			if grep -q '"mode":"idle"' "${files[$i]}" 2>/dev/null; then
				ready=$((ready + 1))
			elif ! kill -0 "${idle_pids[$i]}" 2>/dev/null; then
				log "$name: an idle loadgen exited early:"
				tail -3 "$out/loadgen.log" >&2
				ready=$((ready + 1))
			fi
		done
		((ready == IDLE_PROCS)) && break
		sleep 0.1
	done
	sleep "$SETTLE"
	after=$(rss_kb "$BPID")
	for f in "${files[@]}"; do
		line=$(grep '"mode":"idle"' "$f" || true)
		echo "{\"broker\":\"$name\",\"run\":$line}" >>"$raw"
		i=$(jget conns "$line")
		conns=$((conns + ${i:-0}))
		i=$(jget errors "$line")
		errs=$((errs + ${i:-0}))
	done
	kill "${idle_pids[@]}" 2>/dev/null || true
	wait "${idle_pids[@]}" 2>/dev/null || true
	log "$name: idle: $conns connections ($errs failed), RSS ${before} kB -> ${after} kB"
	if ((conns > 0)); then
		R[idle_kb,$name]=$(awk -v a="$after" -v b="$before" -v n="$conns" 'BEGIN { printf "%.1f", (a - b) / n }')
		if ((errs > 0)); then R[idle_kb,$name]="${R[idle_kb,$name]} ($errs failed)"; fi
	else
		R[idle_kb,$name]="failed"
	fi
}

# measure_latency fills the latency rows: a fixed-rate QoS 1 stream from
# one publisher to one subscriber.
measure_latency() {
	local j
	log "$name: latency"
	j=$(lg latency -rate 1000 -qos 1 -duration "$DURATION")
	R[lat_p50,$name]=$(jget p50_ms "$j")
	R[lat_p99,$name]=$(jget p99_ms "$j")
	note_loss lat_p99 "$j"
}

run_broker() {
	name=$1
	log "== $name"
	start_broker "$name"
	if [[ $ROWS == latency ]]; then
		measure_latency
		stop_broker
		return 0
	fi
	measure_idle
	if [[ $ROWS == idle ]]; then
		stop_broker
		return 0
	fi
	sleep 2 # let the idle connections go away

	local j
	log "$name: connect"
	j=$(lg connect -n "$N_CONNECT" -c 16)
	R[conn_rate,$name]=$(jget rate "$j")
	R[conn_cpu,$name]=$(jget cpu_us_per_op "$j")
	for q in 0 1; do
		log "$name: fanin qos $q"
		j=$(lg fanin -pubs 100 -qos "$q" -duration "$DURATION")
		R[fanin${q}_rate,$name]=$(jget rate "$j")
		R[fanin${q}_cpu,$name]=$(jget cpu_us_per_op "$j")
		note_loss "fanin${q}_rate" "$j"
	done
	for q in 0 1; do
		log "$name: fanout qos $q"
		j=$(lg fanout -subs 1000 -qos "$q" -duration "$DURATION")
		R[fanout${q}_rate,$name]=$(jget rate "$j")
		R[fanout${q}_cpu,$name]=$(jget cpu_us_per_op "$j")
		note_loss "fanout${q}_rate" "$j"
	done
	measure_latency
	stop_broker
}

for b in $BROKERS; do
	run_broker "$b" || log "$b: run failed; see $out/$b.log and $out/loadgen.log"
done

# Rows: key | label | direction (up: higher is better) | extra goal for thingcore.
rows=(
	"idle_kb|Memory per idle mTLS connection, KB ($N_IDLE conns)|down|16"
	"conn_rate|Connections/s (mTLS handshake + CONNECT + DISCONNECT)|up|"
	"conn_cpu|Broker CPU per connection, µs|down|"
	"fanin0_rate|Fan-in 100→1 QoS 0, msgs/s|up|"
	"fanin0_cpu|Fan-in 100→1 QoS 0, broker CPU µs/delivery|down|"
	"fanin1_rate|Fan-in 100→1 QoS 1, msgs/s|up|"
	"fanin1_cpu|Fan-in 100→1 QoS 1, broker CPU µs/delivery|down|16"
	"fanout0_rate|Fan-out 1→1,000 QoS 0, deliveries/s|up|"
	"fanout0_cpu|Fan-out 1→1,000 QoS 0, broker CPU µs/delivery|down|"
	"fanout1_rate|Fan-out 1→1,000 QoS 1, deliveries/s|up|"
	"fanout1_cpu|Fan-out 1→1,000 QoS 1, broker CPU µs/delivery|down|16"
	"lat_p50|Latency p50 at 1,000 msg/s QoS 1, ms|down|"
	"lat_p99|Latency p99 at 1,000 msg/s QoS 1, ms|down|"
)

# num CELL prints the leading number of a cell, or nothing.
num() { sed -n 's/^\([0-9.][0-9.e+]*\).*/\1/p' <<<"$1"; }

# cell KEY VALUE rounds a value for the table, keeping any note after it.
cell() {
	local v rest
	v=$(num "$2")
	[[ -z $v ]] && { echo "$2"; return; }
	rest=${2#"$v"}
	case $1 in
	*_rate) v=$(awk -v v="$v" 'BEGIN { printf "%.0f", v }') ;;
	*_cpu) v=$(awk -v v="$v" 'BEGIN { printf (v < 10 ? "%.2f" : "%.1f"), v }') ;;
	lat_*) v=$(awk -v v="$v" 'BEGIN { printf "%.3f", v }') ;;
	esac
	echo "$v$rest"
}

report() {
	local b peers=() header sep row key label dir goal tc best ratio met v
	for b in $BROKERS; do [[ $b != thingcore ]] && peers+=("$b"); done
	header="| Metric |"
	sep="|---|"
	for b in $BROKERS; do
		header+=" $b |"
		sep+="---:|"
	done
	header+=" thingcore / best peer | goal met |"
	sep+="---:|:---:|"
	echo "# Broker benchmark results"
	echo
	echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- Machine: $(nproc) CPUs, $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r)"
	echo "- Versions: thingcore $(git rev-parse --short HEAD 2>/dev/null || echo "(uncommitted)"), $(go version | awk '{ print $3 }'), $(mosquitto -h 2>&1 | head -1), nats-server $(nats-server --version 2>&1 | awk '{ print $2 }')"
	echo "- Setup: broker pinned to CPU 0, load generator to CPU 1; MQTT 3.1.1 over TLS 1.3 mTLS (X25519, EC P-256 certificates), 64-byte payloads, DURATION=$DURATION per traffic run"
	echo
	echo "$header"
	echo "$sep"
	for row in "${rows[@]}"; do
		IFS='|' read -r key label dir goal <<<"$row"
		line="| $label |"
		for b in $BROKERS; do
			line+=" $(cell "$key" "${R[$key,$b]:-n/a}") |"
		done
		tc=$(num "${R[$key,thingcore]:-}")
		best=""
		for b in "${peers[@]}"; do
			v=$(num "${R[$key,$b]:-}")
			[[ -z $v ]] && continue
			if [[ -z $best ]] || awk -v v="$v" -v b="$best" -v d="$dir" 'BEGIN { exit !((d == "up") ? v > b : v < b) }'; then
				best=$v
			fi
		done
		ratio="–"
		met="–"
		if [[ -n $tc && -n $best ]] && awk -v b="$best" 'BEGIN { exit !(b > 0) }'; then
			ratio=$(awk -v t="$tc" -v b="$best" 'BEGIN { printf "%.2f", t / b }')
			met=$(awk -v t="$tc" -v b="$best" -v d="$dir" -v g="$goal" 'BEGIN {
				ok = (d == "up") ? t >= b : t <= b
				if (g != "" && t > g) ok = 0
				print ok ? "yes" : "no" }')
		elif [[ -n $tc && -n $goal ]]; then
			met=$(awk -v t="$tc" -v g="$goal" 'BEGIN { print (t <= g) ? "yes" : "no" }')
		fi
		line+=" $ratio | $met |"
		echo "$line"
	done
	echo
	echo "Goals (issue): thingcore at least as good as the best peer on every row; also ≤ 16 KB per idle"
	echo "mTLS connection and ≤ 16 µs broker CPU per QoS 1 delivery. The ratio is thingcore ÷ best peer:"
	echo "above 1 is better for rates, below 1 is better for memory, CPU and latency."
}

report | tee "$out/results.md"
