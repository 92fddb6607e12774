//! Request-shape rules of the request messages (`validator`, derived through `build.rs`), mapped
//! by `application::validation` into `VALIDATION_FAILED`; `status` renders them as
//! `google.rpc.BadRequest` field violations. A message-level rule that names no field is
//! reported on `request`.

use application::AppError;
pub(crate) use application::validation::violation;
use validator::Validate;

/// Runs the message's rules.
pub(crate) fn validate<T: Validate>(request: &T) -> Result<(), AppError> {
    application::validation::validate(request, "request")
}
