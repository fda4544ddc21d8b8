//! Times as `poem-openapi` writes them (`2026-12-03T16:00:00.123456+00:00`, chrono's
//! `to_rfc3339`), so that a body serialized with serde is the body the OpenAPI types would write
//! (the server writes its lists that way: see `adam-server`'s `Serialized`).
//!
//! Written digit by digit into a buffer on the stack: chrono's writer goes through `fmt` and a
//! `String`, and a page of 100 users writes 300 times. By callgrind
//! (`scripts/instructions-per-request.sh`), chrono's way took 14 % of such a page's
//! instructions, 830 per time; this one 490, of which JSON escaping is half.

use chrono::{DateTime, Datelike, Timelike, Utc};

/// The longest text: a date, a time, nine digits of fraction and the offset.
const MAX_LEN: usize = "2026-12-03T16:00:00.123456789+00:00".len();

/// Serializes `at` as chrono's `to_rfc3339` writes it.
pub(crate) fn serialize<S: serde::Serializer>(
    at: &DateTime<Utc>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut buf = [0u8; MAX_LEN];
    match write(at, &mut buf) {
        Some(text) => serializer.serialize_str(text),
        None => serializer.serialize_str(&at.to_rfc3339()),
    }
}

/// [`serialize`], or null.
pub(crate) fn serialize_or_null<S: serde::Serializer>(
    at: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match at {
        Some(at) => serialize(at, serializer),
        None => serializer.serialize_none(),
    }
}

/// Writes `at` into `buf` and answers the text written; `None` for a year outside 0–9999 or a
/// leap second, which are left to chrono.
fn write<'b>(at: &DateTime<Utc>, buf: &'b mut [u8; MAX_LEN]) -> Option<&'b str> {
    // Read once, in UTC, which is the time written: each of chrono's accessors on a `DateTime`
    // would convert it to its zone's local time first.
    let naive = at.naive_utc();
    let (date, time) = (naive.date(), naive.time());
    let (year, nano) = (date.year(), time.nanosecond());
    if !(0..=9999).contains(&year) || nano >= 1_000_000_000 {
        return None;
    }
    // chrono's `SecondsFormat::AutoSi`: no fraction, or milli-, micro- or nanoseconds, the
    // shortest that is exact.
    let (fraction, width) = match nano {
        0 => (0, 0),
        n if n % 1_000_000 == 0 => (n / 1_000_000, 3),
        n if n % 1_000 == 0 => (n / 1_000, 6),
        n => (n, 9),
    };
    let mut len = 0;
    for (value, width, then) in [
        (year.unsigned_abs(), 4, "-"),
        (date.month(), 2, "-"),
        (date.day(), 2, "T"),
        (time.hour(), 2, ":"),
        (time.minute(), 2, ":"),
        (time.second(), 2, if width == 0 { "" } else { "." }),
        (fraction, width, "+00:00"),
    ] {
        let mut rest = value;
        for b in buf.get_mut(len..len + width)?.iter_mut().rev() {
            // `rest % 10` is a digit.
            *b = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        len += width;
        buf.get_mut(len..len + then.len())?
            .copy_from_slice(then.as_bytes());
        len += then.len();
    }
    std::str::from_utf8(buf.get(..len)?).ok()
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use proptest::prelude::*;

    fn written(at: &DateTime<Utc>) -> String {
        let mut buf = [0u8; super::MAX_LEN];
        match super::write(at, &mut buf) {
            Some(text) => text.to_owned(),
            None => at.to_rfc3339(),
        }
    }

    #[test]
    fn times_are_written_as_chrono_writes_them_at_each_precision() {
        for (secs, nanos, text) in [
            (1_796_000_000, 0, "2026-11-30T00:53:20+00:00"),
            (1_796_000_000, 120_000_000, "2026-11-30T00:53:20.120+00:00"),
            (
                1_796_000_000,
                123_456_000,
                "2026-11-30T00:53:20.123456+00:00",
            ),
            (1_796_000_000, 1, "2026-11-30T00:53:20.000000001+00:00"),
            (0, 0, "1970-01-01T00:00:00+00:00"),
            (-62_167_219_200, 0, "0000-01-01T00:00:00+00:00"),
            (
                253_402_300_799,
                999_999_999,
                "9999-12-31T23:59:59.999999999+00:00",
            ),
            (253_402_300_800, 0, "+10000-01-01T00:00:00+00:00"),
            (-62_167_219_201, 0, "-0001-12-31T23:59:59+00:00"),
        ] {
            let at = Utc.timestamp_opt(secs, nanos).unwrap();
            assert_eq!(written(&at), text);
            assert_eq!(written(&at), at.to_rfc3339());
        }
    }

    proptest! {
        #[test]
        fn any_time_is_written_as_chrono_writes_it(
            secs in -70_000_000_000i64..260_000_000_000,
            nanos in prop_oneof![
                Just(0u32),
                (0u32..1_000).prop_map(|m| m * 1_000_000),
                (0u32..1_000_000).prop_map(|u| u * 1_000),
                0u32..1_000_000_000,
            ],
        ) {
            let at = Utc.timestamp_opt(secs, nanos).unwrap();
            prop_assert_eq!(written(&at), at.to_rfc3339());
        }
    }
}
