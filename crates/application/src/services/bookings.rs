//! Booking use cases (PRODUCT.md §3, §6, §7 and §2 "Cancellation by organizer/admin").
//!
//! Every write runs in one transaction with its `booking_logs`, audit and outbox rows.
//! Choices made here:
//! * A DRAFT (or otherwise non-public) event is 404 to anyone but its organizer and admins;
//!   a visible event that is not open for booking answers the domain's 409
//!   (`EVENT_NOT_BOOKABLE`, `BOOKING_CLOSED`).
//! * Unknown, inactive, expired, used-up or foreign promo codes are one 409 `PROMO_CODE_INVALID`
//!   (the reason is audited, `promo_code.refused`);
//!   a malformed one is 400 on `promo_code`.
//! * A booking whose total is 0 (free event, 100% promo, points) is confirmed at once with a
//!   ticket code.
//! * A user holding an open waitlist offer for the event books on the held seats (the entry
//!   is CONVERTED; held seats beyond the quantity go back to the event).
//! * On cancellation seats and price-option stock are given back; promo uses are not (a used
//!   code stays used); redeemed loyalty points come back for unpaid bookings and full refunds.

use std::collections::BTreeSet;
use std::sync::Arc;

use domain::booking::{Booking, BookingStatus};
use domain::booking_rules::BookingSettings;
use domain::event::Event;
use domain::loyalty::{LoyaltyProgram, NewLoyaltyEntry};
use domain::payment::{Payment, PaymentCoverage};
use domain::promo_code::PromoCodeText;
use domain::refund_policy::CancellationReason;
use domain::{BookingId, EventId, Money, PriceOptionId, Quantity, UserId};
use serde_json::json;

use crate::actor::{RequestContext, Role};
use crate::clock::Clock;
use crate::outbox::DomainEventType;
use crate::ports::{BookingQuery, PaymentGateways, TicketCodeGenerator, Tx, UnitOfWork};
pub use crate::services::commerce::BookingCancellation;
use crate::services::commerce::{Commerce, Env, RefundKick, SeatLimits, booking_summary};
use crate::services::events::event_summary;
use crate::services::placement::{BatchSettings, BookingRequest, Combiner, place_batch};
use crate::services::recording::Recorder;
use crate::services::waitlist::{WaitlistSettings, offer_freed_seats};
use crate::{AppError, Page, PageRequest};

/// Input of "create booking" (`POST /api/v1/bookings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateBookingCommand {
    pub event_id: EventId,
    pub quantity: i64,
    pub price_option_id: Option<PriceOptionId>,
    pub promo_code: Option<String>,
    pub use_loyalty_points: Option<u64>,
}

/// A booking with its payments (`GET /api/v1/bookings/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BookingDetails {
    pub booking: Booking,
    pub payments: Vec<Payment>,
}

/// Booking list filters as the caller gives them; the use case narrows them to what the caller
/// may see.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BookingFilter {
    pub event_id: Option<EventId>,
    pub status: Option<BookingStatus>,
    pub user_id: Option<UserId>,
    pub page: PageRequest,
}

/// Input of the organizer/admin event cancellation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CancelEventCommand {
    pub reason: Option<String>,
    pub notify_participants: bool,
    /// ADMIN only: refunds 100% as force majeure (event cancellations refund 100% anyway; the
    /// flag is recorded on every refund and in the domain event).
    pub force_majeure: bool,
    /// Optimistic lock: the event version the caller saw.
    pub expected_version: Option<i64>,
}

/// The result of an event cancellation.
#[derive(Debug, Clone, PartialEq)]
pub struct EventCancellation {
    pub event: Event,
    pub bookings_canceled: u32,
    pub refunds_total: Money,
}

/// The booking use cases.
#[derive(Clone)]
pub struct BookingService {
    deps: Commerce,
    /// Per-event batching of placements; `None` places each request alone.
    combiner: Option<Arc<Combiner>>,
}

