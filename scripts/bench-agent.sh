#!/usr/bin/env bash
# Measures osprey-agent's cost beside node_exporter (the yardstick) on this
# host: CPU as % of one core and resident memory, over the same window.
#
#   scripts/bench-agent.sh [SECONDS]          default 120
#
# Environment:
#   OSPREY_SERVER  server for the agent (default 127.0.0.1:4317; with no
#                  server listening the agent spools, which is fine for
#                  collection cost but does not include sending)
#   OSPREY_KEY     project key for the agent (default "bench")
#   INTERVAL       collection/scrape interval (default 5s)
#   WARMUP         seconds to wait before measuring (default 10)
#   NODE_EXPORTER_ADDR  listen address for node_exporter (default 127.0.0.1:9101)
set -euo pipefail

DURATION="${1:-${DURATION:-120}}"
INTERVAL="${INTERVAL:-5s}"
WARMUP="${WARMUP:-10}"
SERVER="${OSPREY_SERVER:-127.0.0.1:4317}"
KEY="${OSPREY_KEY:-bench}"
NE_ADDR="${NODE_EXPORTER_ADDR:-127.0.0.1:9101}"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d /tmp/bench-agent.XXXXXX)"
PIDS=()

cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

NE_BIN="$(command -v prometheus-node-exporter || true)"
if [[ -z "$NE_BIN" ]]; then
	echo "installing prometheus-node-exporter" >&2
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends prometheus-node-exporter >/dev/null 2>&1; then
		apt-get update >/dev/null
		apt-get install -y --no-install-recommends prometheus-node-exporter >/dev/null
	fi
	NE_BIN="$(command -v prometheus-node-exporter)"
fi
# The package may start a systemd service on :9100; we run our own copy so
# both processes are measured the same way.

echo "building osprey-agent" >&2
(cd "$ROOT" && go build -trimpath -ldflags "-s -w" -o "$WORK/osprey-agent" ./cmd/osprey-agent)

"$NE_BIN" --web.listen-address="$NE_ADDR" >"$WORK/node_exporter.log" 2>&1 &
NE_PID=$!
PIDS+=("$NE_PID")

# node_exporter collects only when scraped: scrape it like Prometheus would.
secs="${INTERVAL%s}"
(
	while sleep "$secs"; do curl -fsS -o /dev/null "http://$NE_ADDR/metrics" || true; done
) &
PIDS+=("$!")

OSPREY_KEY="$KEY" "$WORK/osprey-agent" --server "$SERVER" --state-dir "$WORK/agent" \
	--interval "$INTERVAL" --log-level warn >"$WORK/agent.log" 2>&1 &
AG_PID=$!
PIDS+=("$AG_PID")

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
HZ="$(getconf CLK_TCK)"

sleep "$WARMUP"
for p in "$NE_PID" "$AG_PID"; do
	if ! kill -0 "$p" 2>/dev/null; then
		echo "a measured process died; logs:" >&2
		cat "$WORK"/*.log >&2
		exit 1
	fi
done

t0=$(date +%s.%N)
ne0=$(ticks "$NE_PID")
ag0=$(ticks "$AG_PID")
ne_max=0
ag_max=0
end=$(($(date +%s) + DURATION))
while (($(date +%s) < end)); do
	n=$(rss_kb "$NE_PID")
	a=$(rss_kb "$AG_PID")
	((n > ne_max)) && ne_max=$n
	((a > ag_max)) && ag_max=$a
	sleep 1
done
t1=$(date +%s.%N)
ne1=$(ticks "$NE_PID")
ag1=$(ticks "$AG_PID")
ne_rss=$(rss_kb "$NE_PID")
ag_rss=$(rss_kb "$AG_PID")

report() { # name ticks0 ticks1 rss_max_kb rss_final_kb
	awk -v n="$1" -v a="$2" -v b="$3" -v mx="$4" -v fin="$5" -v hz="$HZ" -v t0="$t0" -v t1="$t1" 'BEGIN {
		printf "%-16s %8.3f %% of a core   RSS max %6.1f MiB   final %6.1f MiB\n",
			n, (b - a) / hz / (t1 - t0) * 100, mx / 1024, fin / 1024 }'
}
echo "window: ${DURATION}s after ${WARMUP}s warm-up, interval $INTERVAL, $(nproc) cores, $(ls /proc | grep -c '^[0-9]') processes"
report node_exporter "$ne0" "$ne1" "$ne_max" "$ne_rss"
report osprey-agent "$ag0" "$ag1" "$ag_max" "$ag_rss"
spooled=$(du -sb "$WORK/agent/spool" 2>/dev/null | cut -f1)
if grep -q "server unreachable\|server refused" "$WORK/agent.log"; then
	echo "osprey-agent could not deliver to $SERVER (it spooled ${spooled:-0} bytes): the figures cover collection and spooling, not sending"
	grep "server unreachable\|server refused" "$WORK/agent.log" | tail -1 | cut -c1-300
else
	echo "osprey-agent delivered to $SERVER (spool files ${spooled:-0} bytes; acknowledged data is removed in 1 MiB steps)"
fi
