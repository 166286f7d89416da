//! Conversions of the event stream's events and subscriptions.

use atoll_model::cron::CronRunState;
use atoll_model::event::{ClusterEvent, EventDetail, EventFilter, EventKind, JobChange};
use atoll_model::{JobKeyPrefix, TaskId};

use crate::job::{job_key, task_state};
use crate::updates::update_state;
use crate::{WireError, v1};

/// The response header of `EventService.Subscribe` naming the oldest event the scheduler keeps.
pub const OLDEST_EVENT_HEADER: &str = "atoll-oldest-event";

impl From<&ClusterEvent> for v1::Event {
    fn from(event: &ClusterEvent) -> v1::Event {
        use v1::event::Detail;
        let detail = match &event.detail {
            EventDetail::Task { task, instance, previous, state, message, host } => Detail::Task(v1::TaskStateChange {
                task_id: task.0.clone(),
                instance: *instance,
                previous_state: v1::TaskState::from(*previous) as i32,
                state: v1::TaskState::from(*state) as i32,
                message: message.clone(),
                host: host.clone().unwrap_or_default(),
            }),
            EventDetail::Job { change, message } => {
                Detail::JobChange(v1::JobChange { change: change.name().to_owned(), message: message.clone() })
            }
            EventDetail::Update { update, state, message } => Detail::Update(v1::UpdateStateChange {
                update_id: *update,
                state: v1::JobUpdateState::from(*state) as i32,
                message: message.clone(),
            }),
            EventDetail::Cron { state, message } => {
                Detail::Cron(v1::CronRunChange { state: state.name().to_owned(), message: message.clone() })
            }
        };
        v1::Event { index: event.index, at_ms: event.at_ms, job: Some((&event.job).into()), detail: Some(detail) }
    }
}

impl TryFrom<&v1::Event> for ClusterEvent {
    type Error = WireError;

    fn try_from(wire: &v1::Event) -> Result<ClusterEvent, WireError> {
        use v1::event::Detail;
        let detail = match wire.detail.as_ref().ok_or_else(|| crate::missing("event detail"))? {
            Detail::Task(task) => EventDetail::Task {
                task: TaskId(task.task_id.clone()),
                instance: task.instance,
                previous: task_state(task.previous_state)?,
                state: task_state(task.state)?,
                message: task.message.clone(),
                host: Some(task.host.clone()).filter(|h| !h.is_empty()),
            },
            Detail::JobChange(job) => EventDetail::Job {
                change: JobChange::ALL.into_iter().find(|c| c.name() == job.change).ok_or_else(|| WireError {
                    field: "job change",
                    reason: format!("unknown change '{}'", job.change),
                })?,
                message: job.message.clone(),
            },
            Detail::Update(update) => EventDetail::Update {
                update: update.update_id,
                state: update_state(update.state)?,
                message: update.message.clone(),
            },
            Detail::Cron(cron) => EventDetail::Cron {
                state: CronRunState::ALL.into_iter().find(|s| s.name() == cron.state).ok_or_else(|| WireError {
                    field: "cron run state",
                    reason: format!("unknown state '{}'", cron.state),
                })?,
                message: cron.message.clone(),
            },
        };
        Ok(ClusterEvent { index: wire.index, at_ms: wire.at_ms, job: job_key(wire.job.as_ref())?, detail })
    }
}

/// The filter a subscription asks for.
pub fn event_filter(request: &v1::SubscribeRequest) -> Result<EventFilter, WireError> {
    let part = |text: &str| Some(text.to_owned()).filter(|t| !t.is_empty());
    if request.cluster.is_empty() {
        return Err(crate::missing("cluster"));
    }
    if !request.environment.is_empty() && request.role.is_empty() {
        return Err(WireError { field: "environment", reason: "given without a role".to_owned() });
    }
    if !request.name.is_empty() && request.environment.is_empty() {
        return Err(WireError { field: "name", reason: "given without a role and environment".to_owned() });
    }
    let kinds = request
        .kinds
        .iter()
        .map(|kind| kind.parse::<EventKind>().map_err(|reason| WireError { field: "kinds", reason }))
        .collect::<Result<Vec<_>, _>>()?;
    let jobs = JobKeyPrefix {
        cluster: request.cluster.clone(),
        role: part(&request.role),
        environment: part(&request.environment),
    };
    Ok(EventFilter { jobs, name: part(&request.name), kinds })
}

/// The subscription request for `filter`.
pub fn subscribe_request(filter: &EventFilter, from_index: Option<u64>, follow: bool) -> v1::SubscribeRequest {
    v1::SubscribeRequest {
        from_index,
        cluster: filter.jobs.cluster.clone(),
        role: filter.jobs.role.clone().unwrap_or_default(),
        environment: filter.jobs.environment.clone().unwrap_or_default(),
        name: filter.name.clone().unwrap_or_default(),
        kinds: filter.kinds.iter().map(|k| k.name().to_owned()).collect(),
        follow,
    }
}

#[cfg(test)]
mod tests {
    use atoll_model::{TaskState, UpdateState};

    use super::*;

    #[test]
    fn events_of_every_kind_round_trip() {
        let job: atoll_model::JobKey = "devcluster/www-data/prod/web".parse().unwrap();
        let details = [
            EventDetail::Task {
                task: TaskId("t-1".into()),
                instance: 2,
                previous: TaskState::Starting,
                state: TaskState::Running,
                message: "Healthy".into(),
                host: Some("h1".into()),
            },
            EventDetail::Task {
                task: TaskId("t-2".into()),
                instance: 0,
                previous: TaskState::Init,
                state: TaskState::Pending,
                message: String::new(),
                host: None,
            },
            EventDetail::Update { update: 7, state: UpdateState::RolledBack, message: "Done".into() },
        ]
        .into_iter()
        .chain(JobChange::ALL.map(|change| EventDetail::Job { change, message: "m".into() }))
        .chain(CronRunState::ALL.map(|state| EventDetail::Cron { state, message: "c".into() }));
        for (index, detail) in details.enumerate() {
            let event = ClusterEvent { index: index as u64 + 1, at_ms: 5, job: job.clone(), detail };
            assert_eq!(ClusterEvent::try_from(&v1::Event::from(&event)), Ok(event));
        }
    }

    #[test]
    fn a_subscription_names_its_jobs_and_kinds_or_says_what_is_wrong() {
        let filter = EventFilter {
            jobs: "devcluster/www-data/prod".parse().unwrap(),
            name: Some("web".into()),
            kinds: vec![EventKind::Task, EventKind::Cron],
        };
        assert_eq!(event_filter(&subscribe_request(&filter, Some(3), true)), Ok(filter));
        let mut request = v1::SubscribeRequest { cluster: "devcluster".into(), ..Default::default() };
        request.kinds = vec!["tasks".into()];
        assert_eq!(
            event_filter(&request).unwrap_err().to_string(),
            "invalid kinds: 'tasks' is not a kind of event; the kinds are task, job, update and cron"
        );
        request.kinds.clear();
        request.name = "web".into();
        assert!(event_filter(&request).unwrap_err().to_string().contains("name: given without a role and environment"));
        assert!(event_filter(&v1::SubscribeRequest::default()).unwrap_err().to_string().contains("cluster"));
    }
}
