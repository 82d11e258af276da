#!/usr/bin/env bash
# Puts what the tests need beyond Go on a fresh Debian machine, under
# .cache/bin (git-ignored), and prints the directory to add to PATH.
#  - promtool: TestPromtool checks that the real promtool works against our
#    Prometheus API. Only the binary is taken from Debian's prometheus
#    package (apt-get download + dpkg-deb -x), so no Prometheus service is
#    installed or started.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$PWD/.cache/bin"
mkdir -p "$bin"

if ! command -v promtool >/dev/null 2>&1 && [ ! -x "$bin/promtool" ]; then
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	( cd "$tmp" && { apt-get download prometheus >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download prometheus >/dev/null; }; } )
	dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/x"
	cp "$tmp/x/usr/bin/promtool" "$bin/promtool"
fi
echo "$bin"
