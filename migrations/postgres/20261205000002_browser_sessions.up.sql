-- The browser session (contract: "Pages in the browser"): an ordinary session whose holder is a
-- browser; the SHA-256 of the secret in its `__Host-adam_session` cookie (null for other sessions).
ALTER TABLE sessions ADD COLUMN browser_token_hash BYTEA;
CREATE UNIQUE INDEX sessions_browser_token_idx ON sessions (browser_token_hash);
