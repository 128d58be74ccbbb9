#!/bin/bash
# dbroker lifecycle: create (or update) a per-binding login role that acts as
# the data owner (dbroker_owner, NOLOGIN, owns $POSTGRES_DB): a member of it
# and of nothing else, whose sessions start with `SET ROLE dbroker_owner`
# (ALTER ROLE ... SET role), so it reads and writes everything in the database
# and what it creates belongs to the data owner. It is not a member of
# $POSTGRES_USER, so it cannot change that login's password or settings.
#   env: BIND_USERNAME, BIND_PASSWORD (+ POSTGRES_USER, POSTGRES_DB from the container)
# Idempotent. Talks to the server over the local unix socket as the OS user
# postgres, role postgres (the superuser; peer auth), in the maintenance
# database with pg_catalog-only name lookup (see superuser-session.sh). Prints
# nothing on stdout; errors on stderr; the password never appears on a command
# line or in the server log.
set -euo pipefail

die() { printf 'dbroker-postgresql bind: %s\n' "$*" >&2; exit 1; }

[[ -n ${BIND_PASSWORD:-} ]] || die "BIND_PASSWORD is required"
# shellcheck source=binding-user.sh
source /dbroker/binding-user.sh
out=$(psql -X -q -v ON_ERROR_STOP=1 -v group="$DATA_OWNER" -v db="$POSTGRES_DB" -v lockout="$LOCKOUT_SETTINGS" -U postgres -d "$MAINT_DB" 2>&1 <<'SQL'
\i /dbroker/session-guard.sql
\i /dbroker/tenant-database.sql
\getenv u BIND_USERNAME
\getenv pw BIND_PASSWORD
SET log_min_error_statement = panic;
SET log_statement = none;
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'u') AS missing \gset
\if :missing
SELECT pg_catalog.format('CREATE ROLE %I WITH LOGIN INHERIT PASSWORD %L IN ROLE %I', :'u', :'pw', :'group') \gexec
\else
SELECT pg_catalog.format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD %L', :'u', :'pw') \gexec
-- A member of the data owner only (older images made bindings members of $POSTGRES_USER).
SELECT pg_catalog.format('REVOKE %I FROM %I', g.rolname, m.rolname)
  FROM pg_catalog.pg_auth_members a
  JOIN pg_catalog.pg_roles g ON g.oid = a.roleid JOIN pg_catalog.pg_roles m ON m.oid = a.member
  WHERE m.rolname = :'u' AND g.rolname <> :'group' \gexec
SELECT pg_catalog.format('GRANT %I TO %I', :'group', :'u')
  WHERE NOT pg_catalog.pg_has_role(:'u', :'group', 'MEMBER') \gexec
\endif
SELECT pg_catalog.format('ALTER ROLE %I SET role = %I', :'u', :'group') \gexec
SQL
) || die "psql failed: $out"
