//! Waitlist use cases (PRODUCT.md §4, seed 002).
//!
//! Seats that free up on a full event are *held* for the head of the queue: the entry becomes
//! NOTIFIED and its seats leave `available_seats` for the notification window, so nobody else
//! can book them. The seat invariant therefore reads
//! `available_seats + Σ quantity(active bookings) + Σ held seats = max_participants`.
//!
//! Choices made here:
//! * Joining is for a full event only: when the event has at least the asked seats free, the
//!   answer is 409 `SEATS_AVAILABLE` (book directly). A caller with an active booking for the
//!   event is 409 `ALREADY_BOOKED`; a second entry 409 `ALREADY_ON_WAITLIST`.
//! * Strict FIFO: freed seats go to the head WAITING entry only if they cover its whole
//!   quantity; otherwise nobody behind it is served (the seats stay free until they do, or
//!   until someone books them directly). A smaller request never overtakes an older one.
//! * A head entry another transaction has locked at that moment (its user is booking or
//!   leaving) is passed over for that round (`SKIP LOCKED`).
//! * `auto_process` decides whether the "seats freed" paths (cancellation, capacity raised,
//!   a waiter leaving, an offer expiring) offer the seats at once. [`WaitlistService::process`]
//!   (the process-waitlist job and its manual trigger) always offers them: with
//!   `auto_process` off, that run is the only thing that does.
//! * Offers are only made while the event can still be booked (PUBLISHED, before the cutoff).
//!
//! Lock order: an open entry is locked before the event row is written (as booking creation
//! does), so these paths do not wait on each other in opposite orders.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::Duration;
use domain::waitlist::{WaitlistEntry, WaitlistStatus};
use domain::{EventId, Quantity, Timestamp};
use serde_json::{Value, json};

use crate::actor::{RequestContext, Role};
use crate::clock::Clock;
use crate::outbox::DomainEventType;
use crate::ports::{AuditEntry, Tx, UnitOfWork};
use crate::services::recording::Recorder;
use crate::{AppError, ErrorCode, Page, PageRequest};

/// How the waitlist behaves (`app.waitlist.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitlistSettings {
    /// How long seats stay held for a notified entry.
    pub notification_window: Duration,
    /// Offer freed seats at once, in the transaction that frees them.
    pub auto_process: bool,
    /// The most seats one entry may wait for (the booking maximum).
    pub max_quantity: u32,
}

impl Default for WaitlistSettings {
    fn default() -> Self {
        Self {
            notification_window: Duration::minutes(30),
            auto_process: true,
            max_quantity: 10,
        }
    }
}

/// An open entry with its 1-based place in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitlistPosition {
    pub entry: WaitlistEntry,
    pub position: u64,
}

/// What `GET /events/{id}/waitlist` shows the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitlistView {
    /// A waiter: their own entry.
    Own(WaitlistPosition),
    /// The event's organizer or an admin: the queue.
    Queue(Page<WaitlistEntry>),
}

/// The waitlist use cases.
#[derive(Clone)]
pub struct WaitlistService {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
    settings: WaitlistSettings,
}

impl std::fmt::Debug for WaitlistService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitlistService")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Entries expired per transaction by the job (each event's queue then advances in it).
const PROCESS_BATCH: u32 = 200;
/// WAITING entries read per round while offering seats.
const OFFER_BATCH: u32 = 50;

impl WaitlistService {
    #[must_use]
    pub fn new(
        uow: Arc<dyn UnitOfWork>,
        clock: Arc<dyn Clock>,
        settings: WaitlistSettings,
    ) -> Self {
        Self {
            uow,
            clock,
            settings,
        }
    }

    #[must_use]
    pub const fn settings(&self) -> WaitlistSettings {
        self.settings
    }

