#!/bin/bash
# dbroker lifecycle: remove a per-binding role. Blocks new logins, terminates
# its sessions, hands whatever it owns (in any database) to the data owner,
# drops its privileges and the role. Succeeds when the role is already gone.
#   env: BIND_USERNAME (+ POSTGRES_USER, POSTGRES_DB from the container)
# Role work runs in the maintenance database. A binding acts as the data
# owner, so it usually owns nothing and the tenant's database is never
# entered; where it does own objects or hold privileges (pg_shdepend, a shared
# catalog, says where), only REASSIGN/DROP OWNED run there, with pg_catalog-only
# name lookup fixed at connect time (see superuser-session.sh).
set -euo pipefail

die() { printf 'dbroker-postgresql unbind: %s\n' "$*" >&2; exit 1; }

# shellcheck source=binding-user.sh
source /dbroker/binding-user.sh
# As the superuser role postgres (peer auth on the unix socket).
q() { psql -X -q -v ON_ERROR_STOP=1 -v group="$DATA_OWNER" -U postgres "$@"; }

# 1. If the role exists: no new logins, end its sessions; drop it at once when
#    nothing depends on it, else name the databases to clean up (one a line).
out=$(q -d "$MAINT_DB" -At 2>&1 <<'SQL'
\i /dbroker/session-guard.sql
\getenv u BIND_USERNAME
SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'u') AS present \gset
\if :present
SELECT pg_catalog.format('ALTER ROLE %I NOLOGIN', :'u') \gexec
SELECT pg_catalog.count(pg_catalog.pg_terminate_backend(pid)) AS ended FROM pg_catalog.pg_stat_activity WHERE usename = :'u' \gset
CREATE TEMP VIEW depends_on_it AS
  SELECT s.dbid FROM pg_catalog.pg_shdepend s
  WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
    AND s.refobjid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = :'u');
SELECT NOT EXISTS (SELECT FROM pg_temp.depends_on_it) AS clean \gset
\if :clean
SELECT pg_catalog.format('DROP ROLE %I', :'u') \gexec
\echo dropped
\else
\echo present
-- Shared objects (dbid 0) are cleaned up from here.
SELECT DISTINCT COALESCE(d.datname, pg_catalog.current_database())
  FROM pg_temp.depends_on_it x LEFT JOIN pg_catalog.pg_database d ON d.oid = x.dbid;
\endif
\else
\echo absent
\endif
SQL
) || die "psql failed: $out"
mapfile -t lines <<<"$out"
case ${lines[0]} in
  absent | dropped) exit 0 ;;
  present) ;;
  *) die "unexpected psql output: $out" ;;
esac

# 2. Where it owns objects or holds privileges: reassign and drop them.
for db in "${lines[@]:1}"; do
  [[ -n $db ]] || continue
  out=$(q -d "$db" 2>&1 <<'SQL'
SET search_path = pg_catalog, pg_temp;
SET client_min_messages = warning;
\getenv u BIND_USERNAME
SELECT pg_catalog.format('REASSIGN OWNED BY %I TO %I', :'u', :'group') \gexec
SELECT pg_catalog.format('DROP OWNED BY %I', :'u') \gexec
SQL
  ) || die "cleaning up in database $db failed: $out"
done

# 3. Drop the role.
out=$(q -d "$MAINT_DB" 2>&1 <<'SQL'
\i /dbroker/session-guard.sql
\getenv u BIND_USERNAME
SELECT pg_catalog.format('DROP ROLE IF EXISTS %I', :'u') \gexec
SQL
) || die "DROP ROLE failed: $out"
