//! Who is calling, and what they may do. Every gRPC call but health and reflection passes the
//! [`Gate`], which names the caller from its bearer token (`authorization: Bearer TOKEN`) or,
//! without one, from the client certificate it presented over TLS (mutual TLS, verified against
//! the scheduler's `--tls-ca` during the handshake: one of its DNS names is a user's
//! `certificate_name`), and puts a [`Caller`] in the request; each handler then asks the caller for the permission its
//! call needs (Aurora's: a job's role to change it, admin for hosts and quota, the agent
//! credential for the agent and registry-write calls; reads for anyone authenticated).
//!
//! Without an auth file the scheduler trusts only callers on its own machine (loopback), each
//! with every permission, which is what `atoll dev` and a single-host setup need.
//!
//! The auth file names users by the hex SHA-256 of their token, never the token itself:
//!
//! ```toml
//! [users.alice]
//! token_sha256 = "…64 hex digits…"
//! roles = ["www-data"]
//!
//! [users.ops]
//! token_sha256 = "…"
//! admin = true
//!
//! [users.agents]
//! token_sha256 = "…"
//! certificate_name = "agents.east.atoll"   # or instead of the token
//! agent = true
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use sha2::{Digest, Sha256};
use tonic::{Request, Status};

/// How callers are known.
#[derive(Clone, Debug, Default)]
pub enum Access {
    /// No auth file: callers on this machine only, each with every permission.
    #[default]
    LoopbackOnly,
    /// Users from an auth file, by the SHA-256 of their token or their certificate's name.
    Users(Arc<Users>),
}

/// The users of an auth file, by how each proves who they are.
#[derive(Debug, Default)]
pub struct Users {
    by_token: BTreeMap<String, User>,
    by_certificate: BTreeMap<String, User>,
}

/// A user of the auth file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct User {
    pub name: String,
    /// The roles whose jobs they may change.
    pub roles: BTreeSet<String>,
    /// Operators: host maintenance and quota, and every role.
    pub admin: bool,
    /// The credential agents (and their executors) use.
    pub agent: bool,
}