    /// `POST /events/{id}/waitlist`: a signed-in caller queues for `quantity` seats of a full,
    /// bookable event.
    #[tracing::instrument(name = "WaitlistService.join", skip_all)]
    pub async fn join(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
        quantity: i64,
    ) -> Result<WaitlistPosition, AppError> {
        let user = ctx.actor.require_authenticated()?;
        let quantity = Quantity::new(quantity, self.settings.max_quantity)?;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        // The event row is locked so a cancellation freeing seats cannot slip between the
        // "still full" check and the insert.
        let event = tx
            .events()
            .find_for_update(event_id)
            .await?
            .ok_or(AppError::NotFound { entity: "event" })?;
        if !event.is_public() {
            return Err(AppError::NotFound { entity: "event" });
        }
        event.check_bookable(now)?;
        if event.seats.available() >= quantity.get() {
            return Err(AppError::conflict(
                ErrorCode::SeatsAvailable,
                format!(
                    "{} seat(s) are free: book directly",
                    event.seats.available()
                ),
            ));
        }
        if tx.bookings().find_active(event_id, user).await?.is_some() {
            return Err(AppError::conflict(
                ErrorCode::AlreadyBooked,
                "you already have an active booking for this event",
            ));
        }
        let entry = tx.waitlist().join(event_id, user, quantity, now).await?;
        tx.waitlist()
            .append_audit(&entry, None, Some(user), now)
            .await?;
        record(
            tx.as_ref(),
            ctx,
            "waitlist.join",
            &entry,
            None,
            Some(entry_summary(&entry)),
            now,
        )
        .await?;
        let position = tx.waitlist().position(&entry).await?;
        tx.commit().await?;
        Ok(WaitlistPosition { entry, position })
    }

    /// `DELETE /events/{id}/waitlist`: the caller leaves the queue; seats held for them pass to
    /// the next waiter (or back to the event).
    #[tracing::instrument(name = "WaitlistService.leave", skip_all)]
    pub async fn leave(&self, ctx: &RequestContext, event_id: EventId) -> Result<(), AppError> {
        let user = ctx.actor.require_authenticated()?;
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut entry =
            tx.waitlist()
                .find_open(event_id, user)
                .await?
                .ok_or(AppError::NotFound {
                    entity: "waitlist entry",
                })?;
        let before = entry_summary(&entry);
        let old = entry.status;
        let hold = entry.leave(now)?;
        let stored = tx.waitlist().update(&entry).await?;
        tx.waitlist()
            .append_audit(&stored, Some(old), Some(user), now)
            .await?;
        record(
            tx.as_ref(),
            ctx,
            "waitlist.leave",
            &stored,
            Some(before),
            Some(entry_summary(&stored)),
            now,
        )
        .await?;
        if hold.seats > 0 {
            tx.events().release_seats(event_id, hold.seats).await?;
            offer_freed_seats(tx.as_ref(), event_id, now, &self.settings, ctx).await?;
        }
        tx.commit().await
    }

    /// The caller's open entry and place in the queue (404 when not queued).
    #[tracing::instrument(name = "WaitlistService.position", skip_all)]
    pub async fn position(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
    ) -> Result<WaitlistPosition, AppError> {
        let user = ctx.actor.require_authenticated()?;
        let tx = self.uow.begin().await?;
        let entry = tx
            .waitlist()
            .peek_open(event_id, user)
            .await?
            .ok_or(AppError::NotFound {
                entity: "waitlist entry",
            })?;
        let position = tx.waitlist().position(&entry).await?;
        tx.commit().await?;
        Ok(WaitlistPosition { entry, position })
    }

    /// The event's queue by join order, for its organizer and admins (`statuses` empty: all).
    #[tracing::instrument(name = "WaitlistService.queue", skip_all)]
    pub async fn queue(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
        statuses: Vec<WaitlistStatus>,
        page: PageRequest,
    ) -> Result<Page<WaitlistEntry>, AppError> {
        ctx.actor.require_role(
            &[Role::Organizer, Role::Admin],
            "only the event's organizer and admins see the queue",
        )?;
        let tx = self.uow.begin().await?;
        let event = tx
            .events()
            .find(event_id)
            .await?
            .ok_or(AppError::NotFound { entity: "event" })?;
        ctx.actor.require_event_manager(event.creator_id)?;
        tx.waitlist().list(event_id, statuses, page).await
    }

    /// `GET /events/{id}/waitlist`: the event's organizer and admins see the queue; anyone else
    /// signed in sees their own entry (404 when not queued). Filtering by status is the
    /// queue's, so a USER asking for it is 403.
    #[tracing::instrument(name = "WaitlistService.view", skip_all)]
    pub async fn view(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
        statuses: Vec<WaitlistStatus>,
        page: PageRequest,
    ) -> Result<WaitlistView, AppError> {
        let me = ctx.actor.require_authenticated()?;
        match ctx.actor.role() {
            Role::Admin => {
                return self
                    .queue(ctx, event_id, statuses, page)
                    .await
                    .map(WaitlistView::Queue);
            }
            Role::Organizer => {
                let tx = self.uow.begin().await?;
                let event = tx
                    .events()
                    .find(event_id)
                    .await?
                    .ok_or(AppError::NotFound { entity: "event" })?;
                if event.creator_id == me {
                    return tx
                        .waitlist()
                        .list(event_id, statuses, page)
                        .await
                        .map(WaitlistView::Queue);
                }
            }
            _ => {
                if !statuses.is_empty() {
                    return Err(AppError::Forbidden {
                        reason: "only the event's organizer and admins see the queue",
                    });
                }
            }
        }
        self.position(ctx, event_id).await.map(WaitlistView::Own)
    }

