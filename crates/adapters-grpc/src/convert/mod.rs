//! Conversions between proto3 values and application types: money as doubles, timestamps,
//! and proto3's "empty means absent" for scalar fields.

pub mod money;
pub mod time;

/// proto3 cannot tell an empty string from an absent one: both mean "not given".
pub(crate) fn text(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

/// proto3 scalars default to 0, which every id and count here uses for "not given".
pub(crate) fn nonzero<T: Default + PartialEq>(value: T) -> Option<T> {
    (value != T::default()).then_some(value)
}

/// An id the request must carry: proto3's 0 (not given) and negatives are refused on `field`
/// before any use case runs, so a typo never turns into a lookup of id 0.
pub(crate) fn id(field: &'static str, value: i64) -> Result<i64, application::AppError> {
    if value > 0 {
        Ok(value)
    } else {
        Err(application::AppError::invalid(
            field,
            "must be a positive id",
        ))
    }
}

/// A count for an `int32` field; counts here never come near `i32::MAX`, the conversion
/// saturates rather than wraps if one ever did.
pub(crate) fn int32<T: TryInto<i32>>(value: T) -> i32 {
    value.try_into().unwrap_or(i32::MAX)
}

/// A count for an `int64` field, saturating like [`int32`].
pub(crate) fn int64<T: TryInto<i64>>(value: T) -> i64 {
    value.try_into().unwrap_or(i64::MAX)
}