/// An auth file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    #[error("cannot read the auth file {path}: {detail}")]
    Read { path: String, detail: String },
    #[error("the auth file {path} is not valid: {detail}")]
    Invalid { path: String, detail: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthFile {
    #[serde(default)]
    users: BTreeMap<String, UserEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserEntry {
    #[serde(default)]
    token_sha256: Option<String>,
    #[serde(default)]
    certificate_name: Option<String>,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    admin: bool,
    #[serde(default)]
    agent: bool,
}

impl Access {
    /// Reads the auth file at `path`.
    pub fn from_file(path: &Path) -> Result<Access, AuthFileError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path)
            .map_err(|e| AuthFileError::Read { path: shown.clone(), detail: e.to_string() })?;
        Access::parse(&text).map_err(|detail| AuthFileError::Invalid { path: shown, detail })
    }

    /// Parses an auth file's text.
    pub fn parse(text: &str) -> Result<Access, String> {
        let file: AuthFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut users = Users::default();
        for (name, entry) in file.users {
            let user = User {
                name: name.clone(),
                roles: entry.roles.into_iter().collect(),
                admin: entry.admin,
                agent: entry.agent,
            };
            if entry.token_sha256.is_none() && entry.certificate_name.is_none() {
                return Err(format!(
                    "users.{name} has neither token_sha256 nor certificate_name, so nobody can be them"
                ));
            }
            if let Some(digest) = entry.token_sha256 {
                let digest = digest.trim().to_ascii_lowercase();
                if digest.len() != 64 || !digest.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!(
                        "users.{name}.token_sha256 must be 64 hex digits, the SHA-256 of the token (`printf %s TOKEN | sha256sum`)"
                    ));
                }
                if let Some(other) = users.by_token.insert(digest, user.clone()) {
                    return Err(format!("users.{name} and users.{} have the same token", other.name));
                }
            }
            if let Some(certificate) = entry.certificate_name {
                let certificate = certificate.trim().to_ascii_lowercase();
                if certificate.is_empty() {
                    return Err(format!("users.{name}.certificate_name is empty; give a DNS name of its certificate"));
                }
                if let Some(other) = users.by_certificate.insert(certificate, user) {
                    return Err(format!("users.{name} and users.{} have the same certificate_name", other.name));
                }
            }
        }
        if users.by_token.is_empty() && users.by_certificate.is_empty() {
            return Err("it names no users; add a [users.NAME] table with token_sha256".to_owned());
        }
        Ok(Access::Users(Arc::new(users)))
    }

    /// The first user (by name) that proves who they are with a certificate, if any: such a
    /// user needs a scheduler that takes client certificates.
    pub fn certificate_user(&self) -> Option<&str> {
        match self {
            Access::LoopbackOnly => None,
            Access::Users(users) => users.by_certificate.values().map(|user| user.name.as_str()).min(),
        }
    }

    /// Who makes a call with `token` (None: no token sent) from `peer`, which presented a
    /// verified client certificate with `certificate_names` (its DNS names; none without one).
    pub fn identify(
        &self,
        token: Option<&str>,
        certificate_names: &[String],
        peer: Option<SocketAddr>,
    ) -> Result<Caller, Status> {
        match self {
            Access::LoopbackOnly => match peer {
                Some(peer) if peer.ip().is_loopback() => Ok(Caller::Local),
                _ => Err(Status::unauthenticated(
                    "this scheduler runs without --auth and accepts callers on its own machine only; \
                     start it with --auth FILE to let others in",
                )),
            },
            Access::Users(users) => match token {
                Some(token) => users
                    .by_token
                    .get(&hex_sha256(token))
                    .map(|user| Caller::User(user.clone()))
                    .ok_or_else(|| Status::unauthenticated("the token matches no user this scheduler knows")),
                None if !certificate_names.is_empty() => certificate_names
                    .iter()
                    .find_map(|name| users.by_certificate.get(&name.to_ascii_lowercase()))
                    .map(|user| Caller::User(user.clone()))
                    .ok_or_else(|| {
                        Status::unauthenticated(format!(
                            "the client certificate (for {}) is no user's certificate_name",
                            certificate_names.join(", ")
                        ))
                    }),
                None => Err(Status::unauthenticated(
                    "no token: set ATOLL_TOKEN, or token_file for this cluster in the clusters file",
                )),
            },
        }
    }
}

