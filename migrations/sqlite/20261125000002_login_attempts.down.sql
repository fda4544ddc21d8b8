DROP TABLE login_failures;
CREATE TABLE login_failures (
    email      TEXT NOT NULL,
    failed_at  TEXT NOT NULL
);
CREATE INDEX login_failures_email_idx ON login_failures (email, failed_at);
