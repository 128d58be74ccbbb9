# Sourced by the entrypoint and the lifecycle executables: who the ACL users
# are and what each may do, in one place so their rules cannot drift apart.

# The lifecycle executables' own user. Only they know its password: the
# entrypoint makes a new one at every start, in a root-only file outside /data.
# (A container run as another user keeps it in that user's own directory: the
# lifecycle executables run as the container's user, the same one.)
DBROKER_ADMIN_USER=dbroker-admin
if [[ $(id -u) -eq 0 ]]; then
  DBROKER_ADMIN_PASSWORD_FILE=/run/dbroker/admin.password
else
  DBROKER_ADMIN_PASSWORD_FILE=${TMPDIR:-/tmp}/dbroker-$(id -u)/admin.password
fi

# The names dbroker gives binding and spare users (src/broker/credentials.ts:
# randomIdentifier('b')). Every other user is removed at start.
DBROKER_BINDING_USER_PATTERN='^b[a-z0-9]{12}$'

# What `default` and every binding user may do: the data, nothing that changes
# users, config, persistence, replication or other clients. `default` gets it too:
# a plan with `binding_credentials: shared` hands that user to every application.
DBROKER_DATA_RULES=(
  '~*' '&*' # every key and channel: the bindings of one instance share its data
  '+@all' '-@admin' '-@dangerous'
  # Back from @dangerous: commands apps use that reach only this instance's data
  # (every binding can already delete or read every key; INFO tells clients the version).
  '+flushdb' '+flushall' '+keys' '+sort' '+sort_ro' '+info'
  # Left by -@dangerous in 7.0 but no binding's business: not even ACL WHOAMI or CONFIG HELP.
  '-acl' '-config' '-module'
  # SCRIPT DEBUG SYNC blocks the whole server (and so every unbind) while a binding debugs.
  '-script|debug'
  # EVAL/FCALL stay: scripts run with the caller's ACL, so they cannot escalate past it,
  # and SCRIPT KILL/FUNCTION KILL only stop this instance's scripts. But a function
  # library persists in RDB/AOF and runs its Lua at every start, outliving its unbind.
  '-function|load' '-function|restore' '-function|delete' '-function|flush'
)

# redis-cli as the admin user; its password reaches redis-cli in the env, never argv.
admin_cli() {
  [[ -r $DBROKER_ADMIN_PASSWORD_FILE ]] || die "$DBROKER_ADMIN_PASSWORD_FILE is missing (the entrypoint writes it at start)"
  REDISCLI_AUTH=$(<"$DBROKER_ADMIN_PASSWORD_FILE") redis-cli --no-auth-warning --user "$DBROKER_ADMIN_USER" -h 127.0.0.1 -p 6379 "$@"
}

# Refuses a BIND_USERNAME that is not one dbroker makes (so never default or the admin).
check_binding_username() {
  [[ -n ${BIND_USERNAME:-} ]] || die "BIND_USERNAME is required"
  [[ $BIND_USERNAME =~ $DBROKER_BINDING_USER_PATTERN ]] \
    || die "invalid BIND_USERNAME (dbroker's binding users are 'b' and 12 lowercase letters or digits)"
}