/// The hex SHA-256 of `token`, as the auth file names users.
pub fn hex_sha256(token: &str) -> String {
    Sha256::digest(token.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Who makes a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A caller on the scheduler's machine, when it runs without an auth file.
    Local,
    User(User),
}

impl Caller {
    pub fn name(&self) -> &str {
        match self {
            Caller::Local => "local",
            Caller::User(user) => &user.name,
        }
    }

    /// May change jobs of `role` (`action` names the call, for the refusal).
    pub fn may_manage(&self, role: &str, action: &str) -> Result<(), Status> {
        self.may_act_for(role, &format!("{action} jobs of"))
    }

    /// May act for `role`: its jobs, its frameworks. The refusal reads "user U may not
    /// {`what`} role R".
    pub fn may_act_for(&self, role: &str, what: &str) -> Result<(), Status> {
        match self {
            Caller::Local => Ok(()),
            Caller::User(user) if user.admin || user.roles.contains(role) => Ok(()),
            Caller::User(user) => Err(Status::permission_denied(format!(
                "user {} may not {what} role {role}: their roles are {}",
                user.name,
                if user.roles.is_empty() {
                    "none".to_owned()
                } else {
                    user.roles.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            ))),
        }
    }

    /// May put `spec` in place as far as its tasks' Unix user goes: a task runs as its job's
    /// role unless it names another user, and naming one needs that user among the caller's
    /// roles (or admin), or any role could run as any user of the agents' hosts.
    pub fn may_run_as(&self, spec: &atoll_model::JobSpec) -> Result<(), Status> {
        let Some(user) = spec.config.task.user.as_deref().filter(|user| *user != spec.key.role) else { return Ok(()) };
        match self {
            Caller::Local => Ok(()),
            Caller::User(caller) if caller.admin || caller.roles.contains(user) => Ok(()),
            Caller::User(caller) => Err(Status::permission_denied(format!(
                "user {} may not run tasks of {} as Unix user {user}: a task's user must be its role ({}) or one of the \
                 caller's roles, and theirs are {}",
                caller.name,
                spec.key,
                spec.key.role,
                if caller.roles.is_empty() {
                    "none".to_owned()
                } else {
                    caller.roles.iter().cloned().collect::<Vec<_>>().join(", ")
                }
            ))),
        }
    }

    /// May act as an operator (`action` names the call).
    pub fn must_be_admin(&self, action: &str) -> Result<(), Status> {
        match self {
            Caller::Local => Ok(()),
            Caller::User(user) if user.admin => Ok(()),
            Caller::User(user) => {
                Err(Status::permission_denied(format!("user {} may not {action}: that needs an admin user", user.name)))
            }
        }
    }

    /// May act as an agent (`action` names the call).
    pub fn must_be_agent(&self, action: &str) -> Result<(), Status> {
        match self {
            Caller::Local => Ok(()),
            Caller::User(user) if user.agent => Ok(()),
            Caller::User(user) => Err(Status::permission_denied(format!(
                "user {} may not {action}: that needs the agent credential (agent = true)",
                user.name
            ))),
        }
    }
}

/// The interceptor every service but health and reflection is behind.
#[derive(Clone)]
pub(crate) struct Gate {
    access: Access,
    /// Every call needs the agent credential (the agent service).
    agents_only: bool,
    /// Each user's calls per second, if limited.
    limits: Option<Arc<CallLimits>>,
}

impl Gate {
    /// Lets in every caller the access knows, within `limits`; handlers check permissions.
    pub(crate) fn new(access: Access, limits: Option<Arc<CallLimits>>) -> Gate {
        Gate { access, agents_only: false, limits }
    }

    /// Lets in agents only. Agents are not limited: heartbeats and status reports of a whole
    /// fleet come under one credential.
    pub(crate) fn agents(access: Access) -> Gate {
        Gate { access, agents_only: true, limits: None }
    }
}

/// Calls per second per user: a token bucket each, holding up to two seconds' worth, so a
/// burst passes and a flood from one user is refused without slowing anyone else. Callers on
/// the scheduler's machine (no `--auth`) and agents are not limited.
#[derive(Debug)]
pub struct CallLimits {
    per_second: f64,
    buckets: std::sync::Mutex<BTreeMap<String, Bucket>>,
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    calls: f64,
    at: std::time::Instant,
}

impl CallLimits {
    pub fn new(per_second: u32) -> CallLimits {
        CallLimits { per_second: f64::from(per_second.max(1)), buckets: std::sync::Mutex::new(BTreeMap::new()) }
    }

    /// Takes one call of `user` at `now`, or refuses it.
    fn take(&self, user: &str, now: std::time::Instant) -> Result<(), Status> {
        let capacity = 2.0 * self.per_second;
        let mut buckets = self.buckets.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let bucket = buckets.entry(user.to_owned()).or_insert(Bucket { calls: capacity, at: now });
        let refill = now.saturating_duration_since(bucket.at).as_secs_f64() * self.per_second;
        bucket.calls = (bucket.calls + refill).min(capacity);
        bucket.at = now;
        if bucket.calls < 1.0 {
            return Err(Status::resource_exhausted(format!(
                "user {user} is calling more often than {} times a second; slow down and try again (the scheduler's --user-calls-per-second)",
                self.per_second
            )));
        }
        bucket.calls -= 1.0;
        Ok(())
    }
}

impl tonic::service::Interceptor for Gate {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        let token = match request.metadata().get("authorization") {
            None => None,
            Some(value) => {
                let text =
                    value.to_str().map_err(|_| Status::unauthenticated("the authorization header is not text"))?;
                Some(
                    text.strip_prefix("Bearer ")
                        .ok_or_else(|| Status::unauthenticated("the authorization header must be `Bearer TOKEN`"))?,
                )
            }
        };
        let caller = self.access.identify(token.map(str::trim), &certificate_names(&request), request.remote_addr())?;
        if self.agents_only {
            caller.must_be_agent("call the agent service")?;
        }
        if let (Some(limits), Caller::User(user)) = (&self.limits, &caller)
            && !user.agent
        {
            limits.take(&user.name, std::time::Instant::now())?;
        }
        request.extensions_mut().insert(caller);
        Ok(request)
    }
}

/// The DNS names of the client certificate `request` came with over TLS, which the handshake
/// verified against the scheduler's CA; none without one.
fn certificate_names(request: &Request<()>) -> Vec<String> {
    let Some(chain) = request.peer_certs() else { return Vec::new() };
    let Some(leaf) = chain.first() else { return Vec::new() };
    match webpki::EndEntityCert::try_from(leaf) {
        Ok(certificate) => certificate.valid_dns_names().map(str::to_owned).collect(),
        Err(_) => Vec::new(),
    }
}

/// The caller the gate named for `request`.
pub(crate) fn caller<T>(request: &Request<T>) -> Result<Caller, Status> {
    request.extensions().get::<Caller>().cloned().ok_or_else(|| Status::unauthenticated("the caller is not known"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "alice-secret";

    fn file() -> String {
        format!(
            "[users.alice]\ntoken_sha256 = \"{}\"\nroles = [\"www-data\"]\n\n[users.ops]\ntoken_sha256 = \"{}\"\nadmin = true\n\n[users.agents]\ntoken_sha256 = \"{}\"\nagent = true\n",
            hex_sha256(ALICE),
            hex_sha256("ops-secret"),
            hex_sha256("agent-secret")
        )
    }

    fn remote() -> Option<SocketAddr> {
        Some("10.0.0.5:4000".parse().unwrap())
    }

    #[test]
    fn tokens_name_users_and_their_permissions_follow_the_file() {
        let access = Access::parse(&file()).unwrap();
        let alice = access.identify(Some(ALICE), &[], remote()).unwrap();
        assert_eq!(alice.name(), "alice");
        assert!(alice.may_manage("www-data", "create").is_ok());
        let refused = alice.may_manage("billing", "kill").unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert_eq!(refused.message(), "user alice may not kill jobs of role billing: their roles are www-data");
        let framework = alice.may_act_for("billing", "subscribe a framework in").unwrap_err();
        assert_eq!(framework.code(), tonic::Code::PermissionDenied);
        assert_eq!(
            framework.message(),
            "user alice may not subscribe a framework in role billing: their roles are www-data"
        );
        assert!(alice.must_be_admin("drain hosts").unwrap_err().message().contains("needs an admin user"));
        assert!(alice.must_be_agent("register").is_err());
        let ops = access.identify(Some("ops-secret"), &[], remote()).unwrap();
        assert!(ops.may_manage("billing", "kill").is_ok() && ops.must_be_admin("set quota").is_ok());
        assert!(access.identify(Some("agent-secret"), &[], remote()).unwrap().must_be_agent("register").is_ok());
    }

    #[test]
    fn a_task_may_run_as_another_user_only_when_that_user_is_among_the_callers_roles() {
        let access = Access::parse(&file()).unwrap();
        let alice = access.identify(Some(ALICE), &[], remote()).unwrap();
        let task = atoll_model::TaskSpec::new(
            vec![atoll_model::ProcessSpec::new("p", "true")],
            atoll_model::Resources { cpu: 0.1, ram_mb: 16, disk_mb: 16, gpu: 0 },
        );
        let mut spec = atoll_model::JobSpec::new("devcluster/www-data/devel/hello".parse().unwrap(), task);
        assert!(alice.may_run_as(&spec).is_ok(), "no user: the role");
        spec.config.task.user = Some("www-data".into());
        assert!(alice.may_run_as(&spec).is_ok(), "the role itself");
        spec.config.task.user = Some("postgres".into());
        let refused = alice.may_run_as(&spec).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied);
        assert!(
            refused
                .message()
                .starts_with("user alice may not run tasks of devcluster/www-data/devel/hello as Unix user postgres"),
            "{}",
            refused.message()
        );
        let ops = access.identify(Some("ops-secret"), &[], remote()).unwrap();
        assert!(ops.may_run_as(&spec).is_ok() && Caller::Local.may_run_as(&spec).is_ok());
    }

    #[test]
    fn a_missing_or_wrong_token_is_unauthenticated() {
        let access = Access::parse(&file()).unwrap();
        let none = access.identify(None, &[], remote()).unwrap_err();
        assert_eq!(
            (none.code(), none.message().starts_with("no token: set ATOLL_TOKEN")),
            (tonic::Code::Unauthenticated, true)
        );
        let wrong = access.identify(Some("guess"), &[], remote()).unwrap_err();
        assert_eq!(wrong.message(), "the token matches no user this scheduler knows");
    }

    #[test]
    fn a_client_certificate_names_the_user_whose_certificate_name_it_has_when_no_token_is_sent() {
        let text = format!("{}\n[users.fleet]\ncertificate_name = \"Agents.East.Atoll\"\nagent = true\n", file());
        let access = Access::parse(&text).unwrap();
        assert_eq!(access.certificate_user(), Some("fleet"));
        let names = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
        let fleet = access.identify(None, &names(&["other.example", "agents.east.atoll"]), remote()).unwrap();
        assert_eq!(fleet.name(), "fleet");
        assert!(fleet.must_be_agent("register").is_ok());
        let stranger = access.identify(None, &names(&["web.example"]), remote()).unwrap_err();
        assert_eq!(stranger.code(), tonic::Code::Unauthenticated);
        assert_eq!(stranger.message(), "the client certificate (for web.example) is no user's certificate_name");
        let alice = access.identify(Some(ALICE), &names(&["agents.east.atoll"]), remote()).unwrap();
        assert_eq!(alice.name(), "alice", "a token, when sent, decides");
        assert_eq!(Access::parse(&file()).unwrap().certificate_user(), None);
    }

    #[test]
    fn without_an_auth_file_only_loopback_callers_get_in() {
        let local = Access::LoopbackOnly.identify(None, &[], Some("127.0.0.1:5000".parse().unwrap())).unwrap();
        assert_eq!(local, Caller::Local);
        assert!(local.must_be_admin("drain").is_ok());
        let far = Access::LoopbackOnly.identify(None, &[], remote()).unwrap_err();
        assert_eq!(far.code(), tonic::Code::Unauthenticated);
        assert!(far.message().contains("without --auth"), "{}", far.message());
    }

    #[test]
    fn a_user_past_their_calls_per_second_is_refused_until_the_bucket_refills() {
        let limits = CallLimits::new(10);
        let start = std::time::Instant::now();
        for n in 0..20 {
            assert!(limits.take("alice", start).is_ok(), "call {n} of a burst of two seconds' worth");
        }
        let refused = limits.take("alice", start).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(
            refused.message().starts_with("user alice is calling more often than 10 times a second"),
            "{}",
            refused.message()
        );
        assert!(limits.take("bob", start).is_ok(), "each user has their own bucket");
        let later = start + std::time::Duration::from_millis(300);
        for _ in 0..3 {
            assert!(limits.take("alice", later).is_ok(), "0.3 s gives back three calls");
        }
        assert!(limits.take("alice", later).is_err());
    }

    #[test]
    fn a_broken_auth_file_says_what_is_wrong() {
        assert!(Access::parse("[users.a]\ntoken_sha256 = \"abc\"\n").unwrap_err().contains("must be 64 hex digits"));
        assert!(Access::parse("[users.a]\ntoken = \"x\"\n").unwrap_err().contains("unknown field `token`"));
        assert!(Access::parse("").unwrap_err().contains("names no users"));
        let twice =
            format!("[users.a]\ntoken_sha256 = \"{0}\"\n[users.b]\ntoken_sha256 = \"{0}\"\n", hex_sha256("same"));
        assert!(Access::parse(&twice).unwrap_err().contains("have the same token"));
        let nobody = Access::parse("[users.a]\nroles = [\"x\"]\n").unwrap_err();
        assert_eq!(nobody, "users.a has neither token_sha256 nor certificate_name, so nobody can be them");
        let same = "[users.a]\ncertificate_name = \"n\"\n[users.b]\ncertificate_name = \"N\"\n";
        assert!(Access::parse(same).unwrap_err().contains("users.b and users.a have the same certificate_name"));
        let missing = Access::from_file(Path::new("/nonexistent/auth.toml")).unwrap_err().to_string();
        assert!(missing.starts_with("cannot read the auth file /nonexistent/auth.toml: "), "{missing}");
    }
}
