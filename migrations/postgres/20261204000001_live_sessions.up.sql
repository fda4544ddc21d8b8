-- "A live session", written once: not ended, its user active, the user's dealership (if any)
-- active. What depends on the moment and on the server's settings (the session's end, and
-- whether its user must have signed in with a second factor: the dealership's `mfa_required`,
-- given here, or MFA_REQUIRED_ROLES) is checked by the engine on the row this view answers
-- (adam-core, db/sessions.rs), with the engine's clock. The view reads as its caller
-- (security_invoker), so row-level security applies to it as to its tables.
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

-- The check of every authenticated request, in one round trip: the view's row for one
-- session, read in the system scope, which it restores afterwards.
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
