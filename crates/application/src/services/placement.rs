//! Placing bookings (`POST /api/v1/bookings`, gRPC `CreateBooking`) in batches: group commit at
//! the application level.
//!
//! A flash sale sends thousands of requests for one event in the same second. Placed one per
//! transaction they queue on the event's row lock and on one disk flush each. Here every request
//! for an event goes to that event's queue; one task per busy event takes up to
//! [`BatchSettings::max_size`] waiting requests at a time and places them in **one** transaction:
//!
//! 1. the event row is read once, locked (`FOR UPDATE`), so every decision below is exact on any
//!    number of instances (placements of one event are serialized by that lock);
//! 2. one query finds which of the batch's users already hold a booking of the event, one which
//!    of them hold an open waitlist offer, and the price options are read once;
//! 3. each request is checked in arrival order against a running copy of the seats, stock and
//!    promo uses: it is priced with the seats taken *before* it, and it either joins the batch or
//!    gets its own refusal (`SOLD_OUT`, `ALREADY_BOOKED`, …) — a refused request writes nothing
//!    and never aborts the others;
//! 4. [`BookingRepository::place`] writes the batch with one multi-row insert and one
//!    conditional update per counter (seats, each price option, each promo code);
//! 5. logs, audit and `booking.created` rows are appended per booking and written as multi-row
//!    inserts at the commit (the unit of work batches them);
//! 6. one `COMMIT` (durable: nothing is answered before it), then every waiter gets its answer.
//!
//! A transaction that fails as a whole (a condition the database disagrees with, a deadlock, a
//! lost connection) is rolled back — nothing of it stays — and retried once with fresh reads;
//! if it fails again, every request of the batch gets that error. An idle event has no task: the
//! task ends when its queue is empty. Without a [`Combiner`] (tests, or batching switched off)
//! each request is a batch of one through the same code.
//!
//! [`BookingRepository::place`]: crate::ports::BookingRepository::place

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use domain::booking::{Booking, NewBooking};
use domain::booking_rules::{check_can_book, payment_deadline};
use domain::event::Event;
use domain::loyalty::{LoyaltyProgram, NewLoyaltyEntry};
use domain::price_option::PriceOption;
use domain::pricing::{LoyaltyRedemption, PriceRequest, price};
use domain::promo_code::{PromoCode, PromoCodeText};
use domain::waitlist::WaitlistEntry;
use domain::{DomainError, EventId, PriceOptionId, Quantity, Timestamp, UserId, WaitlistEntryId};
use serde_json::json;
use tokio::sync::oneshot;
use tracing::Instrument;

use crate::actor::RequestContext;
use crate::outbox::DomainEventType;
use crate::ports::{AuditEntry, PlacementRejection, Tx};
use crate::services::commerce::{Commerce, Env, SeatLimits, booking_summary, details_of};
use crate::services::promo_codes::invalid_promo_code;
use crate::services::recording::Recorder;
use crate::services::waitlist::offer_freed_seats;
use crate::{AppError, ErrorCode};

/// How requests for one event are grouped (`app.booking.batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchSettings {
    /// Most requests placed in one transaction.
    pub max_size: usize,
    /// How long the event's task waits for more requests when fewer than `max_size` are queued
    /// (zero: it takes what is there; requests that arrive meanwhile form the next batch).
    pub max_wait: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_size: 64,
            max_wait: Duration::ZERO,
        }
    }
}

/// One booking request, checked as far as it can be without the database.
#[derive(Debug, Clone)]
pub(crate) struct BookingRequest {
    pub ctx: RequestContext,
    pub user: UserId,
    pub event_id: EventId,
    pub quantity: Quantity,
    pub price_option_id: Option<PriceOptionId>,
    pub promo: Option<PromoCodeText>,
    pub points: Option<u64>,
    /// The use case's span: what the batch writes for this request is recorded inside it (its
    /// SQL spans and outbox rows belong to the request's trace, though the batch runs in the
    /// event's task).
    pub span: tracing::Span,
    /// The caller's span, entered around `span`: the log lines (which skip use-case spans)
    /// carry the request's ids.
    pub log_span: tracing::Span,
}

