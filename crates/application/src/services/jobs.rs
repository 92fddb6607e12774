//! Scheduled jobs (PRODUCT.md §11): a registry of named tasks and the runner that makes each
//! run safe with several instances and leaves a `job_runs` row behind.
//!
//! A job is one registration: a name, its schedule (for the scheduler and
//! `/actuator/scheduledtasks`) and an `Arc` closure that does the work through a use case and
//! answers how many items it processed. The runner does the rest:
//!
//! * one run per job per process at a time (a second trigger while it runs is `Skipped`);
//! * with [`JobLocking::Database`] (PostgreSQL) it opens a transaction, takes the job's
//!   advisory lock in it (`JobRunStore::try_lock`), runs the task (whose use case opens its own
//!   transactions), records the run in the lock's transaction and commits, which releases the
//!   lock — so across instances one run at a time, and a crashed instance leaks no lock;
//! * with [`JobLocking::InProcess`] (the embedded SQLite file: one connection, one instance)
//!   holding a transaction during the run would starve the task of the only connection, so
//!   the process-local guard is the lock and the run is recorded afterwards.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use domain::{EventId, Timestamp};

use crate::clock::Clock;
use crate::ports::{JobOutcome, JobRunSummary, UnitOfWork};
use crate::{AppError, RequestContext, Role};

/// What a job's task returns: how many items it processed.
pub type JobFuture = Pin<Box<dyn Future<Output = Result<u64, AppError>> + Send>>;

/// A job's work. Called once per run with the run's arguments.
pub type JobTask = Arc<dyn Fn(JobArgs) -> JobFuture + Send + Sync>;

/// The arguments of one run.
#[derive(Debug, Clone)]
pub struct JobArgs {
    /// The scheduler's system context, or the admin who triggered the run.
    pub ctx: RequestContext,
    /// `process-waitlist?eventId=`: limit the run to one event.
    pub event_id: Option<EventId>,
}

/// When the scheduler runs a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobSchedule {
    /// Every interval, the first run one interval after start.
    Every(Duration),
    /// A six-field cron expression (`sec min hour day month weekday`), UTC.
    Cron(String),
    /// Not scheduled (turned off by configuration); runs only when triggered.
    Manual,
}

impl std::fmt::Display for JobSchedule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Every(d) => write!(f, "every {}ms", d.as_millis()),
            Self::Cron(expr) => write!(f, "cron {expr}"),
            Self::Manual => f.write_str("manual"),
        }
    }
}

/// How runs of one job are kept apart across instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobLocking {
    /// An advisory lock in a transaction held for the run (PostgreSQL).
    Database,
    /// Only the in-process guard (single instance on an embedded database).
    InProcess,
}

#[derive(Clone)]
struct JobDefinition {
    name: String,
    schedule: JobSchedule,
    task: JobTask,
}

/// The answer of one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRunReport {
    pub job: String,
    pub started_at: Timestamp,
    pub duration: Duration,
    pub outcome: JobOutcome,
}

impl JobRunReport {
    #[must_use]
    pub const fn processed(&self) -> u64 {
        match self.outcome {
            JobOutcome::Succeeded { processed } | JobOutcome::Failed { processed, .. } => processed,
            JobOutcome::Skipped => 0,
        }
    }

    /// `SUCCEEDED`, `FAILED` or `SKIPPED`.
    #[must_use]
    pub const fn outcome_text(&self) -> &'static str {
        match self.outcome {
            JobOutcome::Succeeded { .. } => "SUCCEEDED",
            JobOutcome::Failed { .. } => "FAILED",
            JobOutcome::Skipped => "SKIPPED",
        }
    }

    #[must_use]
    pub fn error(&self) -> Option<&str> {
        match &self.outcome {
            JobOutcome::Failed { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// One line of `/actuator/scheduledtasks`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduledTask {
    pub name: String,
    pub schedule: JobSchedule,
    /// The latest recorded run (any instance), if any.
    pub last_run: Option<JobRunSummary>,
}

/// Collects the jobs, then builds the [`JobService`].
pub struct JobRegistry {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
    instance: String,
    locking: JobLocking,
    jobs: Vec<JobDefinition>,
}

impl std::fmt::Debug for JobRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobRegistry")
            .field("instance", &self.instance)
            .field(
                "jobs",
                &self.jobs.iter().map(|j| &j.name).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl JobRegistry {
    /// Registers a job. A second registration under the same name replaces the first.
    #[must_use]
    pub fn register<F, Fut>(mut self, name: &str, schedule: JobSchedule, task: F) -> Self
    where
        F: Fn(JobArgs) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<u64, AppError>> + Send + 'static,
    {
        let task: JobTask = Arc::new(move |args| Box::pin(task(args)));
        self.jobs.retain(|j| j.name != name);
        self.jobs.push(JobDefinition {
            name: name.to_owned(),
            schedule,
            task,
        });
        self
    }

    #[must_use]
    pub fn build(self) -> JobService {
        JobService {
            inner: Arc::new(Inner {
                uow: self.uow,
                clock: self.clock,
                instance: self.instance,
                locking: self.locking,
                jobs: self.jobs,
                running: Mutex::new(HashSet::new()),
            }),
        }
    }
}

struct Inner {
    uow: Arc<dyn UnitOfWork>,
    clock: Arc<dyn Clock>,
    instance: String,
    locking: JobLocking,
    jobs: Vec<JobDefinition>,
    /// Jobs running in this process.
    running: Mutex<HashSet<String>>,
}

/// Runs, triggers and lists the scheduled jobs.
#[derive(Clone)]
pub struct JobService {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JobService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobService")
            .field("instance", &self.inner.instance)
            .field("locking", &self.inner.locking)
            .field("jobs", &self.names())
            .finish()
    }
}

/// Marks a job running in this process until dropped.
struct RunningGuard<'a> {
    running: &'a Mutex<HashSet<String>>,
    job: String,
}

impl<'a> RunningGuard<'a> {
    fn take(running: &'a Mutex<HashSet<String>>, job: &str) -> Option<Self> {
        let fresh = running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(job.to_owned());
        fresh.then(|| Self {
            running,
            job: job.to_owned(),
        })
    }
}

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.running
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.job);
    }
}

