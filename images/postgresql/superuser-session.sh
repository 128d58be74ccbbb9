# Sourced by /dbroker/entrypoint and the lifecycle executables: where and
# how their superuser sessions connect, so that nothing a tenant can set
# (ALTER DATABASE ... SET, objects in its schemas) steers them.

# Role work runs in a maintenance database that no tenant can connect to or configure.
MAINT_DB=postgres
[[ ${POSTGRES_DB:-} != postgres ]] || MAINT_DB=template1
# The NOLOGIN role that owns $POSTGRES_DB and everything in it; every login acts as it.
DATA_OWNER=dbroker_owner
# Settings a tenant may set (ALTER DATABASE / ALTER ROLE ... SET, or SET: they are USERSET) that make the server log
# statement internals: parse trees and plans (a hook's statement, constants and all), sorts, notifications, a failed
# statement's parameters. pg_settings' context 'user' in "Reporting and Logging" and "Developer Options", less
# application_name and the JIT/parallel switches, which log nothing. The hooks and every start reset them where a
# tenant set them for a database or its bindings (tenant-database.sql, the entrypoint).
LOG_SETTINGS=debug_print_parse,debug_print_rewritten,debug_print_plan,debug_pretty_print,log_parameter_max_length_on_error,trace_notify,trace_sort
# The same off, and what the operator's server configuration may log (statements, durations, samples), for dbroker's
# own sessions: their statements may carry a password (bind) or another tenant's names.
QUIET_OPTIONS='-c debug_print_parse=off -c debug_print_rewritten=off -c debug_print_plan=off -c trace_sort=off -c trace_notify=off -c log_parameter_max_length_on_error=0 -c log_statement=none -c log_duration=off -c log_min_duration_statement=-1 -c log_min_duration_sample=-1 -c log_transaction_sample_rate=0 -c log_min_error_statement=panic'
# Connect-time options outrank a database's own settings, which its owner may set, and a role's own.
SUPERUSER_PGOPTIONS="-c search_path=pg_catalog,pg_temp -c role=none -c local_preload_libraries= -c default_transaction_read_only=off -c statement_timeout=0 -c lock_timeout=0 -c idle_session_timeout=0 -c idle_in_transaction_session_timeout=0 $QUIET_OPTIONS"
# Settings a database's owner (every binding acts as it) may set that refuse or end every session in it:
# the hooks (tenant-database.sql) and every start reset them, with CONNECTION LIMIT and ALLOW_CONNECTIONS.
LOCKOUT_SETTINGS=local_preload_libraries,idle_session_timeout,idle_in_transaction_session_timeout

# The CONNECTION LIMIT of every binding's role: POSTGRES_BINDING_CONNECTION_LIMIT (the operator's, in the
# container's env: a tenant cannot change it, nor a role's limit without CREATEROLE), else -1 (none). The entrypoint
# sizes each session's memory so that this many sessions of one binding fit in half of what shared memory leaves.
binding_connection_limit() {
  local n=${POSTGRES_BINDING_CONNECTION_LIMIT:-}
  if [[ -z $n ]]; then printf -- '-1'; return; fi
  [[ $n =~ ^[1-9][0-9]{0,4}$ ]] || die "POSTGRES_BINDING_CONNECTION_LIMIT '$n' is not a positive integer"
  printf '%s' "$n"
}

# Runs the calling executable again as the OS user postgres (peer auth on the
# socket), stdin and all; a no-op when it already is.
become_postgres() {
  if [[ $(id -u) -eq 0 ]]; then
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
  fi
}

# Role names dbroker keeps for itself: no binding may take one.
reserved_role() { [[ $1 == postgres || $1 == pg_* || $1 == dbroker_* || $1 == "${POSTGRES_USER:-}" ]]; }

# On a shared container each instance has a database ("database", else db + 12
# hex digits of SHA-256(instance_id)) owned by a NOLOGIN role of its own, which
# its bindings are members of and act as.
INSTANCE_ROLE_PATTERN='^dbroker_owner_[0-9a-f]{12}$'
instance_role() { printf 'dbroker_owner_%s' "$(printf '%s' "$1" | sha256sum | cut -c1-12)"; }

