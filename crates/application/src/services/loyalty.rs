//! Loyalty account (PRODUCT.md §7): the balance and the append-only ledger of a user.
//!
//! Points are earned when a booking is confirmed and on approved reviews, spent as a booking
//! discount, and given or taken back on cancellations (`services/refunds.rs`); this use case
//! only reads.

use std::sync::Arc;

use domain::UserId;
use domain::loyalty::{LoyaltyEntry, LoyaltyProgram};

use crate::actor::RequestContext;
use crate::ports::UnitOfWork;
use crate::{AppError, Page, PageRequest};

/// `GET /api/v1/loyalty`: the balance, the programme's terms and a page of the ledger, newest
/// first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoyaltyAccount {
    pub user_id: UserId,
    pub balance: u64,
    pub program: LoyaltyProgram,
    pub history: Page<LoyaltyEntry>,
}

/// The loyalty use cases.
#[derive(Clone)]
pub struct LoyaltyService {
    uow: Arc<dyn UnitOfWork>,
    program: LoyaltyProgram,
}

impl std::fmt::Debug for LoyaltyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoyaltyService")
            .field("program", &self.program)
            .finish_non_exhaustive()
    }
}

impl LoyaltyService {
    #[must_use]
    pub fn new(uow: Arc<dyn UnitOfWork>, program: LoyaltyProgram) -> Self {
        Self { uow, program }
    }

    /// The caller's account; an admin may read anyone's (`user_id`), anybody else asking for
    /// another user's account is 403.
    #[tracing::instrument(name = "LoyaltyService.account", skip_all)]
    pub async fn account(
        &self,
        ctx: &RequestContext,
        user_id: Option<UserId>,
        page: PageRequest,
    ) -> Result<LoyaltyAccount, AppError> {
        let me = ctx.actor.require_authenticated()?;
        let user_id = match user_id {
            Some(other) if other != me && !ctx.actor.is_admin() => {
                return Err(AppError::Forbidden {
                    reason: "only admins read another user's loyalty account",
                });
            }
            Some(other) => other,
            None => me,
        };
        let tx = self.uow.begin().await?;
        let balance = tx.loyalty().balance(user_id).await?;
        let history = tx.loyalty().history(user_id, page).await?;
        tx.commit().await?;
        Ok(LoyaltyAccount {
            user_id,
            balance,
            program: self.program,
            history,
        })
    }
}
