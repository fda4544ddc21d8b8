DROP TABLE invitations;
DROP TABLE password_resets;
DROP TABLE mail_outbox;
ALTER TABLE users DROP COLUMN invited_by_email;
ALTER TABLE users DROP COLUMN email_verified_at;
