# Sourced by every /dbroker executable: the names they check and how they talk
# to the server as root. Expects `die`.
#
# Admin sessions run as root@localhost over the local socket (unix_socket auth:
# only the OS user root in the container gets it), read no option files, select
# no default database and name every table with its schema, so no object a
# tenant can make (views, functions, triggers in its database) takes part in them.

# A failure inside $(...) fails the caller too (set -e alone does not reach in there).
shopt -s inherit_errexit

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
# Names dbroker never hands to a tenant.
RESERVED_USERS=(root mysql mariadb.sys PUBLIC)
RESERVED_DATABASES=(mysql information_schema performance_schema sys)
# Quoting below relies on this session mode: in strings only ' needs doubling.
# A lock a tenant holds cannot stall a hook: it waits 10 s at most, then fails with a reason.
SESSION_PROLOGUE="SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES,STRICT_ALL_TABLES';
SET SESSION sql_log_off = 1;
SET SESSION lock_wait_timeout = 10;"

# SQL from stdin as root on the socket; rows tab-separated, no header.
admin_sql() {
  { printf '%s\n' "$SESSION_PROLOGUE"; cat; } \
    | mariadb --no-defaults --protocol=socket --socket="$SOCKET" --user=root \
        --batch --skip-column-names --connect-timeout=10 "$@"
}

# A user name dbroker may create or drop: letters, digits, _; not reserved, not the admin.
check_username() {
  local u=$1 r
  [[ $u =~ ^[A-Za-z0-9_]{1,80}$ ]] || die "user name '$u' must match [A-Za-z0-9_]{1,80}"
  for r in "${RESERVED_USERS[@]}" "${MARIADB_USER:-}"; do
    [[ $u != "$r" ]] || die "user name '$u' is reserved"
  done
}

# A database name: letters, digits, _ (at most 64); not a system schema.
check_database() {
  local d=$1 r
  [[ $d =~ ^[A-Za-z0-9_]{1,64}$ ]] || die "database name '$d' must match [A-Za-z0-9_]{1,64}"
  for r in "${RESERVED_DATABASES[@]}"; do
    [[ ${d,,} != "$r" ]] || die "database name '$d' is reserved"
  done
}

# 'text' as an SQL string literal (under SESSION_PROLOGUE's sql_mode).
sql_string() { local s=${1//\'/\'\'}; printf "'%s'" "$s"; }

# The database as GRANT matches it: _ and % are wildcards there, so `db_1`.*
# would also cover dbx1 (another instance's database in a shared container).
grant_pattern() { local s=${1//_/\\_}; printf '%s' "${s//%/\\%}"; }

# Whether a database exists ("1") or not ("0").
database_exists() {
  admin_sql <<<"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = $(sql_string "$1");"
}

# dbroker's binding user names as unbind --list prints them (bind --json's derived names match too).
BINDING_USER_PATTERN='^b[a-z0-9]{12}$'

# Locks the account (no new logins), ends its connections and drops it with
# every privilege it holds; nothing happens when it is already gone.
drop_binding_user() {
  local u=$1 ids id
  admin_sql <<<"ALTER USER IF EXISTS '$u'@'%' ACCOUNT LOCK;"
  ids=$(admin_sql <<<"SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '$u';")
  if [[ -n $ids ]]; then
    # In one session (a binding may hold every connection the server allows); --force goes
    # past connections that ended meanwhile (ER_NO_SUCH_THREAD).
    printf 'KILL CONNECTION %s;\n' $ids | admin_sql --force 2>/dev/null || true
  fi
  admin_sql <<<"DROP USER IF EXISTS '$u'@'%';"
}
