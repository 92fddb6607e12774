//! Request-shape rules of the request messages (`validator`, derived through `build.rs`),
//! turned into `VALIDATION_FAILED` with one field per broken rule; `status` renders them as
//! `google.rpc.BadRequest` field violations. The one place this edge maps `validator`'s errors.

use std::borrow::Cow;

use application::{AppError, FieldError};
use validator::{Validate, ValidationError, ValidationErrors, ValidationErrorsKind};

/// Runs the message's rules.
pub(crate) fn validate<T: Validate>(request: &T) -> Result<(), AppError> {
    request.validate().map_err(|errors| AppError::Validation {
        fields: fields(&errors),
    })
}

fn fields(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect("", errors, &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn collect(prefix: &str, errors: &ValidationErrors, out: &mut Vec<FieldError>) {
    for (name, kind) in errors.errors() {
        let path = join(prefix, name);
        match kind {
            ValidationErrorsKind::Field(list) => {
                for e in list {
                    // A message-level rule names its field in the `field` param.
                    let field = if name == "__all__" {
                        let named = e.params.get("field").and_then(|v| v.as_str());
                        join(prefix, named.unwrap_or("request"))
                    } else {
                        path.clone()
                    };
                    out.push(FieldError {
                        field,
                        message: message_of(e),
                    });
                }
            }
            ValidationErrorsKind::Struct(inner) => collect(&path, inner, out),
            ValidationErrorsKind::List(items) => {
                for (i, inner) in items {
                    collect(&format!("{path}[{i}]"), inner, out);
                }
            }
        }
    }
}

fn join(prefix: &str, name: &str) -> String {
    match (prefix.is_empty(), name) {
        (_, "__all__") => prefix.to_owned(),
        (true, _) => name.to_owned(),
        (false, _) => format!("{prefix}.{name}"),
    }
}

fn message_of(e: &ValidationError) -> String {
    if let Some(message) = &e.message {
        return message.to_string();
    }
    let param = |k: &str| e.params.get(k).map(ToString::to_string);
    match (e.code.as_ref(), param("min"), param("max")) {
        ("range", Some(min), Some(max)) => format!("must be between {min} and {max}"),
        ("range", Some(min), None) => format!("must be at least {min}"),
        ("range", None, Some(max)) => format!("must be at most {max}"),
        ("length", Some(min), Some(max)) => format!("must have between {min} and {max} items"),
        (code, _, _) => format!("is invalid ({code})"),
    }
}

/// A message-level violation reported on `field`.
pub(crate) fn violation(field: &'static str, message: &'static str) -> ValidationError {
    let mut e = ValidationError::new("invalid").with_message(Cow::Borrowed(message));
    e.add_param(Cow::Borrowed("field"), &field);
    e
}
