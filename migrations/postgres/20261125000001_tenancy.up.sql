-- The second tenancy wall: row-level security confines every transaction to the scope the
-- engine set for it with transaction-local settings (`set_config(..., true)`):
--   adam.scope = 'dealership' and adam.dealership = <uuid>  a principal's or manager's request
--   adam.scope = 'all'                                       a system admin's request
--   adam.scope = 'system'                                    the engine's own operations
-- A transaction with no scope sees no row. Rows of no dealership (system admins and theirs) are
-- visible in the 'all' and 'system' scopes only. The app role (DATABASE_APP_ROLE) is created and
-- granted these tables by `adam-server migrate` after the migrations, since its name is
-- configurable; FORCE makes the policies bind the tables' owner too.

-- Sessions and refresh tokens carry their user's dealership, so each table's policy is a plain
-- column test. A user who changes dealership has every session ended (the revocation rule), so
-- the copy is never live and stale.
ALTER TABLE sessions ADD COLUMN dealership_id UUID;
UPDATE sessions s SET dealership_id = u.dealership_id FROM users u WHERE u.id = s.user_id;
ALTER TABLE refresh_tokens ADD COLUMN dealership_id UUID;
UPDATE refresh_tokens t SET dealership_id = s.dealership_id FROM sessions s WHERE s.id = t.session_id;

-- The scope, read once per statement: each policy calls these inside a scalar subquery, which
-- PostgreSQL evaluates once (an InitPlan) instead of once per row, and `dealership_id = (...)`
-- can use an index.
-- Whether the scope admits every dealership and the rows of none ('system' or 'all').
CREATE FUNCTION adam_scope_is_all() RETURNS BOOLEAN
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(current_setting('adam.scope', true), '') IN ('system', 'all')
$$;
-- The one dealership a 'dealership' scope admits; NULL (no row) for any other scope or none.
CREATE FUNCTION adam_scope_dealership() RETURNS UUID
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN current_setting('adam.scope', true) = 'dealership'
                THEN nullif(current_setting('adam.dealership', true), '')::uuid END
$$;

ALTER TABLE dealerships ENABLE ROW LEVEL SECURITY;
ALTER TABLE dealerships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON dealerships
    USING ((SELECT adam_scope_is_all()) OR id = (SELECT adam_scope_dealership()))
    WITH CHECK ((SELECT adam_scope_is_all()) OR id = (SELECT adam_scope_dealership()));

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON users
    USING ((SELECT adam_scope_is_all()) OR dealership_id = (SELECT adam_scope_dealership()))
    WITH CHECK ((SELECT adam_scope_is_all()) OR dealership_id = (SELECT adam_scope_dealership()));

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sessions
    USING ((SELECT adam_scope_is_all()) OR dealership_id = (SELECT adam_scope_dealership()))
    WITH CHECK ((SELECT adam_scope_is_all()) OR dealership_id = (SELECT adam_scope_dealership()));

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON refresh_tokens
    USING ((SELECT adam_scope_is_all()) OR dealership_id = (SELECT adam_scope_dealership()))
    WITH CHECK ((SELECT adam_scope_is_all()) OR dealership_id = (SELECT adam_scope_dealership()));

-- Sign-in failures belong to no dealership and only the engine's throttle reads them.
ALTER TABLE login_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY engine_only ON login_failures
    USING ((SELECT current_setting('adam.scope', true)) = 'system')
    WITH CHECK ((SELECT current_setting('adam.scope', true)) = 'system');

-- The live-session check every authenticated request makes, in one prepared round trip: it
-- enters the engine's system scope for this one query and restores the scope it found, so it
-- cannot widen a transaction it is called in. PL/pgSQL caches the query's plan per connection.
-- SQLite runs the same query from adam-core (db/sessions.rs, LIVE).
CREATE FUNCTION adam_live_session(p_session UUID)
RETURNS TABLE (session_id UUID, id UUID, email TEXT, full_name TEXT, role TEXT,
               dealership_id UUID, is_active BOOLEAN, created_at TIMESTAMPTZ,
               updated_at TIMESTAMPTZ)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    previous TEXT := coalesce(current_setting('adam.scope', true), '');
BEGIN
    PERFORM set_config('adam.scope', 'system', true);
    RETURN QUERY
        SELECT s.id, u.id, u.email, u.full_name, u.role, u.dealership_id, u.is_active,
               u.created_at, u.updated_at
        FROM sessions s JOIN users u ON u.id = s.user_id
        LEFT JOIN dealerships d ON d.id = u.dealership_id
        WHERE s.id = p_session AND s.revoked_at IS NULL AND u.is_active = TRUE
          AND (u.dealership_id IS NULL OR d.is_active = TRUE);
    PERFORM set_config('adam.scope', previous, true);
END
$$;
