//! The caller of an rpc: the same [`Authenticate`] implementation as REST (bearer JWT, or the
//! trusted gateway headers when enabled), fed from the request metadata.

use std::sync::Arc;

use application::actor::Role;
use application::ports::{Authenticate, ClientAddress, Credentials, TrustedProxies};
use application::{AppError, RequestContext};
use tonic::Request;
use tonic::metadata::MetadataMap;

/// A caller-supplied correlation id, echoed in the logs and the audit trail.
const REQUEST_ID: &str = "x-request-id";
const REQUEST_ID_MAX: usize = 128;
const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Whether an rpc changes state: reads may go on as a guest while the issuer is down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// The least role that can ever use an rpc (the use case decides the rest: the event's own
/// organizer, the booking's owner, …). Checked before the request is converted, so a caller
/// who can never use the rpc learns nothing from validation errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Least {
    Anyone,
    User,
    Organizer,
}

impl Least {
    pub(crate) fn check(self, ctx: &RequestContext) -> Result<(), AppError> {
        let role = ctx.actor.role();
        let admitted = match self {
            Self::Anyone => true,
            Self::User => role != Role::Guest,
            Self::Organizer => matches!(role, Role::Organizer | Role::Admin),
        };
        match (admitted, role) {
            (true, _) => Ok(()),
            (false, Role::Guest) => Err(AppError::Unauthenticated),
            (false, _) => Err(AppError::Forbidden {
                reason: "this operation is not available to the caller's role",
            }),
        }
    }
}

/// Resolves callers for the service.
#[derive(Clone)]
pub(crate) struct Callers {
    authenticator: Arc<dyn Authenticate>,
    proxies: Arc<TrustedProxies>,
}

impl Callers {
    pub(crate) fn new(authenticator: Arc<dyn Authenticate>, proxies: TrustedProxies) -> Self {
        Self {
            authenticator,
            proxies: Arc::new(proxies),
        }
    }

    pub(crate) fn with_trusted_proxies(self, proxies: TrustedProxies) -> Self {
        Self::new(self.authenticator, proxies)
    }

    /// The client of `request`: the peer, or what a trusted proxy forwarded for (the same
    /// rule as REST, [`TrustedProxies::resolve`]).
    pub(crate) fn client<T>(&self, request: &Request<T>) -> Option<ClientAddress> {
        let peer = request.remote_addr()?.ip();
        let forwarded: Vec<&str> = request
            .metadata()
            .get_all(X_FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        Some(self.proxies.resolve(peer, &forwarded))
    }

    /// The context of `request` (actor, request id, client IP).
    pub(crate) async fn context<T>(
        &self,
        request: &Request<T>,
        access: Access,
    ) -> Result<RequestContext, AppError> {
        let client = self.client(request);
        let mut credentials = credentials(request.metadata());
        credentials.via_trusted_proxy = client.is_some_and(|c| c.via_trusted_proxy);
        let actor = self
            .authenticator
            .authenticate(&credentials, access == Access::Read)
            .await?;
        Ok(RequestContext {
            actor,
            request_id: Some(request_id(request.metadata())),
            client_ip: client.map(|c| c.ip.to_string()),
        })
    }
}

fn credentials(metadata: &MetadataMap) -> Credentials {
    let values = |key| {
        metadata
            .get_all(key)
            .iter()
            .map(|v| v.to_str().ok().map(str::to_owned))
            .collect()
    };
    Credentials {
        authorization: values(Credentials::AUTHORIZATION),
        user_id: values(Credentials::USER_ID),
        user_role: values(Credentials::USER_ROLE),
        via_trusted_proxy: false,
    }
}

/// The caller's `x-request-id` when it is a sane token, else a new one.
fn request_id(metadata: &MetadataMap) -> String {
    metadata
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            !id.is_empty()
                && id.len() <= REQUEST_ID_MAX
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataValue;

    use super::*;

    #[test]
    fn every_value_of_each_credential_is_passed_on() {
        let mut metadata = MetadataMap::new();
        metadata.append(
            Credentials::AUTHORIZATION,
            MetadataValue::from_static("Bearer a"),
        );
        metadata.append(
            Credentials::AUTHORIZATION,
            MetadataValue::from_static("Bearer b"),
        );
        metadata.insert(Credentials::USER_ID, MetadataValue::from_static("u-1"));
        let c = credentials(&metadata);
        assert_eq!(
            c.authorization,
            vec![Some("Bearer a".to_owned()), Some("Bearer b".to_owned())]
        );
        assert_eq!(c.user_id, vec![Some("u-1".to_owned())]);
        assert!(c.user_role.is_empty());
    }

    #[test]
    fn request_ids_are_kept_only_when_sane() {
        let mut metadata = MetadataMap::new();
        metadata.insert(REQUEST_ID, MetadataValue::from_static("abc-123"));
        assert_eq!(request_id(&metadata), "abc-123");
        metadata.insert(REQUEST_ID, MetadataValue::from_static("has space"));
        assert_ne!(request_id(&metadata), "has space");
        assert_eq!(request_id(&MetadataMap::new()).len(), 36);
    }
}