/// The answer one request gets.
pub(crate) type Answer = Result<Booking, AppError>;

/// Attempts of a batch transaction that fails as a whole.
const ATTEMPTS: usize = 2;

/// Places `requests` (all for `event_id`) in one transaction; one answer per request, in order.
pub(crate) async fn place_batch(
    deps: &Commerce,
    event_id: EventId,
    requests: &[BookingRequest],
) -> Vec<Answer> {
    place_batch_in(deps, event_id, requests)
        .instrument(batch_span(event_id, requests))
        .await
}

/// The span of a batch's transaction (its SQL statements): a child of the first request's use
/// case, linked from the others' (traces have one parent; the others point at the batch that
/// did their write).
fn batch_span(event_id: EventId, requests: &[BookingRequest]) -> tracing::Span {
    let Some(first) = requests.first() else {
        return tracing::Span::none();
    };
    let span = tracing::info_span!(
        parent: &first.span,
        "booking.batch",
        event_id = event_id.value(),
        batch = requests.len(),
    );
    for other in &requests[1..] {
        other.span.follows_from(&span);
    }
    span
}

async fn place_batch_in(
    deps: &Commerce,
    event_id: EventId,
    requests: &[BookingRequest],
) -> Vec<Answer> {
    let mut failure = AppError::internal("booking batch was not attempted");
    for attempt in 1..=ATTEMPTS {
        match try_batch(deps, event_id, requests).await {
            Ok(answers) => return answers,
            Err(e) => {
                tracing::warn!(
                    event_id = event_id.value(),
                    batch = requests.len(),
                    attempt,
                    error = %e,
                    "booking batch rolled back"
                );
                let retry = !matches!(e, AppError::Unavailable { .. });
                failure = e;
                if !retry {
                    break;
                }
            }
        }
    }
    vec![Err(failure); requests.len()]
}

/// A request that passed its checks and waits for the batch's write.
struct Staged {
    index: usize,
    new: NewBooking,
    promo: Option<PromoCode>,
    /// Held seats of a converted waitlist offer that the booking does not use.
    surplus: u32,
}

/// What the batch has decided so far: the event, stock and promo uses as they will be once the
/// staged requests are placed, and the users who hold a booking.
struct Running {
    event: Event,
    options: Vec<PriceOption>,
    promos: HashMap<String, Option<PromoCode>>,
    offers: HashMap<UserId, WaitlistEntry>,
    booked: HashSet<UserId>,
    /// Per user of the batch: unpaid seats over all events, and seats of this event, as they
    /// will be once the staged requests are placed (the seat-hoarding limits).
    unpaid: HashMap<UserId, u64>,
    event_seats: HashMap<UserId, u64>,
}

