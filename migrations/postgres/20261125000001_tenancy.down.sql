DROP POLICY engine_only ON login_failures;
ALTER TABLE login_failures NO FORCE ROW LEVEL SECURITY;
ALTER TABLE login_failures DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant ON refresh_tokens;
ALTER TABLE refresh_tokens NO FORCE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant ON sessions;
ALTER TABLE sessions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE sessions DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant ON users;
ALTER TABLE users NO FORCE ROW LEVEL SECURITY;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;
DROP POLICY tenant ON dealerships;
ALTER TABLE dealerships NO FORCE ROW LEVEL SECURITY;
ALTER TABLE dealerships DISABLE ROW LEVEL SECURITY;
DROP FUNCTION adam_visible(UUID);
ALTER TABLE refresh_tokens DROP COLUMN dealership_id;
ALTER TABLE sessions DROP COLUMN dealership_id;
-- The app role is cluster-wide and may serve other databases: it is never dropped.
