DROP VIEW live_sessions;
CREATE VIEW live_sessions AS
    SELECT s.id AS session_id, s.ends_at, s.amr, s.created_at AS session_created_at,
           s.last_used_at, s.ip, s.user_agent,
           coalesce(d.mfa_required, FALSE) AS dealership_mfa_required,
           u.id, u.email, u.full_name, u.role, u.dealership_id, u.is_active,
           (u.totp_secret IS NOT NULL) AS mfa_enabled, u.created_at, u.updated_at
    FROM sessions s JOIN users u ON u.id = s.user_id
    LEFT JOIN dealerships d ON d.id = u.dealership_id
    WHERE s.revoked_at IS NULL AND u.is_active = TRUE
      AND (u.dealership_id IS NULL OR d.is_active = TRUE);
CREATE TABLE mfa_challenges_old (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify', 'enroll')),
    failures    INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
INSERT INTO mfa_challenges_old (token_hash, user_id, purpose, failures, created_at, expires_at)
    SELECT token_hash, user_id, purpose, failures, created_at, expires_at FROM mfa_challenges
    WHERE purpose <> 'password';
DROP TABLE mfa_challenges;
ALTER TABLE mfa_challenges_old RENAME TO mfa_challenges;
CREATE INDEX mfa_challenges_expiry_idx ON mfa_challenges (expires_at);
ALTER TABLE users DROP COLUMN last_sign_in_at;
ALTER TABLE users DROP COLUMN must_change_password;
