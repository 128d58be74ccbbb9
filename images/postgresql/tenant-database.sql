-- Included by /dbroker/bind and /dbroker/unbind after the session guard (psql
-- variables db: $POSTGRES_DB, lockout: $LOCKOUT_SETTINGS of superuser-session.sh). Every binding acts as the database's owner, so it
-- may ALTER DATABASE; what that could do to lock every login out (and the
-- hooks' own sessions in it) is undone here, at every hook, and at every start
-- (entrypoint): CONNECTION LIMIT 0, ALLOW_CONNECTIONS, and settings that
-- refuse or end sessions (ALTER DATABASE / ALTER ROLE ALL IN DATABASE ... SET).
SELECT pg_catalog.format('ALTER DATABASE %I WITH ALLOW_CONNECTIONS true CONNECTION LIMIT -1 IS_TEMPLATE false', d.datname)
  FROM pg_catalog.pg_database d
  WHERE d.datname = :'db' AND (NOT d.datallowconn OR d.datconnlimit <> -1 OR d.datistemplate) \gexec
SELECT DISTINCT pg_catalog.format('ALTER DATABASE %I RESET %I', :'db', pg_catalog.split_part(c.setting, '=', 1))
  FROM pg_catalog.pg_db_role_setting r CROSS JOIN LATERAL pg_catalog.unnest(r.setconfig) AS c(setting)
  WHERE r.setrole = 0
    AND r.setdatabase = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = :'db')
    AND pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 1))
        = ANY (pg_catalog.string_to_array(:'lockout', ',')) \gexec
