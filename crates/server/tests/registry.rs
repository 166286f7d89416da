//! The embedded registry over real gRPC: sessions, ephemeral sequential members with empty
//! persistent parents, watches, and expiry taking a silent session's members away.

mod support;

use std::time::Duration;

use atoll_proto::v1::{self, registry_service_client::RegistryServiceClient};
use atoll_storage::MemoryStore;
use tonic::transport::Channel;

async fn start() -> (RegistryServiceClient<Channel>, tokio::sync::oneshot::Sender<()>) {
    let (channel, stop, _) = support::serve(Box::new(MemoryStore::default())).await;
    (RegistryServiceClient::new(channel), stop)
}

const JOB: &str = "/aurora/www-data/prod/hello";

#[tokio::test]
async fn members_come_and_go_with_their_session_and_watchers_see_it() {
    let (mut client, _stop) = start().await;
    let mut watch = client.watch(v1::WatchRequest { path: JOB.into() }).await.unwrap().into_inner();

    let session =
        client.open_session(v1::OpenSessionRequest { timeout_ms: 1_000 }).await.unwrap().into_inner().session_id;
    let created = client
        .create_node(v1::CreateNodeRequest {
            path: format!("{JOB}/member_"),
            data: br#"{"status":"ALIVE"}"#.to_vec(),
            ephemeral_sequential: true,
            session_id: session,
        })
        .await
        .unwrap()
        .into_inner()
        .path;
    assert_eq!(created, format!("{JOB}/member_0000000000"));
    let children = client.get_children(v1::GetChildrenRequest { path: JOB.into() }).await.unwrap().into_inner().names;
    assert_eq!(children, vec!["member_0000000000"]);
    let parent = client.get_node(v1::GetNodeRequest { path: JOB.into() }).await.unwrap().into_inner();
    assert!(parent.data.is_empty() && parent.owner_session_id == 0, "parents are persistent and empty");
    let member = client.get_node(v1::GetNodeRequest { path: created.clone() }).await.unwrap().into_inner();
    assert_eq!(member.owner_session_id, session);

    let mut seen = Vec::new();
    while seen.len() < 2 {
        let event = tokio::time::timeout(Duration::from_secs(5), watch.message()).await.unwrap().unwrap().unwrap();
        seen.push((event.kind, event.path));
    }
    assert_eq!(
        seen,
        vec![
            (v1::WatchEventKind::Created as i32, JOB.to_owned()),
            (v1::WatchEventKind::Created as i32, created.clone())
        ]
    );

    // No keep-alives: the session expires and its member goes with it.
    let deleted = tokio::time::timeout(Duration::from_secs(5), watch.message()).await.unwrap().unwrap().unwrap();
    assert_eq!((deleted.kind, deleted.path), (v1::WatchEventKind::Deleted as i32, created.clone()));
    let expired = client.keep_alive(v1::KeepAliveRequest { session_id: session }).await.unwrap_err();
    assert_eq!(expired.code(), tonic::Code::NotFound);
    assert!(
        client.get_children(v1::GetChildrenRequest { path: JOB.into() }).await.unwrap().into_inner().names.is_empty()
    );
}

#[tokio::test]
async fn a_kept_alive_session_keeps_its_members_and_refusals_use_grpc_codes() {
    let (mut client, _stop) = start().await;
    let session =
        client.open_session(v1::OpenSessionRequest { timeout_ms: 1_000 }).await.unwrap().into_inner().session_id;
    let request = |session_id| v1::CreateNodeRequest {
        path: format!("{JOB}/member_"),
        data: Vec::new(),
        ephemeral_sequential: true,
        session_id,
    };
    client.create_node(request(session)).await.unwrap();
    for _ in 0..6 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        client.keep_alive(v1::KeepAliveRequest { session_id: session }).await.unwrap();
    }
    assert_eq!(
        client.get_children(v1::GetChildrenRequest { path: JOB.into() }).await.unwrap().into_inner().names.len(),
        1
    );

    let bad_path = client.get_children(v1::GetChildrenRequest { path: "nope".into() }).await.unwrap_err();
    assert_eq!(bad_path.code(), tonic::Code::InvalidArgument);
    let unknown = client.create_node(request(9_999)).await.unwrap_err();
    assert_eq!(unknown.code(), tonic::Code::NotFound);
    let busy = client.delete_node(v1::DeleteNodeRequest { path: JOB.into() }).await.unwrap_err();
    assert_eq!(busy.code(), tonic::Code::FailedPrecondition);
    let short = client.open_session(v1::OpenSessionRequest { timeout_ms: 10 }).await.unwrap_err();
    assert!(short.message().contains("outside 1000..=120000 ms"), "{}", short.message());
}