impl std::fmt::Debug for BookingService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BookingService")
            .field("gateways", &self.deps.gateways)
            .field("settings", &self.deps.settings)
            .finish_non_exhaustive()
    }
}

const DEFAULT_EVENT_CANCEL_REASON: &str = "canceled by the organizer";

impl BookingService {
    #[must_use]
    pub fn new(
        uow: Arc<dyn UnitOfWork>,
        clock: Arc<dyn Clock>,
        gateways: PaymentGateways,
        tickets: Arc<dyn TicketCodeGenerator>,
        settings: BookingSettings,
        loyalty: LoyaltyProgram,
    ) -> Self {
        Self {
            deps: Commerce::new(uow, clock, gateways, tickets, settings, loyalty),
            combiner: None,
        }
    }

    /// Called after a transaction that recorded refunds committed (bootstrap wakes the
    /// process-refunds job with it).
    #[must_use]
    pub fn with_refund_kick(mut self, kick: RefundKick) -> Self {
        self.deps.kick = Some(kick);
        self
    }

    /// The waitlist settings used when this service frees seats (default: offers at once,
    /// 30-minute window).
    #[must_use]
    pub const fn with_waitlist(mut self, settings: WaitlistSettings) -> Self {
        self.deps.waitlist = settings;
        self
    }

    /// The seat-hoarding limits checked at placement (default: none).
    #[must_use]
    pub const fn with_seat_limits(mut self, limits: SeatLimits) -> Self {
        self.deps.seat_limits = limits;
        self
    }

    /// Places requests of one event in batches (one transaction per batch, see
    /// [`crate::services::placement`]); without it every request is a batch of one.
    #[must_use]
    pub fn with_batching(mut self, settings: BatchSettings) -> Self {
        self.combiner = Some(Arc::new(Combiner::new(settings)));
        self
    }

    /// `POST /api/v1/bookings`: any signed-in caller books for themselves. What needs no
    /// database is checked here (sign-in, quantity, promo code shape); the rest — the event the
    /// caller may book, an open waitlist offer, the promo code, loyalty points, the price with
    /// the seats taken so far, the seats — in the event's next batch
    /// ([`crate::services::placement`]). A free booking is confirmed at once.
    pub async fn create(
        &self,
        ctx: &RequestContext,
        cmd: CreateBookingCommand,
    ) -> Result<Booking, AppError> {
        use tracing::Instrument as _;
        // the caller's span (the request's, carrying its ids into the log lines of the batch)
        let log_span = tracing::Span::current();
        let span = tracing::info_span!("BookingService.create", event_id = cmd.event_id.0);
        self.create_in(ctx, cmd, log_span).instrument(span).await
    }

    async fn create_in(
        &self,
        ctx: &RequestContext,
        cmd: CreateBookingCommand,
        log_span: tracing::Span,
    ) -> Result<Booking, AppError> {
        let user = ctx.actor.require_authenticated()?;
        let quantity = Quantity::new(cmd.quantity, self.deps.settings.max_quantity)?;
        let promo = cmd
            .promo_code
            .as_deref()
            .filter(|c| !c.trim().is_empty())
            .map(PromoCodeText::new)
            .transpose()
            .map_err(|e| AppError::invalid("promo_code", e.to_string()))?;
        let request = BookingRequest {
            ctx: ctx.clone(),
            user,
            event_id: cmd.event_id,
            quantity,
            price_option_id: cmd.price_option_id,
            promo,
            points: cmd.use_loyalty_points,
            span: tracing::Span::current(),
            log_span,
        };
        match &self.combiner {
            Some(combiner) => combiner.submit(&self.deps, request).await,
            None => place_batch(&self.deps, cmd.event_id, &[request])
                .await
                .pop()
                .unwrap_or_else(|| Err(AppError::internal("placement answered nothing"))),
        }
    }