impl JobService {
    /// `instance` names this process in `job_runs` (host name, pod name, …).
    #[must_use]
    pub fn registry(
        uow: Arc<dyn UnitOfWork>,
        clock: Arc<dyn Clock>,
        instance: impl Into<String>,
        locking: JobLocking,
    ) -> JobRegistry {
        JobRegistry {
            uow,
            clock,
            instance: instance.into(),
            locking,
            jobs: Vec::new(),
        }
    }

    /// Every job with its schedule, in registration order (for the scheduler).
    #[must_use]
    pub fn schedules(&self) -> Vec<(String, JobSchedule)> {
        self.inner
            .jobs
            .iter()
            .map(|j| (j.name.clone(), j.schedule.clone()))
            .collect()
    }

    #[must_use]
    pub fn names(&self) -> Vec<&str> {
        self.inner.jobs.iter().map(|j| j.name.as_str()).collect()
    }

    fn find(&self, name: &str) -> Result<&JobDefinition, AppError> {
        self.inner
            .jobs
            .iter()
            .find(|j| j.name == name)
            .ok_or(AppError::NotFound { entity: "job" })
    }

    /// `POST /internal/jobs/{name}`: ADMIN runs a job now.
    #[tracing::instrument(name = "JobService.trigger", skip_all)]
    pub async fn trigger(
        &self,
        ctx: &RequestContext,
        name: &str,
        event_id: Option<EventId>,
    ) -> Result<JobRunReport, AppError> {
        ctx.actor
            .require_role(&[Role::Admin], "only admins run jobs")?;
        let job = self.find(name)?;
        self.run(
            job,
            JobArgs {
                ctx: ctx.clone(),
                event_id,
            },
        )
        .await
    }

    /// A run started by the scheduler or the command line, as the system.
    #[tracing::instrument(name = "JobService.run_scheduled", skip_all)]
    pub async fn run_scheduled(&self, name: &str) -> Result<JobRunReport, AppError> {
        let job = self.find(name)?;
        self.run(
            job,
            JobArgs {
                ctx: RequestContext::system(name),
                event_id: None,
            },
        )
        .await
    }

    /// `/actuator/scheduledtasks` (ADMIN): every job, its schedule and its latest run.
    #[tracing::instrument(name = "JobService.scheduled_tasks", skip_all)]
    pub async fn scheduled_tasks(
        &self,
        ctx: &RequestContext,
    ) -> Result<Vec<ScheduledTask>, AppError> {
        ctx.actor
            .require_role(&[Role::Admin], "only admins see the scheduled tasks")?;
        let tx = self.inner.uow.begin().await?;
        let mut latest = tx.job_runs().latest().await?;
        drop(tx);
        Ok(self
            .inner
            .jobs
            .iter()
            .map(|j| ScheduledTask {
                name: j.name.clone(),
                schedule: j.schedule.clone(),
                last_run: latest
                    .iter()
                    .position(|r| r.job == j.name)
                    .map(|i| latest.swap_remove(i)),
            })
            .collect())
    }