async fn try_batch(
    deps: &Commerce,
    event_id: EventId,
    requests: &[BookingRequest],
) -> Result<Vec<Answer>, AppError> {
    let open = deps.uow.begin().await?;
    let tx = open.as_ref();
    let now = deps.clock.now();
    let Some(event) = tx.events().find_for_update(event_id).await? else {
        return Ok(vec![
            Err(AppError::NotFound { entity: "event" });
            requests.len()
        ]);
    };
    let users: Vec<UserId> = requests.iter().map(|r| r.user).collect();
    let offers = tx
        .waitlist()
        .find_offers(event_id, &users)
        .await?
        .into_iter()
        .map(|e| (e.user_id, e))
        .collect();
    let mut unpaid = HashMap::new();
    let mut event_seats = HashMap::new();
    // A user with seats of this event in an active booking already holds one (ALREADY_BOOKED).
    let mut booked = HashSet::new();
    for h in tx.bookings().seat_holdings(event_id, &users).await? {
        if h.event_seats > 0 {
            booked.insert(h.user);
        }
        unpaid.insert(h.user, h.unpaid_seats);
        event_seats.insert(h.user, h.event_seats);
    }
    let options = if requests.iter().any(|r| r.price_option_id.is_some()) {
        tx.events().price_options(event_id).await?
    } else {
        Vec::new()
    };
    let mut run = Running {
        event,
        options,
        promos: HashMap::new(),
        offers,
        booked,
        unpaid,
        event_seats,
    };

    let mut answers: Vec<Option<Answer>> = vec![None; requests.len()];
    let mut staged = Vec::with_capacity(requests.len());
    for (index, request) in requests.iter().enumerate() {
        match stage(tx, deps, &mut run, index, request, now).await {
            Ok(Ok(s)) => staged.push(s),
            Ok(Err(refusal)) => answers[index] = Some(Err(refusal)),
            Err(e) => return Err(e),
        }
    }

    let news = staged.iter().map(|s| s.new.clone()).collect();
    let placed = tx.bookings().place(event_id, news).await?;
    let mut queued = false;
    for (s, booking) in staged.iter().zip(placed) {
        let request = &requests[s.index];
        let env = deps.env(tx, &request.ctx);
        let (span, log_span) = (&request.span, &request.log_span);
        if s.surplus > 0 {
            // Held seats the booking did not need pass on to the next waiter.
            offer_freed_seats(tx, event_id, now, env.waitlist, &request.ctx)
                .instrument(span.clone())
                .instrument(log_span.clone())
                .await?;
        }
        record_creation(&env, &booking, s.promo.as_ref())
            .instrument(span.clone())
            .instrument(log_span.clone())
            .await?;
        let booking = if booking.total_price().is_zero() {
            env.confirm_booking(booking, deps.tickets.generate(), deps.settings.grace)
                .instrument(span.clone())
                .instrument(log_span.clone())
                .await?
        } else {
            booking
        };
        queued |= env.queued_refunds();
        answers[s.index] = Some(Ok(booking));
    }
    open.commit().await?;
    deps.after_commit(queued);
    Ok(answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(AppError::internal("booking request left unanswered"))))
        .collect())
}

/// Checks one request against the running state: `Ok(Err(refusal))` refuses this request alone
/// (nothing of it was written); `Err` fails the whole batch.
async fn stage(
    tx: &dyn Tx,
    deps: &Commerce,
    run: &mut Running,
    index: usize,
    request: &BookingRequest,
    now: Timestamp,
) -> Result<Result<Staged, AppError>, AppError> {
    match checked(tx, deps, run, index, request, now).await {
        Ok(staged) => Ok(Ok(staged)),
        Err(e) if refuses_one(&e) => Ok(Err(e)),
        Err(e) => Err(e),
    }
}

/// Refusals of one request; anything else (the database, a bug) concerns the whole batch.
const fn refuses_one(e: &AppError) -> bool {
    matches!(
        e,
        AppError::NotFound { .. }
            | AppError::Forbidden { .. }
            | AppError::Unauthenticated
            | AppError::Conflict { .. }
            | AppError::Validation { .. }
    )
}

