#!/bin/bash
# dbroker lifecycle: create (or update) a per-binding ACL user and persist it to
# /data/users.acl. Runs as the admin user, which no binding can change.
#   env form (what the broker runs): BIND_USERNAME, BIND_PASSWORD; the user may
#     use all the data and nothing else (DBROKER_DATA_RULES in acl.sh); prints
#     nothing on stdout.
#   `bind --json`: a JSON document on stdin (images/README.md, point 7). With
#     "key_prefix" or "instance_id" the user is confined to that instance's keys
#     and channels on a shared container (tenant_rules in acl.sh); prints the
#     credentials as JSON on stdout.
# Idempotent. Errors on stderr; never prints passwords there.
set -euo pipefail

die() { printf 'dbroker-redis bind: %s\n' "$*" >&2; exit 1; }
# shellcheck source=acl.sh
source /dbroker/acl.sh
# shellcheck source=hook-input.sh
source /dbroker/hook-input.sh

json=0 prefix=''
if [[ ${1:-} == --json ]]; then
  json=1
  read_document
  BIND_USERNAME=$(doc_username)
  BIND_PASSWORD=$(doc_string password)
  [[ -n $BIND_PASSWORD ]] || BIND_PASSWORD=$(random_password)
  prefix=$(doc_key_prefix)
elif (($#)); then
  die "unknown argument '$1' (only --json)"
fi

check_binding_username
[[ -n ${BIND_PASSWORD:-} ]] || die "BIND_PASSWORD is required"
if [[ -n $prefix ]]; then
  tenant_rules "$prefix"
  rules=("${DBROKER_TENANT_RULES[@]}")
else
  rules=("${DBROKER_DATA_RULES[@]}")
fi

# The password rule (">password") travels on stdin (-x appends it as the last
# argument), so it never shows in `ps`. "reset" makes a re-run converge: it also
# drops any password or rule the user had before.
out=$(printf '>%s' "$BIND_PASSWORD" | admin_cli -x ACL SETUSER "$BIND_USERNAME" reset on "${rules[@]}" 2>&1) \
  || die "ACL SETUSER failed: $out"
[[ $out == OK ]] || die "ACL SETUSER failed: $out"
out=$(admin_cli ACL SAVE 2>&1) || die "ACL SAVE failed: $out"
[[ $out == OK ]] || die "ACL SAVE failed: $out"

if ((json)); then
  BIND_USERNAME=$BIND_USERNAME BIND_PASSWORD=$BIND_PASSWORD BIND_KEY_PREFIX=$prefix jq -n '
    {username: $ENV.BIND_USERNAME, password: $ENV.BIND_PASSWORD, port: 6379}
    + if $ENV.BIND_KEY_PREFIX == "" then {} else {key_prefix: $ENV.BIND_KEY_PREFIX} end'
fi
