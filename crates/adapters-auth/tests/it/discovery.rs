//! OpenID Provider discovery (`openidconnect`): without a configured `jwks_url` the keys are
//! found through `{issuer}/.well-known/openid-configuration`, which must name exactly the
//! configured issuer and a `jwks_uri`; a document that does not, or an issuer that does not
//! answer, leaves the keys unknown — reads go on as guests, writes are refused (401) and a
//! refresh reports the identity provider unavailable.

use adapters_auth::{AuthConfig, Authenticator, KeySource};
use ports::{Actor, AppError, Authenticate, Role};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate, Times};

use crate::bearer_tokens::{bearer, claims_of, jwks, jwt_config, token};

const REALM: &str = "/realms/aquastream";

/// The metadata Keycloak publishes, reduced to what OpenID Connect Discovery requires.
fn configuration(issuer: &str, jwks_uri: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/protocol/openid-connect/auth"),
        "token_endpoint": format!("{issuer}/protocol/openid-connect/token"),
        "jwks_uri": jwks_uri,
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    })
}

/// A server answering the discovery with `document` (`discoveries` times) and the JWKS with
/// the issuer's key (`jwks_fetches` times).
async fn provider(
    document: impl FnOnce(&str) -> Value,
    discoveries: impl Into<Times>,
    jwks_fetches: u64,
) -> (MockServer, String) {
    let server = MockServer::start().await;
    let issuer = format!("{}{REALM}", server.uri());
    Mock::given(method("GET"))
        .and(path(format!("{REALM}/.well-known/openid-configuration")))
        .respond_with(ResponseTemplate::new(200).set_body_json(document(&issuer)))
        .expect(discoveries)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{REALM}/protocol/openid-connect/certs")))
        .respond_with(jwks(&["issuer"]))
        .expect(jwks_fetches)
        .mount(&server)
        .await;
    (server, issuer)
}

fn discovering(issuer: &str) -> Authenticator {
    Authenticator::new(AuthConfig {
        jwt: Some(jwt_config(issuer, None)),
        gateway_headers: false,
    })
}

fn certs(issuer: &str) -> String {
    format!("{issuer}/protocol/openid-connect/certs")
}

#[tokio::test]
async fn the_keys_are_found_through_the_openid_configuration() {
    let (_server, issuer) = provider(|issuer| configuration(issuer, &certs(issuer)), 1, 1).await;
    let auth = discovering(&issuer);
    let credentials = bearer(&token(
        "issuer",
        "issuer-key",
        &claims_of(&issuer, &["ADMIN"]),
    ));
    for _ in 0..2 {
        let actor = auth.authenticate(&credentials, false).await.unwrap();
        assert_eq!(actor.role(), Role::Admin);
    }
    let status = auth.key_status().unwrap();
    assert_eq!(status.cached_keys, 1);
    assert_eq!(status.source, Some(KeySource::Issuer));
    // `expect(1)` on both: one discovery, one JWKS fetch.
}

/// What an authenticator whose discovery failed does with a good token; returns the reason
/// recorded in its key status.
async fn refused_for_lack_of_keys(issuer: &str) -> String {
    let auth = discovering(issuer);
    let credentials = bearer(&token(
        "issuer",
        "issuer-key",
        &claims_of(issuer, &["ADMIN"]),
    ));
    let read = auth.authenticate(&credentials, true).await.unwrap();
    assert_eq!(read, Actor::guest());
    let write = auth.authenticate(&credentials, false).await;
    assert!(matches!(write, Err(AppError::Unauthenticated)), "{write:?}");
    let status = auth.key_status().unwrap();
    assert_eq!((status.cached_keys, status.source), (0, None));
    assert_eq!(status.last_fetch_ok, Some(false));
    assert!(matches!(
        auth.refresh_keys().await,
        Err(AppError::Unavailable { .. })
    ));
    status.last_error.unwrap()
}

#[tokio::test]
async fn a_configuration_naming_another_issuer_is_refused() {
    let (_server, issuer) = provider(
        |issuer| configuration("https://elsewhere.test/realms/aquastream", &certs(issuer)),
        1..,
        0,
    )
    .await;
    let reason = refused_for_lack_of_keys(&issuer).await;
    assert!(reason.contains("unexpected issuer"), "{reason}");
}

#[tokio::test]
async fn a_configuration_without_jwks_uri_is_refused() {
    let (_server, issuer) = provider(
        |issuer| {
            let mut document = configuration(issuer, &certs(issuer));
            document.as_object_mut().unwrap().remove("jwks_uri");
            document
        },
        1..,
        0,
    )
    .await;
    let reason = refused_for_lack_of_keys(&issuer).await;
    assert!(reason.contains("jwks_uri"), "{reason}");
}

#[tokio::test]
async fn an_unreachable_issuer_leaves_the_keys_unknown() {
    let server = MockServer::start().await;
    let issuer = format!("{}{REALM}", server.uri());
    // Nothing listens there any more.
    drop(server);
    let reason = refused_for_lack_of_keys(&issuer).await;
    assert!(reason.contains("OpenID discovery"), "{reason}");
}
