#!/bin/bash
# dbroker lifecycle: delete a per-binding ACL user (its connections are closed
# by redis) and persist the ACL file. Succeeds when the user is already gone.
# Runs as the admin user, which no binding can change.
#   env: BIND_USERNAME
set -euo pipefail

die() { printf 'dbroker-redis unbind: %s\n' "$*" >&2; exit 1; }
# shellcheck source=acl.sh
source /dbroker/acl.sh

check_binding_username

# A binding's endless script makes redis answer BUSY to everything else: stop
# it (scripts that wrote cannot be stopped, redis says UNKILLABLE) and retry.
for _ in 1 2 3; do
  out=$(admin_cli ACL DELUSER "$BIND_USERNAME" 2>&1) || true
  [[ $out == BUSY* ]] || break
  admin_cli SCRIPT KILL >/dev/null 2>&1 || true
  admin_cli FUNCTION KILL >/dev/null 2>&1 || true
done
[[ $out =~ ^[01]$ ]] || die "ACL DELUSER failed: $out"
out=$(admin_cli ACL SAVE 2>&1) || die "ACL SAVE failed: $out"
[[ $out == OK ]] || die "ACL SAVE failed: $out"