async fn checked(
    tx: &dyn Tx,
    deps: &Commerce,
    run: &mut Running,
    index: usize,
    request: &BookingRequest,
    now: Timestamp,
) -> Result<Staged, AppError> {
    let user = request.user;
    let quantity = request.quantity;
    let event = &run.event;
    // A DRAFT is 404 to anyone but its organizer and admins.
    if !(event.is_public() || request.ctx.actor.is_admin() || event.creator_id == user) {
        return Err(AppError::NotFound { entity: "event" });
    }
    if run.booked.contains(&user) {
        return Err(PlacementRejection::AlreadyBooked.into());
    }
    let option_index = request
        .price_option_id
        .map(|id| {
            run.options
                .iter()
                .position(|o| o.id == id)
                .ok_or(DomainError::PriceOptionUnavailable)
        })
        .transpose()?;
    let option = option_index.map(|i| &run.options[i]);
    // An open waitlist offer that holds enough seats: the booking takes the held seats, so only
    // the event's bookability is checked; otherwise the event and option must have them free.
    let offer = run
        .offers
        .get(&user)
        .filter(|e| e.offer_open(now) && quantity.get() <= e.held_seats)
        .cloned();
    if offer.is_some() {
        event.check_bookable(now)?;
        if let Some(o) = option {
            o.check_available_for(event.id, quantity.get())?;
        }
    } else {
        check_can_book(event, quantity, option, now)?;
    }
    let promo = applicable_promo(
        tx,
        &request.ctx,
        &mut run.promos,
        request.promo.as_ref(),
        event.id,
        now,
    )
    .await?;
    let loyalty = match request.points.filter(|p| *p > 0) {
        Some(points) => Some(points_to_redeem(tx, &deps.loyalty, user, points).await?),
        None => None,
    };
    let breakdown = price(&PriceRequest {
        unit_price: option.map_or(event.price, |o| o.price),
        quantity,
        seats_taken: event.seats.taken(),
        capacity: event.seats.capacity(),
        rules: &event.pricing_rules,
        promo: promo.as_ref().map(|p| p.terms.discount),
        loyalty,
    });
    let deadline = payment_deadline(now, deps.settings.ttl, event.booking_cutoff());
    let seats = u64::from(quantity.get());
    let unpaid = !breakdown.total.is_zero();
    check_seat_limits(run, deps.seat_limits, user, seats, unpaid)?;

    // Accepted: from here on the request changes the running state (and, for an offer, the
    // database; the offer's versioned update is its first write, so a refusal there writes
    // nothing).
    let converted = match offer {
        Some(mut entry) => Some(convert_offer(tx, &mut entry, event.id, quantity, now).await?),
        None => {
            run.event.seats.take(quantity.get())?;
            None
        }
    };
    if let Some(i) = option_index {
        run.options[i].take(quantity.get())?;
    }
    if let Some(code) = &promo
        && let Some(Some(cached)) = run.promos.get_mut(code.code.as_str())
    {
        cached.redeem(run.event.id, now)?;
    }
    run.booked.insert(user);
    *run.event_seats.entry(user).or_default() += seats;
    if unpaid {
        *run.unpaid.entry(user).or_default() += seats;
    }
    Ok(Staged {
        index,
        new: NewBooking {
            event_id: run.event.id,
            user_id: user,
            quantity,
            price_option_id: request.price_option_id,
            promo_code_id: promo.as_ref().map(|p| p.id),
            waitlist_entry_id: converted.map(|c| c.entry),
            price: breakdown,
            payment_deadline: deadline,
            created_at: now,
        },
        promo,
        surplus: converted.map_or(0, |c| c.surplus),
    })
}

/// The seat-hoarding limits: the seats the user holds in the event (the event's own limit, else
/// the instance-wide one), and its unpaid seats over all events (a free booking is confirmed at
/// once and is never unpaid), counting what the batch staged before this request.
fn check_seat_limits(
    run: &Running,
    limits: SeatLimits,
    user: UserId,
    seats: u64,
    unpaid: bool,
) -> Result<(), AppError> {
    let per_event = run
        .event
        .max_seats_per_user
        .map_or(limits.per_user_per_event, u64::from);
    let held = run.event_seats.get(&user).copied().unwrap_or(0);
    if held.saturating_add(seats) > per_event {
        return Err(AppError::conflict(
            ErrorCode::SeatLimitPerUser,
            format!("at most {per_event} seats of this event per user; you hold {held}"),
        ));
    }
    let owed = run.unpaid.get(&user).copied().unwrap_or(0);
    if unpaid && owed.saturating_add(seats) > limits.unpaid_per_user {
        return Err(AppError::conflict(
            ErrorCode::UnpaidSeatLimit,
            format!(
                "at most {} unpaid seats per user over all events; you hold {owed}: pay or cancel a booking first",
                limits.unpaid_per_user
            ),
        ));
    }
    Ok(())
}