    /// `GET /api/v1/bookings/{id}`: the owner, the event's organizer, admins.
    #[tracing::instrument(name = "BookingService.get", skip_all)]
    pub async fn get(
        &self,
        ctx: &RequestContext,
        id: BookingId,
    ) -> Result<BookingDetails, AppError> {
        ctx.actor.require_authenticated()?;
        let tx = self.deps.uow.begin().await?;
        let booking = tx
            .bookings()
            .find(id)
            .await?
            .ok_or(AppError::NotFound { entity: "booking" })?;
        let creator = event_creator(tx.as_ref(), booking.event_id).await?;
        ctx.actor.require_booking_reader(booking.user_id, creator)?;
        let payments = tx.payments().for_booking(id).await?;
        Ok(BookingDetails { booking, payments })
    }

    /// `GET /api/v1/bookings`: users list their own (asking for someone else's is 403),
    /// organizers the bookings of their events (or their own with `user_id` = themselves),
    /// admins everything.
    #[tracing::instrument(name = "BookingService.list", skip_all)]
    pub async fn list(
        &self,
        ctx: &RequestContext,
        filter: BookingFilter,
    ) -> Result<Page<Booking>, AppError> {
        let me = ctx.actor.require_authenticated()?;
        let mut query = BookingQuery {
            user_id: filter.user_id,
            event_id: filter.event_id,
            event_creator_id: None,
            statuses: filter.status.into_iter().collect(),
            page: filter.page,
        };
        match ctx.actor.role() {
            Role::Admin => {}
            Role::Organizer => {
                if filter.user_id != Some(me) {
                    query.event_creator_id = Some(me);
                }
            }
            _ => {
                if filter.user_id.is_some_and(|u| u != me) {
                    return Err(AppError::Forbidden {
                        reason: "users list only their own bookings",
                    });
                }
                query.user_id = Some(me);
            }
        }
        let tx = self.deps.uow.begin().await?;
        tx.bookings().search(&query).await
    }

    /// `POST /api/v1/bookings/{id}/cancel`: the owner or an admin. A pending booking is simply
    /// canceled (anything already paid on it comes back); a confirmed one is refunded by the
    /// event's refund policy at this moment.
    #[tracing::instrument(name = "BookingService.cancel", skip_all)]
    pub async fn cancel(
        &self,
        ctx: &RequestContext,
        id: BookingId,
        reason: Option<String>,
    ) -> Result<BookingCancellation, AppError> {
        ctx.actor.require_authenticated()?;
        let tx = self.deps.uow.begin().await?;
        let env = self.deps.env(tx.as_ref(), ctx);
        let cancellation = cancel_in_tx(&env, id, reason.as_deref(), None).await?;
        let queued = env.queued_refunds();
        tx.commit().await?;
        self.deps.after_commit(queued);
        Ok(cancellation)
    }

