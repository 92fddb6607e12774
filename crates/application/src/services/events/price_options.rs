//! Price options (tiers with their own stock) of an event.

use super::*;

fn price_option_summary(option: &PriceOption) -> Value {
    json!({
        "price_option_id": option.id.value(),
        "event_id": option.event_id.value(),
        "name": option.name,
        "price": option.price.to_string(),
        "description": option.description,
        "quantity_available": option.quantity_available,
        "is_active": option.is_active,
    })
}

impl EventService {
    /// Creates (`option_id = None`) or replaces a price option of an event: the creator or an
    /// admin, while the event is DRAFT or PUBLISHED. The event's version is bumped and
    /// `event.updated` emitted, since the options are part of what bookers see.
    ///
    /// `quantity_available` is the stock still on sale at this price (bookings decrement it,
    /// cancellations give it back); the event row is locked while it is written, so a
    /// concurrent booking cannot be lost between the read and the write.
    #[tracing::instrument(name = "EventService.save_price_option", skip_all)]
    pub async fn save_price_option(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
        option_id: Option<PriceOptionId>,
        input: PriceOptionInput,
    ) -> Result<PriceOption, AppError> {
        require_manager_role(ctx)?;
        let option = NewPriceOption::new(input)?;
        self.write_price_option(ctx, event_id, option_id, "event.price_option.save", |_| {
            Ok(option)
        })
        .await
    }

    /// `DELETE /api/v1/events/{id}/price-options/{option_id}`: the option stops being offered
    /// (`is_active = false`); it is kept, since existing bookings refer to it.
    #[tracing::instrument(name = "EventService.deactivate_price_option", skip_all)]
    pub async fn deactivate_price_option(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
        option_id: PriceOptionId,
    ) -> Result<PriceOption, AppError> {
        require_manager_role(ctx)?;
        self.write_price_option(
            ctx,
            event_id,
            Some(option_id),
            "event.price_option.deactivate",
            |current| {
                let current =
                    current.ok_or_else(|| AppError::internal("no option to deactivate"))?;
                Ok(NewPriceOption {
                    name: current.name.clone(),
                    price: current.price,
                    description: current.description.clone(),
                    quantity_available: current.quantity_available,
                    is_active: false,
                })
            },
        )
        .await
    }

    /// `GET /api/v1/events/{id}/price-options`: public for visible events; callers who do not
    /// manage the event see only the active options.
    #[tracing::instrument(name = "EventService.price_options", skip_all)]
    pub async fn price_options(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
    ) -> Result<Vec<PriceOption>, AppError> {
        let tx = self.uow.begin().await?;
        let event = tx
            .events()
            .find(event_id)
            .await?
            .filter(|e| visible_to(ctx, e))
            .ok_or(AppError::NotFound { entity: "event" })?;
        let mut options = tx.events().price_options(event_id).await?;
        if !manages(ctx, &event) {
            options.retain(|o| o.is_active);
        }
        tx.commit().await?;
        Ok(options)
    }

    /// The write shared by saving and deactivating a price option: `build` gets the stored
    /// option (when replacing one) and answers what to store.
    async fn write_price_option(
        &self,
        ctx: &RequestContext,
        event_id: EventId,
        option_id: Option<PriceOptionId>,
        action: &str,
        build: impl FnOnce(Option<&PriceOption>) -> Result<NewPriceOption, AppError> + Send,
    ) -> Result<PriceOption, AppError> {
        let now = self.clock.now();
        let tx = self.uow.begin().await?;
        let mut event = Self::load_managed(tx.as_ref(), ctx, event_id).await?;
        require_editable(&event)?;
        let before = match option_id {
            Some(oid) => Some(
                tx.events()
                    .price_options(event_id)
                    .await?
                    .into_iter()
                    .find(|o| o.id == oid)
                    .ok_or(AppError::NotFound {
                        entity: "price option",
                    })?,
            ),
            None => None,
        };
        let option = build(before.as_ref())?;
        let saved = tx
            .events()
            .save_price_option(event_id, option_id, option)
            .await?;
        event.updated_at = now;
        let event = tx.events().update(&event).await?;
        emit(tx.as_ref(), &event, DomainEventType::EventUpdated).await?;
        tx.audit()
            .record(
                AuditEntry::by(ctx, action, "price_option", saved.id, now).with_change(
                    before.as_ref().map(price_option_summary),
                    Some(price_option_summary(&saved)),
                ),
            )
            .await?;
        tx.commit().await?;
        Ok(saved)
    }
}
