//! Bearer tokens checked against a JWKS endpoint served by wiremock, with the committed test
//! keys of `tests/fixtures` (see its README): the issuer's key is accepted, a key the issuer
//! never published is not, a rotated key is fetched on first sight, and an unreachable issuer
//! lets reads go on as a guest while writes are refused.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use adapters_auth::{AuthConfig, Authenticator, JwtConfig};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use ports::{Actor, AppError, Role};
use ports::{Authenticate, Credentials};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub(crate) const ISSUER: &str = "https://issuer.test/realms/aquastream";
pub(crate) const USER: &str = "11111111-1111-4111-8111-111111111111";

fn fixture(name: &str) -> Vec<u8> {
    let file = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()))
}

fn jwk(key: &str) -> Value {
    serde_json::from_slice(&fixture(&format!("{key}.jwk.json"))).unwrap()
}

pub(crate) fn jwks(keys: &[&str]) -> ResponseTemplate {
    let keys: Vec<Value> = keys.iter().map(|k| jwk(k)).collect();
    ResponseTemplate::new(200).set_body_json(json!({ "keys": keys }))
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token signed with the private key `key`, naming `kid` in its header.
pub(crate) fn token(key: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some(kid.to_owned());
    let signing = EncodingKey::from_rsa_der(&fixture(&format!("{key}.key.der")));
    encode(&header, claims, &signing).unwrap()
}

fn claims(roles: &[&str]) -> Value {
    claims_of(ISSUER, roles)
}

/// An access token's claims for `backend-event`, issued by `issuer`, valid for 5 minutes.
pub(crate) fn claims_of(issuer: &str, roles: &[&str]) -> Value {
    json!({
        "iss": issuer,
        "sub": USER,
        "aud": "backend-event",
        "azp": "event-web",
        "exp": now() + 300,
        "realm_access": { "roles": roles },
    })
}

pub(crate) fn bearer(token: &str) -> Credentials {
    Credentials {
        authorization: vec![Some(format!("Bearer {token}"))],
        ..Credentials::default()
    }
}

fn authenticator(jwks_url: String) -> Authenticator {
    Authenticator::new(AuthConfig {
        jwt: Some(jwt_config(ISSUER, Some(jwks_url))),
        gateway_headers: false,
    })
}

/// The settings of the tests: `jwks_url` `None` discovers it from `issuer`.
pub(crate) fn jwt_config(issuer: &str, jwks_url: Option<String>) -> JwtConfig {
    let mut jwt = JwtConfig::new(issuer);
    jwt.jwks_url = jwks_url;
    // Every unknown `kid` may refetch at once: the rate limit has unit tests of its own.
    jwt.jwks_refresh_min_interval = Duration::ZERO;
    jwt.http_timeout = Duration::from_secs(2);
    jwt
}

async fn issuer_serving(keys: &[&str], expected_fetches: impl Into<wiremock::Times>) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/certs"))
        .respond_with(jwks(keys))
        .expect(expected_fetches)
        .mount(&server)
        .await;
    server
}

#[tokio::test]
async fn a_token_of_the_issuer_names_its_user_and_roles_and_the_keys_are_fetched_once() {
    let server = issuer_serving(&["issuer"], 1).await;
    let auth = authenticator(format!("{}/certs", server.uri()));
    let credentials = bearer(&token("issuer", "issuer-key", &claims(&["ORGANIZER"])));
    for _ in 0..3 {
        let actor = auth.authenticate(&credentials, false).await.unwrap();
        assert_eq!(
            actor.user_id().map(|u| u.to_string()).as_deref(),
            Some(USER)
        );
        assert_eq!(actor.role(), Role::Organizer);
    }
    // `expect(1)` is verified when the server drops: the key came from the cache afterwards.
}

