//! How malformed requests are answered: bad JSON, wrong types, unknown enum values, oversize
//! bodies, wrong content types, bad query strings and path segments all become 4xx
//! problem+json, never 500.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use application::AppError;

use crate::problem::{TransportCode, TransportError, problem_response};

/// Why a body was refused: a wrong field is a validation error of the request (with the field),
/// anything below that level is a transport error.
#[derive(Debug)]
enum BodyRejection {
    Invalid(AppError),
    Transport(TransportError),
}

impl BodyRejection {
    fn of_json(err: &serde_json::Error) -> Self {
        if err.is_data() {
            Self::Invalid(AppError::invalid("body", err.to_string()))
        } else {
            Self::Transport(TransportError::new(
                TransportCode::MalformedJson,
                format!("the body is not valid JSON: {err}"),
            ))
        }
    }

    fn response(&self) -> HttpResponse {
        match self {
            Self::Invalid(app) => problem_response(app),
            Self::Transport(transport) => transport.response(),
        }
    }

    #[cfg(test)]
    fn code(&self) -> &'static str {
        match self {
            Self::Invalid(app) => app.code().as_str(),
            Self::Transport(transport) => transport.code.as_str(),
        }
    }
}

fn json_error(err: JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let transport =
        |code, detail: String| BodyRejection::Transport(TransportError::new(code, detail));
    let rejection = match &err {
        JsonPayloadError::OverflowKnownLength { length, limit } => transport(
            TransportCode::PayloadTooLarge,
            format!("the body has {length} bytes; the limit is {limit}"),
        ),
        JsonPayloadError::Overflow { limit } => transport(
            TransportCode::PayloadTooLarge,
            format!("the body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => transport(
            TransportCode::UnsupportedMediaType,
            "the body must be JSON (Content-Type: application/json)".to_owned(),
        ),
        JsonPayloadError::Deserialize(e) => BodyRejection::of_json(e),
        other => transport(TransportCode::BadRequest, other.to_string()),
    };
    actix_web::error::InternalError::from_response(err, rejection.response()).into()
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let app = AppError::invalid("query", err.to_string());
    actix_web::error::InternalError::from_response(err, problem_response(&app)).into()
}

fn path_error(err: PathError, req: &HttpRequest) -> actix_web::Error {
    // `GET /payments/confirm` reaches `GET /payments/{id}`, but names the resource
    // `/payments/confirm`, which has no GET: 405, as for any other method it lacks.
    if let Some(refusal) = method_not_allowed(req) {
        return actix_web::error::InternalError::from_response(err, refusal).into();
    }
    let app = AppError::invalid("path", err.to_string());
    actix_web::error::InternalError::from_response(err, problem_response(&app)).into()
}

/// Registers the extractor configurations, and the route table `not_found` answers from, on an
/// app or scope.
pub fn configure(
    cfg: &mut web::ServiceConfig,
    max_body_bytes: usize,
    routes: web::Data<RouteTable>,
) {
    cfg.app_data(routes)
        .app_data(
            web::JsonConfig::default()
                .limit(max_body_bytes)
                .error_handler(json_error),
        )
        .app_data(web::QueryConfig::default().error_handler(query_error))
        .app_data(web::PathConfig::default().error_handler(path_error))
        .app_data(web::PayloadConfig::default().limit(max_body_bytes));
}

/// The documented routes: path segments (`None` for a `{param}`) and their methods. It is what
/// tells a 405 from a 404; `lib.rs` builds it from the OpenAPI document and registers it as app
/// data, so that this module does not depend on the route modules it serves.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteTable(Vec<(Vec<Option<String>>, Vec<Method>)>);

impl RouteTable {
    /// Every path of `doc` with the methods it documents.
    #[must_use]
    pub fn of(doc: &utoipa::openapi::OpenApi) -> Self {
        Self(
            doc.paths
                .paths
                .iter()
                .map(|(path, item)| {
                    let segments = path
                        .split('/')
                        .map(|s| (!(s.starts_with('{') && s.ends_with('}'))).then(|| s.to_owned()))
                        .collect();
                    let methods = [
                        (item.get.is_some(), Method::GET),
                        (item.post.is_some(), Method::POST),
                        (item.put.is_some(), Method::PUT),
                        (item.patch.is_some(), Method::PATCH),
                        (item.delete.is_some(), Method::DELETE),
                    ]
                    .into_iter()
                    .filter_map(|(present, m)| present.then_some(m))
                    .collect();
                    (segments, methods)
                })
                .collect(),
        )
    }

    /// The methods the API answers on `path` (the `/api` alias counts as `/api/v1`).
    fn allowed_methods(&self, path: &str) -> Vec<Method> {
        let path = match path.strip_prefix("/api/") {
            Some(rest) if !rest.starts_with("v1/") => format!("/api/v1/{rest}"),
            _ => path.to_owned(),
        };
        let segments: Vec<&str> = path.split('/').collect();
        let matching: Vec<_> = self
            .0
            .iter()
            .filter(|(pattern, _)| {
                pattern.len() == segments.len()
                    && pattern.iter().zip(&segments).all(|(p, s)| match p {
                        Some(fixed) => fixed == s,
                        None => !s.is_empty(),
                    })
            })
            .map(|(pattern, methods)| (pattern.iter().flatten().count(), methods))
            .collect();
        // The most literal template names the resource (`/payments/confirm`, not
        // `/payments/{id}`), as in `access::required`.
        let most_literal = matching.iter().map(|(literal, _)| *literal).max();
        matching
            .into_iter()
            .filter(|(literal, _)| Some(*literal) == most_literal)
            .flat_map(|(_, methods)| methods.iter().cloned())
            .collect()
    }
}

/// Unknown and disabled routes: 404 problem+json; a known path with another method: 405 with
/// `Allow`.
/// The methods come from the `RouteTable` app data; an app configured without one answers 404
/// for every unknown route.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    // A documented route answering here is switched off in this deployment (the sandbox page
    // outside dev/test): it does not exist, 404 — not a 405 that would advertise it.
    method_not_allowed(&req).unwrap_or_else(|| {
        TransportError::new(
            TransportCode::RouteNotFound,
            format!("no route for {} {}", req.method(), req.path()),
        )
        .response()
    })
}

