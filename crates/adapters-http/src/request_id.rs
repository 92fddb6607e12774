//! The request id: taken from `X-Request-Id` when the caller (or the gateway) sent a sane one,
//! generated otherwise; stored in the request extensions, echoed in the response header and
//! recorded on every log line of the request.

/// The id of one request, as stored in the request extensions by the request-id middleware.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The header that carries it both ways.
pub const HEADER: &str = "x-request-id";
