#!/bin/bash
# dbroker lifecycle (shared plan): remove an instance from a shared server: its
# bindings' logins are disabled, its database is dropped (WITH (FORCE) ends the
# sessions in it), every binding role is unbound (/dbroker/unbind) and its
# NOLOGIN owner role dropped. Same JSON document as /dbroker/provision; the
# container's own $POSTGRES_DB is refused. Succeeds when nothing of it is left.
# Prints nothing on stdout. As postgres in the maintenance database.
set -euo pipefail

# One line: psql's own errors may span several.
die() { local m="$*"; printf 'dbroker-postgresql deprovision: %s\n' "${m//$'\n'/; }" >&2; exit 1; }
# shellcheck source=superuser-session.sh
source /dbroker/superuser-session.sh
read_instance_document "$@"
q() { psql -X -q -v ON_ERROR_STOP=1 -v db="$database" -v role="$role" -v mark="$(binding_mark "$role")" -U postgres -d "$MAINT_DB" "$@"; }

# 1. No new logins for its bindings; the database goes (only if it is this instance's).
out=$(q -At 2>&1 <<'SQL'
\i /dbroker/session-guard.sql
SET lock_timeout = '10s';
-- Its bindings: the members of its role, and the roles bind marked as its (binding_mark), whose membership a
-- failed unbind may have revoked already.
CREATE TEMP VIEW bindings AS
  SELECT m.rolname FROM pg_catalog.pg_auth_members a
    JOIN pg_catalog.pg_roles g ON g.oid = a.roleid JOIN pg_catalog.pg_roles m ON m.oid = a.member
    WHERE g.rolname = :'role'
  UNION
  SELECT m.rolname FROM pg_catalog.pg_roles m WHERE pg_catalog.shobj_description(m.oid, 'pg_authid') = :'mark';
SELECT pg_catalog.format('ALTER ROLE %I NOLOGIN PASSWORD NULL', rolname) FROM pg_temp.bindings \gexec
SELECT COALESCE((SELECT r.rolname FROM pg_catalog.pg_database d JOIN pg_catalog.pg_roles r ON r.oid = d.datdba
                 WHERE d.datname = :'db'), '') AS owner \gset
SELECT :'owner' <> '' AND :'owner' <> :'role' AS foreign_owner \gset
\if :foreign_owner
\echo foreign :owner
\quit
\endif
SELECT pg_catalog.format('DROP DATABASE %I WITH (FORCE)', :'db') WHERE :'owner' <> '' \gexec
SELECT rolname FROM pg_temp.bindings ORDER BY 1;
SQL
) || die "psql failed: $out"
[[ $out != foreign* ]] || die "database $database belongs to ${out#foreign }, not to this instance's role $role"

# 2. Its bindings, as unbind removes them (what they own elsewhere, their privileges).
while read -r u; do
  [[ -n $u ]] || continue
  [[ $u =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] && ! reserved_role "$u" || die "refusing to unbind role '$u'"
  msg=$(BIND_USERNAME=$u /dbroker/unbind 2>&1) || die "unbinding $u failed: $msg"
done <<<"$out"

# 3. The owner role: privileges others granted it (on shared objects and in other
#    databases) go with DROP OWNED where pg_shdepend shows them, then the role. Its
#    database is gone: whatever names the role is another tenant's doing, and that
#    tenant's sessions that block the cleanup are ended (ending_foreign_blockers);
#    no error names that tenant's database, objects or sessions.
dbs=$(q -At 2>&1 <<'SQL'
\i /dbroker/session-guard.sql
SELECT DISTINCT COALESCE(d.datname, pg_catalog.current_database())
  FROM pg_catalog.pg_shdepend s LEFT JOIN pg_catalog.pg_database d ON d.oid = s.dbid
  WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
    AND s.refobjid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = :'role');
SQL
) || die "psql failed: $dbs"
while read -r db; do
  [[ -n $db ]] || continue
  for ((attempt = 1; ; attempt++)); do
    out=$(ending_foreign_blockers "$database" q -d "$db" 2>&1 <<'SQL'
SET search_path = pg_catalog, pg_temp;
SET client_min_messages = warning;
SET lock_timeout = '3s';
SELECT pg_catalog.format('DROP OWNED BY %I', :'role') \gexec
SQL
    ) && break
    [[ $out == *'lock timeout'* ]] || die "cleaning up what names $role in another database failed"
    ((attempt < 4)) || die "what names $role in another database stays locked by dbroker's own sessions after 4 waits of 3s: deprovision again"
  done
done <<<"$dbs"
out=$(ending_foreign_blockers "$database" q 2>&1 <<'SQL'
\i /dbroker/session-guard.sql
SET lock_timeout = '3s';
SELECT pg_catalog.format('DROP ROLE IF EXISTS %I', :'role') \gexec
SQL
) || die "DROP ROLE failed: ${out%%$'\n'*}"
