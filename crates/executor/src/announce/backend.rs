//! The registries a task can announce itself in: the scheduler's embedded registry (over gRPC)
//! or Apache ZooKeeper (through `atoll-zookeeper`, which makes every ZooKeeper write). Both
//! give the same session semantics: an ephemeral sequential member that lives as long as the
//! session, and a session that is lost when not kept alive.

use std::time::Duration;

use atoll_announce::parent_of;
use atoll_proto::v1::{self, registry_service_client::RegistryServiceClient};
use atoll_sandbox::RegistryTarget;
use atoll_zookeeper::{Session, ZooKeeperError};
use tonic::transport::Endpoint;

/// How long a task's registry session lives without being kept alive.
pub(super) const SESSION_TIMEOUT: Duration = Duration::from_secs(6);

/// The session is gone (expired, closed, or the registry unreachable): announce again.
#[derive(Debug)]
pub(super) struct Lost(pub(super) String);

/// A live session with one registry.
pub(super) enum Backend {
    Embedded { client: RegistryServiceClient<atoll_proto::Authorized>, session: u64 },
    ZooKeeper { session: Session },
}

/// The file whose path the agent put in environment variable `variable`, if it did.
fn read_named(variable: &str, what: &str) -> Result<Option<Vec<u8>>, Lost> {
    let Some(path) = std::env::var_os(variable) else { return Ok(None) };
    std::fs::read(&path)
        .map(Some)
        .map_err(|e| Lost(format!("cannot read {what} {}: {e}", std::path::Path::new(&path).display())))
}

impl Backend {
    /// Connects and opens a session.
    pub(super) async fn open(target: &RegistryTarget) -> Result<Backend, Lost> {
        match &target.zookeeper {
            Some(ensemble) => {
                let session = Session::open(ensemble, SESSION_TIMEOUT).await.map_err(zk_lost)?;
                Ok(Backend::ZooKeeper { session })
            }
            None => {
                let endpoint = Endpoint::from_shared(target.scheduler.clone())
                    .map_err(|e| Lost(e.to_string()))?
                    .connect_timeout(Duration::from_secs(2));
                let ca = read_named(atoll_sandbox::CA_FILE_VARIABLE, "the CA certificate")?;
                let identity = match read_named(atoll_sandbox::CERT_FILE_VARIABLE, "the agent's certificate")? {
                    Some(cert_pem) => {
                        let key_pem = read_named(atoll_sandbox::KEY_FILE_VARIABLE, "the agent's key")?
                            .ok_or_else(|| Lost("the agent gave a certificate without its key".into()))?;
                        Some(atoll_proto::TlsIdentity { cert_pem, key_pem })
                    }
                    None => None,
                };
                let endpoint = atoll_proto::secure(endpoint, &target.scheduler, ca.as_deref(), identity.as_ref())
                    .map_err(|e| Lost(e.to_string()))?;
                let channel = endpoint.connect().await.map_err(|e| Lost(format!("registry unreachable: {e}")))?;
                // The agent's credential, which registry writes need on a scheduler with --auth.
                let token = std::env::var(atoll_sandbox::TOKEN_VARIABLE).ok();
                let bearer = atoll_proto::Bearer::new(token.as_deref()).map_err(|e| Lost(e.to_string()))?;
                let mut client = RegistryServiceClient::new(bearer.wrap(channel));
                let timeout_ms = SESSION_TIMEOUT.as_millis() as u64;
                let opened = client.open_session(v1::OpenSessionRequest { timeout_ms }).await.map_err(lost)?;
                Ok(Backend::Embedded { client, session: opened.into_inner().session_id })
            }
        }
    }

    /// Makes sure the member's persistent parents exist, so that announcing takes one write.
    /// The embedded registry creates parents with the member, so only ZooKeeper needs this.
    pub(super) async fn prepare(&mut self, prefix: &str) -> Result<(), Lost> {
        match self {
            Backend::Embedded { .. } => Ok(()),
            Backend::ZooKeeper { session } => session.ensure_path(parent_of(prefix)).await.map_err(zk_lost),
        }
    }

    /// Creates an ephemeral sequential node named `prefix` + sequence, with persistent empty
    /// parents (created again if someone removed them since [`Backend::prepare`]); returns its
    /// path.
    pub(super) async fn create_member(&mut self, prefix: &str, data: &[u8]) -> Result<String, Lost> {
        match self {
            Backend::Embedded { client, session } => {
                let request = v1::CreateNodeRequest {
                    path: prefix.to_owned(),
                    data: data.to_vec(),
                    ephemeral_sequential: true,
                    session_id: *session,
                };
                Ok(client.create_node(request).await.map_err(lost)?.into_inner().path)
            }
            Backend::ZooKeeper { session } => session.create_member(prefix, data).await.map_err(zk_lost),
        }
    }

    pub(super) async fn set_member(&mut self, node: &str, data: &[u8]) -> Result<(), Lost> {
        match self {
            Backend::Embedded { client, .. } => {
                client
                    .set_data(v1::SetDataRequest { path: node.to_owned(), data: data.to_vec() })
                    .await
                    .map_err(lost)?;
            }
            Backend::ZooKeeper { session } => session.set_member(node, data).await.map_err(zk_lost)?,
        }
        Ok(())
    }

    /// Keeps the session alive.
    pub(super) async fn keep_alive(&mut self) -> Result<(), Lost> {
        match self {
            Backend::Embedded { client, session } => {
                client.keep_alive(v1::KeepAliveRequest { session_id: *session }).await.map_err(lost)?;
                Ok(())
            }
            // The ZooKeeper client keeps its session alive by itself.
            Backend::ZooKeeper { .. } => Ok(()),
        }
    }

    /// Keeps the session alive and says whether `node` still exists.
    pub(super) async fn member_exists(&mut self, node: &str) -> Result<bool, Lost> {
        self.keep_alive().await?;
        match self {
            Backend::Embedded { client, .. } => {
                match client.get_node(v1::GetNodeRequest { path: node.to_owned() }).await {
                    Ok(_) => Ok(true),
                    Err(status) if status.code() == tonic::Code::NotFound => Ok(false),
                    Err(status) => Err(lost(status)),
                }
            }
            Backend::ZooKeeper { session } => session.member_exists(node).await.map_err(zk_lost),
        }
    }

    /// Deletes the member and closes the session.
    pub(super) async fn withdraw(self, node: &str) {
        match self {
            Backend::Embedded { mut client, session } => {
                let _ = client.delete_node(v1::DeleteNodeRequest { path: node.to_owned() }).await;
                let _ = client.close_session(v1::CloseSessionRequest { session_id: session }).await;
            }
            Backend::ZooKeeper { session } => {
                let _ = session.delete_member(node).await;
                // Dropping the session closes it.
            }
        }
    }
}

fn lost(status: tonic::Status) -> Lost {
    Lost(status.message().to_owned())
}

fn zk_lost(error: ZooKeeperError) -> Lost {
    Lost(error.to_string())
}
