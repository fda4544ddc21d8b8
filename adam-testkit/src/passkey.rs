//! A software passkey for tests: answers WebAuthn registration and sign-in options in their JSON
//! forms as a browser with a platform authenticator would, written independently of
//! webauthn-rs (ECDSA P-256 from ring, CBOR by hand), with knobs for the attacks a relying party
//! must refuse (another origin or relying party, no user verification, a counter that goes
//! backwards).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};

/// A discoverable credential held in memory.
#[derive(Debug)]
pub struct SoftPasskey {
    key: EcdsaKeyPair,
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The user handle the registration gave it (`user.id`).
    pub user_handle: Vec<u8>,
    /// The relying-party id it was made for; assertions hash this one.
    pub rp_id: String,
    /// The signature counter as last reported; the next assertion reports one more (0 stays 0,
    /// as synced passkeys do).
    pub counter: u32,
    /// Whether it says the user was verified (UV).
    pub user_verified: bool,
    /// Whether it says it may be backed up (BE, and BS with it): a synced passkey.
    pub backup_eligible: bool,
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .expect("base64url from the options")
}

/// The head of a CBOR item: major type `major`, argument `n`.
fn head(out: &mut Vec<u8>, major: u8, n: u64) {
    let m = major << 5;
    match n {
        0..=23 => out.push(m | n as u8),
        24..=0xff => out.extend([m | 24, n as u8]),
        0x100..=0xffff => {
            out.push(m | 25);
            out.extend((n as u16).to_be_bytes());
        }
        _ => {
            out.push(m | 26);
            out.extend((n as u32).to_be_bytes());
        }
    }
}

fn int(out: &mut Vec<u8>, n: i64) {
    if n >= 0 {
        head(out, 0, n as u64);
    } else {
        head(out, 1, (-1 - n) as u64);
    }
}

fn bytes(out: &mut Vec<u8>, b: &[u8]) {
    head(out, 2, b.len() as u64);
    out.extend(b);
}

fn text(out: &mut Vec<u8>, t: &str) {
    head(out, 3, t.len() as u64);
    out.extend(t.as_bytes());
}

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

impl SoftPasskey {
    /// A new passkey for the registration `options` (the `publicKey` JSON), with user
    /// verification and no backup.
    pub fn new(options: &Value) -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .expect("a P-256 key");
        let key = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .expect("the key just made");
        let mut credential_id = vec![0u8; 32];
        rng.fill(&mut credential_id).expect("random bytes");
        Self {
            key,
            credential_id,
            user_handle: unb64(options["user"]["id"].as_str().expect("user.id")),
            rp_id: options["rp"]["id"].as_str().expect("rp.id").to_owned(),
            counter: 1,
            user_verified: true,
            backup_eligible: false,
        }
    }

    fn flags(&self) -> u8 {
        let mut f = UP;
        if self.user_verified {
            f |= UV;
        }
        if self.backup_eligible {
            f |= BE | BS;
        }
        f
    }

    fn client_data(kind: &str, options: &Value, origin: &str) -> Vec<u8> {
        let challenge = options["challenge"].as_str().expect("challenge");
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": origin,
            "crossOrigin": false,
        }))
        .expect("client data")
    }

    /// The COSE form of the public key (EC2, ES256, P-256).
    fn cose_key(&self) -> Vec<u8> {
        let public = self.key.public_key().as_ref();
        let (x, y) = (&public[1..33], &public[33..65]);
        let mut out = Vec::new();
        head(&mut out, 5, 5);
        int(&mut out, 1);
        int(&mut out, 2);
        int(&mut out, 3);
        int(&mut out, -7);
        int(&mut out, -1);
        int(&mut out, 1);
        int(&mut out, -2);
        bytes(&mut out, x);
        int(&mut out, -3);
        bytes(&mut out, y);
        out
    }

    fn auth_data(&self, attested: bool) -> Vec<u8> {
        let mut out = digest(&SHA256, self.rp_id.as_bytes()).as_ref().to_vec();
        out.push(self.flags() | if attested { AT } else { 0 });
        out.extend(self.counter.to_be_bytes());
        if attested {
            out.extend([0u8; 16]);
            out.extend((self.credential_id.len() as u16).to_be_bytes());
            out.extend(&self.credential_id);
            out.extend(self.cose_key());
        }
        out
    }

    /// The browser's `toJSON()` of the new credential, made for `options` at `origin`
    /// (attestation `none`).
    pub fn registration(&self, options: &Value, origin: &str) -> Value {
        let client_data = Self::client_data("webauthn.create", options, origin);
        let mut attestation = Vec::new();
        head(&mut attestation, 5, 3);
        text(&mut attestation, "fmt");
        text(&mut attestation, "none");
        text(&mut attestation, "attStmt");
        head(&mut attestation, 5, 0);
        text(&mut attestation, "authData");
        bytes(&mut attestation, &self.auth_data(true));
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "attestationObject": b64(&attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }

    /// The browser's `toJSON()` of an assertion for sign-in `options` at `origin`; the counter
    /// moves on by one first (unless it is 0), as an authenticator's does.
    pub fn assertion(&mut self, options: &Value, origin: &str) -> Value {
        if self.counter > 0 {
            self.counter += 1;
        }
        let client_data = Self::client_data("webauthn.get", options, origin);
        let auth_data = self.auth_data(false);
        let mut signed = auth_data.clone();
        signed.extend(digest(&SHA256, &client_data).as_ref());
        let signature = self
            .key
            .sign(&SystemRandom::new(), &signed)
            .expect("a signature");
        json!({
            "id": b64(&self.credential_id),
            "rawId": b64(&self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_ref()),
                "userHandle": b64(&self.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }
}
