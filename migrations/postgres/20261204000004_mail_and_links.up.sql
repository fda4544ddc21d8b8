-- Staff lifecycle, second part (contract: "Mail" and "Invitations, password reset, first
-- sign-in"): the outbox, password-reset links and invitations. Every link's token is 256 random
-- bits of which only the SHA-256 is stored; the outbox keeps what a mail needs (the link among
-- it) sealed under SECRET_KEY until it is sent, and forgets it then.

-- Proven by accepting an invitation or completing a password reset; an email change clears it.
ALTER TABLE users ADD COLUMN email_verified_at TIMESTAMPTZ;
-- The email of who invited the user, as it was then (null for users created directly).
ALTER TABLE users ADD COLUMN invited_by_email TEXT;

-- Mail waiting to be sent, being sent, sent or given up. A server claims a row by moving
-- `claimed_until` into the future (exactly one server sends each mail); a failure schedules
-- the next attempt (`next_attempt_at`), never after `give_up_at` (24 hours, or the link's
-- expiry when sooner).
CREATE TABLE mail_outbox (
    id               UUID PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('invitation', 'password_reset')),
    recipient        TEXT NOT NULL,
    sealed           BYTEA,
    created_at       TIMESTAMPTZ NOT NULL,
    next_attempt_at  TIMESTAMPTZ NOT NULL,
    give_up_at       TIMESTAMPTZ NOT NULL,
    attempts         INTEGER NOT NULL DEFAULT 0,
    claimed_until    TIMESTAMPTZ,
    sent_at          TIMESTAMPTZ,
    failed_at        TIMESTAMPTZ,
    last_error       TEXT,
    CHECK ((sealed IS NULL) = (sent_at IS NOT NULL OR failed_at IS NOT NULL))
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE sealed IS NOT NULL;
CALL adam_engine_only('mail_outbox');

-- Password-reset links: the newest unspent one of a user is the only one that works.
CREATE TABLE password_resets (
    id          UUID PRIMARY KEY,
    user_id     UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash  BYTEA NOT NULL UNIQUE,
    ip          TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    used_at     TIMESTAMPTZ,
    voided_at   TIMESTAMPTZ,
    mail_id     UUID
);
CREATE INDEX password_resets_user_idx ON password_resets (user_id, created_at);
CREATE INDEX password_resets_ip_idx ON password_resets (ip, created_at);
CREATE INDEX password_resets_mail_idx ON password_resets (mail_id);
CALL adam_engine_only('password_resets');

-- Invitations: one open (not accepted, revoked or lapsed) per email at a time.
CREATE TABLE invitations (
    id             UUID PRIMARY KEY,
    email          TEXT NOT NULL,
    full_name      TEXT NOT NULL,
    role           TEXT NOT NULL,
    dealership_id  UUID REFERENCES dealerships (id) ON DELETE CASCADE,
    invited_by     UUID,
    token_hash     BYTEA NOT NULL UNIQUE,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    accepted_at    TIMESTAMPTZ,
    revoked_at     TIMESTAMPTZ,
    lapsed_at      TIMESTAMPTZ,
    -- The outbox row of its latest mail, and how that went (the sender keeps it current, so
    -- that a caller's scope, which cannot read the outbox, sees it).
    mail_id        UUID,
    mail_status    TEXT NOT NULL CHECK (mail_status IN ('not_sent', 'queued', 'sent', 'failed')),
    CHECK ((role = 'system_admin') = (dealership_id IS NULL))
);
CREATE UNIQUE INDEX invitations_open_email_idx ON invitations (email)
    WHERE accepted_at IS NULL AND revoked_at IS NULL AND lapsed_at IS NULL;
CREATE INDEX invitations_dealership_idx ON invitations (dealership_id, created_at);
CREATE INDEX invitations_mail_idx ON invitations (mail_id);
ALTER TABLE invitations ENABLE ROW LEVEL SECURITY;
ALTER TABLE invitations FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON invitations
    USING ((SELECT adam_scope_is_all()) OR dealership_id = (SELECT adam_scope_dealership()))
    WITH CHECK ((SELECT adam_scope_is_all()) OR dealership_id = (SELECT adam_scope_dealership()));
