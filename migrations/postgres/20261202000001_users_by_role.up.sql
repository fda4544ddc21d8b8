-- The users list filtered by role reads this index in email order.
CREATE INDEX users_role_idx ON users (role, email);
