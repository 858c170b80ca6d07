#!/usr/bin/env bash
# The PostgreSQL failover test (TestFailover in pgledger/failover_test.go):
# a primary and a synchronous streaming standby of the test's own, on free
# ports of 127.0.0.1 (never the shared server on 5432), 16 workers writing
# keyed operations, and CREDITS_FAILOVER_CYCLES (default 10) crashes of the
# primary, each followed by a promotion and a new standby. It needs the
# server's binaries (Debian's postgresql package: .ci/postgres.sh installs
# it; CREDITS_PG_BIN names another directory), and, run as root, the user
# postgres to run them as (initdb refuses root).
#
# The clusters live in a temporary directory this script removes, with any
# server the test left running (should it be killed), whatever happens.
#
# Usage: bash .ci/pgfailover.sh   (from anywhere; extra arguments go to go test)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${CREDITS_PG_BIN:-}" ]; then
	if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
		CREDITS_PG_BIN="$(pg_config --bindir)"
	else
		CREDITS_PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
	fi
fi
if [ ! -x "${CREDITS_PG_BIN:-}/initdb" ] || [ ! -x "$CREDITS_PG_BIN/pg_basebackup" ]; then
	echo "pgfailover: no PostgreSQL server binaries (initdb, postgres, pg_basebackup) in '${CREDITS_PG_BIN:-}': run bash .ci/postgres.sh, or set CREDITS_PG_BIN" >&2
	exit 1
fi
if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
	echo "pgfailover: running as root, the servers need a user postgres to run as (apt-get install postgresql creates it)" >&2
	exit 1
fi
export CREDITS_PG_BIN

dir="$(mktemp -d "${TMPDIR:-/tmp}/credits-pgfailover.XXXXXX")"
cleanup() {
	# A server the test did not stop (it was killed): its postmaster, by
	# the pid in its data directory, if that process is still the server
	# of that directory. Its backends exit when their postmaster dies.
	for pidfile in "$dir"/*/postmaster.pid; do
		[ -f "$pidfile" ] || continue
		pid="$(head -n 1 "$pidfile")"
		if [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
	rm -rf "$dir"
}
trap cleanup EXIT

echo "pgfailover: $("$CREDITS_PG_BIN/postgres" --version) from $CREDITS_PG_BIN, clusters in $dir"
CREDITS_FAILOVER_TEST=1 CREDITS_FAILOVER_DIR="$dir" \
	go test -count=1 -v -run '^TestFailover$' -timeout 5m "$@" ./pgledger | grep -v '^=== RUN'
