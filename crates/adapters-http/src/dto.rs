//! Shared request/response pieces: money in and out, pages, timestamps, and every DTO more
//! than one route module (or the state) uses, so that route modules import `dto`, never each
//! other.

mod events;
mod payments;

pub use events::{
    CrewInfo, EventResponse, LocationPoint, PriceOptionRequest, PriceOptionResponse, RefundTierDto,
};
pub use payments::{PaymentResponse, PriceBreakdownResponse, RefundResponse};

use std::str::FromStr;

use application::{AppError, Page, PageRequest};
use domain::Money;
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A money amount on input: a decimal string (`"1500.00"`) or a JSON number with at most two
/// decimals (`1500`, `12.5`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ToSchema)]
#[schema(value_type = String, example = "1500.00")]
pub struct MoneyInput(pub Money);

/// Written back as the canonical decimal string (used to fingerprint idempotent requests).
impl Serialize for MoneyInput {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0.to_string())
    }
}

impl<'de> Deserialize<'de> for MoneyInput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // Through `Value`, so that a syntax error (`NaN`, `1e999`) stays a syntax error.
        let text = match serde_json::Value::deserialize(deserializer)? {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => i.to_string(),
                (None, Some(u), _) => u.to_string(),
                // `Display` of f64 never uses an exponent: 1e5 → "100000".
                (None, None, Some(f)) if f.is_finite() => f.to_string(),
                _ => return Err(serde::de::Error::custom("amount must be finite")),
            },
            _ => {
                return Err(serde::de::Error::custom(
                    "expected an amount: a string like \"12.50\" or a number",
                ));
            }
        };
        let trimmed = text.trim();
        if !is_plain_decimal(trimmed) {
            return Err(serde::de::Error::custom(format!(
                "`{text}` is not a decimal amount (digits, optionally `.` and at most two decimals)"
            )));
        }
        let decimal = Decimal::from_str(trimmed)
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a decimal amount")))?;
        if decimal.scale() > 2 && decimal.normalize().scale() > 2 {
            return Err(serde::de::Error::custom(format!(
                "`{text}` has more than two decimals"
            )));
        }
        Money::from_decimal(decimal)
            .map(MoneyInput)
            .map_err(|e| serde::de::Error::custom(e.to_string()))
    }
}

/// `-?digits(.digits)?`: no exponent, no `NaN`/`Infinity`, no `+`, no separators.
fn is_plain_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(whole) && digits(fraction)
}

/// `?page=0&size=20`: page from 0, size 1..=100.
#[derive(Debug, Clone, Copy, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Page number, from 0 (at most 10000).
    #[param(minimum = 0, maximum = 10000)]
    pub page: Option<i64>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub size: Option<i64>,
}

impl PageParams {
    pub fn request(self) -> Result<PageRequest, AppError> {
        PageRequest::new(self.page, self.size)
    }
}

/// The paging fields of every list answer.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
pub struct PageInfo {
    pub page: i64,
    pub size: i64,
    pub total_pages: i64,
    pub total_elements: i64,
}

impl PageInfo {
    pub fn of<T>(page: &Page<T>) -> Self {
        Self {
            page: i64::from(page.page),
            size: i64::from(page.size),
            total_pages: i64::try_from(page.total_pages()).unwrap_or(i64::MAX),
            total_elements: i64::try_from(page.total_elements).unwrap_or(i64::MAX),
        }
    }
}

// Here rather than in `actuator`, which reads the state that holds it. The doc line below is
// the schema's description.
/// What is running.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InfoResponse {
    pub name: String,
    pub version: String,
    pub profile: String,
    pub database: String,
    pub payment_gateways: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(json: &str) -> Result<Money, String> {
        serde_json::from_str::<MoneyInput>(json)
            .map(|m| m.0)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn accepts_strings_and_numbers_with_two_decimals_at_most() {
        assert_eq!(money("\"1500.00\"").unwrap().to_string(), "1500.00");
        assert_eq!(money("1500").unwrap().to_string(), "1500.00");
        assert_eq!(money("12.5").unwrap().to_string(), "12.50");
        assert_eq!(money("\"0.10\"").unwrap().to_string(), "0.10");
    }

    #[test]
    fn refuses_more_decimals_and_non_amounts() {
        assert!(money("12.345").is_err());
        assert!(money("\"12.345\"").is_err());
        assert!(money("\"abc\"").is_err());
        assert!(money("true").is_err());
        assert!(money("null").is_err());
        assert!(money("\"1e5\"").is_err());
        assert!(money("\"NaN\"").is_err());
        assert!(money("\"Infinity\"").is_err());
        assert!(money("\"+5\"").is_err());
        assert!(money("\"5.\"").is_err());
        assert!(money("\".5\"").is_err());
        assert!(money("\"1_000\"").is_err());
    }

    #[test]
    fn json_numbers_in_exponent_form_are_plain_numbers() {
        assert_eq!(money("1e5").unwrap().to_string(), "100000.00");
        assert_eq!(money("1.5e1").unwrap().to_string(), "15.00");
        assert!(money("1e-7").is_err());
    }
}
