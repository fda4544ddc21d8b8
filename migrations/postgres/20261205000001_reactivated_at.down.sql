ALTER TABLE users DROP COLUMN reactivated_at;
