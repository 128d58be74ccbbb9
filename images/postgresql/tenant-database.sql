-- Included by /dbroker/bind, /dbroker/unbind and /dbroker/provision after the session guard (psql
-- variables db: the instance's database, lockout: $LOCKOUT_SETTINGS, logging: $LOG_SETTINGS of superuser-session.sh). Every binding acts as the database's owner, so it
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
-- Settings that log statement internals (LOG_SETTINGS): reset for the database and for its owner's members (its
-- bindings), for every database or this one. The hooks' own sessions start with them off (SUPERUSER_PGOPTIONS).
SELECT DISTINCT CASE WHEN r.setrole = 0 THEN pg_catalog.format('ALTER DATABASE %I RESET %I', d.datname, n.name)
                     WHEN r.setdatabase = 0 THEN pg_catalog.format('ALTER ROLE %I RESET %I', m.rolname, n.name)
                     ELSE pg_catalog.format('ALTER ROLE %I IN DATABASE %I RESET %I', m.rolname, d.datname, n.name) END
  FROM pg_catalog.pg_db_role_setting r
  CROSS JOIN LATERAL pg_catalog.unnest(r.setconfig) AS c(setting)
  CROSS JOIN LATERAL (SELECT pg_catalog.lower(pg_catalog.split_part(c.setting, '=', 1)) AS name) n
  LEFT JOIN pg_catalog.pg_database d ON d.oid = r.setdatabase
  LEFT JOIN pg_catalog.pg_roles m ON m.oid = r.setrole
  WHERE n.name = ANY (pg_catalog.string_to_array(:'logging', ','))
    AND ((r.setrole = 0 AND d.datname = :'db')
      OR (r.setrole NOT IN (0, 10) AND r.setdatabase IN (0, (SELECT x.oid FROM pg_catalog.pg_database x WHERE x.datname = :'db'))
          AND pg_catalog.pg_has_role(r.setrole, (SELECT x.datdba FROM pg_catalog.pg_database x WHERE x.datname = :'db'), 'MEMBER'))) \gexec
