# Sourced by /dbroker/entrypoint, /dbroker/bind and /dbroker/unbind: where and
# how their superuser sessions connect, so that nothing a tenant can set
# (ALTER DATABASE ... SET, objects in its schemas) steers them.

# Role work runs in a maintenance database that no tenant can connect to or configure.
MAINT_DB=postgres
[[ ${POSTGRES_DB:-} != postgres ]] || MAINT_DB=template1
# The NOLOGIN role that owns $POSTGRES_DB and everything in it; every login acts as it.
DATA_OWNER=dbroker_owner
# Connect-time options outrank a database's own settings, which its owner may set.
SUPERUSER_PGOPTIONS='-c search_path=pg_catalog,pg_temp -c role=none -c local_preload_libraries= -c default_transaction_read_only=off -c statement_timeout=0 -c lock_timeout=0 -c idle_session_timeout=0 -c idle_in_transaction_session_timeout=0'
# Settings a database's owner (every binding acts as it) may set that refuse or end every session in it:
# the hooks (tenant-database.sql) and every start reset them, with CONNECTION LIMIT and ALLOW_CONNECTIONS.
LOCKOUT_SETTINGS=local_preload_libraries,idle_session_timeout,idle_in_transaction_session_timeout
