//! Where the engine reads the time: the system clock in production, a clock a test moves forward
//! instead of sleeping.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};

/// The time source an engine is given in its [`crate::Settings`]: every lifetime, window, code
/// step and timestamp the engine computes is read from it. [`Clock::system`] by default;
/// [`TestClock::clock`] for tests that would otherwise wait.
#[derive(Clone, Default)]
pub struct Clock {
    /// `None`: the system clock; `Some`: the system clock moved forward by this many
    /// microseconds, shared with the [`TestClock`] that made it.
    shift: Option<Arc<AtomicI64>>,
}

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self { shift: None }
    }

    /// The current time.
    pub fn now(&self) -> DateTime<Utc> {
        let now = Utc::now();
        match &self.shift {
            None => now,
            Some(shift) => now + Duration::microseconds(shift.load(Ordering::Relaxed)),
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.shift {
            None => f.write_str("Clock::system"),
            Some(shift) => write!(f, "Clock::shifted({} µs)", shift.load(Ordering::Relaxed)),
        }
    }
}

/// A clock that runs at the system clock's pace and that a test moves forward instead of
/// sleeping: past a token's lifetime, a throttle's window or into a fresh TOTP step. It never
/// goes back, so what the engine stored earlier stays in the past. Hand [`TestClock::clock`] to
/// the engine's settings.
#[derive(Debug, Clone, Default)]
pub struct TestClock {
    shift: Arc<AtomicI64>,
}

impl TestClock {
    /// A clock that reads the system clock until it is moved.
    pub fn new() -> Self {
        Self::default()
    }

    /// The engine's side of this clock.
    pub fn clock(&self) -> Clock {
        Clock {
            shift: Some(Arc::clone(&self.shift)),
        }
    }

    /// The current time on this clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock().now()
    }

    /// Moves the clock forward by `by` (a negative duration moves nothing).
    pub fn advance(&self, by: Duration) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX).max(0);
        self.shift.fetch_add(micros, Ordering::Relaxed);
    }

    /// Moves the clock forward to the start of the next `step`-second period of Unix time (a
    /// TOTP step, for example) and one second into it, so that a test has the whole step
    /// before the next boundary. Never moves it back.
    pub fn to_next_step(&self, step_seconds: i64) {
        let now = self.now();
        let step_micros = step_seconds.max(1) * 1_000_000;
        let into = now.timestamp_micros().rem_euclid(step_micros);
        self.advance(Duration::microseconds(step_micros - into + 1_000_000));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_clock_moves_forward_only() {
        let hand = TestClock::new();
        let clock = hand.clock();
        let before = clock.now();
        hand.advance(Duration::hours(2));
        assert!(clock.now() - before >= Duration::hours(2));
        let moved = clock.now();
        hand.advance(Duration::hours(-5));
        assert!(clock.now() >= moved);
    }

    #[test]
    fn the_next_step_starts_one_second_in() {
        let hand = TestClock::new();
        hand.to_next_step(30);
        let into = hand.now().timestamp().rem_euclid(30);
        assert!((1..3).contains(&into), "{into} s into the step");
    }

    #[test]
    fn the_system_clock_is_not_shifted() {
        let gap = Clock::system().now() - Utc::now();
        assert!(gap.num_seconds().abs() < 2);
    }
}
