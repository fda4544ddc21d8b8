-- How many users each dealership has (system admins under the nil key), kept by triggers in the
-- transaction that adds, removes or moves a user, so that a full page of users reads its exact
-- total from one row (or, across dealerships, a sum over one row per dealership) instead of
-- counting every user. Under the users' own tenancy rule.
CREATE TABLE user_counts (
    dealership_key UUID PRIMARY KEY NOT NULL,
    n              BIGINT NOT NULL CHECK (n >= 0)
);
ALTER TABLE user_counts ENABLE ROW LEVEL SECURITY;
ALTER TABLE user_counts FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant ON user_counts
    USING ((SELECT adam_scope_is_all()) OR dealership_key = (SELECT adam_scope_dealership()))
    WITH CHECK ((SELECT adam_scope_is_all()) OR dealership_key = (SELECT adam_scope_dealership()));

CREATE FUNCTION adam_count_users() RETURNS TRIGGER
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO user_counts AS c (dealership_key, n)
        VALUES (coalesce(NEW.dealership_id, '00000000-0000-0000-0000-000000000000'), 1)
        ON CONFLICT (dealership_key) DO UPDATE SET n = c.n + 1;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE user_counts SET n = n - 1
        WHERE dealership_key = coalesce(OLD.dealership_id, '00000000-0000-0000-0000-000000000000');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER users_counted AFTER INSERT OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION adam_count_users();
CREATE TRIGGER users_recounted AFTER UPDATE OF dealership_id ON users
    FOR EACH ROW WHEN (OLD.dealership_id IS DISTINCT FROM NEW.dealership_id)
    EXECUTE FUNCTION adam_count_users();

SELECT set_config('adam.scope', 'system', true);
INSERT INTO user_counts (dealership_key, n)
SELECT coalesce(dealership_id, '00000000-0000-0000-0000-000000000000'), count(*)
FROM users GROUP BY 1;