    async fn run(&self, job: &JobDefinition, args: JobArgs) -> Result<JobRunReport, AppError> {
        let inner = &self.inner;
        let started_at = inner.clock.now();
        let started = Instant::now();
        let Some(_guard) = RunningGuard::take(&inner.running, &job.name) else {
            return Ok(Self::skipped(job, started_at, started));
        };
        let outcome = match inner.locking {
            JobLocking::Database => {
                let lock = inner.uow.begin().await?;
                if !lock.job_runs().try_lock(&job.name).await? {
                    drop(lock);
                    return Ok(Self::skipped(job, started_at, started));
                }
                let outcome = Self::outcome((job.task)(args).await);
                lock.job_runs()
                    .record(
                        &job.name,
                        &inner.instance,
                        started_at,
                        inner.clock.now(),
                        &outcome,
                    )
                    .await?;
                lock.commit().await?;
                outcome
            }
            JobLocking::InProcess => {
                let outcome = Self::outcome((job.task)(args).await);
                self.record(job, started_at, &outcome).await?;
                outcome
            }
        };
        let report = JobRunReport {
            job: job.name.clone(),
            started_at,
            duration: started.elapsed(),
            outcome,
        };
        record_metrics(&report);
        match report.error() {
            Some(error) => tracing::warn!(job = %job.name, error, "job failed"),
            None => tracing::info!(
                job = %job.name,
                processed = report.processed(),
                duration_ms = u64::try_from(report.duration.as_millis()).unwrap_or(u64::MAX),
                "job ran"
            ),
        }
        Ok(report)
    }

    fn outcome(result: Result<u64, AppError>) -> JobOutcome {
        match result {
            Ok(processed) => JobOutcome::Succeeded { processed },
            Err(e) => JobOutcome::Failed {
                processed: 0,
                error: e.to_string(),
            },
        }
    }

    fn skipped(job: &JobDefinition, started_at: Timestamp, started: Instant) -> JobRunReport {
        // not recorded: `job_runs` (and `/actuator/scheduledtasks`) describe runs that did the
        // work, and every instance but one skips each scheduled tick
        tracing::debug!(job = %job.name, "job skipped: running elsewhere");
        JobRunReport {
            job: job.name.clone(),
            started_at,
            duration: started.elapsed(),
            outcome: JobOutcome::Skipped,
        }
    }

    async fn record(
        &self,
        job: &JobDefinition,
        started_at: Timestamp,
        outcome: &JobOutcome,
    ) -> Result<(), AppError> {
        let inner = &self.inner;
        let tx = inner.uow.begin().await?;
        tx.job_runs()
            .record(
                &job.name,
                &inner.instance,
                started_at,
                inner.clock.now(),
                outcome,
            )
            .await?;
        tx.commit().await
    }
}

