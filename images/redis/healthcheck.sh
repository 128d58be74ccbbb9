#!/bin/bash
# Healthy only when redis answers PING to the authenticated admin user.
set -euo pipefail
die() { printf '%s\n' "$*"; exit 1; }
# shellcheck source=acl.sh
source /dbroker/acl.sh
out=$(admin_cli PING 2>&1) || die "$out"
[[ $out == PONG ]] || die "unexpected reply: $out"
