//! The audit log as its readers see it: events, the filters of a query, keyset pages.
//!
//! Events are written by the engine alone, in the transaction of the change they record; no
//! use case changes or deletes one (only the retention purge, [`crate::Adam::purge_audit_log`]).
//! Read them with [`crate::Adam::audit_events`] (what the caller may see, newest first) or
//! [`crate::Adam::export_audit_events`] (everything, oldest first).

pub(crate) mod events;
mod log;
pub(crate) mod store;

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::ids::{DealershipId, SessionId, UserId};

/// One recorded security event (contract: "Audit log").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Identifier.
    pub id: Uuid,
    /// When it happened (the time of its transaction's write, microseconds).
    pub at: DateTime<Utc>,
    /// What happened: `login.succeeded`, `user.updated`, … (the contract's list).
    pub action: String,
    /// Who did it; `None` for the engine itself or a sign-in that failed.
    pub actor: Option<AuditActor>,
    /// The dealership the event belongs to: its subject's (after the change).
    pub dealership_id: Option<DealershipId>,
    /// What it is about.
    pub subject: Option<AuditSubject>,
    /// The session it happened in (a sign-in's new session; an ended session).
    pub session_id: Option<SessionId>,
    /// The client address, after trusted proxies.
    pub ip: Option<String>,
    /// The client's `User-Agent`, at most 256 characters.
    pub user_agent: Option<String>,
    /// The action's details (changed fields, from → to values, reasons); never a secret.
    pub details: serde_json::Value,
}

/// Who acted, as they were when they did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditActor {
    /// The user (who may since have been deleted).
    pub id: UserId,
    /// Their email when they acted.
    pub email: Option<String>,
}

/// What an event is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditSubject {
    /// `user`, `dealership` or `invitation`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its identifier.
    pub id: Uuid,
}

/// Which events a query wants; every field narrows, `None` does not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this action.
    pub action: Option<String>,
    /// Only events done by this user.
    pub actor_id: Option<UserId>,
    /// Only events about this user or dealership.
    pub subject_id: Option<Uuid>,
    /// Only events of this dealership.
    pub dealership_id: Option<DealershipId>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events before this time.
    pub until: Option<DateTime<Utc>>,
}

impl AuditFilter {
    /// The longest action name a filter may hold.
    pub const MAX_ACTION: usize = 64;

    pub(crate) fn check(&self) -> Result<()> {
        match &self.action {
            Some(a) if a.len() > Self::MAX_ACTION || a.contains('\0') => {
                return Err(Error::invalid(
                    "action",
                    "is not an action (at most 64 characters, no NUL)",
                ))
            }
            _ => {}
        }
        check_bound("since", self.since)?;
        check_bound("until", self.until)
    }
}

/// A `since` or `until` bound of the audit log: events are stamped when they happen, so a time
/// outside the years 1970 to 9999 is refused ([`Error::Invalid`] naming `field`). Within them,
/// both engines compare times as times (SQLite's stored text has four-digit years and one
/// format, so its order is the times' order).
pub(crate) fn check_bound(field: &'static str, bound: Option<DateTime<Utc>>) -> Result<()> {
    match bound {
        Some(t) if !(1970..=9999).contains(&t.year()) => Err(Error::invalid(
            field,
            "must be a time between the years 1970 and 9999",
        )),
        _ => Ok(()),
    }
}

/// Where a page of events starts: after the last event of the page before. Opaque to clients
/// (URL-safe text), stable while events arrive.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub(crate) at: DateTime<Utc>,
    pub(crate) id: Uuid,
}

impl fmt::Debug for AuditCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.encode())
    }
}

impl AuditCursor {
    /// What every cursor looks like (a regular expression): 32 URL-safe base64 characters.
    pub const PATTERN: &'static str = "^[A-Za-z0-9_-]{32}$";

    /// The cursor after `event`.
    pub fn after(event: &AuditEvent) -> Self {
        Self {
            at: event.at,
            id: event.id,
        }
    }

    /// The text form.
    pub fn encode(&self) -> String {
        let mut raw = Vec::with_capacity(24);
        raw.extend_from_slice(&self.at.timestamp_micros().to_be_bytes());
        raw.extend_from_slice(self.id.as_bytes());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Reads a cursor this engine made; anything else is [`Error::Invalid`] naming `cursor`.
    ///
    /// ```
    /// use adam_core::audit::AuditCursor;
    /// assert!(AuditCursor::decode("not a cursor").is_err());
    /// // The right shape, but a time 100,000 years ago: not one of ours.
    /// assert!(AuditCursor::decode("00000000000000000000000000000000").is_err());
    /// ```
    pub fn decode(text: &str) -> Result<Self> {
        let bad = || Error::invalid("cursor", "is not a cursor from this server");
        let raw = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        let (micros, id) = raw.split_at_checked(8).ok_or_else(bad)?;
        let micros = i64::from_be_bytes(micros.try_into().map_err(|_| bad())?);
        let id = Uuid::from_slice(id).map_err(|_| bad())?;
        // Events are stamped when they happen: a time before 1970 or after 9999 is no cursor of
        // ours (and PostgreSQL could not compare it).
        let at = DateTime::from_timestamp_micros(micros)
            .filter(|at| (1970..=9999).contains(&at.year()))
            .ok_or_else(bad)?;
        Ok(Self { at, id })
    }
}

/// A page of events, newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditPage {
    /// The events.
    pub items: Vec<AuditEvent>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<AuditCursor>,
}

/// How many events a page holds: 1 to 100, 50 by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditLimit(u32);

impl AuditLimit {
    /// The most events a page holds.
    pub const MAX: u32 = 100;
    /// The page size when none is asked for.
    pub const DEFAULT: u32 = 50;

    /// `n` if it lies within 1 to [`Self::MAX`], else [`Error::Invalid`] naming `limit`. Takes
    /// the number as a request states it (any integer), like [`crate::PageRequest::new`].
    pub fn new(n: i64) -> Result<Self> {
        match u32::try_from(n) {
            Ok(n) if (1..=Self::MAX).contains(&n) => Ok(Self(n)),
            _ => Err(Error::invalid("limit", "must be between 1 and 100")),
        }
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for AuditLimit {
    fn default() -> Self {
        Self(Self::DEFAULT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_and_garbage_is_refused() {
        let c = AuditCursor {
            at: DateTime::from_timestamp_micros(1_780_000_000_123_456).unwrap(),
            id: Uuid::new_v4(),
        };
        assert_eq!(AuditCursor::decode(&c.encode()).unwrap(), c);
        for bad in [
            "",
            "AAAA",
            "!!!!",
            &c.encode()[..10],
            &format!("{}A", c.encode()),
        ] {
            assert!(AuditCursor::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn limits_outside_one_to_a_hundred_are_refused() {
        assert!(AuditLimit::new(0).is_err());
        assert!(AuditLimit::new(101).is_err());
        assert!(AuditLimit::new(-1).is_err());
        assert!(AuditLimit::new(i64::from(u32::MAX) + 1).is_err());
        assert_eq!(AuditLimit::new(100).unwrap().get(), 100);
        assert_eq!(AuditLimit::default().get(), 50);
    }
}
