#!/bin/bash
# dbroker lifecycle (shared plan): drop an instance's database and every user
# whose privileges are on it (its bindings: locked, connections ended,
# dropped). Same JSON document as /dbroker/provision. The container's own
# $MARIADB_DATABASE is refused (remove the container instead). Succeeds when
# the database is already gone. Prints nothing on stdout.
set -euo pipefail

die() { printf 'dbroker-mariadb deprovision: %s\n' "$*" >&2; exit 1; }
# shellcheck source=admin-session.sh
source /dbroker/admin-session.sh
# shellcheck source=hook-input.sh
source /dbroker/hook-input.sh

(($# == 0)) || die "takes no arguments (a JSON document on stdin)"
read_document
database=$(doc_database)
check_database "$database"
[[ $database != "${MARIADB_DATABASE:-}" ]] || die "database $database is the container's own (MARIADB_DATABASE); remove the container instead"

pattern=$(grant_pattern "$database")
users=$(admin_sql <<<"SELECT DISTINCT User FROM mysql.db WHERE Db = $(sql_string "$pattern") AND Host = '%';") \
  || die "listing the users of database $database failed"
for u in $users; do
  [[ $u =~ ^[A-Za-z0-9_]{1,80}$ && $u != root && $u != "${MARIADB_USER:-}" ]] || continue
  out=$(drop_binding_user "$u" 2>&1) || die "dropping user $u failed: $out"
done
out=$(admin_sql 2>&1 <<<"DROP DATABASE IF EXISTS \`$database\`;") || die "dropping database $database failed: $out"