#[tokio::test]
async fn forged_expired_and_foreign_tokens_are_refused() {
    let server = issuer_serving(&["issuer"], 1..).await;
    let auth = authenticator(format!("{}/certs", server.uri()));
    let expired =
        json!({ "iss": ISSUER, "sub": USER, "aud": "backend-event", "exp": now() - 3600 });
    let other_issuer = json!({ "iss": "https://elsewhere.test", "sub": USER, "aud": "backend-event", "exp": now() + 300 });
    let refused = [
        (
            "an unpublished key",
            token("attacker", "attacker-key", &claims(&["ADMIN"])),
        ),
        (
            "the issuer's kid on an attacker's signature",
            token("attacker", "issuer-key", &claims(&["ADMIN"])),
        ),
        ("an expired token", token("issuer", "issuer-key", &expired)),
        (
            "another issuer",
            token("issuer", "issuer-key", &other_issuer),
        ),
    ];
    for (what, token) in refused {
        // Read-only too: a token that is known to be bad never becomes a guest.
        let result = auth.authenticate(&bearer(&token), true).await;
        assert!(
            matches!(result, Err(AppError::Unauthenticated)),
            "{what}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_rotated_key_is_fetched_when_a_token_first_names_it() {
    let server = MockServer::start().await;
    // The first fetch knows the old key only; every later one also the rotated key.
    Mock::given(method("GET"))
        .and(path("/certs"))
        .respond_with(jwks(&["issuer"]))
        .up_to_n_times(1)
        .expect(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/certs"))
        .respond_with(jwks(&["issuer", "rotated"]))
        .expect(1)
        .with_priority(2)
        .mount(&server)
        .await;
    let auth = authenticator(format!("{}/certs", server.uri()));
    assert_eq!(auth.refresh_keys().await.unwrap(), 1);

    let rotated = bearer(&token("rotated", "rotated-key", &claims(&["USER"])));
    let actor = auth.authenticate(&rotated, false).await.unwrap();
    assert_eq!(actor.role(), Role::User);
    let old = bearer(&token("issuer", "issuer-key", &claims(&["USER"])));
    assert!(auth.authenticate(&old, false).await.is_ok());
}

#[tokio::test]
async fn while_the_issuer_is_unreachable_reads_go_on_as_guests_and_writes_are_refused() {
    let server = MockServer::start().await;
    let url = format!("{}/certs", server.uri());
    // Nothing listens there any more: every fetch fails to connect.
    drop(server);
    let auth = authenticator(url);
    let credentials = bearer(&token("issuer", "issuer-key", &claims(&["ADMIN"])));

    let read = auth.authenticate(&credentials, true).await.unwrap();
    assert_eq!(read, Actor::guest());
    let write = auth.authenticate(&credentials, false).await;
    assert!(matches!(write, Err(AppError::Unauthenticated)), "{write:?}");
    assert!(matches!(
        auth.refresh_keys().await,
        Err(AppError::Unavailable { .. })
    ));
}

/// base64url without padding, for hand-made tokens.
fn b64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// The audience is required (default `backend-event`), the authorized party checked when
/// configured; `nbf` in the future, `alg` confusion (HS256 keyed with the public key) and
/// `alg: none` are refused.
#[tokio::test]
async fn wrong_aud_or_azp_future_nbf_alg_confusion_and_none_are_refused() {
    let server = issuer_serving(&["issuer"], 1..).await;
    let mut jwt = JwtConfig::new(ISSUER);
    jwt.jwks_url = Some(format!("{}/certs", server.uri()));
    jwt.jwks_refresh_min_interval = Duration::ZERO;
    jwt.authorized_parties = vec!["event-web".to_owned()];
    let auth = Authenticator::new(AuthConfig {
        jwt: Some(jwt),
        gateway_headers: false,
    });
    let good = token("issuer", "issuer-key", &claims(&["USER"]));
    assert!(auth.authenticate(&bearer(&good), false).await.is_ok());

    let with = |key: &str, value: Value| {
        let mut c = claims(&["ADMIN"]);
        c[key] = value;
        c
    };
    let mut no_aud = claims(&["ADMIN"]);
    no_aud.as_object_mut().unwrap().remove("aud");
    let hs256 = {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("issuer-key".to_owned());
        let secret = fixture("issuer.pub.pem");
        encode(
            &header,
            &claims(&["ADMIN"]),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap()
    };
    let none = format!(
        "{}.{}.",
        b64(br#"{"alg":"none","typ":"JWT","kid":"issuer-key"}"#),
        b64(claims(&["ADMIN"]).to_string().as_bytes())
    );
    let refused = [
        (
            "another client's audience",
            token("issuer", "issuer-key", &with("aud", json!("account"))),
        ),
        ("no audience", token("issuer", "issuer-key", &no_aud)),
        (
            "another authorized party",
            token("issuer", "issuer-key", &with("azp", json!("other-app"))),
        ),
        (
            "nbf an hour ahead",
            token("issuer", "issuer-key", &with("nbf", json!(now() + 3600))),
        ),
        ("HS256 keyed with the public key", hs256),
        ("alg none", none),
    ];
    for (what, token) in refused {
        let result = auth.authenticate(&bearer(&token), true).await;
        assert!(
            matches!(result, Err(AppError::Unauthenticated)),
            "{what}: {result:?}"
        );
    }
}
