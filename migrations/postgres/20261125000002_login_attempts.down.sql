DELETE FROM login_failures;
DROP INDEX login_failures_address_idx;
ALTER INDEX login_failures_account_idx RENAME TO login_failures_email_idx;
ALTER TABLE login_failures DROP CONSTRAINT login_failures_pkey;
ALTER TABLE login_failures DROP COLUMN id;
ALTER TABLE login_failures DROP COLUMN address;
ALTER TABLE login_failures RENAME COLUMN account TO email;
