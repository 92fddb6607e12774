//! Page requests and pages (`page` from 0, `size` capped at 100).

use crate::AppError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    page: u32,
    size: u32,
}

impl PageRequest {
    pub const MAX_SIZE: u32 = 100;
    pub const DEFAULT_SIZE: u32 = 20;
    /// Deep pagination is refused: it would be an unbounded OFFSET scan.
    pub const MAX_PAGE: u32 = 10_000;

    /// Validates raw values from the edge (negative, zero-size, oversized → 400).
    pub fn new(page: Option<i64>, size: Option<i64>) -> Result<Self, AppError> {
        let page = page.unwrap_or(0);
        let size = size.unwrap_or(i64::from(Self::DEFAULT_SIZE));
        let page = u32::try_from(page)
            .ok()
            .filter(|p| *p <= Self::MAX_PAGE)
            .ok_or_else(|| {
                AppError::invalid("page", format!("must be between 0 and {}", Self::MAX_PAGE))
            })?;
        let size = u32::try_from(size)
            .ok()
            .filter(|s| (1..=Self::MAX_SIZE).contains(s))
            .ok_or_else(|| {
                AppError::invalid("size", format!("must be between 1 and {}", Self::MAX_SIZE))
            })?;
        Ok(Self { page, size })
    }

    #[must_use]
    pub const fn page(self) -> u32 {
        self.page
    }

    #[must_use]
    pub const fn size(self) -> u32 {
        self.size
    }

    #[must_use]
    pub const fn offset(self) -> u64 {
        self.page as u64 * self.size as u64
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            page: 0,
            size: Self::DEFAULT_SIZE,
        }
    }
}

/// One page of results with the total count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: u32,
    pub size: u32,
    pub total_elements: u64,
}

impl<T> Page<T> {
    #[must_use]
    pub fn new(items: Vec<T>, request: PageRequest, total_elements: u64) -> Self {
        Self {
            items,
            page: request.page,
            size: request.size,
            total_elements,
        }
    }

    #[must_use]
    pub fn total_pages(&self) -> u64 {
        self.total_elements.div_ceil(u64::from(self.size.max(1)))
    }

    /// The same page with its items converted.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            page: self.page,
            size: self.size,
            total_elements: self.total_elements,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_bounds() {
        assert_eq!(
            PageRequest::new(None, None).unwrap(),
            PageRequest::default()
        );
        assert_eq!(PageRequest::new(Some(2), Some(100)).unwrap().offset(), 200);
        for (page, size) in [
            (Some(-1), None),
            (None, Some(0)),
            (None, Some(101)),
            (Some(10_001), None),
            (None, Some(-5)),
        ] {
            assert_eq!(
                PageRequest::new(page, size).unwrap_err().code(),
                "VALIDATION_FAILED",
                "{page:?} {size:?}"
            );
        }
    }

    #[test]
    fn total_pages_rounds_up() {
        let req = PageRequest::new(Some(0), Some(10)).unwrap();
        assert_eq!(Page::new(vec![1], req, 21).total_pages(), 3);
        assert_eq!(Page::<u8>::new(vec![], req, 0).total_pages(), 0);
        assert_eq!(
            Page::new(vec![1, 2], req, 2).map(|x| x * 10).items,
            vec![10, 20]
        );
    }
}
