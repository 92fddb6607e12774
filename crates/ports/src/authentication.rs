//! Who is calling, decided once for every inbound adapter: REST and gRPC hand the credentials
//! of a request to the same [`Authenticate`] implementation (JWT via the issuer's JWKS, or the
//! trusted gateway headers), so both apply exactly the same rules.

use async_trait::async_trait;

use crate::{Actor, AppError};

/// The credentials a request carried, transport-neutral: HTTP headers and gRPC metadata both
/// fill it. Every value of each header is kept (several `Authorization` values are refused, not
/// merged); a value that is not visible ASCII is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `authorization` values (`Bearer <token>`).
    pub authorization: Vec<Option<String>>,
    /// `x-user-id` values set by a trusted gateway.
    pub user_id: Vec<Option<String>>,
    /// `x-user-role` values set by a trusted gateway.
    pub user_role: Vec<Option<String>>,
    /// The connection comes from a trusted proxy (`server.trusted_proxies`, see
    /// [`crate::TrustedProxies`]): only then may the gateway headers be read.
    pub via_trusted_proxy: bool,
}

impl Credentials {
    /// The header (HTTP) and metadata key (gRPC) of each field, lower-case as gRPC wants them.
    pub const AUTHORIZATION: &'static str = "authorization";
    pub const USER_ID: &'static str = "x-user-id";
    pub const USER_ROLE: &'static str = "x-user-role";
}

#[cfg_attr(any(test, feature = "mocks"), mockall::automock)]
#[async_trait]
pub trait Authenticate: Send + Sync {
    /// The actor behind `credentials`: a guest when there are none. `read_only`: the request
    /// changes nothing (a GET, a gRPC read), so a caller whose token cannot be checked because
    /// the issuer is down may go on as a guest instead of being refused.
    ///
    /// # Errors
    /// [`AppError::Unauthenticated`] for credentials that are present but not valid.
    async fn authenticate(
        &self,
        credentials: &Credentials,
        read_only: bool,
    ) -> Result<Actor, AppError>;
}
