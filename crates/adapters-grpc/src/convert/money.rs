//! Money travels as `double` in the proto. Amounts are exact decimals everywhere else, so a
//! double is accepted only when it *is* a decimal with at most two places: the shortest
//! decimal that reads back as the same double (what the client wrote: `1500.5`, `0.1`) must
//! have at most two decimals. Nothing is rounded: `1500.005` and `0.1 + 0.2`
//! (`0.30000000000000004`) are refused, as are NaN, infinities, negatives and amounts beyond
//! the domain's maximum.

use std::str::FromStr;

use application::AppError;
use domain::{DomainError, Money};
use rust_decimal::Decimal;

/// The amount in `field`, exactly.
///
/// # Errors
/// [`AppError::Validation`] on `field` for anything but a non-negative finite amount with at
/// most two decimals within the domain's range.
pub fn money_in(field: &str, value: f64) -> Result<Money, AppError> {
    if !value.is_finite() {
        return Err(AppError::invalid(field, "must be a finite number"));
    }
    if value < 0.0 {
        return Err(AppError::invalid(field, "must not be negative"));
    }
    // `Display` of f64 is the shortest round-trip form and never uses an exponent.
    let shortest = value.abs().to_string();
    let decimal =
        Decimal::from_str(&shortest).map_err(|_| AppError::invalid(field, "is too large"))?;
    if decimal.normalize().scale() > 2 {
        return Err(AppError::invalid(
            field,
            format!("{shortest} has more than two decimals"),
        ));
    }
    Money::from_decimal(decimal).map_err(|e| match e {
        DomainError::Validation { message, .. } => AppError::invalid(field, message),
        other => AppError::from(other),
    })
}

/// The double closest to the amount (its decimal text parsed, which rounds correctly, so
/// `1500.10` goes out as the double a client would write as `1500.1`).
#[must_use]
pub fn money_out(amount: Money) -> f64 {
    amount.amount().to_string().parse().unwrap_or(f64::NAN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(value: f64) -> String {
        money_in("price", value)
            .map(|m| m.to_string())
            .unwrap_or_else(|e| format!("error {e:?}"))
    }

    fn refused(value: f64) -> String {
        match money_in("price", value) {
            Err(AppError::Validation { fields }) => {
                assert_eq!(fields[0].field, "price");
                fields[0].message.clone()
            }
            other => format!("accepted: {other:?}"),
        }
    }

    #[test]
    fn exact_amounts_are_accepted() {
        assert_eq!(ok(1500.0), "1500.00");
        assert_eq!(ok(1500.5), "1500.50");
        assert_eq!(ok(0.1), "0.10");
        assert_eq!(ok(0.01), "0.01");
        assert_eq!(ok(19.99), "19.99");
        assert_eq!(ok(0.0), "0.00");
        assert_eq!(ok(-0.0), "0.00");
        assert_eq!(ok(999_999_999.99), "999999999.99");
    }

    #[test]
    fn more_than_two_decimals_is_refused_not_rounded() {
        assert!(refused(1500.005).contains("more than two decimals"));
        assert!(refused(1.005).contains("more than two decimals"));
        assert!(refused(0.1 + 0.2).contains("0.30000000000000004"));
        assert!(refused(1e-7).contains("more than two decimals"));
    }

    #[test]
    fn non_numbers_negatives_and_huge_amounts_are_refused() {
        assert_eq!(refused(f64::NAN), "must be a finite number");
        assert_eq!(refused(f64::INFINITY), "must be a finite number");
        assert_eq!(refused(f64::NEG_INFINITY), "must be a finite number");
        assert_eq!(refused(-1.0), "must not be negative");
        assert_eq!(refused(1e20), "is too large");
        assert_eq!(refused(1e300), "is too large");
        assert_eq!(refused(f64::MAX), "is too large");
    }

    #[test]
    fn amounts_go_out_as_the_nearest_double() {
        for text in ["0.10", "1500.00", "19.99", "0.30", "999999999.99"] {
            let money = Money::parse(text).unwrap();
            let out = money_out(money);
            assert_eq!(out, text.parse::<f64>().unwrap());
            assert_eq!(money_in("price", out).unwrap(), money, "{text} round-trips");
        }
    }
}
