//! `google.protobuf.Timestamp` ↔ UTC instants. Incoming timestamps are checked against the
//! well-known type's own rules (nanos in `0..1e9`, years 0001 to 9999) so that a malformed one
//! is an `INVALID_ARGUMENT`, never a panic or a silently shifted date.

use application::AppError;
use chrono::{DateTime, Datelike, Utc};
use domain::Timestamp;

const NANOS_PER_SECOND: i32 = 1_000_000_000;

/// An optional timestamp field.
///
/// # Errors
/// [`AppError::Validation`] on `field` when nanos or the year are out of range.
pub fn time_in(
    field: &str,
    value: Option<prost_types::Timestamp>,
) -> Result<Option<Timestamp>, AppError> {
    let Some(ts) = value else {
        return Ok(None);
    };
    if !(0..NANOS_PER_SECOND).contains(&ts.nanos) {
        return Err(AppError::invalid(
            field,
            "nanos must be between 0 and 999999999",
        ));
    }
    let nanos = u32::try_from(ts.nanos).unwrap_or(0);
    DateTime::<Utc>::from_timestamp(ts.seconds, nanos)
        .filter(|t| (1..=9999).contains(&t.year()))
        .map(Some)
        .ok_or_else(|| AppError::invalid(field, "must be between years 0001 and 9999"))
}

/// A timestamp field the request must carry.
///
/// # Errors
/// As [`time_in`], and when the field is absent.
pub fn required_time_in(
    field: &str,
    value: Option<prost_types::Timestamp>,
) -> Result<Timestamp, AppError> {
    time_in(field, value)?.ok_or_else(|| AppError::invalid(field, "is required"))
}

#[must_use]
pub fn time_out(value: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: value.timestamp(),
        nanos: i32::try_from(value.timestamp_subsec_nanos()).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn ts(seconds: i64, nanos: i32) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos })
    }

    fn message(result: Result<Option<Timestamp>, AppError>) -> String {
        match result {
            Err(AppError::Validation { fields }) => {
                format!("{}: {}", fields[0].field, fields[0].message)
            }
            other => format!("accepted: {other:?}"),
        }
    }

    #[test]
    fn valid_timestamps_round_trip() {
        let at =
            Utc.with_ymd_and_hms(2027, 3, 1, 10, 0, 0).unwrap() + chrono::Duration::nanoseconds(5);
        assert_eq!(time_in("start_date", Some(time_out(at))).unwrap(), Some(at));
        assert_eq!(time_in("start_date", None).unwrap(), None);
    }

    #[test]
    fn malformed_timestamps_are_invalid_arguments() {
        assert_eq!(
            message(time_in("start_date", ts(0, -1))),
            "start_date: nanos must be between 0 and 999999999"
        );
        assert_eq!(
            message(time_in("start_date", ts(0, 1_000_000_000))),
            "start_date: nanos must be between 0 and 999999999"
        );
        assert_eq!(
            message(time_in("start_date", ts(i64::MAX, 0))),
            "start_date: must be between years 0001 and 9999"
        );
        // 10000-01-01T00:00:00Z, one past the well-known type's range.
        assert_eq!(
            message(time_in("start_date", ts(253_402_300_800, 0))),
            "start_date: must be between years 0001 and 9999"
        );
        assert_eq!(
            message(time_in("start_date", ts(-62_135_596_801, 0))),
            "start_date: must be between years 0001 and 9999"
        );
        assert!(time_in("start_date", ts(253_402_300_799, 0)).is_ok());
        assert!(matches!(
            required_time_in("start_date", None),
            Err(AppError::Validation { .. })
        ));
    }
}
