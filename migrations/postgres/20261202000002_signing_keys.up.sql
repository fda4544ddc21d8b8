-- Token signing keys (Ed25519), shared by every server on the database. The private half is
-- sealed (ChaCha20-Poly1305 under a key derived from SECRET_KEY, bound to the kid); a copy of
-- the database alone cannot sign. At most one key is current and one is next.
CREATE TABLE signing_keys (
    kid                 TEXT PRIMARY KEY NOT NULL,
    state               TEXT NOT NULL CHECK (state IN ('next', 'current', 'retired')),
    public_key          BYTEA NOT NULL,
    sealed_private_key  BYTEA NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    activated_at        TIMESTAMPTZ,
    retired_at          TIMESTAMPTZ,
    -- A retired key verifies (and is published) until every token it signed has expired.
    drop_after          TIMESTAMPTZ,
    CONSTRAINT signing_keys_retired_dates CHECK ((state = 'retired') = (retired_at IS NOT NULL AND drop_after IS NOT NULL))
);
CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (state) WHERE state IN ('next', 'current');

-- Signing keys belong to no dealership and only the engine reads them.
ALTER TABLE signing_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE signing_keys FORCE ROW LEVEL SECURITY;
CREATE POLICY engine_only ON signing_keys
    USING ((SELECT current_setting('adam.scope', true)) = 'system')
    WITH CHECK ((SELECT current_setting('adam.scope', true)) = 'system');
