#!/bin/bash
# dbroker lifecycle: create (or update) a per-binding ACL user that may use the
# data and nothing else (DBROKER_DATA_RULES in acl.sh), and persist it to
# /data/users.acl. Runs as the admin user, which no binding can change.
#   env: BIND_USERNAME, BIND_PASSWORD
# Idempotent. Prints nothing on stdout; errors on stderr; never prints passwords.
set -euo pipefail

die() { printf 'dbroker-redis bind: %s\n' "$*" >&2; exit 1; }
# shellcheck source=acl.sh
source /dbroker/acl.sh

check_binding_username
[[ -n ${BIND_PASSWORD:-} ]] || die "BIND_PASSWORD is required"

# The password rule (">password") travels on stdin (-x appends it as the last
# argument), so it never shows in `ps`. "reset" makes a re-run converge: it also
# drops any password or rule the user had before.
out=$(printf '>%s' "$BIND_PASSWORD" | admin_cli -x ACL SETUSER "$BIND_USERNAME" reset on "${DBROKER_DATA_RULES[@]}" 2>&1) \
  || die "ACL SETUSER failed: $out"
[[ $out == OK ]] || die "ACL SETUSER failed: $out"
out=$(admin_cli ACL SAVE 2>&1) || die "ACL SAVE failed: $out"
[[ $out == OK ]] || die "ACL SAVE failed: $out"