    /// `POST /events/{id}/waitlist/process` (the event's organizer or an admin) and the admin's
    /// run over every event (`event_id = None`, admins only): see [`Self::process_due`]. At
    /// most `limit` expired offers are handled. Answers the entries moved (expired + notified).
    #[tracing::instrument(name = "WaitlistService.process", skip_all)]
    pub async fn process(
        &self,
        ctx: &RequestContext,
        event_id: Option<EventId>,
        limit: u32,
    ) -> Result<u64, AppError> {
        ctx.actor.require_role(
            &[Role::Organizer, Role::Admin],
            "only organizers and admins process the waitlist",
        )?;
        match event_id {
            Some(id) => {
                let creator = {
                    let tx = self.uow.begin().await?;
                    tx.events()
                        .find(id)
                        .await?
                        .ok_or(AppError::NotFound { entity: "event" })?
                        .creator_id
                };
                ctx.actor.require_event_manager(creator)?;
                self.process_event(ctx, id, limit).await
            }
            None => {
                if !ctx.actor.is_admin() {
                    return Err(AppError::Forbidden {
                        reason: "only admins process every event's waitlist",
                    });
                }
                self.process_all(ctx, limit).await
            }
        }
    }

    /// The process-waitlist job (system actor `process-waitlist`): NOTIFIED entries whose
    /// window has passed become EXPIRED (`waitlist.expired`, audit) and their seats pass to the
    /// next waiters of the same event, who are NOTIFIED (`waitlist.notified`); any other free
    /// seats of those events are offered too. Works in transactions of up to 200 entries,
    /// handles at most `limit` expired offers, and is safe on several instances at once
    /// (claimed rows are skipped by the others). Answers the entries moved (expired +
    /// notified).
    #[tracing::instrument(name = "WaitlistService.process_due", skip_all)]
    pub async fn process_due(&self, limit: u32) -> Result<u64, AppError> {
        self.process_all(&RequestContext::system("process-waitlist"), limit)
            .await
    }

    async fn process_all(&self, ctx: &RequestContext, limit: u32) -> Result<u64, AppError> {
        let mut handled = 0u32;
        let mut moved = 0u64;
        while handled < limit {
            let batch = PROCESS_BATCH.min(limit - handled);
            let now = self.clock.now();
            let tx = self.uow.begin().await?;
            let claimed = tx.waitlist().claim_expired_offers(now, batch).await?;
            let count = u32::try_from(claimed.len()).unwrap_or(u32::MAX);
            let mut events = BTreeSet::new();
            for entry in claimed {
                events.insert(entry.event_id);
                expire_offer(tx.as_ref(), ctx, entry, now).await?;
            }
            moved += u64::from(count);
            for event_id in events {
                moved += u64::from(
                    offer_seats(
                        tx.as_ref(),
                        event_id,
                        now,
                        self.settings.notification_window,
                        ctx,
                    )
                    .await?,
                );
            }
            tx.commit().await?;
            handled = handled.saturating_add(count);
            if count < batch {
                break;
            }
        }
        Ok(moved)
    }

    async fn process_event(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
        limit: u32,
    ) -> Result<u64, AppError> {
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let due: Vec<WaitlistEntry> = tx
            .waitlist()
            .open_for_event(event_id)
            .await?
            .into_iter()
            .filter(|e| e.status == WaitlistStatus::Notified && !e.offer_open(now))
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .collect();
        let mut moved = due.len() as u64;
        for entry in due {
            expire_offer(tx.as_ref(), ctx, entry, now).await?;
        }
        moved += u64::from(
            offer_seats(
                tx.as_ref(),
                event_id,
                now,
                self.settings.notification_window,
                ctx,
            )
            .await?,
        );
        tx.commit().await?;
        Ok(moved)
    }
}

