DELETE FROM signing_keys WHERE alg <> 'EdDSA';
DROP INDEX signing_keys_one_per_state;
CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (state) WHERE state IN ('next', 'current');
ALTER TABLE signing_keys DROP COLUMN alg;
