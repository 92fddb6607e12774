//! Reading events: the details page, the catalog scoped to what the caller may see, and
//! the organizer's stats.

use super::*;

/// `GET /api/v1/events/{id}`: the event, its price options and its public rating.
///
/// Callers who do not manage the event see only active price options.
#[derive(Debug, Clone, PartialEq)]
pub struct EventDetails {
    pub event: Event,
    pub price_options: Vec<PriceOption>,
    pub rating: RatingSummary,
    /// The current crew request (assigned crew, or where its retries stand); `None` while the
    /// event has no crew (`crew_status` NONE).
    pub crew: Option<CrewAssignmentRecord>,
}

/// `ListEventsRequest`, as it arrives from an adapter (not scoped yet).
///
/// Scoping, by caller:
/// * `mine = true`: ORGANIZER or ADMIN only (guest → 401, USER → 403); the caller's own events
///   in the requested statuses (empty = every status).
/// * ADMIN without `mine`: every event in the requested statuses (empty = every status).
/// * everybody else (guests, USERs, ORGANIZERs browsing the catalog): PUBLISHED and COMPLETED
///   only; empty = PUBLISHED. Asking for another status (DRAFT, CANCELED) is refused, not
///   silently filtered: guest → 401, signed-in → 403.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListEventsQuery {
    pub statuses: Vec<EventStatus>,
    pub category: Option<String>,
    pub start_from: Option<Timestamp>,
    pub start_to: Option<Timestamp>,
    /// Full-text search over name and description; at most [`SEARCH_MAX`] characters.
    pub search: Option<String>,
    pub only_featured: bool,
    pub mine: bool,
    pub sort: EventSort,
    pub descending: bool,
    pub page: PageRequest,
}

/// The longest catalog search text.
pub const SEARCH_MAX: usize = 200;

/// Statuses anyone may list in the catalog.
const CATALOG_STATUSES: [EventStatus; 2] = [EventStatus::Published, EventStatus::Completed];

impl EventService {
    /// `GET /api/v1/events/{id}`, `GetEvent`: public. A DRAFT exists only for its creator and
    /// admins (404 for everybody else); PUBLISHED, COMPLETED and CANCELED events are shown to
    /// everybody. A view of a PUBLISHED event by anyone but its managers is counted, in memory
    /// (see [`ViewCounter`]): reading an event writes nothing.
    #[tracing::instrument(name = "EventService.get", skip_all)]
    pub async fn get(&self, ctx: &RequestContext, id: EventId) -> Result<EventDetails, AppError> {
        let tx = self.uow.begin().await?;
        let EventListing { event, rating } = tx
            .events()
            .listing(id)
            .await?
            .filter(|l| visible_to(ctx, &l.event))
            .ok_or(AppError::NotFound { entity: "event" })?;
        let manager = manages(ctx, &event);
        let mut price_options = tx.events().price_options(id).await?;
        if !manager {
            price_options.retain(|o| o.is_active);
        }
        if event.status == EventStatus::Published && !manager {
            self.views.count(id);
        }
        let crew = if event.crew_status == CrewStatus::None {
            None
        } else {
            tx.crew_assignments()
                .active_for_event(id)
                .await?
                .into_iter()
                .next()
        };
        tx.commit().await?;
        Ok(EventDetails {
            event,
            price_options,
            rating,
            crew,
        })
    }

    /// `GET /api/v1/events`, `ListEvents`: the catalog, scoped to what the caller may see (see
    /// [`ListEventsQuery`]). Inputs are validated before the database is touched.
    #[tracing::instrument(name = "EventService.list", skip_all)]
    pub async fn list(
        &self,
        ctx: &RequestContext,
        query: ListEventsQuery,
    ) -> Result<Page<EventListing>, AppError> {
        let scoped = Self::scope(ctx, query)?;
        let tx = self.uow.begin().await?;
        let page = tx.events().search(&scoped).await?;
        tx.commit().await?;
        Ok(page)
    }

    fn scope(ctx: &RequestContext, query: ListEventsQuery) -> Result<EventQuery, AppError> {
        check_period(
            query.start_from,
            query.start_to,
            "start_date_to",
            "start_date_from",
        )?;
        let search = text::optional("search_query", query.search.as_deref(), SEARCH_MAX)?;
        let category = text::optional(
            "category",
            query.category.as_deref(),
            DescriptiveFields::CATEGORY_MAX,
        )?;
        let mut statuses = query.statuses;
        statuses.sort_by_key(|s| s.as_str());
        statuses.dedup();
        let creator_id = if query.mine {
            Some(ctx.actor.require_role(
                &[Role::Organizer, Role::Admin],
                "only organizers and admins have events of their own",
            )?)
        } else {
            None
        };
        if creator_id.is_none() && !ctx.actor.is_admin() {
            if statuses.is_empty() {
                statuses.push(EventStatus::Published);
            } else if statuses.iter().any(|s| !CATALOG_STATUSES.contains(s)) {
                let _admin = ctx.actor.require_role(
                    &[Role::Admin],
                    "the catalog lists PUBLISHED and COMPLETED events; organizers list their other events with mine=true",
                )?;
            }
        }
        Ok(EventQuery {
            statuses,
            category,
            start_from: query.start_from,
            start_to: query.start_to,
            search,
            only_featured: query.only_featured,
            creator_id,
            sort: query.sort,
            descending: query.descending,
            page: query.page,
        })
    }

    /// `GET /api/v1/events/{id}/stats`, `GetEventStats`: the creator or an admin; bookings
    /// created in `[from, to]` (both optional).
    #[tracing::instrument(name = "EventService.stats", skip_all)]
    pub async fn stats(
        &self,
        ctx: &RequestContext,
        id: EventId,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<EventStats, AppError> {
        require_manager_role(ctx)?;
        check_period(from, to, "to", "from")?;
        let tx = self.uow.begin().await?;
        let event = tx
            .events()
            .find(id)
            .await?
            .ok_or(AppError::NotFound { entity: "event" })?;
        ctx.actor.require_event_manager(event.creator_id)?;
        let stats = tx.events().stats(id, from, to).await?;
        tx.commit().await?;
        Ok(stats)
    }
}
