//! The operator's side of the framework service: which frameworks share the cluster, one in
//! detail with its offers and tasks, and tearing one down.

use atoll_proto::v1::{self, framework_service_client::FrameworkServiceClient};

use crate::{ClientError, SchedulerClient, Transport};

impl SchedulerClient {
    fn frameworks_service(&self) -> FrameworkServiceClient<Transport> {
        FrameworkServiceClient::new(self.channel.clone())
    }

    /// Every framework, Atoll's own job scheduler first.
    pub async fn frameworks(&self) -> Result<Vec<v1::FrameworkSummary>, ClientError> {
        let response = self.frameworks_service().list_frameworks(v1::ListFrameworksRequest {}).await;
        Ok(response.map_err(|s| self.api_error(s))?.into_inner().frameworks)
    }

    /// One framework with its outstanding offers and its tasks.
    pub async fn framework(&self, id: &str) -> Result<v1::GetFrameworkResponse, ClientError> {
        let request = v1::GetFrameworkRequest { framework_id: id.to_owned() };
        Ok(self.frameworks_service().get_framework(request).await.map_err(|s| self.api_error(s))?.into_inner())
    }

    /// Tears a framework down as an operator: its tasks are killed and it is forgotten.
    pub async fn teardown_framework(&self, id: &str) -> Result<(), ClientError> {
        let call = v1::FrameworkCall { framework_id: id.to_owned(), stream_id: String::new() };
        let request = v1::TeardownRequest { call: Some(call) };
        self.frameworks_service().teardown(request).await.map_err(|s| self.api_error(s))?;
        Ok(())
    }
}
