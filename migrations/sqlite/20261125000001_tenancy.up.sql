-- Sessions and refresh tokens carry their user's dealership, as on PostgreSQL (where row-level
-- security tests it). SQLite has no row-level security: the engine's scoped queries are its only
-- tenancy wall.
ALTER TABLE sessions ADD COLUMN dealership_id BLOB;
UPDATE sessions SET dealership_id = (SELECT dealership_id FROM users u WHERE u.id = sessions.user_id);
ALTER TABLE refresh_tokens ADD COLUMN dealership_id BLOB;
UPDATE refresh_tokens SET dealership_id =
    (SELECT dealership_id FROM sessions s WHERE s.id = refresh_tokens.session_id);