/// 405 with `Allow` when the route table knows the path but not the request's method.
fn method_not_allowed(req: &HttpRequest) -> Option<HttpResponse> {
    let allowed = req
        .app_data::<web::Data<RouteTable>>()
        .map(|table| table.allowed_methods(req.path()))
        .unwrap_or_default();
    if allowed.is_empty() || allowed.contains(req.method()) {
        return None;
    }
    let allow = allowed
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let mut response = TransportError::new(
        TransportCode::MethodNotAllowed,
        format!(
            "{} is not allowed on {}; allowed: {allow}",
            req.method(),
            req.path()
        ),
    )
    .response();
    if let Ok(value) = HeaderValue::from_str(&allow) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    Some(response)
}

/// An optional JSON body: no body (or only whitespace) is `T::default()`, anything else must be
/// a valid request. `Option<web::Json<T>>` would quietly drop a malformed body, and with it
/// what the caller meant.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OptionalJson<T>(pub T);

impl<T: serde::de::DeserializeOwned + Default + 'static> actix_web::FromRequest
    for OptionalJson<T>
{
    type Error = actix_web::Error;
    type Future = futures_util::future::LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = bytes.await?;
            parse_optional_json(&bytes)
                .map(OptionalJson)
                .map_err(|rejection| {
                    actix_web::error::InternalError::from_response(
                        format!("{rejection:?}"),
                        rejection.response(),
                    )
                    .into()
                })
        })
    }
}

fn parse_optional_json<T: serde::de::DeserializeOwned + Default>(
    bytes: &[u8],
) -> Result<T, BodyRejection> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(bytes).map_err(|e| BodyRejection::of_json(&e))
}

#[cfg(test)]
mod optional_json_tests {
    use super::*;