# A database provision may make: a name like POSTGRES_DB's, neither a maintenance nor the container's own.
check_instance_database() {
  [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$ ]] || die "database name '$1' must match [A-Za-z0-9_][A-Za-z0-9_-]{0,62}"
  [[ $1 != postgres && $1 != template0 && $1 != template1 ]] || die "database name '$1' is reserved"
  [[ $1 != "${POSTGRES_DB:-}" ]] || die "database $1 is the container's own (POSTGRES_DB), not an instance's"
}

# The instance database a JSON document names: "database", else db + 12 hex digits
# of SHA-256("instance_id"); '' when it names neither. Expects hook-input.sh.
doc_database() {
  local d id
  d=$(doc_string database)
  if [[ -z $d ]]; then
    id=$(doc_string instance_id)
    [[ -z $id ]] || d="db$(printf '%s' "$id" | sha256sum | cut -c1-12)"
  fi
  printf '%s' "$d"
}

# For provision and deprovision: as postgres, the document on stdin names an
# instance's database; sets `database` and `role` (its owner) and the socket's
# connection settings. Expects `die` and the caller's "$@".
read_instance_document() {
  (($# == 0)) || die "takes no arguments (a JSON document on stdin)"
  become_postgres "$@"
  # shellcheck source=hook-input.sh
  source /dbroker/hook-input.sh
  read_document
  [[ -n ${POSTGRES_USER:-} && -n ${POSTGRES_DB:-} ]] || die "POSTGRES_USER/POSTGRES_DB are not set in the container"
  database=$(doc_database)
  [[ -n $database ]] || die "the JSON document needs \"database\" or \"instance_id\""
  check_instance_database "$database"
  role=$(instance_role "$database")
  export PGHOST=/var/run/postgresql PGPORT=5432 PGOPTIONS=$SUPERUSER_PGOPTIONS
}

# Runs "$@" (a psql of the superuser; its SQL on stdin) while, every quarter second, another session ends the
# sessions that block it and belong neither to dbroker (the superuser) nor to database $1 (the instance the work is
# for): another tenant's lock or open transaction on its own objects that name this instance's roles (a policy or
# a grant to them). The session is found by a random application_name no tenant can guess (nor see: hide-activity.sql).
ending_foreign_blockers() {
  local home=$1 sql tag pid rc=0 ticks=0
  shift
  sql=$(cat)
  tag=dbroker-hook-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
  PGAPPNAME=$tag "$@" <<<"$sql" &
  pid=$!
  # Done at once when nothing blocks it (most runs take a few ms): looks every 20 ms, ends blockers every 240 ms.
  while kill -0 "$pid" 2>/dev/null; do
    sleep 0.02
    ((++ticks % 12 == 0)) || continue
    psql -X -q -At -U postgres -d "$MAINT_DB" -v tag="$tag" -v home="$home" >/dev/null 2>&1 <<'SQL' || true
SET search_path = pg_catalog, pg_temp;
SELECT pg_catalog.pg_terminate_backend(h.pid, 3000)
  FROM pg_catalog.pg_stat_activity w
  CROSS JOIN LATERAL pg_catalog.unnest(pg_catalog.pg_blocking_pids(w.pid)) AS b(pid)
  JOIN pg_catalog.pg_stat_activity h ON h.pid = b.pid
  WHERE w.application_name = :'tag' AND w.usesysid = 10
    AND h.usesysid <> 10 AND h.backend_type = 'client backend' AND h.datname IS DISTINCT FROM :'home';
SQL
  done
  wait "$pid" || rc=$?
  return "$rc"
}

# The COMMENT bind puts on a binding's role: whose binding it is (its instance's owner role). Only a superuser or a
# CREATEROLE role (none but postgres: the entrypoint strips it) may comment on a role, so no tenant can take it off
# its own role to outlive a deprovision, or put it on one; role names and memberships are not proof (a failed
# unbind has revoked the membership already).
binding_mark() { printf 'dbroker binding of %s' "$1"; }
