-- Sign-in failures per account *and* client address. A row is written before the password is
-- checked (a reservation, under an advisory lock per account and per address), so that of any
-- number of simultaneous attempts at most the limit reach argon2; a success deletes the
-- account's rows, a failure keeps its row. Existing rows (per email only) are dropped: they
-- age out within the window anyway.
DELETE FROM login_failures;
ALTER TABLE login_failures RENAME COLUMN email TO account;
-- The client address as the server saw it ('' when unknown: an embedder without one).
ALTER TABLE login_failures ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE login_failures ADD COLUMN id UUID NOT NULL;
ALTER TABLE login_failures ADD PRIMARY KEY (id);
ALTER INDEX login_failures_email_idx RENAME TO login_failures_account_idx;
CREATE INDEX login_failures_address_idx ON login_failures (address, failed_at);
