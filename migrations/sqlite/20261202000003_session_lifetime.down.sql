ALTER TABLE sessions DROP COLUMN ends_at;