    #[derive(Debug, Default, PartialEq, Eq, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Body {
        reason: Option<String>,
    }

    #[test]
    fn empty_is_default_and_bad_json_is_refused() {
        assert_eq!(parse_optional_json::<Body>(b"").unwrap(), Body::default());
        assert_eq!(
            parse_optional_json::<Body>(b" \n").unwrap(),
            Body::default()
        );
        assert_eq!(
            parse_optional_json::<Body>(br#"{"reason":"x"}"#).unwrap(),
            Body {
                reason: Some("x".into())
            }
        );
        assert_eq!(
            parse_optional_json::<Body>(b"{oops").unwrap_err().code(),
            "MALFORMED_JSON"
        );
        let unknown = parse_optional_json::<Body>(br#"{"reasn":"x"}"#).unwrap_err();
        assert!(
            matches!(unknown, BodyRejection::Invalid(AppError::Validation { .. })),
            "{unknown:?}"
        );
    }
}

#[cfg(test)]
mod route_table_tests {
    use actix_web::http::StatusCode;
    use actix_web::test::TestRequest;
    use serde::de::Error as _;
    use utoipa::openapi::path::{HttpMethod, Operation, PathItem, PathsBuilder};
    use utoipa::openapi::{Info, OpenApi};

    use super::*;

    fn table() -> RouteTable {
        let paths = PathsBuilder::new()
            .path(
                "/api/v1/events/{id}",
                PathItem::from_http_methods([HttpMethod::Get, HttpMethod::Put], Operation::new()),
            )
            .path(
                "/api/v1/events/confirm",
                PathItem::new(HttpMethod::Post, Operation::new()),
            )
            .path(
                "/actuator/health",
                PathItem::new(HttpMethod::Get, Operation::new()),
            );
        RouteTable::of(&OpenApi::new(Info::new("t", "0"), paths))
    }

    #[test]
    fn methods_come_from_the_document_and_the_alias_counts_as_v1() {
        let t = table();
        assert_eq!(
            t.allowed_methods("/api/v1/events/7"),
            [Method::GET, Method::PUT]
        );
        assert_eq!(
            t.allowed_methods("/api/events/7"),
            [Method::GET, Method::PUT]
        );
        assert_eq!(t.allowed_methods("/actuator/health"), [Method::GET]);
        // A literal segment wins over a parameter: the Allow header names its methods only.
        assert_eq!(t.allowed_methods("/api/v1/events/confirm"), [Method::POST]);
        assert!(t.allowed_methods("/api/v1/events/").is_empty());
        assert!(t.allowed_methods("/api/v1/events/7/x").is_empty());
    }

    #[actix_web::test]
    async fn not_found_answers_405_from_the_table_in_app_data_and_404_without_it() {
        let req = TestRequest::delete()
            .uri("/api/v1/events/7")
            .app_data(web::Data::new(table()))
            .to_http_request();
        let res = not_found(req).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers().get(header::ALLOW).unwrap(), "GET, PUT");

        let unknown = TestRequest::get()
            .uri("/api/v1/nothing")
            .app_data(web::Data::new(table()))
            .to_http_request();
        assert_eq!(not_found(unknown).await.status(), StatusCode::NOT_FOUND);

        let disabled = TestRequest::get()
            .uri("/actuator/health")
            .app_data(web::Data::new(table()))
            .to_http_request();
        assert_eq!(not_found(disabled).await.status(), StatusCode::NOT_FOUND);

        // A path that names a literal resource reaching a `{param}` route: 405, not a 400.
        let literal = TestRequest::get()
            .uri("/api/v1/events/confirm")
            .app_data(web::Data::new(table()))
            .to_http_request();
        let err = path_error(
            PathError::Deserialize(serde::de::value::Error::custom("x")),
            &literal,
        );
        let res = err.error_response();
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers().get(header::ALLOW).unwrap(), "POST");
        let unparsable = TestRequest::get()
            .uri("/api/v1/events/x7")
            .app_data(web::Data::new(table()))
            .to_http_request();
        let err = path_error(
            PathError::Deserialize(serde::de::value::Error::custom("x")),
            &unparsable,
        );
        assert_eq!(err.error_response().status(), StatusCode::BAD_REQUEST);

        let no_table = TestRequest::delete()
            .uri("/api/v1/events/7")
            .to_http_request();
        assert_eq!(not_found(no_table).await.status(), StatusCode::NOT_FOUND);
    }
}
