DROP TABLE oauth_consents;
DROP TABLE oauth_codes;
ALTER TABLE refresh_tokens DROP COLUMN client_id;
DROP INDEX sessions_parent_idx;
ALTER TABLE sessions DROP COLUMN authenticated_at;
ALTER TABLE sessions DROP COLUMN scope;
ALTER TABLE sessions DROP COLUMN client_id;
ALTER TABLE sessions DROP COLUMN parent_id;
