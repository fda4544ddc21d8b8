-- OpenID Connect Back-Channel Logout 1.0 (contract: "OpenID Connect provider"): when a browser
-- session ends, each client with a `backchannel_logout_uri` that received tokens in it is told,
-- once per client and session. Queued in the unit of work that ends the session; a server
-- claims a row (`claimed_until`), signs a fresh `logout_token` per attempt and retries a network
-- error or a 5xx until 24 hours after `created_at`; any 2xx or 4xx ends the attempts (`done_at`).
CREATE TABLE backchannel_logouts (
    id               BLOB PRIMARY KEY,
    client_id        TEXT NOT NULL REFERENCES oauth_clients (client_id) ON DELETE CASCADE,
    sid              BLOB NOT NULL,
    sub              BLOB NOT NULL,
    created_at       TEXT NOT NULL,
    next_attempt_at  TEXT NOT NULL,
    claimed_until    TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    last_error       TEXT,
    done_at          TEXT,
    UNIQUE (client_id, sid)
);
CREATE INDEX backchannel_logouts_due_idx ON backchannel_logouts (next_attempt_at) WHERE done_at IS NULL;