/// The promo code the caller typed, when it exists and applies to this event now. Each code is
/// read once per batch; its uses so far in the batch count. Every code that cannot be used here
/// — unknown, inactive, not yet or no longer valid, used up, for another event — is the same
/// 409 `PROMO_CODE_INVALID` with the same detail (codes cannot be probed); the reason goes to
/// the audit log (`promo_code.refused`), as with `validate`.
async fn applicable_promo(
    tx: &dyn Tx,
    ctx: &RequestContext,
    cache: &mut HashMap<String, Option<PromoCode>>,
    text: Option<&PromoCodeText>,
    event_id: EventId,
    now: Timestamp,
) -> Result<Option<PromoCode>, AppError> {
    let Some(text) = text else {
        return Ok(None);
    };
    let code = match cache.get(text.as_str()) {
        Some(found) => found.clone(),
        None => {
            let found = tx.promo_codes().find_by_code(text).await?;
            cache.insert(text.as_str().to_owned(), found.clone());
            found
        }
    };
    let refusal = match &code {
        None => "unknown promo code",
        Some(promo) => match promo.check_applicable(event_id, now) {
            Ok(()) => return Ok(code),
            Err(DomainError::PromoCodeNotApplicable { reason }) => reason.as_str(),
            Err(other) => return Err(other.into()),
        },
    };
    let id = code
        .as_ref()
        .map_or_else(|| "unknown".to_owned(), |p| p.id.to_string());
    tx.audit()
        .record(
            AuditEntry::by(ctx, "promo_code.refused", "promo_code", id, now).with_change(
                None,
                Some(json!({
                    "event_id": event_id.to_string(),
                    "reason": refusal,
                    "during": "booking.create",
                })),
            ),
        )
        .await?;
    Err(invalid_promo_code())
}

/// The points the caller may redeem, with their balance row-locked until the commit.
async fn points_to_redeem(
    tx: &dyn Tx,
    program: &LoyaltyProgram,
    user: UserId,
    points: u64,
) -> Result<LoyaltyRedemption, AppError> {
    let balance = tx.loyalty().balance_for_update(user).await?;
    Ok(program.redemption(points, balance)?)
}

/// A waitlist offer turned into this booking.
#[derive(Debug, Clone, Copy)]
struct ConvertedOffer {
    entry: WaitlistEntryId,
    /// Held seats the booking does not need, given back to the event.
    surplus: u32,
}

/// Converts the offer (CONVERTED, audited, `waitlist.converted`) and gives back the held seats
/// this booking does not use. The entry's versioned update comes first: when the offer changed
/// meanwhile, the request is refused before anything is written.
async fn convert_offer(
    tx: &dyn Tx,
    entry: &mut WaitlistEntry,
    event_id: EventId,
    quantity: Quantity,
    now: Timestamp,
) -> Result<ConvertedOffer, AppError> {
    let old = entry.status;
    let hold = entry.convert(now)?;
    let surplus = hold.seats.saturating_sub(quantity.get());
    let stored = tx.waitlist().update(entry).await?;
    if surplus > 0 {
        tx.events().release_seats(event_id, surplus).await?;
    }
    tx.waitlist()
        .append_audit(&stored, Some(old), Some(stored.user_id), now)
        .await?;
    Recorder::new(tx, now)
        .emit_payload(
            &stored,
            DomainEventType::WaitlistConverted,
            json!({
                "waitlist_entry_id": stored.id.value(),
                "event_id": event_id.value(),
                "user_id": stored.user_id.to_string(),
                "quantity": quantity.get(),
            }),
        )
        .await?;
    Ok(ConvertedOffer {
        entry: stored.id,
        surplus,
    })
}

