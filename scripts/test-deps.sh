#!/usr/bin/env bash
# Puts what the tests need beyond Go on a fresh Debian machine and prints
# the directory to add to PATH (.cache/bin, git-ignored). Progress goes to
# stderr.
#  - promtool: the API tests run the real promtool against our Prometheus
#    API. Only the binary is taken from Debian's prometheus package
#    (apt-get download + dpkg-deb -x): no Prometheus service is installed.
#  - chromium: the browser tests drive Debian's Chromium with playwright-core
#    (never a downloaded browser). Installed with apt-get when we are root.
#  - web/node_modules: the browser tests' npm packages, from the lock file.
#  - nginx (the binary only is run, by the tests, on a free port): the log
#    tests parse its real access log.
#  - MariaDB and PostgreSQL servers: the database monitoring tests watch
#    real ones on 127.0.0.1 (root without password, postgres with trust);
#    when they are installed but stopped they are started here, when they
#    are missing they are installed (as root). The tests fail in CI and
#    skip locally when they still cannot connect.
#  - The APM test: its Node.js app's packages (test/e2e/apmapps/nodeinv,
#    npm ci from the lock file) and a NATS server on 127.0.0.1:4222
#    (Debian's nats-server, installed and started as root when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/.cache/bin"
mkdir -p "$bin"
say() { echo "test-deps: $*" >&2; }

apt_updated=
apt_update() {
	if [ -z "$apt_updated" ]; then
		apt-get update -qq >/dev/null
		apt_updated=1
	fi
}

if ! command -v promtool >/dev/null 2>&1 && [ ! -x "$bin/promtool" ]; then
	say "fetching promtool from Debian's prometheus package"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	( cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 || { apt_update && apt-get download prometheus >/dev/null; }; } )
	dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
	cp "$tmp/x/usr/bin/promtool" "$bin/promtool"
fi

if [ -f web/package-lock.json ]; then
	if [ ! -x /usr/bin/chromium ]; then
		if [ "$(id -u)" = 0 ]; then
			say "installing Debian's chromium for the browser tests"
			apt_update
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
		else
			say "no /usr/bin/chromium: the browser tests need 'apt-get install chromium' (as root)"
		fi
	fi
	# Reinstall when the lock file is newer than what is installed.
	if [ ! -d web/node_modules ] || [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then
		say "npm ci in web/"
		npm ci --prefix web --no-audit --no-fund --loglevel=error >&2
	fi
fi
# The APM test's Node.js app, reinstalled when its lock file is newer.
nodeinv=test/e2e/apmapps/nodeinv
if [ -f "$nodeinv/package-lock.json" ] && command -v npm >/dev/null 2>&1; then
	if [ ! -d "$nodeinv/node_modules" ] || [ "$nodeinv/package-lock.json" -nt "$nodeinv/node_modules/.package-lock.json" ]; then
		say "npm ci in $nodeinv"
		npm ci --prefix "$nodeinv" --no-audit --no-fund --loglevel=error >&2
	fi
fi
# Database servers for the db module's tests, nginx for the log tests,
# NATS for the APM test.
if [ "$(id -u)" = 0 ]; then
	if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
		say "installing nginx-light for the log tests"
		apt_update
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
	fi
	if ! command -v mariadbd >/dev/null 2>&1; then
		say "installing mariadb-server for the database monitoring tests"
		apt_update
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server >/dev/null
	fi
	if ! mysqladmin -uroot -h127.0.0.1 ping >/dev/null 2>&1; then
		say "starting MariaDB"
		mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
		start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd >/dev/null 2>&1 || true
		for _ in $(seq 30); do mysqladmin -uroot -h127.0.0.1 ping >/dev/null 2>&1 && break; sleep 1; done
	fi
	if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
		say "installing postgresql for the database monitoring tests"
		apt_update
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
	fi
	if ! pg_isready -h 127.0.0.1 -q 2>/dev/null; then
		say "starting PostgreSQL"
		pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start >/dev/null 2>&1 || true
		for _ in $(seq 30); do pg_isready -h 127.0.0.1 -q && break; sleep 1; done
	fi
	if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
		if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
			say "installing nats-server for the APM test"
			apt_update
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
		fi
		if ! (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null; then
			say "starting NATS"
			start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 >/dev/null 2>&1 || true
			for _ in $(seq 30); do (exec 3<>/dev/tcp/127.0.0.1/4222) 2>/dev/null && break; sleep 1; done
		fi
	fi
fi
echo "$bin"