    /// `POST /api/v1/events/{id}/cancel`: the event's organizer or an admin (force majeure:
    /// admins only). Pending bookings are canceled, confirmed ones refunded 100%, the waitlist
    /// is cleared and the crew released, all in one transaction.
    #[tracing::instrument(name = "BookingService.cancel_event", skip_all)]
    pub async fn cancel_event(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
        cmd: CancelEventCommand,
    ) -> Result<EventCancellation, AppError> {
        ctx.actor.require_role(
            &[Role::Organizer, Role::Admin],
            "only organizers and admins cancel events",
        )?;
        if cmd.force_majeure && !ctx.actor.is_admin() {
            return Err(AppError::Forbidden {
                reason: "only admins declare force majeure",
            });
        }
        let tx = self.deps.uow.begin().await?;
        let env = self.deps.env(tx.as_ref(), ctx);
        let now = env.now;
        let mut event = tx
            .events()
            .find_for_update(event_id)
            .await?
            .ok_or(AppError::NotFound { entity: "event" })?;
        ctx.actor.require_event_manager(event.creator_id)?;
        if cmd.expected_version.is_some_and(|v| v != event.version) {
            return Err(AppError::version_conflict("event"));
        }
        let before = event_summary(&event);
        let reason = cmd
            .reason
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .unwrap_or(DEFAULT_EVENT_CANCEL_REASON)
            .to_owned();
        let _ = event.cancel(&reason, now)?;
        let crew = event.release_crew(now);
        let event = tx.events().update(&event).await?;

        let cause = if cmd.force_majeure {
            CancellationReason::ForceMajeure
        } else {
            CancellationReason::EventCanceled
        };
        let mut bookings_canceled = 0u32;
        let mut refunds_total = Money::ZERO;
        for booking in tx.bookings().active_for_event(event_id).await? {
            let done = env
                .cancel_booking(booking, &event, Some(&reason), cause, None)
                .await?;
            bookings_canceled += 1;
            refunds_total = refunds_total + done.refund_amount;
        }
        let mut waitlist_closed = 0u32;
        for mut entry in tx.waitlist().open_for_event(event_id).await? {
            let old = entry.status;
            let hold = entry.cancel(now)?;
            if hold.seats > 0 {
                tx.events().release_seats(event_id, hold.seats).await?;
            }
            let stored = tx.waitlist().update(&entry).await?;
            tx.waitlist()
                .append_audit(&stored, Some(old), ctx.actor.user_id(), now)
                .await?;
            waitlist_closed += 1;
        }

        let event = tx
            .events()
            .find(event_id)
            .await?
            .ok_or(AppError::NotFound { entity: "event" })?;
        let mut payload = event_summary(&event);
        if let Some(map) = payload.as_object_mut() {
            map.extend([
                ("reason".to_owned(), json!(reason)),
                (
                    "notify_participants".to_owned(),
                    json!(cmd.notify_participants),
                ),
                ("force_majeure".to_owned(), json!(cmd.force_majeure)),
                ("bookings_canceled".to_owned(), json!(bookings_canceled)),
                ("refunds_total".to_owned(), json!(refunds_total.to_string())),
                ("waitlist_closed".to_owned(), json!(waitlist_closed)),
                (
                    "released_crew_id".to_owned(),
                    json!(crew.map(|c| c.value())),
                ),
            ]);
        }
        Recorder::new(tx.as_ref(), now)
            .emit_payload(&event, DomainEventType::EventCanceled, payload)
            .await?;
        env.audit(
            "event.cancel",
            "event",
            event.id,
            Some(before),
            Some(event_summary(&event)),
        )
        .await?;
        let queued = env.queued_refunds();
        tx.commit().await?;
        self.deps.after_commit(queued);
        Ok(EventCancellation {
            event,
            bookings_canceled,
            refunds_total,
        })
    }
}

impl BookingService {
    /// The expire-bookings job (system actor `expire-bookings`): PENDING_PAYMENT bookings whose
    /// `payment_deadline + grace` has passed become EXPIRED; their seats and price-option
    /// stock come back, redeemed loyalty points are given back, partial payments are refunded,
    /// each with its `booking_logs`, `booking.expired` and audit rows, and the waitlist of every
    /// affected event advances.
    ///
    /// Works in transactions of up to [`EXPIRY_BATCH`] bookings, claimed with `SKIP LOCKED`
    /// through the partial index on pending deadlines (several instances share the work), until
    /// nothing is due or `budget` has passed — a backlog after an on-sale drains in one run.
    /// Bookings with nothing but seats to give back (the usual case) are stored with one
    /// statement per batch and their seats returned with one per event; the others take the
    /// step-by-step path. Answers how many expired.
    #[tracing::instrument(name = "BookingService.expire_due", skip_all)]
    pub async fn expire_due(&self, budget: std::time::Duration) -> Result<u64, AppError> {
        let ctx = RequestContext::system("expire-bookings");
        let started = std::time::Instant::now();
        let mut expired = 0u64;
        loop {
            let tx = self.deps.uow.begin().await?;
            let env = self.deps.env(tx.as_ref(), &ctx);
            let claimed = tx
                .bookings()
                .claim_expired(env.now - self.deps.settings.grace, EXPIRY_BATCH)
                .await?;
            let count = claimed.len();
            let events = expire_batch(&env, claimed, self.deps.settings.grace).await?;
            for event_id in events {
                offer_freed_seats(tx.as_ref(), event_id, env.now, env.waitlist, &ctx).await?;
            }
            let queued = env.queued_refunds();
            tx.commit().await?;
            self.deps.after_commit(queued);
            expired += count as u64;
            if count < EXPIRY_BATCH as usize || started.elapsed() >= budget {
                break;
            }
        }
        Ok(expired)
    }
}

