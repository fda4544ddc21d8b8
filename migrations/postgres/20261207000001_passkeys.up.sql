-- Passkeys (contract: "Passkeys (WebAuthn Level 3)").
--
-- A passkey is a user's discoverable WebAuthn credential: `credential_id` is how an assertion
-- names it (unique across all users), `credential` webauthn-rs's record of it as JSON (the
-- public key, its algorithm and flags: nothing secret), `sign_count` the authenticator's
-- signature counter as last accepted (a conditional UPDATE moves it forward, so of two
-- assertions with one counter only one is taken), `backup_eligible` whether it may be synced
-- (`amr` `swk`, else `hwk`).
CREATE TABLE passkeys (
    id              UUID PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    credential_id   BYTEA NOT NULL UNIQUE,
    name            TEXT NOT NULL,
    credential      TEXT NOT NULL,
    sign_count      BIGINT NOT NULL DEFAULT 0,
    backup_eligible BOOLEAN NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL,
    last_used_at    TIMESTAMPTZ
);
CREATE INDEX passkeys_user_idx ON passkeys (user_id);
-- A passkey is seen where its user is: the users' own tenancy rule decides (the subquery reads
-- `users` under its policy), so a principal's reset of a lost key reaches exactly the passkeys
-- of their dealership's users, wherever the user moves.
ALTER TABLE passkeys ENABLE ROW LEVEL SECURITY;
ALTER TABLE passkeys FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON passkeys
    USING ((SELECT adam_scope_is_all()) OR EXISTS (SELECT 1 FROM users u WHERE u.id = passkeys.user_id))
    WITH CHECK ((SELECT adam_scope_is_all()) OR EXISTS (SELECT 1 FROM users u WHERE u.id = passkeys.user_id));

-- A ceremony in progress: webauthn-rs's state (the challenge) kept where any server can finish
-- it. Single use (`spent_at`, set by a conditional UPDATE when its answer is submitted, right or
-- wrong), five minutes. A registration belongs to the user and session that asked for it, the
-- second step after a password to that sign-in's user; a sign-in to nobody until the browser
-- names the credential. `ip` counts anonymous requests per
-- client address; rows stay a day past their expiry for that count.
CREATE TABLE passkey_ceremonies (
    id          UUID PRIMARY KEY,
    purpose     TEXT NOT NULL CHECK (purpose IN ('register', 'sign_in', 'second_step')),
    user_id     UUID REFERENCES users (id) ON DELETE CASCADE,
    session_id  UUID REFERENCES sessions (id) ON DELETE CASCADE,
    state       TEXT NOT NULL,
    ip          TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    spent_at    TIMESTAMPTZ,
    CHECK ((purpose = 'sign_in') = (user_id IS NULL)),
    CHECK ((purpose = 'register') = (session_id IS NOT NULL))
);
CREATE INDEX passkey_ceremonies_ip_idx ON passkey_ceremonies (ip, created_at);
CREATE INDEX passkey_ceremonies_expiry_idx ON passkey_ceremonies (expires_at);
CALL adam_engine_only('passkey_ceremonies');

-- `mfa_enabled` is true while a user has TOTP or a passkey: `has_passkey` is kept by the engine
-- in the unit of work that stores or deletes a passkey (passkeys/store.rs).
ALTER TABLE users ADD COLUMN has_passkey BOOLEAN NOT NULL DEFAULT FALSE;
CREATE OR REPLACE VIEW live_sessions WITH (security_invoker = true) AS
    SELECT s.id AS session_id, s.ends_at, s.amr, s.created_at AS session_created_at,
           s.last_used_at, s.ip, s.user_agent,
           coalesce(d.mfa_required, FALSE) AS dealership_mfa_required,
           u.id, u.email, u.full_name, u.role, u.dealership_id, u.is_active,
           (u.totp_secret IS NOT NULL OR u.has_passkey) AS mfa_enabled, u.created_at, u.updated_at,
           u.last_sign_in_at
    FROM sessions s JOIN users u ON u.id = s.user_id
    LEFT JOIN dealerships d ON d.id = u.dealership_id
    WHERE s.revoked_at IS NULL AND u.is_active = TRUE
      AND (u.dealership_id IS NULL OR d.is_active = TRUE);
