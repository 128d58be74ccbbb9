#!/bin/bash
# dbroker lifecycle: delete a per-binding ACL user (its connections are closed
# by redis) and persist the ACL file. Succeeds when the user is already gone.
# Runs as the admin user, which no binding can change.
#   env: BIND_USERNAME
#   env: BIND_LIST_USERS=1 instead: print the binding and spare users redis
#        knows (dbroker's names only), one a line, and change nothing.
# Exit 75: the user is out of the ACL file but redis is stuck in a script that
# wrote (it cannot be killed): restart the container to finish the unbind.
set -euo pipefail

die() { printf 'dbroker-redis unbind: %s\n' "$*" >&2; exit 1; }
# shellcheck source=acl.sh
source /dbroker/acl.sh

if [[ -n ${BIND_LIST_USERS:-} ]]; then
  out=$(admin_cli ACL USERS 2>&1) || die "ACL USERS failed: $out"
  [[ -z $out || $out =~ ^[A-Za-z0-9_.@-]+($'\n'[A-Za-z0-9_.@-]+)*$ ]] || die "ACL USERS failed: $out"
  grep -E "$DBROKER_BINDING_USER_PATTERN" <<<"$out" || true
  exit 0
fi

check_binding_username

# A binding's endless script makes redis answer BUSY to everything else: stop
# it (scripts that wrote cannot be stopped, redis says UNKILLABLE) and retry.
# Each call takes a second or more while redis is busy: no call more than needed.
unkillable=
for _ in 1 2 3; do
  out=$(admin_cli ACL DELUSER "$BIND_USERNAME" 2>&1) || true
  [[ $out == BUSY* ]] || break
  killed=$(admin_cli SCRIPT KILL 2>&1) || true
  [[ $killed == OK* || $killed == UNKILLABLE* ]] || killed=$(admin_cli FUNCTION KILL 2>&1) || true
  if [[ $killed == UNKILLABLE* ]]; then unkillable=1; break; fi
done
if [[ -n $unkillable || $out == BUSY* ]]; then
  # Only a restart ends that script. Redis can save nothing while it runs, so the
  # user leaves the ACL file here, and the start after the restart does not bring it back.
  ACL=/data/users.acl
  [[ -f $ACL ]] || die "ACL DELUSER failed ($out) and $ACL is missing"
  exec 9>"${DBROKER_ADMIN_PASSWORD_FILE%/*}/users.acl.lock"
  flock 9
  tmp=$(mktemp /data/.users.acl.XXXXXX)
  awk -v u="$BIND_USERNAME" '!($1 == "user" && $2 == u)' "$ACL" >"$tmp"
  chmod 0600 "$tmp"
  [[ $(id -u) -ne 0 ]] || chown redis:redis "$tmp"
  mv -f "$tmp" "$ACL"
  printf 'dbroker-redis unbind: %s is removed from %s, but redis is stuck in a script that wrote (UNKILLABLE): restart the container to finish\n' \
    "$BIND_USERNAME" "$ACL" >&2
  exit 75
fi
[[ $out =~ ^[01]$ ]] || die "ACL DELUSER failed: $out"
out=$(admin_cli ACL SAVE 2>&1) || die "ACL SAVE failed: $out"
[[ $out == OK ]] || die "ACL SAVE failed: $out"
