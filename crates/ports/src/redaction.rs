//! What never reaches a log line or the audit log in clear: ticket codes, payment and refund
//! references, tokens, secrets, e-mail addresses. Values are masked (the last four characters
//! kept, enough to tell two apart when investigating) or, for whole bodies, omitted by the
//! caller.

use serde_json::Value;

/// `EVT-25T9-NFPH-F0HK-ATC9` → `****ATC9`; four characters or fewer → `****`. Masking a masked
/// value changes nothing.
#[must_use]
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 4 {
        return "****".to_owned();
    }
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("****{tail}")
}

/// Whether a JSON key names a value that must not be stored or logged in clear.
#[must_use]
pub fn is_sensitive_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "ticket_code",
        "reference",
        "token",
        "secret",
        "password",
        "email",
        "authorization",
    ]
    .iter()
    .any(|s| key.contains(s))
}

/// Masks, in place and at any depth, every string (or number) under a sensitive key.
pub fn redact_json(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                if is_sensitive_key(key) {
                    match v {
                        Value::String(s) => *s = mask(s),
                        Value::Number(n) => *v = Value::String(mask(&n.to_string())),
                        other => redact_json(other),
                    }
                } else {
                    redact_json(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_json),
        _ => {}
    }
}

/// A request path fit for a log line: the payment reference of the sandbox page masked.
#[must_use]
pub fn loggable_path(path: &str) -> String {
    match path.strip_prefix("/sandbox/payments/") {
        Some(reference) if !reference.is_empty() => {
            format!("/sandbox/payments/{}", mask(reference))
        }
        _ => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hole_8_sensitive_values_are_masked_at_any_depth() {
        let mut v = json!({
            "booking_id": 7,
            "ticket_code": "EVT-25T9-NFPH-F0HK-ATC9",
            "payments": [{"gateway_reference": "sbx_0123456789", "amount": "10.00"}],
            "contact": {"email": "alice@example.com"},
            "none": null,
            "ticket_code_missing": null,
        });
        redact_json(&mut v);
        assert_eq!(v["ticket_code"], "****ATC9");
        assert_eq!(v["payments"][0]["gateway_reference"], "****6789");
        assert_eq!(v["payments"][0]["amount"], "10.00");
        assert_eq!(v["contact"]["email"], "****.com");
        assert_eq!(v["booking_id"], 7);
        assert!(v["ticket_code_missing"].is_null());
        let again = v.clone();
        redact_json(&mut v);
        assert_eq!(v, again, "idempotent");
        assert_eq!(mask("abc"), "****");
        assert_eq!(
            loggable_path("/sandbox/payments/sbx_0123456789"),
            "/sandbox/payments/****6789"
        );
        assert_eq!(loggable_path("/api/v1/events"), "/api/v1/events");
    }
}
