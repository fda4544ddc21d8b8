-- Adam's schema on PostgreSQL. The constraints restate the contract's invariants so that no
-- bug above the database can store a state the contract forbids.

CREATE TABLE dealerships (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    is_active   BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
-- Names are unique whatever their case, so the seed can find "Premium Auto" again.
CREATE UNIQUE INDEX dealerships_name_key ON dealerships (lower(name));

CREATE TABLE users (
    id             UUID PRIMARY KEY,
    -- Stored normalised (trimmed, lower-case ASCII) by adam-core; unique as stored.
    email          TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
    full_name      TEXT NOT NULL,
    -- An argon2id PHC string; never leaves the storage layer.
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('system_admin', 'dealer_principal', 'fi_manager')),
    -- RESTRICT: a dealership with users cannot be deleted (the API answers 409).
    dealership_id  UUID REFERENCES dealerships (id) ON DELETE RESTRICT,
    is_active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL,
    -- A system admin has no dealership; everyone else has exactly one.
    CONSTRAINT users_role_dealership CHECK ((role = 'system_admin') = (dealership_id IS NULL))
);
CREATE INDEX users_dealership_idx ON users (dealership_id, email);

-- One row per login. Revoking a session kills its access tokens (checked per request) and every
-- refresh token descended from that login.
CREATE TABLE sessions (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Refresh tokens by SHA-256 digest only. A token is spent once (spent_at); presenting a spent
-- token again revokes its session.
CREATE TABLE refresh_tokens (
    token_hash  BYTEA PRIMARY KEY,
    session_id  UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at   TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    spent_at    TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
