#!/bin/bash
# dbroker lifecycle (shared plan: one server, a database per instance): create
# the instance's database ("database", else db + 12 hex digits of
# SHA-256("instance_id")) owned by a NOLOGIN role of its own
# (dbroker_owner_<12 hex of SHA-256(database)>), which its bindings will be
# members of and act as. CONNECT and TEMPORARY are revoked from PUBLIC there and
# on $POSTGRES_DB, so only the instance's own roles can connect to it and no
# instance's role to another's or to the container's own. In PostgreSQL 15 the
# public schema belongs to the database's owner, so the bindings may create in
# it. Prints {"database": NAME}. Idempotent. Runs in the maintenance database
# as postgres; in the tenant's, only the revokes of hide-activity.sql (see superuser-session.sh).
set -euo pipefail

# One line: psql's own errors may span several.
die() { local m="$*"; printf 'dbroker-postgresql provision: %s\n' "${m//$'\n'/; }" >&2; exit 1; }
# shellcheck source=superuser-session.sh
source /dbroker/superuser-session.sh
read_instance_document "$@"

out=$(psql -X -q -v ON_ERROR_STOP=1 -v db="$database" -v role="$role" -v own="$POSTGRES_DB" -v lockout="$LOCKOUT_SETTINGS" -v logging="$LOG_SETTINGS" \
  -U postgres -d "$MAINT_DB" 2>&1 <<'SQL'
\i /dbroker/session-guard.sql
SELECT pg_catalog.format('CREATE ROLE %I', :'role')
  WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'role') \gexec
SELECT pg_catalog.format('ALTER ROLE %I WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD NULL', :'role') \gexec
SELECT COALESCE((SELECT r.rolname FROM pg_catalog.pg_database d JOIN pg_catalog.pg_roles r ON r.oid = d.datdba
                 WHERE d.datname = :'db'), '') AS owner \gset
SELECT :'owner' <> '' AND :'owner' <> :'role' AS foreign_owner \gset
\if :foreign_owner
SELECT pg_catalog.format('database %s exists and belongs to %s, not to this instance''s role %s', :'db', :'owner', :'role') AS reason \gset
\warn :reason
\quit
\endif
-- template0: nothing from template1 (or whatever someone put there) comes along.
SELECT pg_catalog.format('CREATE DATABASE %I OWNER %I TEMPLATE template0', :'db', :'role') WHERE :'owner' = '' \gexec
SELECT pg_catalog.format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'db') \gexec
SELECT pg_catalog.format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', :'own') \gexec
\i /dbroker/tenant-database.sql
\echo provisioned
SQL
) || die "psql failed: $out"
[[ $out == provisioned ]] || die "${out:-psql said nothing}"
# In the instance's database (made from template0, or made by this hook before), only the revokes of
# hide-activity.sql run, with the connect-time settings that outrank its owner's (superuser-session.sh): its
# bindings see no other tenant's sessions, locks or per-database counters.
out=$(psql -X -q -v ON_ERROR_STOP=1 -U postgres -d "$database" 2>&1 <<'SQL'
SET search_path = pg_catalog, pg_temp;
SET client_min_messages = warning;
\i /dbroker/hide-activity.sql
\echo hidden
SQL
) || die "psql failed in database $database: $out"
[[ $out == hidden ]] || die "${out:-psql said nothing}"
BIND_DATABASE=$database jq -n '{database: $ENV.BIND_DATABASE}'
