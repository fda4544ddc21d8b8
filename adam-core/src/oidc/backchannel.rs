//! Back-Channel Logout 1.0: what a server's sender takes from the queue and how an attempt
//! ends. The queue is filled where sessions end (`sessions/revocation.rs`); delivery over HTTP
//! is the server's.

use std::fmt;

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::db::Intent;
use crate::engine::Adam;
use crate::error::Result;
use crate::ids::{SessionId, UserId};
use crate::keys::state::SigningAlg;
use crate::oauth_clients::store as clients;
use crate::oidc::store;

/// How long a server holds a claimed logout before another may try it.
pub const LOGOUT_CLAIM_SECONDS: i64 = 60;

/// How long a logout is retried after its session ended.
pub const LOGOUT_GIVE_UP_HOURS: i64 = 24;

/// The `typ` header of a logout token.
const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";

/// How long a logout token is good for, in seconds.
const LOGOUT_TOKEN_SECONDS: i64 = 120;

/// The back-channel logout event (Back-Channel Logout 1.0 §2.4).
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// One attempt at telling a client that a session ended. Its `Debug` never shows the token.
pub struct LogoutDelivery {
    /// The queued logout.
    pub id: Uuid,
    /// The client's `backchannel_logout_uri`.
    pub uri: String,
    /// The client.
    pub client_id: String,
    /// A fresh logout token for this attempt.
    pub logout_token: String,
    /// Which attempt this is (1 for the first).
    pub attempt: u32,
}

impl fmt::Debug for LogoutDelivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogoutDelivery")
            .field("id", &self.id)
            .field("uri", &self.uri)
            .field("client_id", &self.client_id)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// How an attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogoutOutcome {
    /// The client answered 2xx: told.
    Delivered,
    /// The client answered 4xx: it will never take this token; no more attempts.
    Refused(String),
    /// A network error or a 5xx: tried again later, until [`LOGOUT_GIVE_UP_HOURS`].
    Failed(String),
}

#[derive(Serialize)]
struct LogoutClaims<'a> {
    iss: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
    jti: Uuid,
    sub: UserId,
    sid: SessionId,
    events: serde_json::Value,
}

/// The wait before attempt `attempts + 1`: 5 s, doubling, at most 10 minutes.
fn backoff(attempts: u32) -> Duration {
    let seconds = 5_i64.saturating_mul(1 << attempts.saturating_sub(1).min(7));
    Duration::seconds(seconds.min(600))
}

impl Adam {
    /// Takes the next back-channel logout that is due, claimed for [`LOGOUT_CLAIM_SECONDS`]
    /// (exactly one server tries it), with a logout token signed for this attempt; `None` when
    /// none is due.
    pub async fn next_backchannel_logout(&self) -> Result<Option<LogoutDelivery>> {
        let now = self.now();
        let mut tx = self.begin_system(Intent::Write).await?;
        let row = store::claim_logout(
            &mut tx,
            now,
            now + Duration::seconds(LOGOUT_CLAIM_SECONDS),
            now - Duration::hours(LOGOUT_GIVE_UP_HOURS),
        )
        .await?;
        // Signed as the client's ID tokens are (Back-Channel Logout 1.0 §2.4).
        let alg = match &row {
            Some(row) => clients::by_client_id(&mut tx, &row.client_id)
                .await?
                .map(|(client, _)| client.id_token_alg)
                .unwrap_or_default(),
            None => SigningAlg::EdDSA,
        };
        tx.commit().await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let keys = self.keys.get_for(alg).await?;
        let claims = LogoutClaims {
            iss: &self.settings.token_audience.issuer,
            aud: &row.client_id,
            iat: now.timestamp(),
            exp: now.timestamp() + LOGOUT_TOKEN_SECONDS,
            jti: Uuid::new_v4(),
            sub: row.sub.into(),
            sid: row.sid.into(),
            events: serde_json::json!({ EVENT: {} }),
        };
        let logout_token = keys.sign_as(alg, LOGOUT_TOKEN_TYPE, &claims)?;
        Ok(Some(LogoutDelivery {
            id: row.id,
            uri: row.uri,
            client_id: row.client_id,
            logout_token,
            attempt: u32::try_from(row.attempts).unwrap_or(u32::MAX),
        }))
    }

    /// Records how attempt `attempt` of logout `id` went.
    pub async fn backchannel_logout_done(
        &self,
        id: Uuid,
        attempt: u32,
        outcome: &LogoutOutcome,
    ) -> Result<()> {
        let now = self.now();
        let mut tx = self.begin_system(Intent::Write).await?;
        match outcome {
            LogoutOutcome::Delivered => store::finish_logout(&mut tx, id, None, now, None).await?,
            LogoutOutcome::Refused(e) => {
                store::finish_logout(&mut tx, id, Some(e), now, None).await?
            }
            LogoutOutcome::Failed(e) => {
                let at = now + backoff(attempt);
                store::finish_logout(&mut tx, id, Some(e), now, Some(at)).await?
            }
        }
        tx.commit().await
    }

    /// When the next queued back-channel logout is due, if any is queued: how long a sender may
    /// sleep.
    pub async fn next_backchannel_logout_due(&self) -> Result<Option<DateTime<Utc>>> {
        let mut tx = self.begin_system(Intent::Read).await?;
        let due = store::next_logout_due(&mut tx).await?;
        tx.commit().await?;
        Ok(due)
    }

    /// Rung when a unit of work queued something for a sender of this process (a back-channel
    /// logout): a sender waits on it besides its timer.
    pub fn outbox_bell(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.db.outbox_bell.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_back_off_from_five_seconds_to_ten_minutes() {
        let waits: Vec<i64> = (1..=10).map(|a| backoff(a).num_seconds()).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]);
    }
}
