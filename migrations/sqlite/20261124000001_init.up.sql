-- Adam's schema on SQLite: the same tables and invariants as on PostgreSQL. UUIDs are stored as
-- 16-byte blobs and times as RFC 3339 text, both written by adam-core (never by SQL defaults),
-- so comparisons stay consistent.

CREATE TABLE dealerships (
    id          BLOB PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    is_active   BOOLEAN NOT NULL DEFAULT TRUE,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX dealerships_name_key ON dealerships (lower(name));

CREATE TABLE users (
    id             BLOB PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL UNIQUE CHECK (email = lower(email)),
    full_name      TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    role           TEXT NOT NULL CHECK (role IN ('system_admin', 'dealer_principal', 'fi_manager')),
    dealership_id  BLOB REFERENCES dealerships (id) ON DELETE RESTRICT,
    is_active      BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    CONSTRAINT users_role_dealership CHECK ((role = 'system_admin') = (dealership_id IS NULL))
);
CREATE INDEX users_dealership_idx ON users (dealership_id, email);

CREATE TABLE sessions (
    id          BLOB PRIMARY KEY NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

CREATE TABLE refresh_tokens (
    token_hash  BLOB PRIMARY KEY NOT NULL,
    session_id  BLOB NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at   TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    spent_at    TEXT
);
CREATE INDEX refresh_tokens_session_idx ON refresh_tokens (session_id);
