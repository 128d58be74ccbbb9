#!/bin/bash
# dbroker mariadb entrypoint.
#  First start (no mysql/ in the volume): mariadb-install-db, root@localhost by
#  unix_socket only, no test database, no anonymous users.
#  Every start: $MARIADB_DATABASE and $MARIADB_USER@'%' (password from the env,
#  all privileges on that database and nothing else) are converged in
#  bootstrap mode (no socket, no TCP listener), then mariadbd is exec'd as the
#  mysql user (PID 1, gets the signals).
set -euo pipefail

say() { printf 'dbroker-mariadb: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }
# shellcheck source=admin-session.sh
source /dbroker/admin-session.sh

# `docker run IMAGE --max-connections=50`: options go to the server.
if [[ ${1:-} == -* ]]; then
  set -- mariadbd "$@"
fi
# Anything that is not the server (e.g. `bash`, `mariadb ...`) runs as given.
if [[ ${1:-} != mariadbd ]]; then
  exec "$@"
fi

missing=()
for v in MARIADB_USER MARIADB_PASSWORD MARIADB_DATABASE; do
  [[ -n ${!v:-} ]] || missing+=("$v")
done
((${#missing[@]} == 0)) || die "required environment variable(s) not set: ${missing[*]}"
[[ $MARIADB_USER =~ ^[A-Za-z_][A-Za-z0-9_]{0,79}$ ]] || die "MARIADB_USER must match [A-Za-z_][A-Za-z0-9_]{0,79}"
for r in "${RESERVED_USERS[@]}"; do
  [[ $MARIADB_USER != "$r" ]] || die "MARIADB_USER '$MARIADB_USER' is reserved"
done
check_database "$MARIADB_DATABASE"
[[ $MARIADB_PASSWORD != *$'\n'* && $MARIADB_PASSWORD != *$'\r'* ]] || die "MARIADB_PASSWORD must not contain a line break"

as_mysql() {
  if [[ $(id -u) -eq 0 ]]; then
    setpriv --reuid=mysql --regid=mysql --init-groups "$@"
  else
    "$@"
  fi
}

mkdir -p "$DATADIR" /run/mysqld
if [[ $(id -u) -eq 0 ]]; then
  # chmod before chown: root has no CAP_FOWNER under the hardened defaults.
  chmod 0755 /run/mysqld
  chown mysql:mysql /run/mysqld
  # Only fix the top directory unless ownership is actually wrong below it.
  if [[ $(stat -c %U "$DATADIR") != mysql ]] || find "$DATADIR" -maxdepth 2 \! -user mysql -print -quit | grep -q .; then
    chown -R mysql:mysql "$DATADIR"
  fi
fi
as_mysql chmod 0700 "$DATADIR"

if [[ ! -d $DATADIR/mysql ]]; then
  [[ -z $(ls -A "$DATADIR") ]] \
    || die "$DATADIR is not empty but holds no mysql/ system schema; refusing to initialize over it"
  say "initializing a new data directory in $DATADIR"
  if ! log=$(as_mysql mariadb-install-db --datadir="$DATADIR" --auth-root-authentication-method=socket \
      --skip-test-db --skip-name-resolve 2>&1); then
    printf '%s\n' "$log" >&2
    die "mariadb-install-db failed"
  fi
fi

# Converge the instance's database and login. The statements (with the
# password) travel on stdin; the server has no general log, and bootstrap
# errors name the statement's error, not its text.
u=$MARIADB_USER
converge_sql() {
  printf '%s\n' \
    "$SESSION_PROLOGUE" \
    "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;" \
    "CREATE USER IF NOT EXISTS '$u'@'%';" \
    "ALTER USER '$u'@'%' IDENTIFIED BY $(sql_string "$MARIADB_PASSWORD") ACCOUNT UNLOCK;" \
    "REVOKE ALL PRIVILEGES, GRANT OPTION FROM '$u'@'%';" \
    "GRANT ALL PRIVILEGES ON \`$(grant_pattern "$MARIADB_DATABASE")\`.* TO '$u'@'%';" \
    "DROP USER IF EXISTS ''@'localhost';"
}
if ! out=$(converge_sql | as_mysql mariadbd --bootstrap --skip-networking --socket=/run/mysqld/bootstrap.sock \
    --log-warnings=0 --skip-grant-tables=0 2>&1); then
  # Only the error codes and messages: a syntax error's "near '...'" quotes the statement.
  printf '%s\n' "$out" | grep -E 'ERROR' | sed -E "s/ near '.*//" >&2 || true
  die "could not converge database $MARIADB_DATABASE / user $MARIADB_USER"
fi

if [[ $(id -u) -eq 0 ]]; then
  exec setpriv --reuid=mysql --regid=mysql --init-groups "$@"
fi
exec "$@"
