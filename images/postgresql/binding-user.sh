# Sourced by /dbroker/bind and /dbroker/unbind: the checks both make on
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
  [[ $BIND_USERNAME != "$POSTGRES_USER" && $BIND_USERNAME != "$DATA_OWNER" && $BIND_USERNAME != postgres && $BIND_USERNAME != pg_* ]] \
    || die "BIND_USERNAME '$BIND_USERNAME' is reserved"
fi

if [[ $(id -u) -eq 0 ]]; then
  exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

export PGHOST=/var/run/postgresql PGPORT=5432 PGOPTIONS=$SUPERUSER_PGOPTIONS
