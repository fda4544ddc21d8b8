DROP VIEW live_sessions;
CREATE VIEW live_sessions AS
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
ALTER TABLE users DROP COLUMN has_passkey;
DROP TABLE passkey_ceremonies;
DROP TABLE passkeys;
