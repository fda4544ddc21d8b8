-- The second factor (contract: "Second factor"). A user's TOTP state lives on their row, so
-- row-level security and deletion treat it like the rest of the user:
--   totp_secret     sealed (ChaCha20-Poly1305 under SECRET_KEY, bound to the user id); set: TOTP on
--   totp_pending    sealed secret of an enrollment awaiting its first code
--   totp_last_step  the last RFC 6238 time step accepted: a code is taken only for a later one
--   recovery_codes  one line per unused code: its public lookup prefix and its argon2id hash
ALTER TABLE users ADD COLUMN totp_secret BYTEA;
ALTER TABLE users ADD COLUMN totp_pending BYTEA;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;
ALTER TABLE users ADD COLUMN recovery_codes TEXT NOT NULL DEFAULT '';

ALTER TABLE dealerships ADD COLUMN mfa_required BOOLEAN NOT NULL DEFAULT FALSE;

-- The second step of a sign-in: an opaque token (only its SHA-256 here) bound to the user whose
-- password was just checked, good for five wrong codes or five minutes.
CREATE TABLE mfa_challenges (
    token_hash  BYTEA PRIMARY KEY NOT NULL,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL CHECK (purpose IN ('verify', 'enroll')),
    failures    INTEGER NOT NULL DEFAULT 0,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX mfa_challenges_expiry_idx ON mfa_challenges (expires_at);

-- Only the engine's sign-in reads them.
ALTER TABLE mfa_challenges ENABLE ROW LEVEL SECURITY;
ALTER TABLE mfa_challenges FORCE ROW LEVEL SECURITY;
CREATE POLICY engine_only ON mfa_challenges
    USING ((SELECT current_setting('adam.scope', true)) = 'system')
    WITH CHECK ((SELECT current_setting('adam.scope', true)) = 'system');

-- The live-session check also answers whether the user has a second factor (`User.mfa_enabled`).
DROP FUNCTION adam_live_session(UUID);
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
