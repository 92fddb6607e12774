//! The record of a state change, returned by every state-machine method.

/// A state change `from → to`. Use cases write it to the booking log / audit log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub struct Transition<S> {
    pub from: S,
    pub to: S,
}

impl<S: Copy + PartialEq> Transition<S> {
    pub const fn new(from: S, to: S) -> Self {
        Self { from, to }
    }

    /// Whether the state actually changed (a self-transition such as a repeated partial
    /// refund keeps the status).
    pub fn changed(&self) -> bool {
        self.from != self.to
    }
}
