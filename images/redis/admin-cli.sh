#!/bin/bash
# redis-cli as dbroker's admin user, for operators and tests:
#   docker exec CONTAINER /dbroker/admin-cli ACL LIST
# Pass secrets with -x on stdin, not as arguments.
set -euo pipefail
die() { printf 'dbroker-redis admin-cli: %s\n' "$*" >&2; exit 1; }
# shellcheck source=acl.sh
source /dbroker/acl.sh
admin_cli "$@"
