ALTER TABLE refresh_tokens DROP COLUMN dealership_id;
ALTER TABLE sessions DROP COLUMN dealership_id;