/// NOTIFIED → EXPIRED for a locked entry whose window has passed; its seats go back to the
/// event (the caller then offers them to the next waiter).
async fn expire_offer(
    tx: &dyn Tx,
    ctx: &RequestContext,
    mut entry: WaitlistEntry,
    now: Timestamp,
) -> Result<(), AppError> {
    let before = entry_summary(&entry);
    let old = entry.status;
    let hold = entry.expire(now)?;
    let stored = tx.waitlist().update(&entry).await?;
    tx.waitlist()
        .append_audit(&stored, Some(old), ctx.actor.user_id(), now)
        .await?;
    if hold.seats > 0 {
        tx.events()
            .release_seats(stored.event_id, hold.seats)
            .await?;
    }
    Recorder::new(tx, now)
        .emit_payload(
            &stored,
            DomainEventType::WaitlistExpired,
            json!({
                "waitlist_entry_id": stored.id.value(),
                "event_id": stored.event_id.value(),
                "user_id": stored.user_id.to_string(),
                "quantity": stored.quantity.get(),
                "released_seats": hold.seats,
            }),
        )
        .await?;
    record(
        tx,
        ctx,
        "waitlist.expire",
        &stored,
        Some(before),
        Some(entry_summary(&stored)),
        now,
    )
    .await
}

/// Seats of `event_id` were freed in `tx`: when `auto_process` is on, offer them to the queue
/// (see [`offer_seats`]). Every path that frees seats calls this in its own transaction, after
/// giving the seats back. Answers the entries notified.
pub(crate) async fn offer_freed_seats(
    tx: &dyn Tx,
    event_id: EventId,
    now: Timestamp,
    settings: &WaitlistSettings,
    ctx: &RequestContext,
) -> Result<u32, AppError> {
    if !settings.auto_process {
        return Ok(0);
    }
    offer_seats(tx, event_id, now, settings.notification_window, ctx).await
}

/// While the event's free seats cover the head WAITING entry's quantity: take them
/// (`take_seats`), hold them for the entry (NOTIFIED until `now + window`), and write
/// `waitlist_audit`, `waitlist.notified` and the audit row. Stops at the first head entry that
/// does not fit (FIFO). Nothing is offered for an event that can no longer be booked.
async fn offer_seats(
    tx: &dyn Tx,
    event_id: EventId,
    now: Timestamp,
    window: Duration,
    ctx: &RequestContext,
) -> Result<u32, AppError> {
    let Some(event) = tx.events().find(event_id).await? else {
        return Ok(0);
    };
    if event.check_bookable(now).is_err() || event.seats.available() == 0 {
        return Ok(0);
    }
    let mut notified = 0u32;
    loop {
        let heads = tx.waitlist().next_waiting(event_id, OFFER_BATCH).await?;
        let round = heads.len();
        for mut entry in heads {
            if tx
                .events()
                .take_seats(event_id, entry.quantity.get())
                .await?
                .is_none()
            {
                return Ok(notified);
            }
            let before = entry_summary(&entry);
            let old = entry.status;
            let _ = entry.notify(now, window)?;
            let stored = tx.waitlist().update(&entry).await?;
            tx.waitlist()
                .append_audit(&stored, Some(old), ctx.actor.user_id(), now)
                .await?;
            Recorder::new(tx, now)
                .emit_payload(
                    &stored,
                    DomainEventType::WaitlistNotified,
                    json!({
                        "waitlist_entry_id": stored.id.value(),
                        "event_id": event_id.value(),
                        "user_id": stored.user_id.to_string(),
                        "quantity": stored.quantity.get(),
                        "hold_expires_at": stored.hold_expires_at.map(|t| t.to_rfc3339()),
                    }),
                )
                .await?;
            record(
                tx,
                ctx,
                "waitlist.notify",
                &stored,
                Some(before),
                Some(entry_summary(&stored)),
                now,
            )
            .await?;
            notified += 1;
        }
        if round < OFFER_BATCH as usize {
            return Ok(notified);
        }
    }
}

/// A waitlist entry as the audit log sees it.
#[must_use]
pub fn entry_summary(e: &WaitlistEntry) -> Value {
    json!({
        "waitlist_entry_id": e.id.value(),
        "event_id": e.event_id.value(),
        "user_id": e.user_id.to_string(),
        "quantity": e.quantity.get(),
        "status": e.status.as_str(),
        "held_seats": e.held_seats,
        "hold_expires_at": e.hold_expires_at.map(|t| t.to_rfc3339()),
    })
}

