#!/bin/bash
# dbroker postgresql entrypoint.
#  Role layout: the cluster superuser is the role "postgres", reachable only on
#  the local unix socket by peer auth (OS user postgres: this script and
#  /dbroker/bind, /dbroker/unbind). $POSTGRES_USER is an ordinary LOGIN role
#  (NOSUPERUSER NOCREATEDB NOCREATEROLE) that owns $POSTGRES_DB; bindings are
#  members of it that run as it (ALTER ROLE b SET role = owner).
#  First start (empty $PGDATA): initdb -U postgres, then create the owner role
#  and $POSTGRES_DB in single-user mode, so nothing listens on TCP before setup
#  is complete.
#  Later starts: converge the owner (non-superuser, password from the env) in
#  single-user mode, then start. A data directory made by the old image (where
#  $POSTGRES_USER was the bootstrap superuser) is migrated first.
#  Finally execs postgres as the postgres user (PID 1, gets the signals).
set -euo pipefail

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
[[ $POSTGRES_USER != postgres && $POSTGRES_USER != pg_* ]] \
  || die "POSTGRES_USER '$POSTGRES_USER' is reserved (postgres is the cluster superuser)"
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

# Run SQL read from stdin in single-user mode (no sockets, no TCP). The
# statement text (which may hold a password) is never logged: log_min_error_statement=panic.
# Each line is its own statement and a failing one does not stop the next, nor
# the exit status: errors are found in the output (log_line_prefix= makes them
# start with "ERROR:").
single_user() {
  local db=$1 out rc=0
  out=$(as_postgres postgres --single -D "$PGDATA" \
          -c log_min_error_statement=panic -c log_statement=none -c log_line_prefix= -c listen_addresses= \
          "$db" 2>&1 >/dev/null) || rc=$?
  if ((rc != 0)) || grep -q -E '^(ERROR|FATAL|PANIC):' <<<"$out"; then
    printf '%s\n' "$out" | grep -E '^(ERROR|FATAL|PANIC|DETAIL|HINT):' >&2 || true
    return 1
  fi
}

