-- Staff lifecycle, first part (contract: "Invitations, password reset, first sign-in" and
-- "Access review"):
--   must_change_password  the password was set by someone else: the next sign-in asks for a new one
--   last_sign_in_at       the latest completed sign-in (null until the first)
ALTER TABLE users ADD COLUMN must_change_password BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE users ADD COLUMN last_sign_in_at TIMESTAMPTZ;

-- The sign-in step that sets the new password is a challenge like the second factor's: five
-- refused passwords or five minutes spend it. `amr` is what the sign-in proved before it (the
-- session it opens signs in as that).
ALTER TABLE mfa_challenges DROP CONSTRAINT mfa_challenges_purpose_check;
ALTER TABLE mfa_challenges ADD CONSTRAINT mfa_challenges_purpose_check
    CHECK (purpose IN ('verify', 'enroll', 'password'));
ALTER TABLE mfa_challenges ADD COLUMN amr TEXT;
ALTER TABLE mfa_challenges ADD CONSTRAINT mfa_challenges_amr_check
    CHECK ((purpose = 'password') = (amr IS NOT NULL));

-- The user in the live-session view gains its last sign-in (a new last column).
CREATE OR REPLACE VIEW live_sessions WITH (security_invoker = true) AS
    SELECT s.id AS session_id, s.ends_at, s.amr, s.created_at AS session_created_at,
           s.last_used_at, s.ip, s.user_agent,
           coalesce(d.mfa_required, FALSE) AS dealership_mfa_required,
           u.id, u.email, u.full_name, u.role, u.dealership_id, u.is_active,
           (u.totp_secret IS NOT NULL) AS mfa_enabled, u.created_at, u.updated_at,
           u.last_sign_in_at
    FROM sessions s JOIN users u ON u.id = s.user_id
    LEFT JOIN dealerships d ON d.id = u.dealership_id
    WHERE s.revoked_at IS NULL AND u.is_active = TRUE
      AND (u.dealership_id IS NULL OR d.is_active = TRUE);

-- Made again so that its row type is the view's new one.
DROP FUNCTION adam_live_session(UUID);
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
