-- Inactive users (contract: "Access review and inactive users"): INACTIVE_USER_DAYS counts from
-- the later of the last sign-in, the creation and the last reactivation (null until one).
ALTER TABLE users ADD COLUMN reactivated_at TEXT;
