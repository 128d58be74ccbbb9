#!/bin/bash
# dbroker lifecycle: create (or update) a per-binding login role that acts as
# $POSTGRES_USER: a member of it (IN ROLE) whose sessions start with
# `SET ROLE <owner>` (ALTER ROLE ... SET role), so it reads and writes the
# owner's objects and everything it creates belongs to the owner. The owner is
# not a superuser, so neither is a binding.
#   env: BIND_USERNAME, BIND_PASSWORD (+ POSTGRES_USER, POSTGRES_DB from the container)
# Idempotent. Talks to the server over the local unix socket as the OS user
# postgres, role postgres (the superuser; peer auth). Prints nothing on stdout; errors on stderr; the password
# never appears on a command line or in the server log.
set -euo pipefail

die() { printf 'dbroker-postgresql bind: %s\n' "$*" >&2; exit 1; }

[[ -n ${BIND_PASSWORD:-} ]] || die "BIND_PASSWORD is required"
# shellcheck source=binding-user.sh
source /dbroker/binding-user.sh
out=$(psql -X -q -v ON_ERROR_STOP=1 -U postgres -d "$POSTGRES_DB" 2>&1 <<'SQL'
\getenv u BIND_USERNAME
\getenv pw BIND_PASSWORD
\getenv owner POSTGRES_USER
SET client_min_messages = warning;
SET log_min_error_statement = panic;
SET log_statement = none;
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'u') AS missing \gset
\if :missing
SELECT format('CREATE ROLE %I WITH LOGIN PASSWORD %L IN ROLE %I', :'u', :'pw', :'owner') \gexec
\else
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L', :'u', :'pw') \gexec
SELECT format('GRANT %I TO %I', :'owner', :'u')
  WHERE NOT pg_has_role(:'u', :'owner', 'MEMBER') \gexec
\endif
SELECT format('ALTER ROLE %I SET role = %I', :'u', :'owner') \gexec
SQL
) || die "psql failed: $out"
