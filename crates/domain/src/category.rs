//! Event categories, a hierarchy through `parent_id`.

use crate::{CategoryId, DomainError, text};

/// The deepest a category tree may go.
pub const MAX_DEPTH: usize = 8;

/// Unvalidated category fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CategoryInput {
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<CategoryId>,
    pub icon_url: Option<String>,
}

/// Validated category fields (for create and update).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryFields {
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<CategoryId>,
    pub icon_url: Option<String>,
}

impl CategoryFields {
    pub fn new(input: &CategoryInput) -> Result<Self, DomainError> {
        Ok(Self {
            name: text::required("name", &input.name, 100)?,
            description: text::optional("description", input.description.as_deref(), 255)?,
            parent_id: input.parent_id,
            icon_url: text::optional_url("icon_url", input.icon_url.as_deref(), 255)?,
        })
    }
}

/// A stored category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: CategoryId,
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<CategoryId>,
    pub icon_url: Option<String>,
}

/// Checks that giving `category` (None for a new one) the parent `parent` keeps the hierarchy a
/// tree no deeper than [`MAX_DEPTH`]. `parent_of` looks up the current parent of a category.
pub fn check_parent(
    category: Option<CategoryId>,
    parent: Option<CategoryId>,
    parent_of: impl Fn(CategoryId) -> Option<CategoryId>,
) -> Result<(), DomainError> {
    let mut current = parent;
    let mut depth = 1;
    while let Some(id) = current {
        if Some(id) == category {
            return Err(DomainError::CategoryCycle);
        }
        depth += 1;
        if depth > MAX_DEPTH {
            return Err(DomainError::validation(
                "parent_id",
                format!("categories nest at most {MAX_DEPTH} deep"),
            ));
        }
        current = parent_of(id);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn tree() -> HashMap<CategoryId, Option<CategoryId>> {
        // 1 ← 2 ← 3 (3's parent is 2, 2's parent is 1)
        HashMap::from([
            (CategoryId(1), None),
            (CategoryId(2), Some(CategoryId(1))),
            (CategoryId(3), Some(CategoryId(2))),
        ])
    }

    #[test]
    fn a_new_leaf_anywhere_is_fine() {
        let t = tree();
        assert!(check_parent(None, Some(CategoryId(3)), |id| t[&id]).is_ok());
        assert!(check_parent(None, None, |id| t[&id]).is_ok());
    }

    #[test]
    fn moving_a_category_under_its_own_descendant_is_a_cycle() {
        let t = tree();
        assert_eq!(
            check_parent(Some(CategoryId(1)), Some(CategoryId(3)), |id| t[&id]).unwrap_err(),
            DomainError::CategoryCycle
        );
        assert_eq!(
            check_parent(Some(CategoryId(2)), Some(CategoryId(2)), |id| t[&id]).unwrap_err(),
            DomainError::CategoryCycle
        );
    }

    #[test]
    fn depth_is_bounded() {
        let chain: HashMap<CategoryId, Option<CategoryId>> = (1..=10)
            .map(|i| (CategoryId(i), (i > 1).then(|| CategoryId(i - 1))))
            .collect();
        assert!(check_parent(None, Some(CategoryId(10)), |id| chain[&id]).is_err());
        assert!(check_parent(None, Some(CategoryId(3)), |id| chain[&id]).is_ok());
    }

    #[test]
    fn fields_are_validated() {
        assert!(
            CategoryFields::new(&CategoryInput {
                name: "Rafting".into(),
                ..Default::default()
            })
            .is_ok()
        );
        assert!(CategoryFields::new(&CategoryInput::default()).is_err());
        let bad_icon = CategoryInput {
            name: "x".into(),
            icon_url: Some("data:x".into()),
            ..Default::default()
        };
        assert!(CategoryFields::new(&bad_icon).is_err());
    }
}
