//! Request-shape rules of the inbound edges' requests (`validator`, on the HTTP DTOs and the
//! gRPC messages), turned into `VALIDATION_FAILED` with one field per broken rule, named by its
//! path in the request (`refund_policy[1].percent`, `event_ids`). This is the one place
//! `validator`'s errors are mapped; each edge renders the result like any other validation error
//! (problem+json `errors[]`, `google.rpc.BadRequest`).
//!
//! Domain invariants (text lengths, money, pricing rules, dates) stay in the domain's value
//! types; the rules here are the shape of a request that only an edge knows.

use std::borrow::Cow;

use ports::{AppError, FieldError};
use validator::{Validate, ValidationError, ValidationErrors, ValidationErrorsKind};

/// Runs the request's rules; a request-level rule that names no field is reported on `whole`
/// (`body` over HTTP, `request` over gRPC).
pub fn validate<T: Validate>(request: &T, whole: &str) -> Result<(), AppError> {
    request.validate().map_err(|errors| AppError::Validation {
        fields: fields(&errors, whole),
    })
}

/// The violations, sorted by path (deterministic answers).
#[must_use]
pub fn fields(errors: &ValidationErrors, whole: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect("", errors, whole, &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn collect(prefix: &str, errors: &ValidationErrors, whole: &str, out: &mut Vec<FieldError>) {
    for (name, kind) in errors.errors() {
        let path = join(prefix, name);
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    out.push(FieldError {
                        field: field_of(&path, prefix, name, e, whole),
                        message: message_of(e),
                    });
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(&path, inner, whole, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect(&format!("{path}[{i}]"), inner, whole, out);
                }
            }
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name) {
        // A struct-level rule (`#[validate(schema(…))]`) names its field in the `field` param.
        (_, "__all__") => prefix.to_owned(),
        (true, _) => name.to_owned(),
        (false, _) => format!("{prefix}.{name}"),
    }
}

fn field_of(path: &str, prefix: &str, name: &str, e: &ValidationError, whole: &str) -> String {
    if name != "__all__" {
        return path.to_owned();
    }
    let field = e
        .params
        .get("field")
        .and_then(|v| v.as_str())
        .unwrap_or(whole);
    join(prefix, field)
}

fn message_of(e: &ValidationError) -> String {
    if let Some(message) = &e.message {
        return message.to_string();
    }
    let param = |k: &str| e.params.get(k).map(ToString::to_string);
    match e.code.as_ref() {
        "range" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must be between {min} and {max}"),
            (Some(min), None) => format!("must be at least {min}"),
            (None, Some(max)) => format!("must be at most {max}"),
            (None, None) => "is out of range".to_owned(),
        },
        "length" => match (param("min"), param("max")) {
            (Some(min), Some(max)) => format!("must have between {min} and {max} items"),
            (Some(min), None) => format!("must have at least {min} items"),
            (None, Some(max)) => format!("must have at most {max} items"),
            (None, None) => "has a wrong length".to_owned(),
        },
        other => format!("is invalid ({other})"),
    }
}

/// A struct-level violation reported on `field` (see [`fields`]).
#[must_use]
pub fn violation(field: &'static str, message: &'static str) -> ValidationError {
    let mut e = ValidationError::new("invalid").with_message(Cow::Borrowed(message));
    e.add_param(Cow::Borrowed("field"), &field);
    e
}

#[cfg(test)]
mod tests {
    use validator::Validate;

    use super::*;

    #[derive(Validate)]
    struct Tier {
        #[validate(range(max = 100))]
        percent: u32,
    }

    #[derive(Validate)]
    #[validate(schema(function = "one_of"))]
    struct Body {
        #[validate(length(min = 1, max = 3))]
        ids: Vec<i64>,
        #[validate(nested)]
        tiers: Vec<Tier>,
        #[validate(range(min = 1, max = 10))]
        quantity: Option<i64>,
        a: Option<i64>,
        b: Option<i64>,
    }

    fn one_of(body: &Body) -> Result<(), ValidationError> {
        if body.a.is_some() == body.b.is_some() {
            return Err(violation("a", "give exactly one of a and b"));
        }
        Ok(())
    }

    #[test]
    fn nested_lists_are_named_by_index_and_struct_rules_by_their_field() {
        let body = Body {
            ids: vec![],
            tiers: vec![Tier { percent: 10 }, Tier { percent: 101 }],
            quantity: Some(11),
            a: None,
            b: None,
        };
        let AppError::Validation { fields } = validate(&body, "body").unwrap_err() else {
            panic!("not a validation error");
        };
        let got: Vec<(&str, &str)> = fields
            .iter()
            .map(|f| (f.field.as_str(), f.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("ids", "must have between 1 and 3 items"),
                ("quantity", "must be between 1 and 10"),
                ("tiers[1].percent", "must be at most 100"),
            ]
        );
        // Struct-level rules run once the fields are valid.
        let fields_ok = Body {
            ids: vec![1],
            tiers: vec![],
            quantity: None,
            a: Some(1),
            b: Some(2),
        };
        let AppError::Validation { fields } = validate(&fields_ok, "body").unwrap_err() else {
            panic!("not a validation error");
        };
        assert_eq!(fields.len(), 1);
        assert_eq!(fields[0].field, "a");
        assert_eq!(fields[0].message, "give exactly one of a and b");
    }

    #[test]
    fn a_valid_request_passes() {
        let body = Body {
            ids: vec![1],
            tiers: vec![Tier { percent: 100 }],
            quantity: None,
            a: Some(1),
            b: None,
        };
        assert!(validate(&body, "body").is_ok());
    }
}
