-- How many users each dealership has (system admins under the nil key), kept by triggers in the
-- transaction that adds, removes or moves a user, so that a full page of users reads its exact
-- total from one row (or a sum over one row per dealership) instead of counting every user.
CREATE TABLE user_counts (
    dealership_key BLOB PRIMARY KEY NOT NULL,
    n              INTEGER NOT NULL CHECK (n >= 0)
);

CREATE TRIGGER users_counted AFTER INSERT ON users BEGIN
    INSERT INTO user_counts (dealership_key, n)
    VALUES (coalesce(NEW.dealership_id, zeroblob(16)), 1)
    ON CONFLICT (dealership_key) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER users_uncounted AFTER DELETE ON users BEGIN
    UPDATE user_counts SET n = n - 1 WHERE dealership_key = coalesce(OLD.dealership_id, zeroblob(16));
END;
CREATE TRIGGER users_recounted AFTER UPDATE OF dealership_id ON users
    WHEN OLD.dealership_id IS NOT NEW.dealership_id BEGIN
    UPDATE user_counts SET n = n - 1 WHERE dealership_key = coalesce(OLD.dealership_id, zeroblob(16));
    INSERT INTO user_counts (dealership_key, n)
    VALUES (coalesce(NEW.dealership_id, zeroblob(16)), 1)
    ON CONFLICT (dealership_key) DO UPDATE SET n = n + 1;
END;

INSERT INTO user_counts (dealership_key, n)
SELECT coalesce(dealership_id, zeroblob(16)), count(*) FROM users GROUP BY 1;
