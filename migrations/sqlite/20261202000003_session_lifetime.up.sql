-- A session ends SESSION_MAX_MINUTES after sign-in, however active (contract: "Sessions").
-- Sessions made before this migration have no such end (NULL); their refresh tokens still
-- expire after REFRESH_TOKEN_EXPIRE_DAYS. The live-session query (adam-core, db/sessions.rs)
-- reads it.
ALTER TABLE sessions ADD COLUMN ends_at TEXT;
