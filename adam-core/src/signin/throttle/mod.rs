//! The sign-in throttle's rule: whether an attempt may reach the password check, given the
//! recent failures for its account and client address.

pub(crate) mod store;

use chrono::{DateTime, Utc};

use crate::audit::events::{Event, ThrottleKey};
use crate::db::Tx;
use crate::error::Error;
use crate::error::Result;
use crate::settings::LoginThrottle;
use crate::signin::throttle::store::Counts;

/// A refused attempt: the exhausted key (the one that frees last, if several) and when it frees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) key: ThrottleKey,
    pub(crate) free_at: DateTime<Utc>,
}

impl Refusal {
    /// The answer to the refused attempt: [`Error::TooManyAttempts`] with the seconds until the
    /// key frees.
    pub(crate) fn error(&self, now: DateTime<Utc>) -> Error {
        Error::TooManyAttempts {
            retry_after_secs: u64::try_from((self.free_at - now).num_seconds())
                .unwrap_or(0)
                .max(1),
        }
    }
}

/// `Ok` when the attempt may go on; otherwise the [`Refusal`], whose key frees when its oldest
/// failure leaves the window.
pub(crate) fn admit(
    limits: &LoginThrottle,
    counts: &Counts,
    now: DateTime<Utc>,
) -> Result<(), Refusal> {
    let per_account = i64::from(limits.max_failures) * i64::from(LoginThrottle::ACCOUNT_FACTOR);
    let exhausted = [
        (
            ThrottleKey::AccountAndAddress,
            counts.pair,
            i64::from(limits.max_failures),
            counts.pair_oldest,
        ),
        (
            ThrottleKey::Account,
            counts.account,
            per_account,
            counts.account_oldest,
        ),
        (
            ThrottleKey::Address,
            counts.address,
            i64::from(limits.max_failures_per_address),
            counts.address_oldest,
        ),
    ]
    .into_iter()
    .filter(|(_, n, max, _)| n >= max)
    .map(|(key, _, _, oldest)| Refusal {
        key,
        free_at: oldest.unwrap_or(now) + limits.window,
    })
    .max_by_key(|r| r.free_at);
    match exhausted {
        None => Ok(()),
        Some(refusal) => Err(refusal),
    }
}

/// Counts and reserves one password check for `account` from `address` in `tx` (begun with
/// [`Adam::begin_throttled`](crate::Adam), so that its wait for the locks holds no connection
/// other requests need), under the
/// throttle's locks (which hold until `tx` ends), and hands `tx` back to go on. Past a limit,
/// commits `tx` with the refusal recorded as `refused(key)` when it is the first of its key's
/// lockout (of a throttled burst, one event per key and lockout) and answers
/// [`Error::TooManyAttempts`]. The one way every check (sign-in, `current_password`, codes)
/// is throttled.
pub(crate) async fn reserve_password_check(
    mut tx: Tx,
    limits: &LoginThrottle,
    account: &str,
    address: &str,
    now: DateTime<Utc>,
    refused: impl FnOnce(ThrottleKey) -> Event,
) -> Result<(Tx, store::Reservation)> {
    debug_assert!(tx.is_throttled(), "begun with Adam::begin_throttled");
    store::lock(&mut tx, account, address).await?;
    let counts = store::counts(&mut tx, account, address, now - limits.window).await?;
    if let Err(refusal) = admit(limits, &counts, now) {
        let key = match refusal.key {
            ThrottleKey::AccountAndAddress => format!("pair {address} {account}"),
            ThrottleKey::Account => format!("account {account}"),
            ThrottleKey::Address => format!("address {address}"),
        };
        if store::note_refusal(&mut tx, &key, refusal.free_at, now).await? {
            tx.record(refused(refusal.key)).await?;
        }
        tx.commit().await?;
        return Err(refusal.error(now));
    }
    let reserved = store::reserve(&mut tx, account, address, now).await?;
    Ok((tx, reserved))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> LoginThrottle {
        LoginThrottle {
            max_failures: 3,
            window: chrono::Duration::minutes(15),
            max_failures_per_address: 20,
        }
    }

    #[test]
    fn each_key_refuses_at_its_own_limit() {
        let now = Utc::now();
        let old = Some(now - chrono::Duration::minutes(5));
        let ok = Counts {
            pair: 2,
            account: 29,
            address: 19,
            ..Counts::default()
        };
        assert!(admit(&limits(), &ok, now).is_ok());
        let mut keys = Vec::new();
        for counts in [
            Counts {
                pair: 3,
                pair_oldest: old,
                ..ok
            },
            Counts {
                account: 30,
                account_oldest: old,
                ..ok
            },
            Counts {
                address: 20,
                address_oldest: old,
                ..ok
            },
        ] {
            match admit(&limits(), &counts, now).map_err(|r| (r.key, r.error(now))) {
                Err((key, Error::TooManyAttempts { retry_after_secs })) => {
                    assert!(
                        (599..=600).contains(&retry_after_secs),
                        "{retry_after_secs}"
                    );
                    keys.push(key);
                }
                other => panic!("{counts:?}: {other:?}"),
            }
        }
        assert_eq!(
            keys,
            [
                ThrottleKey::AccountAndAddress,
                ThrottleKey::Account,
                ThrottleKey::Address
            ]
        );
    }
}
