//! What the server's senders (mail, back-channel logouts) share: how one waits for its next
//! piece of work.

use std::time::Duration;

use adam_core::Adam;
use chrono::{DateTime, Utc};
use tokio::sync::{watch, Notify};

/// Sleeps until `due` (on the engine's clock), a ring of `bell`, a change of `stop`, or `poll`,
/// whichever comes first; a failed read of `due` waits `poll`.
pub(crate) async fn wait_for_next(
    adam: &Adam,
    due: adam_core::Result<Option<DateTime<Utc>>>,
    poll: Duration,
    bell: &Notify,
    stop: &mut watch::Receiver<bool>,
) {
    let wait = match due {
        Ok(Some(at)) => (at - adam.settings().clock.now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .min(poll),
        _ => poll,
    };
    tokio::select! {
        () = tokio::time::sleep(wait) => {}
        () = bell.notified() => {}
        _ = stop.changed() => {}
    }
}
