DROP FUNCTION adam_live_session(UUID);
DROP VIEW live_sessions;
-- As 20261202000005_second_factor left it.
CREATE FUNCTION adam_live_session(p_session UUID)
RETURNS TABLE (session_id UUID, id UUID, email TEXT, full_name TEXT, role TEXT,
               dealership_id UUID, is_active BOOLEAN, mfa_enabled BOOLEAN,
               created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    previous TEXT := coalesce(current_setting('adam.scope', true), '');
BEGIN
    PERFORM set_config('adam.scope', 'system', true);
    RETURN QUERY
        SELECT s.id, u.id, u.email, u.full_name, u.role, u.dealership_id, u.is_active,
               (u.totp_secret IS NOT NULL), u.created_at, u.updated_at
        FROM sessions s JOIN users u ON u.id = s.user_id
        LEFT JOIN dealerships d ON d.id = u.dealership_id
        WHERE s.id = p_session AND s.revoked_at IS NULL AND u.is_active = TRUE
          AND (s.ends_at IS NULL OR s.ends_at > clock_timestamp())
          AND (u.dealership_id IS NULL OR d.is_active = TRUE);
    PERFORM set_config('adam.scope', previous, true);
END
$$;
