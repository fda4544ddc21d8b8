-- RSA signing keys for the ID tokens of clients registered for RS256, beside the Ed25519 keys:
-- each algorithm has its own current and next key, rotated and revoked by the same rules.
-- public_key holds an Ed25519 key's 32 bytes, or an RSA key's modulus (exponent 65537).
ALTER TABLE signing_keys ADD COLUMN alg TEXT NOT NULL DEFAULT 'EdDSA' CHECK (alg IN ('EdDSA', 'RS256'));
DROP INDEX signing_keys_one_per_state;
CREATE UNIQUE INDEX signing_keys_one_per_state ON signing_keys (alg, state) WHERE state IN ('next', 'current');
