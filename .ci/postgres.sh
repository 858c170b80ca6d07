#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers for pgledger's tests, at
# CREDITS_POSTGRES_URL or, by default, postgres://postgres@127.0.0.1:5432/postgres
# (user postgres over TCP, no password: trust for the loopback addresses).
#
# - If that URL already connects, it does nothing else.
# - If a server answers on 127.0.0.1:5432 but refuses user postgres without a
#   password, and it is a local Debian cluster, it trusts the loopback
#   addresses in that cluster's pg_hba.conf and reloads it.
# - If nothing answers, it installs Debian's postgresql package (as root),
#   creates a cluster if the package did not, and starts it.
#
# Prints one line saying what it did; exits non-zero if no server answers.
# Run it as root on a fresh machine: bash .ci/postgres.sh
set -euo pipefail

url="${CREDITS_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"

connects() {
	command -v psql >/dev/null 2>&1 &&
		PGCONNECT_TIMEOUT=5 psql -w -X -q -t -c 'SELECT 1' "$url" >/dev/null 2>&1
}

# The newest Debian cluster version on this machine, if any.
cluster_version() {
	ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1
}

# Trust user postgres over TCP from the loopback addresses, ahead of the
# cluster's other rules, and reload the cluster.
trust_loopback() {
	local version="$1" hba
	hba="/etc/postgresql/$version/main/pg_hba.conf"
	if ! grep -q '^# credits CI: trust loopback' "$hba"; then
		{
			echo '# credits CI: trust loopback'
			echo 'host all postgres 127.0.0.1/32 trust'
			echo 'host all postgres ::1/128 trust'
			cat "$hba"
		} >"$hba.new"
		cat "$hba.new" >"$hba" && rm -f "$hba.new"
	fi
	pg_ctlcluster --skip-systemctl-redirect "$version" main reload
}

wait_ready() {
	for _ in $(seq 1 60); do
		if pg_isready -q -h 127.0.0.1 -p 5432; then
			return 0
		fi
		sleep 0.5
	done
	return 1
}

if connects; then
	echo "postgres: using the server already answering at $url"
	exit 0
fi

if [ -n "${CREDITS_POSTGRES_URL:-}" ]; then
	echo "postgres: CREDITS_POSTGRES_URL=$CREDITS_POSTGRES_URL does not connect; unset it to use a local server" >&2
	exit 1
fi

if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432; then
	version="$(cluster_version)"
	if [ -z "$version" ]; then
		echo "postgres: a server answers on 127.0.0.1:5432 but refuses user postgres, and it is not a local Debian cluster" >&2
		exit 1
	fi
	trust_loopback "$version"
	connects || { echo "postgres: the server on 127.0.0.1:5432 still refuses user postgres" >&2; exit 1; }
	echo "postgres: trusted loopback connections for user postgres in the running PostgreSQL $version cluster"
	exit 0
fi

installed=""
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(cluster_version)" ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq postgresql >/dev/null
	installed="installed Debian's postgresql, "
fi
version="$(cluster_version)"
if [ -z "$version" ]; then
	version="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
	pg_createcluster "$version" main >/dev/null
fi
trust_loopback "$version" 2>/dev/null || true
pg_ctlcluster --skip-systemctl-redirect "$version" main start 2>/dev/null ||
	pg_ctlcluster --skip-systemctl-redirect "$version" main status >/dev/null
wait_ready || { echo "postgres: the PostgreSQL $version cluster did not start" >&2; exit 1; }
connects || { echo "postgres: PostgreSQL $version started but refuses $url" >&2; exit 1; }
echo "postgres: ${installed}started the PostgreSQL $version cluster 'main' on 127.0.0.1:5432, user postgres trusted over TCP"
