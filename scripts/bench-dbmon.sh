#!/usr/bin/env bash
# bench-dbmon.sh — the agent's db module beside Debian's
# prometheus-mysqld-exporter and prometheus-postgres-exporter scraped every
# 5 s, on this machine's MariaDB and PostgreSQL: collector CPU and peak RSS,
# and the load each puts on the databases (statements per cycle, database
# server CPU per cycle), each over the same window after an idle baseline.
# Needs root (apt), the two servers running and a quiet machine.
#   DUR=120 scripts/bench-dbmon.sh
set -euo pipefail
DUR=${DUR:-120}
CYCLE=5
cd "$(dirname "$0")/.."
command -v prometheus-mysqld-exporter >/dev/null || apt-get install -y prometheus-mysqld-exporter prometheus-postgres-exporter >/dev/null
pkill -f prometheus-mysqld-exporter 2>/dev/null || true
pkill -f prometheus-postgres-exporter 2>/dev/null || true
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"' EXIT
go build -o "$W/bin/" ./cmd/osprey ./cmd/osprey-agent
TCK=$(getconf CLK_TCK)
# One least-privilege monitoring user for every collector (the exporter
# insists on a password).
mysql -uroot -h127.0.0.1 -e "CREATE USER IF NOT EXISTS 'osp_bench'@'%' IDENTIFIED BY 'bench-pass'; GRANT PROCESS, REPLICATION CLIENT, SELECT ON *.* TO 'osp_bench'@'%'"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$W"; mysql -uroot -h127.0.0.1 -e "DROP USER IF EXISTS osp_bench@\"%\""' EXIT

cpu_of() { # CPU seconds of a pid (utime+stime)
  awk -v t="$TCK" '{printf "%.3f", ($14+$15)/t}' "/proc/$1/stat"
}
cpu_of_cmd() { # summed CPU seconds of every process whose name matches
  local s=0
  for p in $(pgrep -x "$1"); do s=$(echo "$s + $(cpu_of "$p" 2>/dev/null || echo 0)" | bc); done
  echo "$s"
}
hwm() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; } # peak RSS, KiB
my_q() { mysql -uroot -h127.0.0.1 -N -e "SHOW GLOBAL STATUS LIKE 'Questions'" | awk '{print $2}'; }
pg_x() { psql -h127.0.0.1 -Upostgres -At -c "SELECT sum(xact_commit + xact_rollback) FROM pg_stat_database"; }

# measure NAME PID... : runs DUR seconds, prints one row.
measure() {
  local name=$1; shift
  local c0 m0 p0 mc0 pc0
  c0=0; for p in "$@"; do c0=$(echo "$c0 + $(cpu_of "$p")" | bc); done
  m0=$(my_q); p0=$(pg_x); mc0=$(cpu_of_cmd mariadbd); pc0=$(cpu_of_cmd postgres)
  sleep "$DUR"
  local c1 m1 p1 mc1 pc1 rss=0
  c1=0; for p in "$@"; do c1=$(echo "$c1 + $(cpu_of "$p")" | bc); rss=$((rss + $(hwm "$p"))); done
  m1=$(my_q); p1=$(pg_x); mc1=$(cpu_of_cmd mariadbd); pc1=$(cpu_of_cmd postgres)
  local cycles=$((DUR / CYCLE))
  printf "| %s | %.2f%% | %d MiB | %.1f | %.1f | %.1f | %.1f |\n" "$name" \
    "$(echo "100 * ($c1 - $c0) / $DUR" | bc -l)" $((rss / 1024)) \
    "$(echo "($m1 - $m0) / $cycles" | bc -l)" "$(echo "($p1 - $p0) / $cycles" | bc -l)" \
    "$(echo "1000 * ($mc1 - $mc0) / $cycles" | bc -l)" "$(echo "1000 * ($pc1 - $pc0) / $cycles" | bc -l)"
}

echo "| collector | CPU (of one core) | peak RSS | MariaDB statements/cycle | PostgreSQL transactions/cycle | mariadbd CPU ms/cycle | postgres CPU ms/cycle |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
measure "idle baseline (nothing collecting)"

# Osprey: a server to send to, and an agent with only the db module.
OSPREY_ADMIN_PASSWORD=bench OSPREY_PROJECT_KEY=osp_bench_dbmon_key_000000001 "$W/bin/osprey" server --data-dir "$W/data" \
  --http-addr 127.0.0.1:0 --otlp-grpc-addr 127.0.0.1:14399 --otlp-http-addr 127.0.0.1:0 >"$W/server.log" 2>&1 &
sleep 3
cat >"$W/agent.yaml" <<YAML
modules:
  host: {enabled: false}
  url: {enabled: false}
  db:
    enabled: true
    instances:
      - {name: bench-mariadb, engine: mysql, dsn: "osp_bench:bench-pass@tcp(127.0.0.1:3306)/"}
      - {name: bench-postgres, engine: postgresql, dsn: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"}
YAML
"$W/bin/osprey-agent" --config "$W/agent.yaml" --server 127.0.0.1:14399 --key osp_bench_dbmon_key_000000001 \
  --state-dir "$W/agent" --name bench >"$W/agent.log" 2>&1 &
AGENT=$!
sleep 10 # connect, first cycles
measure "osprey-agent db module (stats, sessions, locks, statements)" "$AGENT"
kill "$AGENT"; wait "$AGENT" 2>/dev/null || true
sleep 5

# Debian's exporters, scraped every 5 s like Prometheus would.
printf '[client]\nuser=osp_bench\npassword=bench-pass\nhost=127.0.0.1\nport=3306\n' >"$W/my.cnf"
prometheus-mysqld-exporter --config.my-cnf="$W/my.cnf" --web.listen-address=127.0.0.1:19104 \
  --collect.info_schema.processlist >"$W/mysqld-exporter.log" 2>&1 &
MYX=$!
DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:5432/postgres?sslmode=disable" \
  prometheus-postgres-exporter --web.listen-address=127.0.0.1:19187 >"$W/pg-exporter.log" 2>&1 &
PGX=$!
sleep 3
( while sleep "$CYCLE"; do
    curl -s -o /dev/null http://127.0.0.1:19104/metrics
    curl -s -o /dev/null http://127.0.0.1:19187/metrics
  done ) &
SCRAPER=$!
sleep 10
for p in "$MYX" "$PGX"; do
  kill -0 "$p" 2>/dev/null || { echo "an exporter exited:" >&2; cat "$W"/*exporter.log >&2; exit 1; }
done
measure "mysqld-exporter + postgres-exporter, scraped every 5 s" "$MYX" "$PGX"
kill "$SCRAPER" "$MYX" "$PGX" 2>/dev/null || true
