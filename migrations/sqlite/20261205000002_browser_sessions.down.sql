DROP INDEX sessions_browser_token_idx;
ALTER TABLE sessions DROP COLUMN browser_token_hash;
