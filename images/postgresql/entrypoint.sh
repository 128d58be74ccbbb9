#!/bin/bash
# dbroker postgresql entrypoint.
#  Role layout: the cluster superuser is the role "postgres", reachable only on
#  the local unix socket by peer auth (OS user postgres: this script and
#  /dbroker/bind, /dbroker/unbind). dbroker_owner, a NOLOGIN role, owns
#  $POSTGRES_DB; $POSTGRES_USER (LOGIN, the instance's credentials) and every
#  binding are members of it that run as it (ALTER ROLE x SET role =
#  dbroker_owner), and no binding is a member of $POSTGRES_USER.
#  First start (empty $PGDATA): initdb -U postgres, then create the roles and
#  $POSTGRES_DB in single-user mode, so nothing listens on TCP before setup is
#  complete.
#  Later starts: converge the roles (password from the env) and strip
#  superuser-like powers from every other role in single-user mode, then
#  start. Data directories made by older images are migrated first.
#  Finally execs postgres as the postgres user (PID 1, gets the signals).
set -euo pipefail

# shellcheck source=superuser-session.sh
source /dbroker/superuser-session.sh

say() { printf 'dbroker-postgresql: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# `docker run IMAGE -c max_connections=50`: options go to postgres.
if [[ ${1:-} == -* ]]; then
  set -- postgres "$@"
fi
# Anything that is not the server (e.g. `bash`, `psql ...`) runs as given.
if [[ ${1:-} != postgres ]]; then
  exec "$@"
fi

missing=()
for v in POSTGRES_USER POSTGRES_PASSWORD POSTGRES_DB; do
  [[ -n ${!v:-} ]] || missing+=("$v")
done
((${#missing[@]} == 0)) || die "required environment variable(s) not set: ${missing[*]}"
[[ $POSTGRES_USER =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] \
  || die "POSTGRES_USER must match [A-Za-z_][A-Za-z0-9_]{0,62}"
[[ $POSTGRES_USER != postgres && $POSTGRES_USER != pg_* && $POSTGRES_USER != "$DATA_OWNER" ]] \
  || die "POSTGRES_USER '$POSTGRES_USER' is reserved (postgres is the cluster superuser, $DATA_OWNER owns the data)"
[[ $POSTGRES_DB =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{0,62}$ ]] \
  || die "POSTGRES_DB must match [A-Za-z0-9_][A-Za-z0-9_-]{0,62}"
[[ $POSTGRES_PASSWORD != *$'\n'* && $POSTGRES_PASSWORD != *$'\r'* ]] \
  || die "POSTGRES_PASSWORD must not contain a line break"

# Plan parameters (optional): POSTGRES_MAX_CONNECTIONS -> -c max_connections.
if [[ -n ${POSTGRES_MAX_CONNECTIONS:-} ]]; then
  [[ $POSTGRES_MAX_CONNECTIONS =~ ^[1-9][0-9]{0,5}$ ]] \
    || die "POSTGRES_MAX_CONNECTIONS '$POSTGRES_MAX_CONNECTIONS' is not a positive integer"
  set -- "$@" -c "max_connections=$POSTGRES_MAX_CONNECTIONS"
fi
# POSTGRES_BINDING_CONNECTION_LIMIT (optional, an operator's; a shared plan sets it): each binding's CONNECTION
# LIMIT, and what each session's memory is sized for (below). Checked here so a bad value stops the start.
per_binding=$(binding_connection_limit)

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
RUN=/var/run/postgresql

as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then
    setpriv --reuid=postgres --regid=postgres --init-groups "$@"
  else
    "$@"
  fi
}

mkdir -p "$PGDATA" "$RUN"
if [[ $(id -u) -eq 0 ]]; then
  chown postgres:postgres "$RUN"
  chmod 2775 "$RUN"
  # Only fix the top directory unless ownership is actually wrong below it.
  if [[ $(stat -c %U "$PGDATA") != postgres ]] || find "$PGDATA" -maxdepth 2 \! -user postgres -print -quit | grep -q .; then
    chown -R postgres:postgres "$PGDATA"
  fi
  chmod 0700 "$PGDATA"
fi

# SQL string literal (standard_conforming_strings = on: only ' needs doubling).
sql_literal() { local s=${1//\'/\'\'}; printf "'%s'" "$s"; }
# SQL identifier (names are validated above, quoting is belt and braces).
sql_ident() { local s=${1//\"/\"\"}; printf '"%s"' "$s"; }

# Run SQL read from stdin in single-user mode (no sockets, no TCP), in the
# maintenance database (no tenant can configure it). The statement text (which
# may hold a password) is never logged: log_min_error_statement=panic.
# Each line is its own statement and a failing one does not stop the next, nor
# the exit status: errors are found in the output (log_line_prefix= makes them
# start with "ERROR:"). WARNING lines are passed on to stderr.
# SINGLE_USER_DB names another database (a tenant's: the options below outrank what its owner set there).
# Nothing of these sessions goes to the log (superuser-session.sh).
read -r -a quiet <<<"$QUIET_OPTIONS"
single_user() {
  local out rc=0
  out=$(as_postgres postgres --single -D "$PGDATA" \
          -c log_min_error_statement=panic -c log_statement=none -c log_line_prefix= -c listen_addresses= \
          -c search_path=pg_catalog,pg_temp -c local_preload_libraries= -c default_transaction_read_only=off \
          -c statement_timeout=0 -c lock_timeout=0 "${quiet[@]}" "${SINGLE_USER_DB:-$MAINT_DB}" 2>&1 >/dev/null) || rc=$?
  if ((rc != 0)) || grep -q -E '^(ERROR|FATAL|PANIC):' <<<"$out"; then
    printf '%s\n' "$out" | grep -E '^(ERROR|FATAL|PANIC|DETAIL|HINT):' >&2 || true
    return 1
  fi
  printf '%s\n' "$out" | sed -n 's/^WARNING: */dbroker-postgresql: /p' >&2
}

# Like single_user, but prints the result rows' values (one per line) on stdout.
single_user_query() {
  local out rc=0
  out=$(as_postgres postgres --single -D "$PGDATA" \
          -c log_min_error_statement=panic -c log_statement=none -c log_line_prefix= -c listen_addresses= \
          -c search_path=pg_catalog,pg_temp "${quiet[@]}" "$MAINT_DB" 2>&1) || rc=$?
  if ((rc != 0)) || grep -q -E '^(ERROR|FATAL|PANIC):' <<<"$out"; then
    printf '%s\n' "$out" | grep -E '^(ERROR|FATAL|PANIC|DETAIL|HINT):' >&2 || true
    return 1
  fi
  # Result lines look like: `	 1: name = "value"	(typeid = ...)`.
  sed -n -E 's/^[[:space:]]*[0-9]+: [a-z_]+ = "(.*)"[[:space:]]+\(typeid = .*$/\1/p' <<<"$out"
}

write_ident() {
  # Local-socket peer map: only the OS user "postgres" (this script and the
  # lifecycle executables) may log in, and only as the superuser role postgres.
  cat >"$PGDATA/pg_ident.conf" <<'IDENT'
# Managed by /dbroker/entrypoint; rewritten on every start.
# MAPNAME  SYSTEM-USERNAME  PG-USERNAME
dbroker    postgres         postgres
IDENT
  chown postgres:postgres "$PGDATA/pg_ident.conf" 2>/dev/null || true
  chmod 0600 "$PGDATA/pg_ident.conf"
}

owner_id=$(sql_ident "$POSTGRES_USER")
data_owner_id=$(sql_ident "$DATA_OWNER")
# The login $POSTGRES_USER and the data owner, created when missing; their
# attributes, password and membership are converged on every start (a binding
# may have set the data owner's password: harmless, it cannot log in, but
# cleared). The statements travel on stdin (never a command line, never the log).
owner_sql() {
  printf '%s\n' \
    "DO \$dbroker\$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $(sql_literal "$POSTGRES_USER")) THEN CREATE ROLE $owner_id; END IF; END \$dbroker\$;" \
    "DO \$dbroker\$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $(sql_literal "$DATA_OWNER")) THEN CREATE ROLE $data_owner_id; END IF; END \$dbroker\$;" \
    "ALTER ROLE $owner_id WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD $(sql_literal "$POSTGRES_PASSWORD");" \
    "ALTER ROLE $data_owner_id WITH NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD NULL;" \
    "GRANT $data_owner_id TO $owner_id;" \
    "ALTER ROLE $owner_id SET role = $data_owner_id;"
}

# What a superuser may have left behind (dbroker itself makes no such thing):
#  - roles other than postgres with SUPERUSER/CREATEROLE/REPLICATION/BYPASSRLS
#    lose them and their login, and are dropped unless they own objects;
#  - membership in postgres or the server-file/program roles is revoked;
#  - settings that would apply to dbroker's own superuser sessions are reset,
#    and postgres' sessions in $POSTGRES_DB get a pinned search_path and role;
#  - no tenant can connect to the maintenance databases.
hygiene_sql() {
  local maint="'postgres', 'template1'"
  [[ $POSTGRES_DB != postgres ]] || maint="'template1'"
  printf '%s\n' \
    "DO \$dbroker\$ DECLARE r record; BEGIN FOR r IN SELECT rolname FROM pg_catalog.pg_authid WHERE oid <> 10 AND (rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls) LOOP EXECUTE pg_catalog.format('ALTER ROLE %I WITH NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS NOLOGIN', r.rolname); BEGIN EXECUTE pg_catalog.format('DROP ROLE %I', r.rolname); RAISE WARNING 'dropped role % (it had superuser-like powers dbroker never gives)', r.rolname; EXCEPTION WHEN OTHERS THEN RAISE WARNING 'role % had superuser-like powers dbroker never gives: stripped, login disabled, kept (%)', r.rolname, SQLERRM; END; END LOOP; END \$dbroker\$;" \
    "DO \$dbroker\$ DECLARE r record; BEGIN FOR r IN SELECT g.rolname AS granted, m.rolname AS member FROM pg_catalog.pg_auth_members a JOIN pg_catalog.pg_authid g ON g.oid = a.roleid JOIN pg_catalog.pg_authid m ON m.oid = a.member WHERE m.oid <> 10 AND (g.oid = 10 OR g.rolname IN ('pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files')) LOOP EXECUTE pg_catalog.format('REVOKE %I FROM %I', r.granted, r.member); RAISE WARNING 'revoked % from role %', r.granted, r.member; END LOOP; END \$dbroker\$;" \
    "DO \$dbroker\$ DECLARE r record; BEGIN FOR r IN SELECT pg_catalog.format('ALTER ROLE %s%s RESET ALL', CASE WHEN s.setrole = 0 THEN 'ALL' ELSE 'postgres' END, CASE WHEN s.setdatabase = 0 THEN '' ELSE ' IN DATABASE ' || pg_catalog.quote_ident(d.datname) END) AS stmt FROM pg_catalog.pg_db_role_setting s LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase WHERE (s.setrole = 10 AND d.datname IS DISTINCT FROM $(sql_literal "$POSTGRES_DB")) OR (s.setrole = 0 AND d.datname IN ($maint)) LOOP EXECUTE r.stmt; RAISE WARNING 'cleared settings that applied to the superuser''s sessions: %', r.stmt; END LOOP; END \$dbroker\$;"
  # An operator's `psql -d $POSTGRES_DB` as postgres is not steered either: per-role
  # settings in a database outrank the database's own (ALTER DATABASE, its owner's).
  printf '%s\n' \
    "ALTER ROLE postgres IN DATABASE $(sql_ident "$POSTGRES_DB") RESET ALL;" \
    "ALTER ROLE postgres IN DATABASE $(sql_ident "$POSTGRES_DB") SET search_path = pg_catalog, pg_temp;" \
    "ALTER ROLE postgres IN DATABASE $(sql_ident "$POSTGRES_DB") SET role = none;"
  local db
  for db in postgres template1; do
    if [[ $db != "$POSTGRES_DB" ]]; then printf 'REVOKE CONNECT, TEMPORARY ON DATABASE %s FROM PUBLIC;\n' "$db"; fi
  done
  # Logging settings a tenant may set (LOG_SETTINGS), wherever it set them: for a database, a role, a role in a database.
  printf '%s\n' \
    "DO \$dbroker\$ DECLARE r record; BEGIN FOR r IN SELECT DISTINCT CASE WHEN s.setrole = 0 AND s.setdatabase = 0 THEN pg_catalog.format('ALTER ROLE ALL RESET %I', n.name) WHEN s.setrole = 0 THEN pg_catalog.format('ALTER DATABASE %I RESET %I', d.datname, n.name) WHEN s.setdatabase = 0 THEN pg_catalog.format('ALTER ROLE %I RESET %I', m.rolname, n.name) ELSE pg_catalog.format('ALTER ROLE %I IN DATABASE %I RESET %I', m.rolname, d.datname, n.name) END AS stmt FROM pg_catalog.pg_db_role_setting s CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(setting) CROSS JOIN LATERAL (SELECT pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 1)) AS name) n LEFT JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase LEFT JOIN pg_catalog.pg_authid m ON m.oid = s.setrole WHERE s.setrole <> 10 AND n.name = ANY (pg_catalog.string_to_array($(sql_literal "$LOG_SETTINGS"), ',')) LOOP EXECUTE r.stmt; RAISE WARNING 'a tenant''s logging setting is reset: %', r.stmt; END LOOP; END \$dbroker\$;"
  # What a binding (acting as the database's owner) may have set to lock every login out; the hooks do the same.
  printf '%s\n' \
    "ALTER DATABASE $(sql_ident "$POSTGRES_DB") WITH ALLOW_CONNECTIONS true CONNECTION LIMIT -1 IS_TEMPLATE false;" \
    "DO \$dbroker\$ DECLARE r record; BEGIN FOR r IN SELECT DISTINCT pg_catalog.split_part(c.setting, '=', 1) AS name FROM pg_catalog.pg_db_role_setting s CROSS JOIN LATERAL pg_catalog.unnest(s.setconfig) AS c(setting) WHERE s.setrole = 0 AND s.setdatabase = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = $(sql_literal "$POSTGRES_DB")) AND pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 1)) = ANY (pg_catalog.string_to_array($(sql_literal "$LOCKOUT_SETTINGS"), ',')) LOOP EXECUTE pg_catalog.format('ALTER DATABASE %I RESET %I', $(sql_literal "$POSTGRES_DB"), r.name); RAISE WARNING 'reset % on database %: it refuses or ends every session', r.name, $(sql_literal "$POSTGRES_DB"); END LOOP; END \$dbroker\$;"
}

# Migrations of data directories made by older images.
#  Superuser layout (the oldest): $POSTGRES_USER was the bootstrap superuser
#  (oid 10) and bindings were members of it.
#   Step 1 (single-user): rename the bootstrap superuser to "postgres" (no
#    password: it cannot log in over TCP) and create a new, ordinary
#    $POSTGRES_USER. The bootstrap superuser owns the system catalogs, so it
#    must stay the superuser: demoting it would leave the tenant owning pg_catalog.
#   Step 2 (temporary server): in every database hand user objects owned by
#    oid 10 to $POSTGRES_USER, and turn old bindings (members of oid 10) into
#    members of $POSTGRES_USER; then the owner layout's migration follows.
#  Owner layout: $POSTGRES_USER owned $POSTGRES_DB and bindings were members
#  of it, so any binding could set its password. On a temporary server: in
#  every database REASSIGN OWNED BY $POSTGRES_USER TO the data owner; its
#  members become members of the data owner only, running as it.
# The temporary server listens only on a private unix socket (no TCP). Marker
# files make an interrupted migration resume.
MIGRATING=$PGDATA/dbroker-migration-in-progress
MIGRATING_OWNER=$PGDATA/dbroker-owner-migration-in-progress

mark() {
  : >"$1"
  [[ $(id -u) -ne 0 ]] || chown postgres:postgres "$1"
}

migrate_step1() {
  say "migrating: $POSTGRES_USER is the bootstrap superuser (old layout); renaming it to postgres and recreating $POSTGRES_USER without superuser"
  mark "$MIGRATING"
  # (Run A) Renaming needs a session user other than the role renamed.
  printf '%s\n' \
    "DROP ROLE IF EXISTS dbroker_migrate;" \
    "CREATE ROLE dbroker_migrate SUPERUSER;" \
    "SET SESSION AUTHORIZATION dbroker_migrate;" \
    "ALTER ROLE $owner_id RENAME TO postgres;" \
    "ALTER ROLE postgres WITH PASSWORD NULL;" \
    | single_user || die "migration (step 1) failed"
  migrate_step1b
}

# (Run B) The helper role cannot be dropped in the session that used it.
migrate_step1b() {
  {
    printf '%s\n' "DROP ROLE IF EXISTS dbroker_migrate;"
    owner_sql
  } | single_user || die "migration (step 1) failed"
}

# psql on the temporary server as postgres, with the hooks' connection settings.
temp_psql() {
  as_postgres env PGOPTIONS="$SUPERUSER_PGOPTIONS" \
    psql -X -q -v ON_ERROR_STOP=1 -v owner="$POSTGRES_USER" -v db="$POSTGRES_DB" -v data_owner="$DATA_OWNER" \
    -h "$TEMP_SOCK" -U postgres "$@"
}

# Runs the SQL script on stdin in database $1 of the temporary server.
temp_script() {
  temp_psql -d "$1" -c 'SET search_path = pg_catalog, pg_temp; SET client_min_messages = warning' -f - >/dev/null
}

# In every database: hand user objects owned by oid 10 to $POSTGRES_USER.
migrate_superuser_objects() {
  temp_script "$1" <<'SQL'
-- The owner's database (the old owner, oid 10, owned it).
SELECT format('ALTER DATABASE %I OWNER TO %I', :'db', :'owner')
  WHERE current_database() = :'db' \gexec
-- User objects (oid >= 16384) that oid 10 owns, except extension members and
-- objects that follow their table (indexes, toast, owned sequences, row types).
SELECT format('ALTER SCHEMA %I OWNER TO %I', nspname, :'owner') FROM pg_namespace n
  WHERE nspowner = 10 AND oid >= 16384
    AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e') \gexec
SELECT format('ALTER %s %s OWNER TO %I',
         CASE c.relkind WHEN 'S' THEN 'SEQUENCE' WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                        WHEN 'f' THEN 'FOREIGN TABLE' WHEN 'c' THEN 'TYPE' ELSE 'TABLE' END,
         c.oid::regclass, :'owner')
  FROM pg_class c
  WHERE c.relowner = 10 AND c.oid >= 16384 AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')
    AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND (d.deptype = 'e' OR (c.relkind = 'S' AND d.deptype IN ('a', 'i')))) \gexec
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, :'owner') FROM pg_proc p
  WHERE p.proowner = 10 AND p.oid >= 16384
    AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') \gexec
SELECT format('ALTER %s %s OWNER TO %I', CASE t.typtype WHEN 'd' THEN 'DOMAIN' ELSE 'TYPE' END, t.oid::regtype, :'owner')
  FROM pg_type t
  WHERE t.typowner = 10 AND t.oid >= 16384 AND t.typtype IN ('d', 'e', 'r')
    AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e') \gexec
SELECT format('ALTER LARGE OBJECT %s OWNER TO %I', oid, :'owner') FROM pg_largeobject_metadata WHERE lomowner = 10 \gexec
-- Old bindings (members of oid 10): what they own becomes the owner's.
SELECT format('REASSIGN OWNED BY %I TO %I', r.rolname, :'owner') FROM pg_roles r
  WHERE r.oid IN (SELECT member FROM pg_auth_members WHERE roleid = 10) \gexec
SQL
}

# Old bindings: members of $POSTGRES_USER instead of the superuser.
migrate_superuser_bindings() {
  temp_script "$MAINT_DB" <<'SQL'
SELECT format('GRANT %I TO %I', :'owner', r.rolname), format('REVOKE postgres FROM %I', r.rolname)
  FROM pg_roles r WHERE r.oid IN (SELECT member FROM pg_auth_members WHERE roleid = 10) \gexec
SQL
}

# In every database: what $POSTGRES_USER owns (the database too) goes to the data owner.
migrate_owner_objects() {
  temp_script "$1" <<'SQL'
SELECT format('REASSIGN OWNED BY %I TO %I', :'owner', :'data_owner') \gexec
SQL
}

# Members of $POSTGRES_USER (the bindings) become members of the data owner only, running as it.
migrate_owner_bindings() {
  temp_script "$MAINT_DB" <<'SQL'
SELECT format('GRANT %I TO %I', :'data_owner', m.rolname), format('ALTER ROLE %I SET role = %I', m.rolname, :'data_owner'),
       format('REVOKE %I FROM %I', :'owner', m.rolname)
  FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
  WHERE g.rolname = :'owner' \gexec
SQL
}

# Runs the pending migrations (superuser layout when its marker is there, then
# the owner layout) on a temporary server. Expects owner_sql to have run.
migrate_on_temp_server() {
  mark "$MIGRATING_OWNER"
  say "migrating: $DATA_OWNER (NOLOGIN) takes over what $POSTGRES_USER owns; bindings act as it and can no longer change $POSTGRES_USER"
  local rc=0 db
  TEMP_SOCK=$(mktemp -d "$RUN/.migrate.XXXXXX")
  [[ $(id -u) -ne 0 ]] || chown postgres:postgres "$TEMP_SOCK"
  if ! as_postgres pg_ctl -D "$PGDATA" -w -t 120 -l "$TEMP_SOCK/log" \
      -o "-c listen_addresses= -c unix_socket_directories=$TEMP_SOCK -c log_min_error_statement=panic" start >/dev/null; then
    cat "$TEMP_SOCK/log" >&2 || true
    die "migration: could not start a temporary server"
  fi
  local -a dbs
  mapfile -d '' dbs < <(temp_psql -d "$MAINT_DB" -At -0 -c "SELECT datname FROM pg_catalog.pg_database WHERE datallowconn ORDER BY 1") || rc=1
  ((${#dbs[@]})) || rc=1
  if ((rc == 0)) && [[ -e $MIGRATING ]]; then
    for db in "${dbs[@]}"; do
      [[ -z $db ]] || migrate_superuser_objects "$db" || rc=1
    done
    ((rc != 0)) || migrate_superuser_bindings || rc=1
  fi
  if ((rc == 0)); then
    for db in "${dbs[@]}"; do
      [[ -z $db ]] || migrate_owner_objects "$db" || rc=1
    done
    ((rc != 0)) || migrate_owner_bindings || rc=1
  fi
  as_postgres pg_ctl -D "$PGDATA" -w -t 120 -m fast stop >/dev/null || rc=1
  ((rc == 0)) || { cat "$TEMP_SOCK/log" >&2 2>/dev/null || true; rm -rf "$TEMP_SOCK"; die "migration failed"; }
  rm -rf "$TEMP_SOCK" "$MIGRATING" "$MIGRATING_OWNER"
  say "migration complete: postgres is the only superuser, $DATA_OWNER owns $POSTGRES_DB, $POSTGRES_USER and the bindings act as it"
}

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  say "initializing a new database cluster in $PGDATA"
  if [[ -n $(ls -A "$PGDATA") ]]; then
    die "$PGDATA is not empty but holds no cluster (PG_VERSION missing); refusing to initdb over it"
  fi
  # The superuser "postgres" gets no password: it only logs in on the unix socket (peer).
  if ! initlog=$(as_postgres initdb -D "$PGDATA" -U postgres \
      --auth-host=scram-sha-256 --auth-local=peer --encoding=UTF8 --locale=C.UTF-8 \
      --no-instructions 2>&1); then
    printf '%s\n' "$initlog" >&2
    die "initdb failed"
  fi

  cat >>"$PGDATA/postgresql.conf" <<'CONF'

# --- dbroker ---
listen_addresses = '*'
port = 5432
unix_socket_directories = '/var/run/postgresql'
password_encryption = scram-sha-256
log_min_error_statement = panic    # statements may carry passwords: never log them
CONF
  cat >"$PGDATA/pg_hba.conf" <<'HBA'
# Managed by dbroker. No trust anywhere: the unix socket is peer-only (OS user
# postgres -> superuser postgres, see pg_ident.conf); every network client uses SCRAM.
# TYPE  DATABASE  USER  ADDRESS     METHOD
local   all       all               peer map=dbroker
host    all       all   0.0.0.0/0   scram-sha-256
host    all       all   ::/0        scram-sha-256
HBA
  chown postgres:postgres "$PGDATA/postgresql.conf" "$PGDATA/pg_hba.conf" 2>/dev/null || true
  write_ident

  say "creating role $POSTGRES_USER and database $POSTGRES_DB owned by $DATA_OWNER"
  {
    owner_sql
    if [[ $POSTGRES_DB != postgres ]]; then
      printf 'CREATE DATABASE %s OWNER %s;\n' "$(sql_ident "$POSTGRES_DB")" "$data_owner_id"
    else
      printf 'ALTER DATABASE postgres OWNER TO %s;\n' "$data_owner_id"
    fi
    hygiene_sql
  } | single_user || die "could not create role $POSTGRES_USER / database $POSTGRES_DB"
  say "initialization complete"
else
  write_ident
  # Who is the bootstrap superuser (oid 10), and who owns the database?
  state=$(printf '%s\n' "SELECT a.rolname AS bootstrap, COALESCE((SELECT r.rolname FROM pg_catalog.pg_database d JOIN pg_catalog.pg_authid r ON r.oid = d.datdba WHERE d.datname = $(sql_literal "$POSTGRES_DB")), '-') AS dbowner, EXISTS (SELECT FROM pg_catalog.pg_authid WHERE rolname = 'postgres' AND oid <> 10) AS has_postgres FROM pg_catalog.pg_authid a WHERE a.oid = 10;" \
    | single_user_query) || die "could not read the roles of this data directory"
  mapfile -t st <<<"$state"
  if [[ ${st[0]:-} == "$POSTGRES_USER" ]]; then
    [[ ${st[2]:-} == f ]] || die "cannot migrate this old data directory: a role named postgres already exists"
    migrate_step1
    migrate_on_temp_server
  elif [[ -e $MIGRATING ]]; then
    migrate_step1b
    migrate_on_temp_server
  elif [[ ${st[0]:-} != postgres ]]; then
    die "the superuser of this data directory is '${st[0]:-?}', neither postgres nor POSTGRES_USER ($POSTGRES_USER); was POSTGRES_USER changed?"
  elif [[ ${st[1]:-} == "$POSTGRES_USER" || -e $MIGRATING_OWNER ]]; then
    owner_sql | single_user || die "could not converge role $POSTGRES_USER"
    migrate_on_temp_server
  elif [[ ${st[1]:-} != "$DATA_OWNER" ]]; then
    die "database $POSTGRES_DB does not exist or is owned neither by $DATA_OWNER nor by $POSTGRES_USER; were POSTGRES_USER/POSTGRES_DB changed?"
  fi
  # Converge the roles to the environment (password from $POSTGRES_PASSWORD;
  # the statements travel on stdin, never on a command line or in the log),
  # and clear what a superuser may have left behind.
  if ! { owner_sql; hygiene_sql; } | single_user; then
    die "could not apply POSTGRES_PASSWORD to role $POSTGRES_USER or reset the roles"
  fi
fi

# On a shared container each instance's database hides the other tenants' sessions (who, from where, in which
# database, since when), locks and per-database counters: /dbroker/hide-activity.sql revokes the statistics views
# and their functions from PUBLIC there (provision does it for a new database). Databases an older image
# provisioned get it once, here, in single-user mode; the marker says it was done.
ACTIVITY_HIDDEN=$PGDATA/dbroker-activity-hidden
if [[ ! -e $ACTIVITY_HIDDEN ]]; then
  instance_dbs=$(printf '%s\n' "SELECT d.datname FROM pg_catalog.pg_database d JOIN pg_catalog.pg_authid r ON r.oid = d.datdba WHERE r.rolname ~ '^dbroker_owner_[0-9a-f]{12}\$' AND d.datallowconn;" \
    | single_user_query) || die "could not list the instances' databases"
  while read -r db; do
    [[ -n $db ]] || continue
    SINGLE_USER_DB=$db single_user </dbroker/hide-activity.sql || die "could not hide other sessions in database $db"
    say "database $db: other tenants' sessions are hidden now"
  done <<<"$instance_dbs"
  mark "$ACTIVITY_HIDDEN"
fi

# Whether the operator set a server parameter: on the command line (-c name=v, -cname=v, --name=v) or with
# ALTER SYSTEM. Such a setting wins over what the memory limit derives below.
operator_sets() {
  local arg prev=
  for arg in "${@:2}"; do
    [[ $arg == "--$1="* || $arg == "-c$1="* || ($prev == -c && $arg == "$1="*) ]] && return 0
    prev=$arg
  done
  grep -qiE "^[[:space:]]*$1[[:space:]]*=" "$PGDATA/postgresql.auto.conf" 2>/dev/null
}

# PostgreSQL 15 has no per-session memory cap: under a memory limit one tenant's SELECT repeat('x', 1000000000)
# would have the kernel kill its backend, and the postmaster then ends every session to restart. So every server
# process gets a bounded address space (RLIMIT_AS, inherited by each backend), past which an allocation fails
# and only that query ends, with "out of memory". Its size: the shared memory mapping (shared_memory_size: at
# most a quarter of the limit is shared_buffers) + 96 MB for the binary, libraries and catalog caches (an idle
# backend maps 76 MB besides shared memory) + half of what the shared memory leaves of the limit (the other
# half stays for every other process); with POSTGRES_BINDING_CONNECTION_LIMIT (a shared plan's), sized so that
# that many sessions of one binding fit in that half (below). JIT is off (loading LLVM maps another 130 MB), and maintenance_work_mem
# (CREATE INDEX, VACUUM) at most half a backend's share, so that normal work fits.
memory_limit=
if [[ -r /sys/fs/cgroup/memory.max ]]; then
  memory_limit=$(</sys/fs/cgroup/memory.max)
elif [[ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]]; then
  memory_limit=$(</sys/fs/cgroup/memory/memory.limit_in_bytes)
fi
if [[ $memory_limit =~ ^[0-9]+$ ]] && ((memory_limit < 1 << 40)); then
  limit_kb=$((memory_limit / 1024))
  derived=()
  operator_sets jit "$@" || derived+=(-c jit=off)
  operator_sets shared_buffers "$@" || derived+=(-c "shared_buffers=$((limit_kb / 4 < 131072 ? limit_kb / 4 : 131072))kB")
  set -- "$1" "${derived[@]}" "${@:2}"
  shared_mb=$(as_postgres postgres -D "$PGDATA" -C shared_memory_size "${@:2}") && [[ $shared_mb =~ ^[0-9]+$ ]] \
    || die "could not compute the server's shared memory size"
  rest_kb=$((limit_kb - shared_mb * 1024))
  if ((per_binding > 0)); then
    # A binding's sessions together at most half of the rest: each one's own memory (its share + what the
    # tighter 80 MB of mappings leaves, ~8 MB: an idle backend maps 74.6 MB and holds 3 MB of it) at most
    # rest / (2 x POSTGRES_BINDING_CONNECTION_LIMIT). Measured: 3 sessions of 60 MB each got 256 MB killed before.
    mapped_kb=81920
    share_kb=$((rest_kb / (2 * per_binding) - 8192))
    if ((share_kb < 8192)); then
      say "memory limit $((limit_kb / 1024)) MB is too small for $per_binding sessions per binding: each gets 8 MB, and together they may pass half of the memory"
      share_kb=8192
    fi
  else
    mapped_kb=98304
    share_kb=$((rest_kb / 2))
    ((share_kb >= 16384)) || share_kb=16384
  fi
  if ! operator_sets maintenance_work_mem "$@"; then
    set -- "$@" -c "maintenance_work_mem=$((share_kb / 2 < 65536 ? share_kb / 2 : 65536))kB"
  fi
  address_space_kb=$((shared_mb * 1024 + mapped_kb + share_kb))
  if ulimit -v "$address_space_kb" 2>/dev/null; then
    say "memory limit $((limit_kb / 1024)) MB: shared memory $shared_mb MB, each server process's address space at most $((address_space_kb / 1024)) MB$( ((per_binding > 0)) && printf ', each binding %s sessions' "$per_binding")"
  else
    say "memory limit $((limit_kb / 1024)) MB: could not set the address space limit to $((address_space_kb / 1024)) MB (a lower hard limit?), keeping $(ulimit -v)"
  fi
fi

# temp_file_limit (a superuser's setting: no tenant can raise it): without it one sort or hash join spills until
# the disk is full, and every tenant's writes and the WAL stop. Each session's temporary files at most
# 1/(2 x max_connections) of what the data directory's file system has free at start, so all sessions together
# leave half of it.
if ! operator_sets temp_file_limit "$@"; then
  free_kb=$(df -Pk "$PGDATA" | awk 'NR == 2 {print $4}')
  connections=$(as_postgres postgres -D "$PGDATA" -C max_connections "${@:2}")
  [[ $free_kb =~ ^[0-9]+$ && $connections =~ ^[0-9]+$ ]] || die "could not read the free space of $PGDATA or max_connections"
  temp_kb=$((free_kb / (2 * connections)))
  ((temp_kb >= 1024)) || temp_kb=1024
  ((temp_kb < 1 << 31)) || temp_kb=$(((1 << 31) - 1))
  set -- "$@" -c "temp_file_limit=${temp_kb}kB"
  say "$((free_kb / 1024)) MB free in $PGDATA: each session's temporary files at most $((temp_kb / 1024)) MB"
fi

if [[ $(id -u) -eq 0 ]]; then
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
fi
exec "$@"
