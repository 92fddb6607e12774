//! The scheduled jobs of PRODUCT.md §11 / seed 002: one registration per job (name, schedule
//! from configuration, the use case it calls). Every job is multi-instance safe through the
//! runner (`application::services::jobs`) and triggerable by ADMIN at `POST
//! /internal/jobs/{name}` and from the command line (`backend-event jobs run <name>`).

use std::sync::Arc;
use std::time::Duration;

use application::services::{
    BookingService, CrewService, EventService, JobArgs, JobLocking, JobSchedule, JobService,
    PaymentService, ReminderService, RetentionService, WaitlistService,
};
use application::{AppError, clock::Clock, ports::UnitOfWork};

use crate::config::Config;

pub const EXPIRE_BOOKINGS: &str = "expire-bookings";
pub const PROCESS_WAITLIST: &str = "process-waitlist";
pub const CLEANUP_EXPIRED_WAITLIST: &str = "cleanup-expired-waitlist";
pub const COMPLETE_EVENTS: &str = "complete-events";
pub const PUBLISH_SCHEDULED_EVENTS: &str = "publish-scheduled-events";
pub const SEND_REMINDERS: &str = "send-reminders";
pub const CREW_RETRY: &str = "crew-retry";
pub const PROCESS_REFUNDS: &str = "process-refunds";
pub const RETENTION: &str = "retention";

/// Every job, in the order `/actuator/scheduledtasks` lists them.
pub const ALL: [&str; 9] = [
    EXPIRE_BOOKINGS,
    PROCESS_WAITLIST,
    CLEANUP_EXPIRED_WAITLIST,
    COMPLETE_EVENTS,
    PUBLISH_SCHEDULED_EVENTS,
    SEND_REMINDERS,
    CREW_RETRY,
    PROCESS_REFUNDS,
    RETENTION,
];

/// The name this instance records its runs under.
#[must_use]
pub fn instance_name(config: &Config) -> String {
    if !config.jobs.instance.is_empty() {
        return config.jobs.instance.clone();
    }
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| format!("backend-event-{}", std::process::id()))
}

/// What the jobs call.
pub struct JobDeps {
    pub uow: Arc<dyn UnitOfWork>,
    pub clock: Arc<dyn Clock>,
    pub events: EventService,
    pub bookings: BookingService,
    pub waitlist: WaitlistService,
    pub crew: CrewService,
    pub payments: PaymentService,
    pub reminders: ReminderService,
    pub retention: RetentionService,
}

impl std::fmt::Debug for JobDeps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobDeps").finish_non_exhaustive()
    }
}

/// Registers every job with its schedule.
#[must_use]
pub fn job_service(config: &Config, deps: JobDeps, sqlite: bool) -> JobService {
    let locking = if sqlite {
        JobLocking::InProcess
    } else {
        JobLocking::Database
    };
    let batch = config.jobs.batch_size;
    let app = &config.app;
    let every = Duration::from_secs;
    let waitlist_interval = if app.waitlist.auto_process {
        JobSchedule::Every(every(u64::from(app.waitlist.cleanup_interval_minutes) * 60))
    } else {
        JobSchedule::Manual
    };
    let completion = if app.completion.auto_complete {
        JobSchedule::Cron(app.completion.check_interval_cron.clone())
    } else {
        JobSchedule::Manual
    };
    let JobDeps {
        uow,
        clock,
        events,
        bookings,
        waitlist,
        crew,
        payments,
        reminders,
        retention,
    } = deps;
    JobService::registry(uow, clock, instance_name(config), locking)
        // PENDING_PAYMENT past deadline + grace → EXPIRED, seats freed, waitlist advanced.
        .register(
            EXPIRE_BOOKINGS,
            JobSchedule::Every(Duration::from_millis(
                app.booking.expiration_check_interval_ms,
            )),
            {
                // A run drains everything due, bounded by the interval so runs never overlap.
                let budget = Duration::from_millis(app.booking.expiration_check_interval_ms);
                move |_| {
                    let bookings = bookings.clone();
                    async move { bookings.expire_due(budget).await }
                }
            },
        )
        // Expired offers closed, their seats offered to the next in line. An admin's trigger may
        // name one event (`?eventId=`); the scheduler covers every event as the system.
        .register(PROCESS_WAITLIST, waitlist_interval.clone(), {
            let waitlist = waitlist.clone();
            move |args| {
                let waitlist = waitlist.clone();
                async move { process_waitlist(&waitlist, args, batch).await }
            }
        })
        // The same sweep over every event (seed 002 names both jobs).
        .register(CLEANUP_EXPIRED_WAITLIST, waitlist_interval, move |args| {
            let waitlist = waitlist.clone();
            let args = JobArgs {
                event_id: None,
                ..args
            };
            async move { process_waitlist(&waitlist, args, batch).await }
        })
        .register(COMPLETE_EVENTS, completion, {
            let events = events.clone();
            move |_| {
                let events = events.clone();
                async move { events.complete_due(batch).await }
            }
        })
        .register(
            PUBLISH_SCHEDULED_EVENTS,
            JobSchedule::Every(every(config.jobs.publish_scheduled_interval_seconds)),
            move |_| {
                let events = events.clone();
                async move { events.publish_due(batch).await }
            },
        )
        .register(
            SEND_REMINDERS,
            JobSchedule::Every(every(config.jobs.reminders_interval_seconds)),
            move |_| {
                let reminders = reminders.clone();
                async move { reminders.send_due(batch).await }
            },
        )
        // Crew requests waiting for a retry, and crews of canceled events to give back.
        .register(
            CREW_RETRY,
            JobSchedule::Every(every(config.jobs.crew_retry_interval_seconds)),
            move |_| {
                let crew = crew.clone();
                async move { crew.retry_crew(batch).await }
            },
        )
        // Refunds recorded PENDING by cancellations, expiries and refunds, sent to the gateway
        // after their transaction committed; intents whose reference was never recorded.
        .register(
            PROCESS_REFUNDS,
            JobSchedule::Every(every(config.jobs.process_refunds_interval_seconds)),
            move |_| {
                let payments = payments.clone();
                async move { payments.process_due(batch).await }
            },
        )
        .register(
            RETENTION,
            JobSchedule::Every(every(config.jobs.retention_interval_minutes * 60)),
            move |_| {
                let retention = retention.clone();
                async move { retention.run().await.map(|r| r.total()) }
            },
        )
        .build()
}

/// An admin's trigger runs as that admin (and may name one event); the scheduler's run sweeps
/// every event as the system.
async fn process_waitlist(
    waitlist: &WaitlistService,
    args: JobArgs,
    batch: u32,
) -> Result<u64, AppError> {
    if args.ctx.actor.is_admin() {
        waitlist.process(&args.ctx, args.event_id, batch).await
    } else {
        waitlist.process_due(batch).await
    }
}