/// What records a new booking: the promo redemption, the redeemed points, the booking log,
/// `booking.created` and the audit row.
async fn record_creation(
    env: &Env<'_>,
    booking: &Booking,
    promo: Option<&PromoCode>,
) -> Result<(), AppError> {
    let (tx, user, now) = (env.tx, booking.user_id, booking.created_at);
    if let Some(code) = promo {
        tx.promo_codes()
            .record_redemption(code.id, booking.id, user, now)
            .await?;
    }
    if booking.price.loyalty_points_used > 0 {
        tx.loyalty()
            .append(NewLoyaltyEntry::redeemed(
                user,
                booking.id,
                booking.price.loyalty_points_used,
                now,
            ))
            .await?;
    }
    let price = details_of(&booking.price)?;
    env.log(booking, None, json!({"action": "create", "price": price}))
        .await?;
    env.record()
        .emit(
            booking,
            DomainEventType::BookingCreated,
            json!({ "price": price }),
        )
        .await?;
    env.audit(
        "booking.create",
        "booking",
        booking.id,
        None,
        Some(booking_summary(booking)),
    )
    .await
}

/// Per-event queues of booking requests, each drained by one task while it has requests.
pub(crate) struct Combiner {
    settings: BatchSettings,
    /// An event is here exactly while its task runs.
    queues: Mutex<HashMap<EventId, VecDeque<Waiting>>>,
}

struct Waiting {
    request: BookingRequest,
    reply: oneshot::Sender<Answer>,
}

impl std::fmt::Debug for Combiner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Combiner")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Combiner {
    pub(crate) fn new(settings: BatchSettings) -> Self {
        Self {
            settings: BatchSettings {
                max_size: settings.max_size.max(1),
                ..settings
            },
            queues: Mutex::new(HashMap::new()),
        }
    }

    fn queues(&self) -> std::sync::MutexGuard<'_, HashMap<EventId, VecDeque<Waiting>>> {
        // Every change under the lock is one push, drain or remove: a poisoned map is intact.
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Queues the request for its event (starting the event's task if it has none) and waits
    /// for its answer.
    pub(crate) async fn submit(
        self: &Arc<Self>,
        deps: &Commerce,
        request: BookingRequest,
    ) -> Answer {
        let event_id = request.event_id;
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queues = self.queues();
            let waiting = Waiting { request, reply };
            if let Some(queue) = queues.get_mut(&event_id) {
                queue.push_back(waiting);
                false
            } else {
                queues.insert(event_id, VecDeque::from([waiting]));
                true
            }
        };
        if start {
            tokio::spawn(Arc::clone(self).drain(deps.clone(), event_id));
        }
        answer.await.unwrap_or_else(|_| {
            Err(AppError::internal(
                "the booking batch ended without an answer (its task failed)",
            ))
        })
    }

    /// Takes the next batch of the event, or ends the task when none is waiting.
    fn next_batch(&self, event_id: EventId) -> Option<Vec<Waiting>> {
        let mut queues = self.queues();
        let queue = queues.get_mut(&event_id)?;
        if queue.is_empty() {
            queues.remove(&event_id);
            return None;
        }
        let n = queue.len().min(self.settings.max_size);
        Some(queue.drain(..n).collect())
    }

    fn queued(&self, event_id: EventId) -> usize {
        self.queues().get(&event_id).map_or(0, VecDeque::len)
    }

    /// The event's task: batch after batch until its queue is empty.
    async fn drain(self: Arc<Self>, deps: Commerce, event_id: EventId) {
        loop {
            if !self.settings.max_wait.is_zero() && self.queued(event_id) < self.settings.max_size {
                tokio::time::sleep(self.settings.max_wait).await;
            }
            let Some(batch) = self.next_batch(event_id) else {
                return;
            };
            let (requests, replies): (Vec<_>, Vec<_>) =
                batch.into_iter().map(|w| (w.request, w.reply)).unzip();
            let batch_deps = deps.clone();
            // Its own task: a panic in one batch fails that batch's requests (their reply
            // channels close) and the queue goes on.
            let placed =
                tokio::spawn(async move { place_batch(&batch_deps, event_id, &requests).await })
                    .await;
            if let Ok(answers) = placed {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    // A caller that went away no longer needs the answer; the booking stands.
                    let _ = reply.send(answer);
                }
            }
        }
    }
}