# Like single_user, but prints the result rows' values (one per line) on stdout.
single_user_query() {
  local db=$1 out rc=0
  out=$(as_postgres postgres --single -D "$PGDATA" \
          -c log_min_error_statement=panic -c log_statement=none -c log_line_prefix= -c listen_addresses= \
          "$db" 2>&1) || rc=$?
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
# The owner: a plain login role. Created when missing; its attributes and
# password are converged to the environment on every start. The statements
# travel on stdin (never a command line, never the log).
owner_sql() {
  printf '%s\n' \
    "DO \$dbroker\$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = $(sql_literal "$POSTGRES_USER")) THEN CREATE ROLE $owner_id; END IF; END \$dbroker\$;" \
    "ALTER ROLE $owner_id WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD $(sql_literal "$POSTGRES_PASSWORD");"
}

# Migration of a data directory made by the old image, where $POSTGRES_USER
# was the bootstrap superuser (oid 10) and bindings were members of it.
#  Step 1 (single-user): rename the bootstrap superuser to "postgres" (no
#    password: it cannot log in over TCP) and create a new, ordinary
#    $POSTGRES_USER. The bootstrap superuser owns the system catalogs, so it
#    must stay the superuser: demoting it would leave the tenant owning pg_catalog.
#  Step 2 (temporary server on a private unix socket, no TCP): in every
#    database hand user objects owned by oid 10 to the owner, turn old bindings
#    (members of oid 10) into members of the owner that run as it, give the
#    owner what they own, and strip superuser-like powers from every other role.
# A marker file makes step 2 resume when the container dies in between.
MIGRATING=$PGDATA/dbroker-migration-in-progress

migrate_step1() {
  say "migrating: $POSTGRES_USER is the bootstrap superuser (old layout); renaming it to postgres and recreating $POSTGRES_USER without superuser"
  : >"$MIGRATING"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$MIGRATING"
  # (Run A) Renaming needs a session user other than the role renamed.
  printf '%s\n' \
    "DROP ROLE IF EXISTS dbroker_migrate;" \
    "CREATE ROLE dbroker_migrate SUPERUSER;" \
    "SET SESSION AUTHORIZATION dbroker_migrate;" \
    "ALTER ROLE $owner_id RENAME TO postgres;" \
    "ALTER ROLE postgres WITH PASSWORD NULL;" \
    | single_user postgres || die "migration (step 1) failed"
  migrate_step1b
}

# (Run B) The helper role cannot be dropped in the session that used it.
migrate_step1b() {
  {
    printf '%s\n' "DROP ROLE IF EXISTS dbroker_migrate;"
    owner_sql
  } | single_user postgres || die "migration (step 1) failed"
}

migrate_step2() {
  say "migrating: handing objects and bindings to $POSTGRES_USER"
  local sock rc=0
  sock=$(mktemp -d "$RUN/.migrate.XXXXXX")
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$sock"
  if ! as_postgres pg_ctl -D "$PGDATA" -w -t 120 -l "$sock/log" \
      -o "-c listen_addresses= -c unix_socket_directories=$sock -c log_min_error_statement=panic" start >/dev/null; then
    cat "$sock/log" >&2 || true
    die "migration (step 2): could not start a temporary server"
  fi
  local -a dbs
  mapfile -d '' dbs < <(as_postgres psql -X -q -h "$sock" -U postgres -d postgres -At -0 \
    -c "SELECT datname FROM pg_database WHERE datallowconn ORDER BY 1") || rc=1
  local db
  for db in "${dbs[@]}"; do
    [[ -n $db && $rc -eq 0 ]] || continue
    as_postgres env POSTGRES_USER="$POSTGRES_USER" POSTGRES_DB="$POSTGRES_DB" \
      psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -U postgres -d "$db" >/dev/null <<'SQL' || rc=1
\getenv owner POSTGRES_USER
\getenv db POSTGRES_DB
SET client_min_messages = warning;
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
  done
  ((${#dbs[@]})) || rc=1
  if ((rc == 0)); then
    as_postgres env POSTGRES_USER="$POSTGRES_USER" \
      psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -U postgres -d postgres >/dev/null <<'SQL' || rc=1
\getenv owner POSTGRES_USER
SET client_min_messages = warning;
-- Old bindings: member of the owner instead of the superuser, running as the owner.
SELECT format('GRANT %I TO %I', :'owner', r.rolname), format('ALTER ROLE %I SET role = %I', r.rolname, :'owner'),
       format('REVOKE postgres FROM %I', r.rolname)
  FROM pg_roles r WHERE r.oid IN (SELECT member FROM pg_auth_members WHERE roleid = 10) \gexec
-- Nobody but postgres keeps superuser-like powers (CREATEROLE in 15 can grant
-- pg_execute_server_program) or the server-file/program roles.
SELECT format('ALTER ROLE %I WITH NOSUPERUSER NOCREATEROLE NOREPLICATION NOBYPASSRLS', rolname) FROM pg_roles
  WHERE oid <> 10 AND rolname !~ '^pg_' AND (rolsuper OR rolcreaterole OR rolreplication OR rolbypassrls) \gexec
SELECT format('REVOKE %I FROM %I', g.rolname, m.rolname)
  FROM pg_auth_members a JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member
  WHERE m.oid <> 10 AND g.rolname IN ('pg_execute_server_program', 'pg_read_server_files', 'pg_write_server_files') \gexec
SQL
  fi
  as_postgres pg_ctl -D "$PGDATA" -w -t 120 -m fast stop >/dev/null || rc=1
  ((rc == 0)) || { cat "$sock/log" >&2 2>/dev/null || true; rm -rf "$sock"; die "migration (step 2) failed"; }
  rm -rf "$sock" "$MIGRATING"
  say "migration complete: postgres is the superuser, $POSTGRES_USER is not"
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

  say "creating role $POSTGRES_USER and database $POSTGRES_DB owned by it"
  {
    owner_sql
    if [[ $POSTGRES_DB != postgres ]]; then
      printf 'CREATE DATABASE %s OWNER %s;\n' "$(sql_ident "$POSTGRES_DB")" "$owner_id"
    else
      printf 'ALTER DATABASE postgres OWNER TO %s;\n' "$owner_id"
    fi
  } | single_user postgres || die "could not create role $POSTGRES_USER / database $POSTGRES_DB"
  say "initialization complete"
else
  write_ident
  # Who is the bootstrap superuser (oid 10), and does the owner own the database?
  state=$(printf '%s\n' "SELECT a.rolname AS bootstrap, EXISTS (SELECT FROM pg_catalog.pg_database d JOIN pg_catalog.pg_authid r ON r.oid = d.datdba WHERE d.datname = $(sql_literal "$POSTGRES_DB") AND r.rolname = $(sql_literal "$POSTGRES_USER")) AS owns, EXISTS (SELECT FROM pg_catalog.pg_authid WHERE rolname = 'postgres' AND oid <> 10) AS has_postgres FROM pg_catalog.pg_authid a WHERE a.oid = 10;" \
    | single_user_query postgres) || die "could not read the roles of this data directory"
  mapfile -t st <<<"$state"
  if [[ ${st[0]:-} == "$POSTGRES_USER" ]]; then
    [[ ${st[2]:-} == f ]] || die "cannot migrate this old data directory: a role named postgres already exists"
    migrate_step1
    migrate_step2
  elif [[ -e $MIGRATING ]]; then
    migrate_step1b
    migrate_step2
  elif [[ ${st[0]:-} != postgres ]]; then
    die "the superuser of this data directory is '${st[0]:-?}', neither postgres nor POSTGRES_USER ($POSTGRES_USER); was POSTGRES_USER changed?"
  elif [[ ${st[1]:-} != t ]]; then
    die "database $POSTGRES_DB does not exist or is not owned by $POSTGRES_USER; were POSTGRES_USER/POSTGRES_DB changed?"
  fi
  # Converge the owner to the environment: not a superuser, same password as
  # $POSTGRES_PASSWORD. (The statements travel on stdin, never on a command line or in the log.)
  if ! owner_sql | single_user postgres; then
    die "could not apply POSTGRES_PASSWORD to role $POSTGRES_USER"
  fi
fi

if [[ $(id -u) -eq 0 ]]; then
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
fi
exec "$@"