async fn record(
    tx: &dyn Tx,
    ctx: &RequestContext,
    action: &str,
    entry: &WaitlistEntry,
    before: Option<Value>,
    after: Option<Value>,
    now: Timestamp,
) -> Result<(), AppError> {
    tx.audit()
        .record(
            AuditEntry::by(ctx, action, "waitlist_entry", entry.id, now).with_change(before, after),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Actor;
    use crate::clock::ManualClock;
    use crate::services::bookings::tests::{event, now, uid, user};
    use crate::services::test_support::{FakeTx, uow_with};
    use domain::WaitlistEntryId;
    use mockall::predicate::eq;
    use std::sync::atomic::AtomicBool;

    fn service(txs: Vec<FakeTx>) -> WaitlistService {
        WaitlistService::new(
            Arc::new(uow_with(txs)),
            Arc::new(ManualClock::new(now())),
            WaitlistSettings::default(),
        )
    }

    fn waiting(id: i64, quantity: u32) -> WaitlistEntry {
        WaitlistEntry {
            id: WaitlistEntryId(id),
            event_id: EventId(7),
            user_id: uid(100 + u128::try_from(id).unwrap()),
            priority: id,
            quantity: Quantity::new(i64::from(quantity), 10).unwrap(),
            status: WaitlistStatus::Waiting,
            held_seats: 0,
            notified_at: None,
            hold_expires_at: None,
            created_at: now(),
            updated_at: now(),
        }
    }

    #[tokio::test]
    async fn refusals_that_need_no_database_come_before_any_transaction() {
        let svc = service(vec![]);
        let guest = RequestContext::new(Actor::guest());
        assert!(matches!(
            svc.join(&guest, EventId(7), 1).await,
            Err(AppError::Unauthenticated)
        ));
        for quantity in [0, 11, -1] {
            assert_eq!(
                svc.join(&user(1), EventId(7), quantity)
                    .await
                    .unwrap_err()
                    .code(),
                "VALIDATION_FAILED"
            );
        }
        assert!(matches!(
            svc.view(
                &user(1),
                EventId(7),
                vec![WaitlistStatus::Waiting],
                PageRequest::default()
            )
            .await,
            Err(AppError::Forbidden { .. })
        ));
        assert!(matches!(
            svc.process(&user(1), Some(EventId(7)), 10).await,
            Err(AppError::Forbidden { .. })
        ));
        let organizer = RequestContext::new(Actor::authenticated(uid(5), [Role::Organizer]));
        assert!(matches!(
            svc.process(&organizer, None, 10).await,
            Err(AppError::Forbidden { .. })
        ));
        assert!(matches!(
            svc.leave(&guest, EventId(7)).await,
            Err(AppError::Unauthenticated)
        ));
    }

    #[tokio::test]
    async fn seats_go_to_the_head_only_and_stop_at_the_first_entry_that_does_not_fit() {
        let mut tx = FakeTx::new(Arc::new(AtomicBool::new(false)));
        tx.events.expect_find().returning(|_| Ok(Some(event())));
        tx.waitlist
            .expect_next_waiting()
            .times(1)
            .returning(|_, _| Ok(vec![waiting(1, 2), waiting(2, 5), waiting(3, 1)]));
        let mut seq = mockall::Sequence::new();
        tx.events
            .expect_take_seats()
            .with(eq(EventId(7)), eq(2))
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(Some(2)));
        // The second entry wants more than is left: the third (which would fit) is not served.
        tx.events
            .expect_take_seats()
            .with(eq(EventId(7)), eq(5))
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _| Ok(None));
        tx.waitlist
            .expect_update()
            .times(1)
            .withf(|e| {
                e.id == WaitlistEntryId(1)
                    && e.status == WaitlistStatus::Notified
                    && e.held_seats == 2
                    && e.hold_expires_at == Some(now() + Duration::minutes(30))
            })
            .returning(|e| Ok(e.clone()));
        tx.waitlist
            .expect_append_audit()
            .times(1)
            .withf(|e, old, _, _| {
                e.status == WaitlistStatus::Notified && *old == Some(WaitlistStatus::Waiting)
            })
            .returning(|_, _, _, _| Ok(()));
        tx.outbox
            .expect_enqueue()
            .times(1)
            .withf(|m| m.event_type == DomainEventType::WaitlistNotified)
            .returning(|_| Ok(()));
        tx.audit.expect_record().times(1).returning(|_| Ok(()));

        let settings = WaitlistSettings::default();
        let notified = offer_freed_seats(&tx, EventId(7), now(), &settings, &user(1))
            .await
            .unwrap();
        assert_eq!(notified, 1);
    }

    #[tokio::test]
    async fn without_auto_process_freed_seats_are_left_for_the_next_run() {
        let tx = FakeTx::new(Arc::new(AtomicBool::new(false)));
        let settings = WaitlistSettings {
            auto_process: false,
            ..WaitlistSettings::default()
        };
        // No expectation is set: any repository call would fail the test.
        let notified = offer_freed_seats(&tx, EventId(7), now(), &settings, &user(1))
            .await
            .unwrap();
        assert_eq!(notified, 0);
    }
}
