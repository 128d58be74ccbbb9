#!/bin/bash
# dbroker postgresql entrypoint.
#  First start (empty $PGDATA): initdb with $POSTGRES_USER as superuser and
#  $POSTGRES_PASSWORD (via --pwfile), SCRAM auth, then create $POSTGRES_DB in
#  single-user mode, so nothing listens on TCP before setup is complete.
#  Later starts: re-apply $POSTGRES_PASSWORD (single-user mode), then start.
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
single_user() {
  local db=$1 out rc=0
  out=$(as_postgres postgres --single -D "$PGDATA" \
          -c log_min_error_statement=panic -c log_statement=none -c listen_addresses= \
          "$db" 2>&1 >/dev/null) || rc=$?
  if ((rc != 0)) || grep -q -E '^(ERROR|FATAL|PANIC):' <<<"$out"; then
    printf '%s\n' "$out" | grep -E '^(ERROR|FATAL|PANIC|DETAIL|HINT):' >&2 || true
    return 1
  fi
}

write_ident() {
  # Local-socket peer map: the OS user "postgres" (lifecycle scripts) may log
  # in as $POSTGRES_USER; every OS user may log in as the role of its name.
  cat >"$PGDATA/pg_ident.conf" <<IDENT
# Managed by /dbroker/entrypoint; rewritten on every start.
# MAPNAME  SYSTEM-USERNAME  PG-USERNAME
dbroker    postgres         "$POSTGRES_USER"
dbroker    /^(.*)\$          \1
IDENT
  chown postgres:postgres "$PGDATA/pg_ident.conf" 2>/dev/null || true
  chmod 0600 "$PGDATA/pg_ident.conf"
}

if [[ ! -s $PGDATA/PG_VERSION ]]; then
  say "initializing a new database cluster in $PGDATA"
  if [[ -n $(ls -A "$PGDATA") ]]; then
    die "$PGDATA is not empty but holds no cluster (PG_VERSION missing); refusing to initdb over it"
  fi
  pwfile=$(mktemp "$RUN/.pwfile.XXXXXX")
  trap 'rm -f "$pwfile"' EXIT
  # printf is a builtin: the password is written without appearing in `ps`.
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  chmod 0600 "$pwfile"
  [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$pwfile"
  if ! initlog=$(as_postgres initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" \
      --auth-host=scram-sha-256 --auth-local=peer --encoding=UTF8 --locale=C.UTF-8 \
      --no-instructions 2>&1); then
    printf '%s\n' "$initlog" >&2
    die "initdb failed"
  fi
  rm -f "$pwfile"
  trap - EXIT

  cat >>"$PGDATA/postgresql.conf" <<'CONF'

# --- dbroker ---
listen_addresses = '*'
port = 5432
unix_socket_directories = '/var/run/postgresql'
password_encryption = scram-sha-256
log_min_error_statement = panic    # statements may carry passwords: never log them
CONF
  cat >"$PGDATA/pg_hba.conf" <<'HBA'
# Managed by dbroker. No trust over TCP: every network client uses SCRAM.
# TYPE  DATABASE  USER  ADDRESS     METHOD
local   all       all               peer map=dbroker
host    all       all   0.0.0.0/0   scram-sha-256
host    all       all   ::/0        scram-sha-256
HBA
  chown postgres:postgres "$PGDATA/postgresql.conf" "$PGDATA/pg_hba.conf" 2>/dev/null || true
  write_ident

  if [[ $POSTGRES_DB != postgres ]]; then
    say "creating database $POSTGRES_DB owned by $POSTGRES_USER"
    printf 'CREATE DATABASE %s OWNER %s;\n' "$(sql_ident "$POSTGRES_DB")" "$(sql_ident "$POSTGRES_USER")" \
      | single_user postgres || die "could not create database $POSTGRES_DB"
  fi
  say "initialization complete"
else
  write_ident
  # Converge the owner to the environment: same password as $POSTGRES_PASSWORD.
  # (The statement travels on stdin, never on a command line or in the log.)
  sql="ALTER ROLE $(sql_ident "$POSTGRES_USER") WITH LOGIN SUPERUSER PASSWORD $(sql_literal "$POSTGRES_PASSWORD");"
  if ! printf '%s\n' "$sql" | single_user postgres; then
    unset sql
    die "could not apply POSTGRES_PASSWORD to role $POSTGRES_USER (does the role exist in this data directory?)"
  fi
  unset sql
fi

if [[ $(id -u) -eq 0 ]]; then
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$@"
fi
exec "$@"
