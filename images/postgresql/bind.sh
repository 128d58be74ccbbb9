#!/bin/bash
# dbroker lifecycle: create (or update) a per-binding login role that acts as
# the owner of its database: a member of that owner (a NOLOGIN role) and of
# nothing else, whose sessions start with `SET ROLE <owner>` (ALTER ROLE ...
# SET role), so it reads and writes everything in the database and what it
# creates belongs to the owner.
#   env form (what the broker runs): BIND_USERNAME, BIND_PASSWORD; the database
#     is $POSTGRES_DB, its owner dbroker_owner. The binding is not a member of
#     $POSTGRES_USER, so it cannot change that login's password or settings.
#     Prints nothing on stdout.
#   `bind --json`: a JSON document on stdin (images/README.md, point 7). With
#     "database" or "instance_id" the role acts as that instance's owner
#     (dbroker_owner_<12 hex>, see /dbroker/provision) and can connect to that
#     database only; prints the credentials as JSON on stdout.
# Idempotent. Talks to the server over the local unix socket as the OS user
# postgres, role postgres (the superuser; peer auth), in the maintenance
# database with pg_catalog-only name lookup (see superuser-session.sh). Errors
# on stderr; the password never appears on a command line or in the server log.
set -euo pipefail

# One line: psql's own errors may span several.
die() { local m="$*"; printf 'dbroker-postgresql bind: %s\n' "${m//$'\n'/; }" >&2; exit 1; }

# shellcheck source=superuser-session.sh
source /dbroker/superuser-session.sh
json=0 database=''
if [[ ${1:-} == --json ]]; then
  json=1
  # Before stdin is read: the switch to the postgres user runs this script again.
  become_postgres "$@"
  # shellcheck source=hook-input.sh
  source /dbroker/hook-input.sh
  read_document
  BIND_USERNAME=$(doc_username)
  BIND_PASSWORD=$(doc_string password)
  [[ -n $BIND_PASSWORD ]] || BIND_PASSWORD=$(random_password)
  database=$(doc_database)
  export BIND_USERNAME BIND_PASSWORD
elif (($#)); then
  die "unknown argument '$1' (only --json)"
fi

[[ -n ${BIND_PASSWORD:-} ]] || die "BIND_PASSWORD is required"
[[ $BIND_PASSWORD != *$'\n'* && $BIND_PASSWORD != *$'\r'* ]] || die "BIND_PASSWORD must not contain a line break"
# shellcheck source=binding-user.sh
source /dbroker/binding-user.sh
# The container's own database (env form, or a document that names no instance), or an instance's.
group=$DATA_OWNER
if [[ -z $database || $database == "$POSTGRES_DB" ]]; then
  database=$POSTGRES_DB
else
  check_instance_database "$database"
  group=$(instance_role "$database")
fi
limit=$(binding_connection_limit)
q() { psql -X -q -v ON_ERROR_STOP=1 -v group="$group" -v db="$database" -v lockout="$LOCKOUT_SETTINGS" -v logging="$LOG_SETTINGS" -v limit="$limit" -U postgres -d "$MAINT_DB" "$@"; }
if [[ $group != "$DATA_OWNER" ]]; then
  owner=$(q -At 2>&1 <<'SQL'
\i /dbroker/session-guard.sql
SELECT r.rolname FROM pg_catalog.pg_database d JOIN pg_catalog.pg_roles r ON r.oid = d.datdba WHERE d.datname = :'db';
SQL
  ) || die "psql failed: $owner"
  [[ $owner == "$group" ]] || die "database $database is not provisioned (no database of that name owned by $group): run /dbroker/provision first"
fi
out=$(q -v mark="$(binding_mark "$group")" 2>&1 <<'SQL'
\i /dbroker/session-guard.sql
\i /dbroker/tenant-database.sql
\getenv u BIND_USERNAME
\getenv pw BIND_PASSWORD
SET log_min_error_statement = panic;
SET log_statement = none;
SELECT NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'u') AS missing \gset
\if :missing
SELECT pg_catalog.format('CREATE ROLE %I WITH LOGIN INHERIT CONNECTION LIMIT %s PASSWORD %L IN ROLE %I', :'u', :'limit'::integer, :'pw', :'group') \gexec
\else
SELECT pg_catalog.format('ALTER ROLE %I WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT CONNECTION LIMIT %s PASSWORD %L', :'u', :'limit'::integer, :'pw') \gexec
-- A member of the data owner only (older images made bindings members of $POSTGRES_USER).
SELECT pg_catalog.format('REVOKE %I FROM %I', g.rolname, m.rolname)
  FROM pg_catalog.pg_auth_members a
  JOIN pg_catalog.pg_roles g ON g.oid = a.roleid JOIN pg_catalog.pg_roles m ON m.oid = a.member
  WHERE m.rolname = :'u' AND g.rolname <> :'group' \gexec
SELECT pg_catalog.format('GRANT %I TO %I', :'group', :'u')
  WHERE NOT pg_catalog.pg_has_role(:'u', :'group', 'MEMBER') \gexec
\endif
SELECT pg_catalog.format('ALTER ROLE %I SET role = %I', :'u', :'group') \gexec
-- Whose binding it is, where no tenant can change it (binding_mark): unbind and deprovision go by it.
SELECT pg_catalog.format('COMMENT ON ROLE %I IS %L', :'u', :'mark') \gexec
SQL
) || die "psql failed: $out"

if ((json)); then
  BIND_DATABASE=$database jq -n '{username: $ENV.BIND_USERNAME, password: $ENV.BIND_PASSWORD, database: $ENV.BIND_DATABASE, port: 5432}'
fi
