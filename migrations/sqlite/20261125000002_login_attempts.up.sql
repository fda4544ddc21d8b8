-- Sign-in failures per account *and* client address, with an id per row (see the PostgreSQL
-- migration of the same name). Existing rows age out within the window anyway.
DROP TABLE login_failures;
CREATE TABLE login_failures (
    id         BLOB PRIMARY KEY NOT NULL,
    -- The email as typed, normalised (lower-case, trimmed); unknown emails count too.
    account    TEXT NOT NULL,
    -- The client address as the server saw it ('' when unknown).
    address    TEXT NOT NULL DEFAULT '',
    failed_at  TEXT NOT NULL
);
CREATE INDEX login_failures_account_idx ON login_failures (account, failed_at);
CREATE INDEX login_failures_address_idx ON login_failures (address, failed_at);
