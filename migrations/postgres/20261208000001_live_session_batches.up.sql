-- The live-session checks of concurrent requests in one statement (adam-core,
-- sessions/live_checks.rs): the view's rows for an array of sessions, read in the system scope.
-- The SET clause enters that scope for the call and restores the scope it found on return, so
-- the function cannot widen a transaction it is called in. `adam_live_session(UUID)` stays for
-- servers of the previous version during a rolling upgrade.
CREATE FUNCTION adam_live_sessions(p_sessions UUID[])
RETURNS SETOF live_sessions
LANGUAGE plpgsql STABLE
SET adam.scope = 'system' AS $$
BEGIN
    RETURN QUERY SELECT * FROM live_sessions WHERE session_id = ANY (p_sessions);
END
$$;
