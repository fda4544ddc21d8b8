-- What a user sees of their sessions (contract: "Sessions"): when each was last refreshed, from
-- which address and program it signed in, and how. Sessions made before this have none of it
-- (amr: a password, the only way there was).
ALTER TABLE sessions ADD COLUMN last_used_at TIMESTAMPTZ;
ALTER TABLE sessions ADD COLUMN ip TEXT;
ALTER TABLE sessions ADD COLUMN user_agent TEXT;
ALTER TABLE sessions ADD COLUMN amr TEXT NOT NULL DEFAULT 'pwd';
