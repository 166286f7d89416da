//! A framework for tests, speaking the gRPC framework API as any framework would (no SDK, so the
//! tests check the wire contract itself): subscribe, read events, accept offers, acknowledge.

use std::time::{Duration, Instant};

use atoll_proto::v1;
use atoll_proto::v1::framework_event::Event;
use atoll_proto::v1::framework_service_client::FrameworkServiceClient;
use tonic::transport::Channel;

/// One framework's subscription.
pub struct TestFramework {
    pub client: FrameworkServiceClient<Channel>,
    pub events: tonic::Streaming<v1::FrameworkEvent>,
    pub id: String,
    pub stream: String,
}

impl TestFramework {
    /// Subscribes `name` in `role` (again as `id`, when given) and reads SUBSCRIBED.
    pub async fn subscribe(
        url: &str,
        name: &str,
        role: &str,
        failover_timeout_secs: Option<f64>,
        id: Option<&str>,
    ) -> Result<TestFramework, tonic::Status> {
        let mut client = FrameworkServiceClient::connect(url.to_owned()).await.expect("connect");
        let request = v1::FrameworkSubscribeRequest {
            info: Some(v1::FrameworkInfo { name: name.into(), role: role.into(), failover_timeout_secs }),
            framework_id: id.unwrap_or_default().to_owned(),
            suppressed: false,
        };
        let mut events = client.subscribe(request).await?.into_inner();
        let first = events.message().await?.expect("a first event");
        let Some(Event::Subscribed(subscribed)) = first.event else { panic!("SUBSCRIBED comes first: {first:?}") };
        Ok(TestFramework { client, events, id: subscribed.framework_id, stream: subscribed.stream_id })
    }

    /// What every call of this subscription names.
    pub fn call(&self) -> Option<v1::FrameworkCall> {
        Some(v1::FrameworkCall { framework_id: self.id.clone(), stream_id: self.stream.clone() })
    }

    /// The next event that is not a heartbeat, within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Event {
        loop {
            let event = tokio::time::timeout(timeout, self.events.message())
                .await
                .unwrap_or_else(|_| panic!("no event for framework {} within {timeout:?}", self.id))
                .expect("the stream is healthy")
                .expect("the stream goes on");
            match event.event {
                Some(Event::Heartbeat(_)) | None => continue,
                Some(event) => return event,
            }
        }
    }

    /// The next event `pick` takes, skipping others, within `timeout`.
    pub async fn next_where<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut pick: impl FnMut(&Event) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "framework {} saw no {what} within {timeout:?}", self.id);
            let event = self.next(left).await;
            if let Some(found) = pick(&event) {
                return found;
            }
        }
    }

    /// The next offers.
    pub async fn offers(&mut self) -> Vec<v1::Offer> {
        self.next_where("offers", Duration::from_secs(20), |e| match e {
            Event::Offers(offers) => Some(offers.offers.clone()),
            _ => None,
        })
        .await
    }

    /// Accepts `offers` with `tasks`, what they leave offered again at once.
    pub async fn accept(
        &mut self,
        offers: &[&v1::Offer],
        tasks: Vec<v1::TaskInfo>,
    ) -> Result<Vec<String>, tonic::Status> {
        let request = v1::AcceptRequest {
            call: self.call(),
            offer_ids: offers.iter().map(|o| o.id.clone()).collect(),
            tasks,
            refuse_seconds: Some(0.0),
        };
        Ok(self.client.accept(request).await?.into_inner().atoll_task_ids)
    }

    /// Waits for offers and launches `task` into the first.
    pub async fn launch_into_an_offer(&mut self, task: v1::TaskInfo) -> String {
        let offers = self.offers().await;
        let ids = self.accept(&[&offers[0]], vec![task]).await.expect("accepted");
        ids.into_iter().next().expect("one task launched")
    }

    pub async fn acknowledge(&mut self, update: &v1::TaskUpdate) {
        let request =
            v1::AcknowledgeRequest { call: self.call(), task_id: update.task_id.clone(), uuid: update.uuid.clone() };
        self.client.acknowledge(request).await.expect("acknowledged");
    }

    /// The next update of `task` in `state`, acknowledged when `ack`. Updates passed over on
    /// the way are acknowledged, as a framework does: each task's next update comes only once
    /// the one before is acknowledged.
    pub async fn update(&mut self, task: &str, state: v1::TaskState, ack: bool) -> v1::TaskUpdate {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "framework {} saw no update {task} {state:?}", self.id);
            let Event::Update(update) = self.next(left).await else { continue };
            let wanted = update.task_id == task && update.state == state as i32;
            if (ack || !wanted) && !update.uuid.is_empty() {
                self.acknowledge(&update).await;
            }
            if wanted {
                return update;
            }
        }
    }

    /// The updates of the tasks `wanted` names reaching the state given, in whatever order
    /// they come, by task; every update on the way is acknowledged.
    pub async fn updates(
        &mut self,
        wanted: &[(&str, v1::TaskState)],
    ) -> std::collections::HashMap<String, v1::TaskUpdate> {
        let mut reached = std::collections::HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while reached.len() < wanted.len() {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "framework {} saw only {:?} of {wanted:?}", self.id, reached.keys());
            let Event::Update(update) = self.next(left).await else { continue };
            if !update.uuid.is_empty() {
                self.acknowledge(&update).await;
            }
            if wanted.contains(&(update.task_id.as_str(), update.state())) {
                reached.insert(update.task_id.clone(), update);
            }
        }
        reached
    }

    /// Sends `data` to the custom executor of `task_id`.
    pub async fn message(&mut self, task_id: &str, data: &[u8]) -> Result<(), tonic::Status> {
        let request = v1::FrameworkMessageRequest { call: self.call(), task_id: task_id.into(), data: data.to_vec() };
        self.client.message(request).await.map(|_| ())
    }
}

/// A task of a shell command with the resources given (16 MB of disk).
pub fn framework_task(id: &str, cpu: f64, ram_mb: u64, command: &str) -> v1::TaskInfo {
    v1::TaskInfo {
        task_id: id.into(),
        resources: Some(v1::Resources { cpu, ram_mb, disk_mb: 16, gpu: 0 }),
        command: command.into(),
        ..Default::default()
    }
}

/// Every framework the scheduler at `url` lists.
pub async fn frameworks(url: &str) -> Vec<v1::FrameworkSummary> {
    let mut client = FrameworkServiceClient::connect(url.to_owned()).await.expect("connect");
    client.list_frameworks(v1::ListFrameworksRequest {}).await.expect("list").into_inner().frameworks
}

/// `CLUSTER/ROLE/ENV/NAME/INSTANCE` of the task an update is about, for `atoll task logs`.
pub fn instance_of(update: &v1::TaskUpdate) -> String {
    let job = update.job.clone().expect("the task's job key");
    format!("{}/{}/{}/{}/{}", job.cluster, job.role, job.environment, job.name, update.instance)
}
