-- PostgreSQL's adam_engine_only (row-level security for engine-only tables) has no SQLite
-- counterpart: here the application wall is the only one. Kept so both engines share versions.
SELECT 1;
