//! Stored text for the `&'static str` fields of application types (`AuditEntry::entity_type`,
//! `OutboxMessage::aggregate_type`).
//!
//! Those fields hold code literals (`"event"`, `"booking"`, …), so a column holds only a
//! handful of distinct values. Each distinct value is leaked once and reused; past
//! `MAX_DISTINCT` values the table is assumed to hold garbage and the row is reported corrupt
//! instead of growing the set further.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock, PoisonError};

use application::AppError;

use crate::error::corrupt;

const MAX_DISTINCT: usize = 1_024;

static TEXTS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

/// The `'static` copy of `value`.
pub(super) fn intern(value: &str, column: &str) -> Result<&'static str, AppError> {
    let mut texts = TEXTS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(known) = texts.get(value) {
        return Ok(known);
    }
    if texts.len() >= MAX_DISTINCT {
        return Err(corrupt(format!(
            "{column} = '{value}' (more than {MAX_DISTINCT} distinct values)"
        )));
    }
    let leaked: &'static str = Box::leak(value.to_owned().into_boxed_str());
    texts.insert(leaked);
    Ok(leaked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_text_is_leaked_once() {
        let a = intern("booking", "c").unwrap();
        let b = intern(&String::from("booking"), "c").unwrap();
        assert_eq!(a, "booking");
        assert!(std::ptr::eq(a, b));
    }
}
