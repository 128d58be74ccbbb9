#!/bin/bash
# dbroker lifecycle: remove a per-binding role. Blocks new logins, takes its
# membership, terminates its sessions, hands whatever it owns (in any database)
# to the data owner, drops its privileges and the role. Succeeds when the role
# is already gone; ends with a reason when another session of its instance holds
# locks on what it owns for longer than the retries wait (its login is gone by
# then). What another tenant made that names the role (a policy, a grant, default
# privileges in its own database) goes too, and that tenant's sessions that block
# it are ended (superuser-session.sh, ending_foreign_blockers).
#   env: BIND_USERNAME (+ POSTGRES_USER, POSTGRES_DB from the container)
#   `unbind --json`: a JSON document on stdin ("username", or the name bind
#        derived from "binding_id"); prints nothing on stdout.
#   env: BIND_LIST_USERS=1 instead: print the roles named like dbroker's
#        binding users (b + 12 lowercase letters or digits), one a line.
# Role work runs in the maintenance database. A binding acts as the data
# owner (dbroker_owner, or its instance's dbroker_owner_<hex> on a shared
# container: what it owns goes there), so it usually owns nothing and the tenant's database is never
# entered; where it does own objects or hold privileges (pg_shdepend, a shared
# catalog, says where), only REASSIGN/DROP OWNED run there, with pg_catalog-only
# name lookup fixed at connect time (see superuser-session.sh).
set -euo pipefail

# One line: psql's own errors may span several.
die() { local m="$*"; printf 'dbroker-postgresql unbind: %s\n' "${m//$'\n'/; }" >&2; exit 1; }

lists_users=${BIND_LIST_USERS:-}
# shellcheck source=superuser-session.sh
source /dbroker/superuser-session.sh
if [[ -z $lists_users && ${1:-} == --json ]]; then
  # Before stdin is read: the switch to the postgres user runs this script again.
  become_postgres "$@"
  # shellcheck source=hook-input.sh
  source /dbroker/hook-input.sh
  read_document
  BIND_USERNAME=$(doc_username)
  export BIND_USERNAME
elif (($#)); then
  die "unknown argument '$1' (only --json)"
fi
# shellcheck source=binding-user.sh
source /dbroker/binding-user.sh
# As the superuser role postgres (peer auth on the unix socket).
q() { psql -X -q -v ON_ERROR_STOP=1 -v group="$DATA_OWNER" -v db="$POSTGRES_DB" -v owner="$POSTGRES_USER" -v lockout="$LOCKOUT_SETTINGS" -v logging="$LOG_SETTINGS" -U postgres "$@"; }

if [[ -n $lists_users ]]; then
  q -d "$MAINT_DB" -At <<'SQL' || die "listing the binding roles failed"
\i /dbroker/session-guard.sql
SELECT rolname FROM pg_catalog.pg_roles
  WHERE rolname ~ '^b[a-z0-9]{12}$' AND rolname NOT IN (:'owner', :'group') AND NOT rolsuper ORDER BY 1;
SQL
  exit 0
fi

# 1. Undo what locks every login out of the database (tenant-database.sql; its
#    instance's database too on a shared container). If the role exists: no new logins, no membership, end its sessions; drop it at
#    once when nothing depends on it, else name the databases to clean up.
out=$(q -d "$MAINT_DB" -At -v mark="$(binding_mark '')" 2>&1 <<'SQL'
\i /dbroker/session-guard.sql
SET lock_timeout = '10s';
\i /dbroker/tenant-database.sql
\getenv u BIND_USERNAME
SELECT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = :'u') AS present \gset
\if :present
-- What it owns goes to the owner it acted as: its instance's on a shared container (its membership, or the mark
-- bind left on it when a failed unbind has revoked that).
SELECT COALESCE((SELECT g.rolname FROM pg_catalog.pg_auth_members a JOIN pg_catalog.pg_roles g ON g.oid = a.roleid
                 WHERE a.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = :'u')
                   AND g.rolname ~ '^dbroker_owner_[0-9a-f]{12}$' LIMIT 1),
                (SELECT g.rolname FROM pg_catalog.pg_roles g
                 WHERE g.rolname ~ '^dbroker_owner_[0-9a-f]{12}$'
                   AND :'mark' || g.rolname = pg_catalog.shobj_description(
                         (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = :'u'), 'pg_authid')),
                :'group') AS heir \gset
SELECT COALESCE((SELECT d.datname FROM pg_catalog.pg_database d JOIN pg_catalog.pg_roles r ON r.oid = d.datdba
                 WHERE r.rolname = :'heir' AND r.rolname <> :'group' LIMIT 1), :'db') AS db \gset
