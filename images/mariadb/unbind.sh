#!/bin/bash
# dbroker lifecycle: remove a per-binding user: lock it, end its connections,
# drop it (and with it every privilege it held). What it created in the
# database stays. Succeeds when the user is already gone.
#   env mode: BIND_USERNAME.  `unbind --json`: a JSON document on stdin
#   ("username", or the name bind derived from "binding_id").
#   env BIND_LIST_USERS=1: print the users named like dbroker's binding users
#   (b + 12 lowercase letters or digits), one a line, and change nothing.
# As root on the local socket (admin-session.sh). Prints nothing on stdout.
set -euo pipefail

die() { printf 'dbroker-mariadb unbind: %s\n' "$*" >&2; exit 1; }
# shellcheck source=admin-session.sh
source /dbroker/admin-session.sh
# shellcheck source=hook-input.sh
source /dbroker/hook-input.sh

if [[ -n ${BIND_LIST_USERS:-} ]]; then
  # The users named like dbroker's binding users (the broker drops those no binding holds).
  out=$(admin_sql <<<"SELECT User FROM mysql.global_priv WHERE Host = '%' ORDER BY 1;" 2>&1) || die "listing users failed: $out"
  grep -E "$BINDING_USER_PATTERN" <<<"$out" | grep -vxF -- "${MARIADB_USER:-}" || true
  exit 0
fi
if [[ ${1:-} == --json ]]; then
  read_document
  BIND_USERNAME=$(doc_string username)
  if [[ -z $BIND_USERNAME ]]; then
    binding=$(doc_string binding_id)
    [[ -n $binding ]] || die "the JSON document needs \"username\" or \"binding_id\""
    BIND_USERNAME=$(derived_name b "$binding")
  fi
elif (($#)); then
  die "unknown argument '$1' (only --json)"
fi
[[ -n ${BIND_USERNAME:-} ]] || die "BIND_USERNAME is required"
check_username "$BIND_USERNAME"

out=$(drop_binding_user "$BIND_USERNAME" 2>&1) || die "dropping user $BIND_USERNAME failed: $out"
