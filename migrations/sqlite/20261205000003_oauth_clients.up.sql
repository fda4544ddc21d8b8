-- OpenID Connect clients (contract: "OpenID Connect provider"): the applications that sign staff
-- in through Adam. `id` is Adam's own (the audit log's subject), `client_id` the protocol's.
-- The URI lists, roles and dealerships are JSON arrays; an empty `allowed_roles` or
-- `dealership_ids` means everyone. A confidential client's secret is kept as its SHA-256 (it
-- has 256 bits); a public client has none.
CREATE TABLE oauth_clients (
    id                         BLOB PRIMARY KEY NOT NULL,
    client_id                  TEXT NOT NULL UNIQUE,
    name                       TEXT NOT NULL,
    redirect_uris              TEXT NOT NULL,
    post_logout_redirect_uris  TEXT NOT NULL,
    backchannel_logout_uri     TEXT,
    public                     BOOLEAN NOT NULL,
    first_party                BOOLEAN NOT NULL,
    allowed_roles              TEXT NOT NULL,
    dealership_ids             TEXT NOT NULL,
    id_token_alg               TEXT NOT NULL CHECK (id_token_alg IN ('EdDSA', 'RS256')),
    secret_hash                BLOB,
    created_at                 TEXT NOT NULL,
    updated_at                 TEXT NOT NULL,
    CHECK (public = (secret_hash IS NULL))
);


-- The desktop app: a public, first-party native client with a loopback redirect (RFC 8252).
INSERT INTO oauth_clients (id, client_id, name, redirect_uris, post_logout_redirect_uris,
    backchannel_logout_uri, public, first_party, allowed_roles, dealership_ids, id_token_alg,
    secret_hash, created_at, updated_at)
VALUES (X'0000000000004000800000000000ADDE', 'adam-desktop', 'Adam desktop app', '["http://127.0.0.1/callback"]', '[]', NULL,
    TRUE, TRUE, '[]', '[]', 'EdDSA', NULL, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now'));
