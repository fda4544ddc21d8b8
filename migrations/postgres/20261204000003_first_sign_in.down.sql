DROP FUNCTION adam_live_session(UUID);
DROP VIEW live_sessions;
CREATE VIEW live_sessions WITH (security_invoker = true) AS
    SELECT s.id AS session_id, s.ends_at, s.amr, s.created_at AS session_created_at,
           s.last_used_at, s.ip, s.user_agent,
           coalesce(d.mfa_required, FALSE) AS dealership_mfa_required,
           u.id, u.email, u.full_name, u.role, u.dealership_id, u.is_active,
           (u.totp_secret IS NOT NULL) AS mfa_enabled, u.created_at, u.updated_at
    FROM sessions s JOIN users u ON u.id = s.user_id
    LEFT JOIN dealerships d ON d.id = u.dealership_id
    WHERE s.revoked_at IS NULL AND u.is_active = TRUE
      AND (u.dealership_id IS NULL OR d.is_active = TRUE);
CREATE FUNCTION adam_live_session(p_session UUID)
RETURNS SETOF live_sessions
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    previous TEXT := coalesce(current_setting('adam.scope', true), '');
BEGIN
    PERFORM set_config('adam.scope', 'system', true);
    RETURN QUERY SELECT * FROM live_sessions WHERE session_id = p_session;
    PERFORM set_config('adam.scope', previous, true);
END
$$;
DELETE FROM mfa_challenges WHERE purpose = 'password';
ALTER TABLE mfa_challenges DROP CONSTRAINT mfa_challenges_amr_check;
ALTER TABLE mfa_challenges DROP COLUMN amr;
ALTER TABLE mfa_challenges DROP CONSTRAINT mfa_challenges_purpose_check;
ALTER TABLE mfa_challenges ADD CONSTRAINT mfa_challenges_purpose_check
    CHECK (purpose IN ('verify', 'enroll'));
ALTER TABLE users DROP COLUMN last_sign_in_at;
ALTER TABLE users DROP COLUMN must_change_password;
