//! Back-Channel Logout 1.0 delivery (contract: "OpenID Connect provider"): one task per server
//! takes the logouts the engine queued when sessions ended and POSTs each client a fresh
//! `logout_token` (form-encoded) at its `backchannel_logout_uri`. A 2xx or a 4xx ends the
//! attempts; a network error or a 5xx is retried with the engine's backoff for 24 hours.

use std::time::Duration;

use adam_core::oidc::{LogoutDelivery, LogoutOutcome};
use adam_core::Adam;

/// Longest the sender sleeps before looking at the queue again (logouts queued by another
/// server on the same database are seen within this).
const POLL: Duration = Duration::from_secs(5);

/// How long a client has to answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// One attempt: the client's answer as an outcome.
async fn deliver(http: &reqwest::Client, logout: &LogoutDelivery) -> LogoutOutcome {
    let sent = http
        .post(&logout.uri)
        .form(&[("logout_token", logout.logout_token.as_str())])
        .send()
        .await;
    match sent {
        Ok(resp) if resp.status().is_success() => LogoutOutcome::Delivered,
        Ok(resp) if resp.status().is_client_error() => {
            LogoutOutcome::Refused(format!("the client answered {}", resp.status()))
        }
        Ok(resp) => LogoutOutcome::Failed(format!("the client answered {}", resp.status())),
        // Never the request itself: the error's text names the address, not the token.
        Err(e) => LogoutOutcome::Failed(e.without_url().to_string()),
    }
}

/// Delivers queued back-channel logouts until `stop` says so: each due one once, in turn;
/// sleeps until the next is due, a unit of work of this process queues one, or [`POLL`] passes.
pub(crate) async fn deliver_until(adam: Adam, mut stop: tokio::sync::watch::Receiver<bool>) {
    let http = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TIMEOUT)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "no back-channel logout is sent");
            return;
        }
    };
    let bell = adam.outbox_bell();
    while !*stop.borrow() {
        match adam.next_backchannel_logout().await {
            Ok(Some(logout)) => {
                let outcome = deliver(&http, &logout).await;
                match &outcome {
                    LogoutOutcome::Delivered => {
                        tracing::info!(client = %logout.client_id, "back-channel logout delivered")
                    }
                    LogoutOutcome::Refused(e) | LogoutOutcome::Failed(e) => {
                        tracing::warn!(client = %logout.client_id, attempt = logout.attempt, error = %e, "back-channel logout not delivered")
                    }
                }
                if let Err(e) = adam
                    .backchannel_logout_done(logout.id, logout.attempt, &outcome)
                    .await
                {
                    tracing::warn!(error = %e, "recording a back-channel logout failed");
                    tokio::time::sleep(POLL).await;
                }
            }
            Ok(None) => {
                let due = adam.next_backchannel_logout_due().await;
                crate::outbox::wait_for_next(&adam, due, POLL, &bell, &mut stop).await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "reading the back-channel logout queue failed");
                tokio::time::sleep(POLL).await;
            }
        }
    }
}
