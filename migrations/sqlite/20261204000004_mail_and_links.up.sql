-- Staff lifecycle, second part; see the PostgreSQL migration for what each table holds.
ALTER TABLE users ADD COLUMN email_verified_at TEXT;
ALTER TABLE users ADD COLUMN invited_by_email TEXT;

CREATE TABLE mail_outbox (
    id               BLOB PRIMARY KEY NOT NULL,
    kind             TEXT NOT NULL CHECK (kind IN ('invitation', 'password_reset')),
    recipient        TEXT NOT NULL,
    sealed           BLOB,
    created_at       TEXT NOT NULL,
    next_attempt_at  TEXT NOT NULL,
    give_up_at       TEXT NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    claimed_until    TEXT,
    sent_at          TEXT,
    failed_at        TEXT,
    last_error       TEXT,
    CHECK ((sealed IS NULL) = (sent_at IS NOT NULL OR failed_at IS NOT NULL))
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sealed IS NOT NULL;

CREATE TABLE password_resets (
    id          BLOB PRIMARY KEY NOT NULL,
    user_id     BLOB NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  BLOB NOT NULL UNIQUE,
    ip          TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    voided_at   TEXT,
    mail_id     BLOB
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id, created_at);
CREATE INDEX password_resets_ip_idx ON password_resets (ip, created_at);
CREATE INDEX password_resets_mail_idx ON password_resets (mail_id);

CREATE TABLE invitations (
    id             BLOB PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL,
    full_name      TEXT NOT NULL,
    role           TEXT NOT NULL,
    dealership_id  BLOB REFERENCES dealerships (id) ON DELETE CASCADE,
    invited_by     BLOB,
    token_hash     BLOB NOT NULL UNIQUE,
    created_at     TEXT NOT NULL,
    expires_at     TEXT NOT NULL,
    accepted_at    TEXT,
    revoked_at     TEXT,
    lapsed_at      TEXT,
    mail_id        BLOB,
    mail_status    TEXT NOT NULL CHECK (mail_status IN ('not_sent', 'queued', 'sent', 'failed')),
    CHECK ((role = 'system_admin') = (dealership_id IS NULL))
);
CREATE UNIQUE INDEX invitations_open_email_idx ON invitations (email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL AND lapsed_at IS NULL;
CREATE INDEX invitations_dealership_idx ON invitations (dealership_id, created_at);
CREATE INDEX invitations_mail_idx ON invitations (mail_id);
