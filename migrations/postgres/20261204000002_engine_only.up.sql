-- One text for "only the engine's system scope reads and writes this table" (written out whole
-- on login_failures, signing_keys, mfa_challenges, throttle_notices and chores by the
-- migrations before this one, which stay as they ran): every later table that belongs to no
-- dealership calls this instead.
CREATE PROCEDURE adam_engine_only(t REGCLASS)
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('ALTER TABLE %s FORCE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY engine_only ON %s '
        'USING ((SELECT current_setting(''adam.scope'', true)) = ''system'') '
        'WITH CHECK ((SELECT current_setting(''adam.scope'', true)) = ''system'')', t);
END
$$;
