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
echo "$bin"
