//! Request-shape rules of the DTOs (`validator`), mapped by `application::validation` into
//! `VALIDATION_FAILED`; the problem+json table renders them as `errors[]`. A request-level rule
//! that names no field is reported on `body`.

use application::AppError;
pub use application::validation::violation;
use validator::Validate;

/// Runs the DTO's rules.
pub fn validate<T: Validate>(request: &T) -> Result<(), AppError> {
    application::validation::validate(request, "body")
}
