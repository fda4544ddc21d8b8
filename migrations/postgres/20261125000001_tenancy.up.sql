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

-- Whether a row of dealership `d` (NULL: no dealership) lies in the transaction's scope.
CREATE FUNCTION adam_visible(d UUID) RETURNS BOOLEAN
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT coalesce(current_setting('adam.scope', true), '') IN ('system', 'all')
        OR (current_setting('adam.scope', true) = 'dealership'
            AND d = nullif(current_setting('adam.dealership', true), '')::uuid)
$$;

ALTER TABLE dealerships ENABLE ROW LEVEL SECURITY;
ALTER TABLE dealerships FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON dealerships USING (adam_visible(id)) WITH CHECK (adam_visible(id));

ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON users
    USING (adam_visible(dealership_id)) WITH CHECK (adam_visible(dealership_id));

ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON sessions
    USING (adam_visible(dealership_id)) WITH CHECK (adam_visible(dealership_id));

ALTER TABLE refresh_tokens ENABLE ROW LEVEL SECURITY;
ALTER TABLE refresh_tokens FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON refresh_tokens
    USING (adam_visible(dealership_id)) WITH CHECK (adam_visible(dealership_id));

-- Sign-in failures belong to no dealership and only the engine's throttle reads them.
ALTER TABLE login_failures ENABLE ROW LEVEL SECURITY;
ALTER TABLE login_failures FORCE ROW LEVEL SECURITY;
CREATE POLICY engine_only ON login_failures
    USING (current_setting('adam.scope', true) = 'system')
    WITH CHECK (current_setting('adam.scope', true) = 'system');
