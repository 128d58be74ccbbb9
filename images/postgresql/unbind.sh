#!/bin/bash
# dbroker lifecycle: remove a per-binding role. Blocks new logins, terminates
# its sessions, hands whatever it owns (in every database) to $POSTGRES_USER,
# drops its privileges and the role. Succeeds when the role is already gone.
#   env: BIND_USERNAME (+ POSTGRES_USER, POSTGRES_DB from the container)
set -euo pipefail

die() { printf 'dbroker-postgresql unbind: %s\n' "$*" >&2; exit 1; }

# shellcheck source=binding-user.sh
source /dbroker/binding-user.sh
# As the superuser role postgres (peer auth on the unix socket).
q() { psql -X -q -v ON_ERROR_STOP=1 -U postgres "$@"; }

# 1. Does the role exist? If so: no new logins, end its sessions.
out=$(q -d "$POSTGRES_DB" -At 2>&1 <<'SQL'
\getenv u BIND_USERNAME
SET client_min_messages = warning;
SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'u') AS present \gset
\if :present
SELECT format('ALTER ROLE %I NOLOGIN', :'u') \gexec
SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = :'u' \gset
\echo present
\else
\echo absent
\endif
SQL
) || die "psql failed: $out"
[[ $out == absent ]] && exit 0
[[ $out == present ]] || die "unexpected psql output: $out"

# 2. In every database that accepts connections: reassign and drop what it owns.
mapfile -d '' dbs < <(q -d "$POSTGRES_DB" -At -0 -c 'SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1' 2>/dev/null) \
  || die "could not list databases"
((${#dbs[@]})) || die "could not list databases"
for db in "${dbs[@]}"; do
  [[ -n $db ]] || continue
  out=$(q -d "$db" 2>&1 <<'SQL'
\getenv u BIND_USERNAME
\getenv owner POSTGRES_USER
SET client_min_messages = warning;
SELECT format('REASSIGN OWNED BY %I TO %I', :'u', :'owner') \gexec
SELECT format('DROP OWNED BY %I', :'u') \gexec
SQL
  ) || die "cleaning up in database $db failed: $out"
done

# 3. Drop the role.
out=$(q -d "$POSTGRES_DB" 2>&1 <<'SQL'
\getenv u BIND_USERNAME
SET client_min_messages = warning;
SELECT format('DROP ROLE IF EXISTS %I', :'u') \gexec
SQL
) || die "DROP ROLE failed: $out"
