//! The webhook signature shared by the built-in gateways: `sha256=<hex HMAC-SHA256(secret, raw body)>`
//! in a gateway-specific header, over a JSON body `{"reference": "..."}`.

use hmac::{Hmac, Mac};
use ports::payment_gateway::{GatewayError, WebhookNotice};
use serde::Deserialize;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const PREFIX: &str = "sha256=";

/// The header value signing `body` with `secret`: `sha256=<lowercase hex>`.
pub(crate) fn sign(secret: &[u8], body: &[u8]) -> String {
    format!(
        "{PREFIX}{}",
        hex::encode(mac(secret, body).finalize().into_bytes())
    )
}

/// Checks the signature found in `header` (case-insensitive name) against `body`, then reads
/// the reference from the body. The comparison is constant-time (`Mac::verify_slice`).
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
    let hex_digest = value
        .strip_prefix(PREFIX)
        .ok_or(GatewayError::InvalidSignature)?;
    let digest = hex::decode(hex_digest).map_err(|_| GatewayError::InvalidSignature)?;
    mac(secret, body)
        .verify_slice(&digest)
        .map_err(|_| GatewayError::InvalidSignature)?;
    parse_notice(body)
}

#[allow(clippy::expect_used)] // HMAC is defined for keys of any length: this cannot fail.
fn mac(secret: &[u8], body: &[u8]) -> HmacSha256 {
    let mut mac =
        <HmacSha256 as Mac>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(body);
    mac
}

#[derive(Deserialize)]
struct NoticeBody {
    reference: String,
}

/// A signed body that is not `{"reference": "<non-blank>"}` is refused (the sender is
/// genuine, its message is not understood).
fn parse_notice(body: &[u8]) -> Result<WebhookNotice, GatewayError> {
    let notice: NoticeBody = serde_json::from_slice(body)
        .map_err(|e| GatewayError::Refused(format!("malformed webhook body: {e}")))?;
    let reference = notice.reference.trim();
    if reference.is_empty() {
        return Err(GatewayError::Refused(
            "webhook body has a blank reference".into(),
        ));
    }
    Ok(WebhookNotice {
        reference: reference.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "X-Test-Signature";

    fn headers(value: &str) -> Vec<(String, String)> {
        vec![(HEADER.to_owned(), value.to_owned())]
    }

    #[test]
    fn signature_is_the_hex_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            sign(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn verifies_a_good_signature_and_reads_the_reference() {
        let body = br#"{"reference":"abc"}"#;
        let notice = verify(HEADER, b"s3cret", &headers(&sign(b"s3cret", body)), body).unwrap();
        assert_eq!(notice.reference, "abc");
    }

    #[test]
    fn header_name_is_case_insensitive_and_hex_case_does_not_matter() {
        let body = br#"{"reference":"abc"}"#;
        let value = sign(b"k", body)
            .to_uppercase()
            .replacen("SHA256=", "sha256=", 1);
        let hs = vec![("x-test-signature".to_owned(), value)];
        assert!(verify(HEADER, b"k", &hs, body).is_ok());
    }

    #[test]
    fn rejects_missing_malformed_and_wrong_signatures() {
        let body = br#"{"reference":"abc"}"#;
        let good = sign(b"k", body);
        let bad = [
            vec![],
            headers(good.trim_start_matches("sha256=")),
            headers("sha256=zz"),
            headers("sha256="),
            headers(&sign(b"other key", body)),
            vec![("X-Other".to_owned(), good.clone())],
        ];
        for hs in bad {
            assert_eq!(
                verify(HEADER, b"k", &hs, body),
                Err(GatewayError::InvalidSignature),
                "{hs:?}"
            );
        }
        let tampered = br#"{"reference":"abd"}"#;
        assert_eq!(
            verify(HEADER, b"k", &headers(&good), tampered),
            Err(GatewayError::InvalidSignature)
        );
    }

    #[test]
    fn a_signed_body_that_is_not_a_notice_is_refused() {
        for body in [
            &b"not json"[..],
            br#"{"ref":"x"}"#,
            br#"{"reference":"  "}"#,
        ] {
            let result = verify(HEADER, b"k", &headers(&sign(b"k", body)), body);
            assert!(
                matches!(result, Err(GatewayError::Refused(_))),
                "{result:?}"
            );
        }
    }
}