/// Bookings claimed per transaction by [`BookingService::expire_due`].
const EXPIRY_BATCH: u32 = 2000;

/// Expires claimed bookings; answers the events whose seats came back.
async fn expire_batch(
    env: &Env<'_>,
    claimed: Vec<Booking>,
    grace: chrono::Duration,
) -> Result<BTreeSet<EventId>, AppError> {
    let mut events = BTreeSet::new();
    let ids: Vec<BookingId> = claimed.iter().map(|b| b.id).collect();
    let paid: BTreeSet<BookingId> = env
        .tx
        .payments()
        .for_bookings(&ids)
        .await?
        .into_iter()
        .map(|p| p.booking_id)
        .collect();
    let mut simple = Vec::new();
    let mut seats: std::collections::BTreeMap<EventId, u32> = std::collections::BTreeMap::new();
    for booking in claimed {
        events.insert(booking.event_id);
        let plain = booking.price_option_id.is_none()
            && booking.price.loyalty_points_used == 0
            && !paid.contains(&booking.id);
        if !plain {
            expire_in_tx(env, booking, grace).await?;
            continue;
        }
        let mut booking = booking;
        let before = booking_summary(&booking);
        let release = booking.expire(env.now, grace)?;
        *seats.entry(booking.event_id).or_default() += release.seats_freed;
        simple.push((booking, before, release));
    }
    for (event_id, freed) in seats {
        env.tx.events().release_seats(event_id, freed).await?;
    }
    let moved: Vec<Booking> = simple.iter().map(|(b, _, _)| b.clone()).collect();
    let stored = env.tx.bookings().store_transitions(&moved).await?;
    for (booking, (_, before, release)) in stored.iter().zip(simple) {
        record_expiry(env, booking, release, 0, Money::ZERO, before).await?;
    }
    Ok(events)
}

/// PENDING_PAYMENT → EXPIRED for a claimed booking, with everything it gives back.
async fn expire_in_tx(
    env: &Env<'_>,
    mut booking: Booking,
    grace: chrono::Duration,
) -> Result<(), AppError> {
    let before = booking_summary(&booking);
    let release = booking.expire(env.now, grace)?;
    if booking.price_option_id.is_some() {
        // The option's stock is read and written back; placements write the event row first,
        // so holding its lock keeps them out meanwhile.
        env.tx.events().find_for_update(booking.event_id).await?;
    }
    env.free_stock(&booking, release.seats_freed).await?;
    let used = booking.price.loyalty_points_used;
    if used > 0 {
        env.tx
            .loyalty()
            .append(NewLoyaltyEntry::redemption_reversed(
                booking.user_id,
                booking.id,
                used,
                env.now,
            ))
            .await?;
    }
    // Partial payments made before the deadline come back: nothing was delivered.
    let payments = env.tx.payments().for_booking(booking.id).await?;
    let paid = PaymentCoverage::of(booking.total_price(), &payments)
        .net_paid()
        .floor_at_zero();
    if paid.is_positive() {
        env.refund_payments(&payments, paid, "booking expired before it was fully paid")
            .await?;
    }
    let booking = env.tx.bookings().update(&booking).await?;
    record_expiry(env, &booking, release, used, paid, before).await
}

