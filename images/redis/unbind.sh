#!/bin/bash
# dbroker lifecycle: delete a per-binding ACL user (its connections are closed
# by redis) and persist the ACL file. Succeeds when the user is already gone.
# Runs as the admin user, which no binding can change.
#   env: BIND_USERNAME
#   `unbind --json`: a JSON document on stdin ("username", or the name bind
#        derived from "binding_id"); prints nothing on stdout.
#   env: BIND_LIST_USERS=1 instead: print the binding and spare users redis
#        knows (dbroker's names only), one a line, and change nothing.
# Exit 75: the user is out of the ACL file but redis is stuck in a script that
# wrote (it cannot be killed): restart the container to finish the unbind.
set -euo pipefail

die() { printf 'dbroker-redis unbind: %s\n' "$*" >&2; exit 1; }
# shellcheck source=acl.sh
source /dbroker/acl.sh
# shellcheck source=hook-input.sh
source /dbroker/hook-input.sh

if [[ -n ${BIND_LIST_USERS:-} ]]; then
  out=$(admin_cli ACL USERS 2>&1) || die "ACL USERS failed: $out"
  [[ -z $out || $out =~ ^[A-Za-z0-9_.@-]+($'\n'[A-Za-z0-9_.@-]+)*$ ]] || die "ACL USERS failed: $out"
  grep -E "$DBROKER_BINDING_USER_PATTERN" <<<"$out" || true
  exit 0
fi
if [[ ${1:-} == --json ]]; then
  read_document
  BIND_USERNAME=$(doc_username)
  # The namespace plays no part here; a malformed one is still an error.
  doc_key_prefix >/dev/null
elif (($#)); then
  die "unknown argument '$1' (only --json)"
fi

check_binding_username
delete_acl_user "$BIND_USERNAME"
