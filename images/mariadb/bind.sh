#!/bin/bash
# dbroker lifecycle: create (or update) a per-binding user with all privileges
# on the instance's database and nothing else (no global privilege, no GRANT
# OPTION, no other schema).
#   env mode (what the broker runs): BIND_USERNAME, BIND_PASSWORD; database
#     $MARIADB_DATABASE; prints nothing on stdout.
#   `bind --json`: a JSON document on stdin (images/README.md); prints the
#     credentials as JSON on stdout.
# Idempotent. As root on the local socket (admin-session.sh); the password
# travels on stdin, never on a command line.
set -euo pipefail

die() { printf 'dbroker-mariadb bind: %s\n' "$*" >&2; exit 1; }
# shellcheck source=admin-session.sh
source /dbroker/admin-session.sh
# shellcheck source=hook-input.sh
source /dbroker/hook-input.sh

json=0
if [[ ${1:-} == --json ]]; then
  json=1
  read_document
  BIND_USERNAME=$(doc_string username)
  if [[ -z $BIND_USERNAME ]]; then
    binding=$(doc_string binding_id)
    [[ -n $binding ]] || die "the JSON document needs \"username\" or \"binding_id\""
    BIND_USERNAME=$(derived_name b "$binding")
  fi
  BIND_PASSWORD=$(doc_string password)
  [[ -n $BIND_PASSWORD ]] || BIND_PASSWORD=$(random_password)
  # As provision names it; the container's own database when the document names none.
  if [[ -n $(doc_string database) || -n $(doc_string instance_id) ]]; then
    database=$(doc_database)
  else
    database=${MARIADB_DATABASE:-}
  fi
elif (($#)); then
  die "unknown argument '$1' (only --json)"
else
  database=${MARIADB_DATABASE:-}
fi

[[ -n ${BIND_USERNAME:-} ]] || die "BIND_USERNAME is required"
[[ -n ${BIND_PASSWORD:-} ]] || die "BIND_PASSWORD is required"
[[ $BIND_PASSWORD != *$'\n'* && $BIND_PASSWORD != *$'\r'* ]] || die "BIND_PASSWORD must not contain a line break"
[[ -n $database ]] || die "MARIADB_DATABASE is not set in the container"
check_username "$BIND_USERNAME"
check_database "$database"
[[ $(database_exists "$database") == 1 ]] || die "database $database does not exist (provision it first)"

u=$BIND_USERNAME
out=$(admin_sql 2>&1 <<SQL
CREATE USER IF NOT EXISTS '$u'@'%' IDENTIFIED BY $(sql_string "$BIND_PASSWORD");
ALTER USER '$u'@'%' IDENTIFIED BY $(sql_string "$BIND_PASSWORD") ACCOUNT UNLOCK;
REVOKE ALL PRIVILEGES, GRANT OPTION FROM '$u'@'%';
GRANT ALL PRIVILEGES ON \`$(grant_pattern "$database")\`.* TO '$u'@'%';
SQL
) || die "creating user $u failed: $out"

if ((json)); then
  BIND_DATABASE=$database BIND_USERNAME=$u BIND_PASSWORD=$BIND_PASSWORD \
    jq -n '{username: $ENV.BIND_USERNAME, password: $ENV.BIND_PASSWORD, database: $ENV.BIND_DATABASE, port: 3306}'
fi