\i /dbroker/tenant-database.sql
SELECT pg_catalog.format('ALTER ROLE %I NOLOGIN PASSWORD NULL', :'u') \gexec
SELECT pg_catalog.format('REVOKE %I FROM %I', g.rolname, :'u')
  FROM pg_catalog.pg_auth_members a JOIN pg_catalog.pg_roles g ON g.oid = a.roleid
  WHERE a.member = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = :'u') \gexec
SELECT pg_catalog.count(pg_catalog.pg_terminate_backend(pid)) AS ended FROM pg_catalog.pg_stat_activity WHERE usename = :'u' \gset
CREATE TEMP VIEW depends_on_it AS
  SELECT s.dbid FROM pg_catalog.pg_shdepend s
  WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
    AND s.refobjid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = :'u');
-- The role goes in step 3, which ends another tenant's transaction that holds a lock on it.
\echo present :heir :db
-- Shared objects (dbid 0) are cleaned up from here.
SELECT DISTINCT COALESCE(d.datname, pg_catalog.current_database())
  FROM pg_temp.depends_on_it x LEFT JOIN pg_catalog.pg_database d ON d.oid = x.dbid;
\else
\echo absent
\endif
SQL
) || die "psql failed: $out"
mapfile -t lines <<<"$out"
case ${lines[0]} in
  absent) exit 0 ;;
  'present '*) read -r _ heir home <<<"${lines[0]}" ;;
  *) die "unexpected psql output: $out" ;;
esac

# 2. Where it owns objects or holds privileges: reassign and drop them. Another session may hold locks on them:
#    in its instance's database ($home), another binding's: wait for each lock at most LOCK_WAIT, a few times, so
#    the hook ends well within the broker's deadline (25 s), and name that session (it is this tenant's). In any
#    other database, what depends on the role is another tenant's doing (a policy or a grant naming it): the
#    sessions that block the cleanup there are ended, and nothing of that tenant's (names, pids) is told.
LOCK_WAIT=3s
ATTEMPTS=4
for db in "${lines[@]:1}"; do
  [[ -n $db ]] || continue
  where="database $db"
  [[ $db == "$home" || $db == "$MAINT_DB" ]] || where="another instance's database"
  for ((attempt = 1; ; attempt++)); do
    out=$(ending_foreign_blockers "$home" q -d "$db" -v heir="$heir" 2>&1 <<SQL
SET search_path = pg_catalog, pg_temp;
SET client_min_messages = warning;
SET lock_timeout = '$LOCK_WAIT';
\getenv u BIND_USERNAME
SELECT pg_catalog.format('REASSIGN OWNED BY %I TO %I', :'u', :'heir') \gexec
SELECT pg_catalog.format('DROP OWNED BY %I', :'u') \gexec
SQL
    ) && break
    if [[ $where != "database $db" ]]; then
      [[ $out == *'lock timeout'* ]] || die "cleaning up what names $BIND_USERNAME in $where failed"
      ((attempt < ATTEMPTS)) || die "what names $BIND_USERNAME in $where stays locked by dbroker's own sessions after $ATTEMPTS waits of $LOCK_WAIT; its login and sessions are gone: unbind again"
      continue
    fi
    [[ $out == *'lock timeout'* ]] || die "cleaning up in database $db failed: $out"
    if ((attempt == ATTEMPTS)); then
      holders=$(q -d "$db" -At 2>&1 <<'SQL'
SET search_path = pg_catalog, pg_temp;
\getenv u BIND_USERNAME
SELECT pg_catalog.string_agg(DISTINCT pg_catalog.format('pid %s (%s)', l.pid, a.usename), ', ')
  FROM pg_catalog.pg_locks l JOIN pg_catalog.pg_stat_activity a ON a.pid = l.pid
  WHERE l.granted AND l.pid <> pg_catalog.pg_backend_pid()
    AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
    AND a.datname = pg_catalog.current_database()
    AND l.relation IN (SELECT s.objid FROM pg_catalog.pg_shdepend s
                       WHERE s.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                         AND s.refobjid = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = :'u'));
SQL
      ) || holders=unknown
      die "what $BIND_USERNAME owns in database $db stays locked by another session (${holders:-gone meanwhile}) after $ATTEMPTS waits of $LOCK_WAIT; its login and sessions are gone: unbind again once that lock is released"
    fi
  done
done

# 3. Drop the role (another tenant's open transaction that just granted it something holds a lock on it: ended too).
out=$(ending_foreign_blockers "$home" q -d "$MAINT_DB" 2>&1 <<SQL
\i /dbroker/session-guard.sql
SET lock_timeout = '$LOCK_WAIT';
\getenv u BIND_USERNAME
SELECT pg_catalog.format('DROP ROLE IF EXISTS %I', :'u') \gexec
SQL
) || die "DROP ROLE failed: ${out%%$'\n'*}"
