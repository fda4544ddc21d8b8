-- Failed sign-ins per email, so that guessing is throttled across every server sharing the
-- database. Rows are deleted on a successful sign-in and purged once old.
CREATE TABLE login_failures (
    -- The email as typed, normalised (lower-case, trimmed); unknown emails count too.
    email      TEXT NOT NULL,
    failed_at  TEXT NOT NULL
);
CREATE INDEX login_failures_email_idx ON login_failures (email, failed_at);
