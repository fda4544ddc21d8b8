//! An authenticator app for tests: the RFC 6238 code of a base32 secret, computed independently
//! of adam-core's own implementation (HMAC-SHA-1 from ring, base32 from data-encoding).

use adam_core::TestClock;
use data_encoding::BASE32_NOPAD;
use ring::hmac;

/// The six-digit code of `secret` (base32, as the enrollment shows it) for the time step that
/// holds `unix_seconds`.
///
/// # Panics
/// If `secret` is not base32.
pub fn code_at(secret: &str, unix_seconds: i64) -> String {
    let key = BASE32_NOPAD
        .decode(secret.as_bytes())
        .expect("a base32 TOTP secret");
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let step = u64::try_from(unix_seconds / 30).expect("a time after 1970");
    let mac = hmac::sign(&key, &step.to_be_bytes());
    let mac = mac.as_ref();
    let offset = usize::from(mac[19] & 0x0f);
    let value = u32::from_be_bytes([
        mac[offset],
        mac[offset + 1],
        mac[offset + 2],
        mac[offset + 3],
    ]) & 0x7fff_ffff;
    format!("{:06}", value % 1_000_000)
}

/// The code of `secret` now, on the engine's clock.
pub fn code_now(clock: &TestClock, secret: &str) -> String {
    code_at(secret, clock.now().timestamp())
}

/// The code of `secret` for the time step after the current one (accepted: one step of drift),
/// for a test that needs a second code without moving the clock.
pub fn next_code(clock: &TestClock, secret: &str) -> String {
    code_at(secret, clock.now().timestamp() + 30)
}

/// The code of `secret` for the step before the current one.
pub fn previous_code(clock: &TestClock, secret: &str) -> String {
    code_at(secret, clock.now().timestamp() - 30)
}

/// Moves `clock` into a fresh time step (one second in), so that a test using the previous,
/// current and next codes in turn cannot see the step change under it. It never waits.
pub fn fresh_step(clock: &TestClock) {
    clock.to_next_step(30);
}
