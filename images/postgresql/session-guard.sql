-- Included first by /dbroker/bind and /dbroker/unbind in their sessions on the
-- maintenance database: names resolve in pg_catalog only, and the session
-- refuses to go on when it is not plainly the superuser postgres or settings
-- that apply to it exist (only a superuser can make them; a restart clears them).
SET search_path = pg_catalog, pg_temp;
SET client_min_messages = warning;
DO $guard$
BEGIN
  IF current_user <> 'postgres' OR session_user <> 'postgres' THEN
    RAISE EXCEPTION 'this session runs as %/%, not as postgres', session_user, current_user;
  END IF;
  IF EXISTS (SELECT FROM pg_catalog.pg_db_role_setting s
             WHERE s.setrole IN (0, 10)
               AND s.setdatabase IN (0, (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database()))) THEN
    RAISE EXCEPTION 'settings made by ALTER ROLE postgres / ALTER DATABASE % SET apply to this session; refusing (a restart of the container clears them)', pg_catalog.current_database();
  END IF;
END
$guard$;
