//! The sign-in throttle's rule: whether an attempt may reach the password check, given the
//! recent failures for its account and client address.

use chrono::{DateTime, Utc};

use crate::db::throttle::Counts;
use crate::error::{Error, Result};
use crate::settings::LoginThrottle;

/// `Ok` when the attempt may go on; [`Error::TooManyAttempts`] with the seconds until the
/// oldest failure of the exhausted key leaves the window otherwise.
pub(crate) fn admit(limits: &LoginThrottle, counts: &Counts, now: DateTime<Utc>) -> Result<()> {
    let per_account = i64::from(limits.max_failures) * i64::from(LoginThrottle::ACCOUNT_FACTOR);
    let exhausted = [
        (
            counts.pair,
            i64::from(limits.max_failures),
            counts.pair_oldest,
        ),
        (counts.account, per_account, counts.account_oldest),
        (
            counts.address,
            i64::from(limits.max_failures_per_address),
            counts.address_oldest,
        ),
    ]
    .into_iter()
    .filter(|(n, max, _)| n >= max)
    .map(|(_, _, oldest)| oldest.unwrap_or(now) + limits.window)
    .max();
    match exhausted {
        None => Ok(()),
        Some(free_at) => Err(Error::TooManyAttempts {
            retry_after_secs: u64::try_from((free_at - now).num_seconds())
                .unwrap_or(0)
                .max(1),
        }),
    }
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
            match admit(&limits(), &counts, now) {
                Err(Error::TooManyAttempts { retry_after_secs }) => {
                    assert!(
                        (599..=600).contains(&retry_after_secs),
                        "{retry_after_secs}"
                    )
                }
                other => panic!("{counts:?}: {other:?}"),
            }
        }
    }
}
