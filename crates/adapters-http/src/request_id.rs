//! The request id: taken from `X-Request-Id` when the caller (or the gateway) sent a sane one,
//! generated otherwise; stored in the request extensions, echoed in the response header and
//! recorded on every log line of the request (by the middleware in `observe`).

/// The id of one request, as stored in the request extensions by the request-id middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The header that carries it both ways.
pub const HEADER: &str = "x-request-id";

/// A caller-supplied id is kept when it is short and printable; anything else is replaced.
pub(crate) fn sanitize(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()
        && value.len() <= 128
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':')))
    .then(|| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::sanitize;

    #[test]
    fn keeps_sane_ids_and_drops_the_rest() {
        assert_eq!(sanitize("abc-123").as_deref(), Some("abc-123"));
        assert_eq!(sanitize(""), None);
        assert_eq!(sanitize("a b"), None);
        assert_eq!(sanitize(&"x".repeat(129)), None);
        assert_eq!(sanitize("<script>"), None);
    }
}
