-- The OpenID Connect provider (contract: "OpenID Connect provider").
--
-- A grant is a session of its own whose parent is the browser session it was made in: the
-- client's tokens live and die with it, the live-session rule applies to it unchanged, and
-- ending the parent ends it (sessions/store.rs `end`). `client_id` and `scope` say whose
-- grant it is; `authenticated_at` is when the user last proved who they are in the session
-- (the ID token's `auth_time`; null: its `created_at`).
ALTER TABLE sessions ADD COLUMN parent_id BLOB;
ALTER TABLE sessions ADD COLUMN client_id TEXT;
ALTER TABLE sessions ADD COLUMN scope TEXT;
ALTER TABLE sessions ADD COLUMN authenticated_at TEXT;
CREATE INDEX sessions_parent_idx ON sessions (parent_id);
-- A refresh token is good only at the endpoint of its kind: the API's (null) or its client's.
ALTER TABLE refresh_tokens ADD COLUMN client_id TEXT;

-- Authorization codes, by SHA-256 digest: single use (`spent_at`), short-lived, bound to the
-- client, the redirect URI as presented, the PKCE challenge and the nonce. `grant_id` is the
-- grant the code made, which a replay ends.
CREATE TABLE oauth_codes (
    code_hash       BLOB PRIMARY KEY,
    client_id       TEXT NOT NULL,
    redirect_uri    TEXT NOT NULL,
    code_challenge  TEXT NOT NULL,
    nonce           TEXT,
    scope           TEXT NOT NULL,
    session_id      BLOB NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL,
    spent_at        TEXT,
    grant_id        BLOB
);
CREATE INDEX oauth_codes_expiry_idx ON oauth_codes (expires_at);

-- Consent a user gave a client that is not first-party, until revoked on `/account`.
CREATE TABLE oauth_consents (
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id   TEXT NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    scope       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (user_id, client_id)
);