/// The log, `booking.expired` and audit rows of an expired booking.
async fn record_expiry(
    env: &Env<'_>,
    booking: &Booking,
    release: domain::booking::Release,
    points_returned: u64,
    refunded: Money,
    before: serde_json::Value,
) -> Result<(), AppError> {
    let details = json!({
        "action": "expire",
        "seats_freed": release.seats_freed,
        "loyalty_points_returned": points_returned,
        "refund_amount": refunded.to_string(),
    });
    env.log(booking, Some(release.transition.from), details.clone())
        .await?;
    env.record()
        .emit(booking, DomainEventType::BookingExpired, details)
        .await?;
    env.audit(
        "booking.expire",
        "booking",
        booking.id,
        Some(before),
        Some(booking_summary(booking)),
    )
    .await
}

/// The creator of a booking's event (who may read the booking besides its owner).
pub(crate) async fn event_creator(tx: &dyn Tx, event_id: EventId) -> Result<UserId, AppError> {
    tx.events()
        .find(event_id)
        .await?
        .map(|e| e.creator_id)
        .ok_or_else(|| AppError::internal(format!("booking of missing event {event_id}")))
}

/// Customer (or admin) cancellation of one booking inside `env`'s transaction: locks the event,
/// then the booking (the order event cancellation uses too), checks the caller owns it.
pub(crate) async fn cancel_in_tx(
    env: &Env<'_>,
    id: BookingId,
    reason: Option<&str>,
    requested: Option<Money>,
) -> Result<BookingCancellation, AppError> {
    let peek = env
        .tx
        .bookings()
        .find(id)
        .await?
        .ok_or(AppError::NotFound { entity: "booking" })?;
    env.ctx.actor.require_owner(peek.user_id, "booking")?;
    let event = env
        .tx
        .events()
        .find_for_update(peek.event_id)
        .await?
        .ok_or_else(|| AppError::internal(format!("booking {id} of missing event")))?;
    let booking = env
        .tx
        .bookings()
        .find_for_update(id)
        .await?
        .ok_or(AppError::NotFound { entity: "booking" })?;
    env.cancel_booking(
        booking,
        &event,
        reason,
        CancellationReason::ByCustomer,
        requested,
    )
    .await
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::Actor;
    use crate::clock::ManualClock;
    use crate::ports::PaymentGateway;
    use crate::ports::payment_gateway::MockPaymentGateway;
    use crate::ports::tickets::MockTicketCodeGenerator;
    use crate::services::test_support::{FakeTx, uow_with};
    use chrono::{Duration, TimeZone, Utc};
    use domain::booking::NewBooking;
    use domain::event::{EventDetailsInput, NewEvent, NewEventInput};
    use domain::payment::{NewPayment, PaymentStatus};
    use domain::pricing::PriceBreakdown;
    use domain::{PaymentId, Percent, Timestamp};
    use std::sync::atomic::{AtomicBool, Ordering};

    pub(crate) fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2027, 4, 1, 8, 0, 0).unwrap()
    }

    pub(crate) fn uid(n: u128) -> UserId {
        UserId(uuid::Uuid::from_u128(n))
    }

    pub(crate) fn user(n: u128) -> RequestContext {
        RequestContext::new(Actor::authenticated(uid(n), [Role::User]))
    }

    pub(crate) fn program() -> LoyaltyProgram {
        LoyaltyProgram {
            points_per_currency_unit: rust_decimal::Decimal::new(1, 2),
            review_points: 50,
            point_value: Money::parse("1").unwrap(),
            max_redeem_share: Percent::from_whole(20).unwrap(),
        }
    }

    pub(crate) fn event() -> Event {
        let input = NewEventInput {
            details: EventDetailsInput {
                name: "Kayak".into(),
                ..Default::default()
            },
            start_date: now() + Duration::days(30),
            end_date: None,
            max_participants: 10,
            price: Money::parse("1000").unwrap(),
            booking_deadline_hours: Some(1),
            max_seats_per_user: None,
            publish_at: None,
            is_featured: false,
            refund_policy: None,
            pricing_rules: domain::pricing::PricingRules::default(),
        };
        let mut e = Event::from_new(EventId(7), NewEvent::new(uid(5), input, now()).unwrap());
        let _ = e.publish(now()).unwrap();
        e.seats.take(1).unwrap();
        e
    }

    /// A booking of user 1 for one seat of event 7 at 1000.00.
    pub(crate) fn booking(status: BookingStatus) -> Booking {
        let total = Money::parse("1000").unwrap();
        let mut b = Booking::from_new(
            BookingId(3),
            NewBooking {
                event_id: EventId(7),
                user_id: uid(1),
                quantity: Quantity::ONE,
                price_option_id: None,
                promo_code_id: None,
                waitlist_entry_id: None,
                price: PriceBreakdown {
                    unit_price: total,
                    quantity: 1,
                    base: total,
                    dynamic_adjustment: Money::ZERO,
                    group_discount: Money::ZERO,
                    promo_discount: Money::ZERO,
                    loyalty_discount: Money::ZERO,
                    loyalty_points_used: 0,
                    total,
                },
                payment_deadline: now() + Duration::minutes(30),
                created_at: now(),
            },
        );
        b.status = status;
        b
    }

    pub(crate) fn payment(status: PaymentStatus) -> Payment {
        let mut p = Payment::from_new(
            PaymentId(11),
            NewPayment {
                booking_id: BookingId(3),
                amount: Money::parse("1000").unwrap(),
                payment_method: "CARD".into(),
                gateway: "fake".into(),
                gateway_key: None,
                created_at: now(),
            },
        );
        p.gateway_reference = Some("ref-11".into());
        p.status = status;
        p
    }

    pub(crate) fn gateways(g: MockPaymentGateway) -> PaymentGateways {
        PaymentGateways::new(Arc::new(g) as Arc<dyn PaymentGateway>)
    }

    pub(crate) fn named_gateway() -> MockPaymentGateway {
        let mut g = MockPaymentGateway::new();
        g.expect_name().return_const("fake".to_owned());
        g
    }

    fn service(txs: Vec<FakeTx>, gateway: MockPaymentGateway) -> BookingService {
        BookingService::new(
            Arc::new(uow_with(txs)),
            Arc::new(ManualClock::new(now())),
            gateways(gateway),
            Arc::new(MockTicketCodeGenerator::new()),
            BookingSettings::default(),
            program(),
        )
    }

    #[tokio::test]
    async fn refusals_that_need_no_database_come_before_any_transaction() {
        let svc = service(vec![], named_gateway());
        let guest = RequestContext::new(Actor::guest());
        let cmd = CreateBookingCommand {
            event_id: EventId(7),
            quantity: 1,
            price_option_id: None,
            promo_code: None,
            use_loyalty_points: None,
        };
        assert!(matches!(
            svc.create(&guest, cmd.clone()).await,
            Err(AppError::Unauthenticated)
        ));
        for (quantity, code) in [(0, "VALIDATION_FAILED"), (11, "VALIDATION_FAILED")] {
            let c = CreateBookingCommand {
                quantity,
                ..cmd.clone()
            };
            assert_eq!(svc.create(&user(1), c).await.unwrap_err().code(), code);
        }
        let bad_promo = CreateBookingCommand {
            promo_code: Some("<script>".into()),
            ..cmd
        };
        match svc.create(&user(1), bad_promo).await.unwrap_err() {
            AppError::Validation { fields } => assert_eq!(fields[0].field, "promo_code"),
            other => panic!("expected a validation error, got {other:?}"),
        }
        let others = BookingFilter {
            user_id: Some(uid(2)),
            ..Default::default()
        };
        assert!(matches!(
            svc.list(&user(1), others).await,
            Err(AppError::Forbidden { .. })
        ));
        let organizer = RequestContext::new(Actor::authenticated(uid(5), [Role::Organizer]));
        let fm = CancelEventCommand {
            force_majeure: true,
            ..Default::default()
        };
        assert!(matches!(
            svc.cancel_event(&organizer, EventId(7), fm).await,
            Err(AppError::Forbidden { .. })
        ));
        assert!(matches!(
            svc.cancel_event(&user(5), EventId(7), CancelEventCommand::default())
                .await,
            Err(AppError::Forbidden { .. })
        ));
    }

    /// The cancellation locks the event row: it must record the refund PENDING (amount
    /// reserved on the payment, a fresh key) and commit without asking the gateway, then wake
    /// the refund sender.
    #[tokio::test]
    async fn a_cancellation_records_the_refund_pending_and_calls_no_gateway() {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        let confirmed = booking(BookingStatus::Confirmed);
        let b = confirmed.clone();
        tx.bookings
            .expect_find()
            .returning(move |_| Ok(Some(b.clone())));
        let b = confirmed.clone();
        tx.bookings
            .expect_find_for_update()
            .returning(move |_| Ok(Some(b.clone())));
        tx.events
            .expect_find_for_update()
            .returning(|_| Ok(Some(event())));
        tx.events.expect_find().returning(|_| Ok(None));
        tx.payments
            .expect_for_booking()
            .returning(|_| Ok(vec![payment(PaymentStatus::Completed)]));
        tx.events.expect_release_seats().returning(|_, _| Ok(10));
        tx.payments
            .expect_record_refund()
            .times(1)
            .withf(|r| {
                r.amount == Money::parse("1000").unwrap()
                    && r.idempotency_key.starts_with("rfd_")
                    && r.idempotency_key.len() == 68
            })
            .returning(|r| {
                Ok(crate::ports::RefundRecord {
                    id: domain::RefundId(5),
                    payment_id: r.payment_id,
                    amount: r.amount,
                    reason: r.reason,
                    status: domain::payment::RefundStatus::Pending,
                    gateway_reference: None,
                    idempotency_key: Some(r.idempotency_key),
                    attempts: 0,
                    next_attempt_at: Some(r.created_at),
                    last_error: None,
                    actor_id: r.actor_id,
                    created_at: r.created_at,
                    completed_at: None,
                })
            });
        tx.payments
            .expect_update()
            .times(1)
            .withf(|p| p.status == PaymentStatus::Refunded)
            .returning(|p| Ok(p.clone()));
        tx.bookings.expect_update().returning(|b| Ok(b.clone()));
        tx.bookings.expect_append_log().returning(|_| Ok(()));
        tx.loyalty.expect_append().returning(|e| {
            Ok(domain::loyalty::LoyaltyEntry {
                id: domain::LoyaltyEntryId(1),
                user_id: e.user_id,
                points: e.points,
                kind: e.kind,
                booking_id: e.booking_id,
                review_id: e.review_id,
                created_at: e.created_at,
            })
        });
        tx.audit.expect_record().returning(|_| Ok(()));
        tx.outbox
            .expect_enqueue()
            .withf(|m| m.event_type != DomainEventType::PaymentRefunded)
            .returning(|_| Ok(()));
        let mut g = named_gateway();
        g.expect_refund().never();
        let kicks = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let counter = Arc::clone(&kicks);
        let svc = service(vec![tx], g).with_refund_kick(Arc::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
        }));

        let done = svc.cancel(&user(1), BookingId(3), None).await.unwrap();

        assert_eq!(done.refund_amount, Money::parse("1000").unwrap());
        assert!(committed.load(Ordering::SeqCst));
        assert_eq!(kicks.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn someone_elses_booking_cannot_be_canceled_and_is_not_found() {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = FakeTx::new(Arc::clone(&committed));
        tx.bookings
            .expect_find()
            .returning(|_| Ok(Some(booking(BookingStatus::Confirmed))));
        tx.events.expect_find_for_update().never();
        let err = service(vec![tx], named_gateway())
            .cancel(&user(2), BookingId(3), None)
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::NotFound { entity: "booking" }));
        assert!(!committed.load(Ordering::SeqCst));
    }
}
