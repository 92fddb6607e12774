//! The webhook signature shared by the built-in gateways, in a gateway-specific header:
//! `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + raw body)>`, over a JSON body
//! `{"event_id": "...", "reference": "..."}`.
//!
//! The timestamp is signed with the body, so it cannot be moved; whether it is recent enough and
//! whether the event id was seen before is the use case's decision (`PaymentService::webhook`),
//! the same for every gateway.

use hmac::{Hmac, Mac};
use ports::payment_gateway::{GatewayError, WebhookNotice};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The longest event id accepted (the column is as wide).
const MAX_EVENT_ID: usize = 200;

/// The header value signing `body` at `timestamp` (Unix seconds) with `secret`:
/// `t=<timestamp>,v1=<lowercase hex>`.
#[must_use]
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac(secret, timestamp, body).finalize().into_bytes())
    )
}

/// Checks the signature found in `header` (case-insensitive name) against `body`, then reads
/// the notice from the body. The comparison is constant-time (`Mac::verify_slice`). A header
/// may carry several `v1=` values (a secret being rotated): one matching is enough.
pub(crate) fn verify(
    header: &str,
    secret: &[u8],
    headers: &[(String, String)],
    body: &[u8],
) -> Result<WebhookNotice, GatewayError> {
    let value = headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(header))
        .map(|(_, value)| value.trim())
        .ok_or(GatewayError::InvalidSignature)?;
    let mut timestamp = None;
    let mut digests = Vec::new();
    for part in value.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) if timestamp.is_none() => {
                timestamp = Some(
                    t.parse::<i64>()
                        .map_err(|_| GatewayError::InvalidSignature)?,
                );
            }
            Some(("v1", hex_digest)) => {
                digests.push(hex::decode(hex_digest).map_err(|_| GatewayError::InvalidSignature)?);
            }
            _ => return Err(GatewayError::InvalidSignature),
        }
    }
    let timestamp = timestamp.ok_or(GatewayError::InvalidSignature)?;
    if !digests
        .iter()
        .any(|d| mac(secret, timestamp, body).verify_slice(d).is_ok())
    {
        return Err(GatewayError::InvalidSignature);
    }
    parse_notice(body, timestamp)
}

#[allow(clippy::expect_used)] // HMAC is defined for keys of any length: this cannot fail.
fn mac(secret: &[u8], timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[derive(Deserialize)]
struct NoticeBody {
    event_id: String,
    reference: String,
}

/// A signed body that is not `{"event_id": "<non-blank>", "reference": "<non-blank>"}` is
/// refused (the sender is genuine, its message is not understood).
fn parse_notice(body: &[u8], signed_at: i64) -> Result<WebhookNotice, GatewayError> {
    let notice: NoticeBody = serde_json::from_slice(body)
        .map_err(|e| GatewayError::Refused(format!("malformed webhook body: {e}")))?;
    let reference = notice.reference.trim();
    if reference.is_empty() {
        return Err(GatewayError::Refused(
            "webhook body has a blank reference".into(),
        ));
    }
    let event_id = notice.event_id.trim();
    if event_id.is_empty() || event_id.len() > MAX_EVENT_ID {
        return Err(GatewayError::Refused(format!(
            "webhook body needs an event_id of 1 to {MAX_EVENT_ID} characters"
        )));
    }
    Ok(WebhookNotice {
        reference: reference.to_owned(),
        event_id: event_id.to_owned(),
        signed_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "X-Test-Signature";
    const T: i64 = 1_767_225_600;
    const BODY: &[u8] = br#"{"event_id":"evt_1","reference":"abc"}"#;

    fn headers(value: &str) -> Vec<(String, String)> {
        vec![(HEADER.to_owned(), value.to_owned())]
    }

    #[test]
    fn signature_is_the_hex_hmac_sha256_of_timestamp_dot_body() {
        // The MAC of the concatenation `<t>.<body>`, computed in one piece.
        let mut direct = <HmacSha256 as Mac>::new_from_slice(b"Jefe").unwrap();
        direct.update(format!("{T}.").as_bytes());
        direct.update(BODY);
        let expected = hex::encode(direct.finalize().into_bytes());
        assert_eq!(sign(b"Jefe", T, BODY), format!("t={T},v1={expected}"));
    }

    #[test]
    fn verifies_a_good_signature_and_reads_the_notice() {
        let notice = verify(HEADER, b"s3cret", &headers(&sign(b"s3cret", T, BODY)), BODY).unwrap();
        assert_eq!(
            notice,
            WebhookNotice {
                reference: "abc".into(),
                event_id: "evt_1".into(),
                signed_at: T,
            }
        );
    }

    #[test]
    fn header_name_is_case_insensitive_and_one_of_several_digests_may_match() {
        let good = sign(b"k", T, BODY);
        let rotated = format!("{good},v1={}", "00".repeat(32));
        let hs = vec![("x-test-signature".to_owned(), rotated)];
        assert!(verify(HEADER, b"k", &hs, BODY).is_ok());
    }

    #[test]
    fn rejects_missing_malformed_and_wrong_signatures() {
        let good = sign(b"k", T, BODY);
        let digest = good.split_once(",v1=").unwrap().1.to_owned();
        let bad = [
            vec![],
            headers(&digest),
            headers(&format!("sha256={digest}")),
            headers(&format!("v1={digest}")),
            headers(&format!("t=abc,v1={digest}")),
            headers(&format!("t={T},v1=zz")),
            headers(&format!("t={T}")),
            headers(&sign(b"other key", T, BODY)),
            vec![("X-Other".to_owned(), good.clone())],
        ];
        for hs in bad {
            assert_eq!(
                verify(HEADER, b"k", &hs, BODY),
                Err(GatewayError::InvalidSignature),
                "{hs:?}"
            );
        }
        // The timestamp is signed: moving it breaks the signature.
        let moved = good.replacen(&format!("t={T}"), &format!("t={}", T + 60), 1);
        assert_eq!(
            verify(HEADER, b"k", &headers(&moved), BODY),
            Err(GatewayError::InvalidSignature)
        );
        let tampered = br#"{"event_id":"evt_1","reference":"abd"}"#;
        assert_eq!(
            verify(HEADER, b"k", &headers(&good), tampered),
            Err(GatewayError::InvalidSignature)
        );
    }

    #[test]
    fn a_signed_body_that_is_not_a_notice_is_refused() {
        let long_id = format!(r#"{{"event_id":"{}","reference":"x"}}"#, "e".repeat(201));
        for body in [
            &b"not json"[..],
            br#"{"ref":"x"}"#,
            br#"{"reference":"x"}"#,
            br#"{"event_id":"e","reference":"  "}"#,
            br#"{"event_id":" ","reference":"x"}"#,
            long_id.as_bytes(),
        ] {
            let result = verify(HEADER, b"k", &headers(&sign(b"k", T, body)), body);
            assert!(
                matches!(result, Err(GatewayError::Refused(_))),
                "{result:?}"
            );
        }
    }
}