/// Job metrics: runs by job and outcome, duration, items processed, and the wall-clock time
/// of the last success (alerts compare it with `time()`). Runs skipped because another
/// instance holds the job are not runs.
fn record_metrics(report: &JobRunReport) {
    let job = report.job.clone();
    let outcome = match report.outcome {
        JobOutcome::Succeeded { .. } => "succeeded",
        JobOutcome::Failed { .. } => "failed",
        JobOutcome::Skipped => return,
    };
    metrics::counter!("aquastream_job_runs_total", "job_name" => job.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!("aquastream_job_duration_seconds", "job_name" => job.clone())
        .record(report.duration.as_secs_f64());
    metrics::counter!("aquastream_job_items_processed_total", "job_name" => job.clone())
        .increment(report.processed());
    if let JobOutcome::Succeeded { .. } = report.outcome {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        metrics::gauge!("aquastream_job_last_success_timestamp_seconds", "job_name" => job)
            .set(now.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    use chrono::TimeZone;
    use tokio::sync::Notify;
    use uuid::Uuid;

    use super::*;
    use crate::Actor;
    use crate::clock::ManualClock;
    use crate::services::test_support::{FakeTx, uow_with};
    use domain::UserId;

    fn at() -> Timestamp {
        chrono::Utc.with_ymd_and_hms(2027, 5, 1, 9, 0, 0).unwrap()
    }

    fn admin() -> RequestContext {
        RequestContext::new(Actor::authenticated(
            UserId(Uuid::from_u128(1)),
            [Role::Admin],
        ))
    }

    fn service(txs: Vec<FakeTx>, locking: JobLocking, calls: Arc<AtomicU64>) -> JobService {
        JobService::registry(
            Arc::new(uow_with(txs)),
            Arc::new(ManualClock::new(at())),
            "node-a",
            locking,
        )
        .register(
            "count",
            JobSchedule::Every(Duration::from_secs(60)),
            move |args: JobArgs| {
                let calls = Arc::clone(&calls);
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    if args.event_id == Some(EventId(13)) {
                        Err(AppError::conflict(crate::ErrorCode::SoldOut, "event 13"))
                    } else {
                        Ok(7)
                    }
                }
            },
        )
        .build()
    }

    fn recording_tx(expected: JobOutcome, committed: &Arc<AtomicBool>) -> FakeTx {
        let mut tx = FakeTx::new(Arc::clone(committed));
        tx.job_runs
            .expect_record()
            .withf(move |job, instance, started, _, outcome| {
                job == "count" && instance == "node-a" && *started == at() && *outcome == expected
            })
            .times(1)
            .returning(|_, _, _, _, _| Ok(()));
        tx
    }

    #[tokio::test]
    async fn a_run_holds_the_lock_and_records_its_outcome_in_the_same_transaction() {
        let committed = Arc::new(AtomicBool::new(false));
        let mut tx = recording_tx(JobOutcome::Succeeded { processed: 7 }, &committed);
        tx.job_runs
            .expect_try_lock()
            .withf(|job| job == "count")
            .times(1)
            .returning(|_| Ok(true));
        let calls = Arc::new(AtomicU64::new(0));
        let svc = service(vec![tx], JobLocking::Database, Arc::clone(&calls));
        let report = svc.trigger(&admin(), "count", None).await.unwrap();
        assert_eq!(report.outcome, JobOutcome::Succeeded { processed: 7 });
        assert_eq!(
            (report.processed(), report.outcome_text()),
            (7, "SUCCEEDED")
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn a_lock_held_elsewhere_skips_the_run_without_running_the_task() {
        let mut tx = FakeTx::new(Arc::new(AtomicBool::new(false)));
        tx.job_runs.expect_try_lock().returning(|_| Ok(false));
        let calls = Arc::new(AtomicU64::new(0));
        let svc = service(vec![tx], JobLocking::Database, Arc::clone(&calls));
        let report = svc.run_scheduled("count").await.unwrap();
        assert_eq!(report.outcome, JobOutcome::Skipped);
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_failing_task_is_recorded_with_its_error() {
        let committed = Arc::new(AtomicBool::new(false));
        let tx = recording_tx(
            JobOutcome::Failed {
                processed: 0,
                error: "event 13".to_owned(),
            },
            &committed,
        );
        let svc = service(vec![tx], JobLocking::InProcess, Arc::new(AtomicU64::new(0)));
        let report = svc
            .trigger(&admin(), "count", Some(EventId(13)))
            .await
            .unwrap();
        assert_eq!(report.outcome_text(), "FAILED");
        assert_eq!(report.error(), Some("event 13"));
        assert!(committed.load(Ordering::SeqCst));
    }

    #[tokio::test]
    async fn only_admins_trigger_and_unknown_jobs_are_not_found() {
        let svc = service(vec![], JobLocking::InProcess, Arc::new(AtomicU64::new(0)));
        let user = RequestContext::new(Actor::authenticated(
            UserId(Uuid::from_u128(2)),
            [Role::User],
        ));
        let guest = RequestContext::new(Actor::guest());
        assert!(matches!(
            svc.trigger(&user, "count", None).await,
            Err(AppError::Forbidden { .. })
        ));
        assert!(matches!(
            svc.trigger(&guest, "count", None).await,
            Err(AppError::Unauthenticated)
        ));
        assert!(matches!(
            svc.trigger(&admin(), "nope", None).await,
            Err(AppError::NotFound { entity: "job" })
        ));
        assert!(matches!(
            svc.scheduled_tasks(&user).await,
            Err(AppError::Forbidden { .. })
        ));
        assert_eq!(svc.names(), ["count"]);
        assert_eq!(svc.schedules()[0].1.to_string(), "every 60000ms");
    }

    #[tokio::test]
    async fn a_second_run_in_the_same_process_is_skipped_while_the_first_runs() {
        let committed = Arc::new(AtomicBool::new(false));
        let tx = recording_tx(JobOutcome::Succeeded { processed: 1 }, &committed);
        let started = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let svc = JobService::registry(
            Arc::new(uow_with(vec![tx])),
            Arc::new(ManualClock::new(at())),
            "node-a",
            JobLocking::InProcess,
        )
        .register("count", JobSchedule::Cron("0 0 * * * *".into()), {
            let (started, release) = (Arc::clone(&started), Arc::clone(&release));
            move |_| {
                let (started, release) = (Arc::clone(&started), Arc::clone(&release));
                async move {
                    started.notify_one();
                    release.notified().await;
                    Ok(1)
                }
            }
        })
        .build();
        let first = tokio::spawn({
            let svc = svc.clone();
            async move { svc.run_scheduled("count").await }
        });
        started.notified().await;
        let second = svc.run_scheduled("count").await.unwrap();
        assert_eq!(second.outcome, JobOutcome::Skipped);
        release.notify_one();
        let first = first.await.unwrap().unwrap();
        assert_eq!(first.outcome, JobOutcome::Succeeded { processed: 1 });
        assert!(committed.load(Ordering::SeqCst));
    }
}
