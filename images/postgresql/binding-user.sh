# Sourced by /dbroker/bind, unbind and deprovision: the checks they make on
# BIND_USERNAME, then the switch to the postgres OS user (peer auth on the
# local socket) and the connection settings of its sessions. Expects `die` and
# the caller's "$@".

# shellcheck source=superuser-session.sh
source /dbroker/superuser-session.sh

[[ -n ${POSTGRES_USER:-} && -n ${POSTGRES_DB:-} ]] || die "POSTGRES_USER/POSTGRES_DB are not set in the container"
# The caller sets lists_users when it only lists the binding roles (unbind with BIND_LIST_USERS=1).
if [[ -z ${lists_users:-} ]]; then
  [[ -n ${BIND_USERNAME:-} ]] || die "BIND_USERNAME is required"
  [[ $BIND_USERNAME =~ ^[A-Za-z_][A-Za-z0-9_]{0,62}$ ]] || die "BIND_USERNAME must match [A-Za-z_][A-Za-z0-9_]{0,62}"
  ! reserved_role "$BIND_USERNAME" || die "BIND_USERNAME '$BIND_USERNAME' is reserved"
fi

become_postgres "$@"

export PGHOST=/var/run/postgresql PGPORT=5432 PGOPTIONS=$SUPERUSER_PGOPTIONS
