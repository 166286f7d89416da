//! The clusters file: `~/.config/atoll/clusters.toml`, or the file `ATOLL_CLUSTERS` names.
//!
//! ```toml
//! [clusters.prod-east]
//! scheduler = "http://scheduler.east.example:7070"
//! token_file = "~/.config/atoll/prod-east.token"   # optional: the token calls carry
//! ca_file = "/etc/atoll/ca.pem"                      # for an https:// scheduler: its CA
//! ```
//!
//! `ATOLL_TOKEN` and `ATOLL_CA_FILE`, when set, hold for every cluster and win over the file.
//!
//! `devcluster` is built in as `http://127.0.0.1:7070`; the file may override it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ClientError;

/// Where `atoll dev` serves by default.
pub const DEVCLUSTER_URL: &str = "http://127.0.0.1:7070";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClustersFile {
    #[serde(default)]
    clusters: BTreeMap<String, ClusterEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterEntry {
    scheduler: String,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
}

/// Known clusters and their schedulers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clusters {
    path: PathBuf,
    schedulers: BTreeMap<String, String>,
    token_files: BTreeMap<String, PathBuf>,
    ca_files: BTreeMap<String, PathBuf>,
}

impl Clusters {
    /// The default file's path: `ATOLL_CLUSTERS`, else `$XDG_CONFIG_HOME/atoll/clusters.toml`,
    /// else `~/.config/atoll/clusters.toml`.
    pub fn default_path() -> PathBuf {
        if let Some(path) = std::env::var_os("ATOLL_CLUSTERS") {
            return PathBuf::from(path);
        }
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".config"));
        config.join("atoll").join("clusters.toml")
    }

    /// Loads the file at `path`; a missing file means only `devcluster` is known. A file that
    /// `ATOLL_CLUSTERS` names explicitly must exist.
    pub fn load(path: &Path, must_exist: bool) -> Result<Clusters, ClientError> {
        let mut schedulers = BTreeMap::from([("devcluster".to_owned(), DEVCLUSTER_URL.to_owned())]);
        let mut token_files = BTreeMap::new();
        let mut ca_files = BTreeMap::new();
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let file: ClustersFile = toml::from_str(&text)
                    .map_err(|e| ClientError::ClustersFile { path: shown.clone(), detail: e.to_string() })?;
                for (name, entry) in file.clusters {
                    if let Some(token_file) = entry.token_file {
                        token_files.insert(name.clone(), expand_home(&token_file));
                    }
                    if let Some(ca_file) = entry.ca_file {
                        ca_files.insert(name.clone(), expand_home(&ca_file));
                    }
                    schedulers.insert(name, entry.scheduler);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {}
            Err(e) => return Err(ClientError::ClustersFile { path: shown, detail: e.to_string() }),
        }
        Ok(Clusters { path: path.to_owned(), schedulers, token_files, ca_files })
    }

    /// Loads the default file.
    pub fn load_default() -> Result<Clusters, ClientError> {
        Clusters::load(&Clusters::default_path(), std::env::var_os("ATOLL_CLUSTERS").is_some())
    }

    /// The token to call `cluster` with: `ATOLL_TOKEN`, else the cluster's `token_file`, else
    /// none.
    pub fn token(&self, cluster: &str) -> Result<Option<String>, ClientError> {
        if let Some(token) = std::env::var("ATOLL_TOKEN").ok().filter(|t| !t.trim().is_empty()) {
            return Ok(Some(token.trim().to_owned()));
        }
        let Some(path) = self.token_files.get(cluster) else { return Ok(None) };
        let token = std::fs::read_to_string(path).map_err(|e| {
            ClientError::Credentials(format!(
                "cannot read the token file {} of cluster {cluster} (named in {}): {e}",
                path.display(),
                self.path.display()
            ))
        })?;
        Ok(Some(token.trim().to_owned()))
    }

    /// The CA certificate (PEM) to check `cluster`'s scheduler with: `ATOLL_CA_FILE`, else
    /// the cluster's `ca_file`, else none.
    pub fn ca(&self, cluster: &str) -> Result<Option<Vec<u8>>, ClientError> {
        let path = match std::env::var_os("ATOLL_CA_FILE").filter(|p| !p.is_empty()) {
            Some(path) => PathBuf::from(path),
            None => match self.ca_files.get(cluster) {
                Some(path) => path.clone(),
                None => return Ok(None),
            },
        };
        std::fs::read(&path).map(Some).map_err(|e| {
            ClientError::Credentials(format!(
                "cannot read the CA certificate {} for cluster {cluster}: {e}",
                path.display()
            ))
        })
    }

    /// What to call `cluster` with: its token and its CA.
    pub fn credentials(&self, cluster: &str) -> Result<crate::Credentials, ClientError> {
        Ok(crate::Credentials { token: self.token(cluster)?, ca_pem: self.ca(cluster)? })
    }

    /// The scheduler address of `cluster`.
    pub fn scheduler(&self, cluster: &str) -> Result<&str, ClientError> {
        self.schedulers.get(cluster).map(String::as_str).ok_or_else(|| ClientError::UnknownCluster {
            name: cluster.to_owned(),
            known: self.schedulers.keys().cloned().collect::<Vec<_>>().join(", "),
            path: self.path.display().to_string(),
        })
    }
}

/// `~/…` under the home directory.
fn expand_home(path: &Path) -> PathBuf {
    match path.strip_prefix("~") {
        Ok(rest) => PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(rest),
        Err(_) => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devcluster_is_built_in_and_the_file_adds_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let missing = Clusters::load(&dir.path().join("none.toml"), false).unwrap();
        assert_eq!(missing.scheduler("devcluster").unwrap(), DEVCLUSTER_URL);

        let path = dir.path().join("clusters.toml");
        std::fs::write(
            &path,
            "[clusters.east]\nscheduler = \"http://e:1\"\n[clusters.devcluster]\nscheduler = \"http://d:2\"\n",
        )
        .unwrap();
        let clusters = Clusters::load(&path, true).unwrap();
        assert_eq!(clusters.scheduler("east").unwrap(), "http://e:1");
        assert_eq!(clusters.scheduler("devcluster").unwrap(), "http://d:2");
        let err = clusters.scheduler("west").unwrap_err().to_string();
        assert!(err.contains("unknown cluster 'west'") && err.contains("devcluster, east"), "{err}");
    }

    #[test]
    fn a_broken_or_missing_named_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clusters.toml");
        std::fs::write(&path, "[clusters.east]\nschedular = \"x\"\n").unwrap();
        let err = Clusters::load(&path, true).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()) && err.contains("schedular"), "{err}");
        assert!(Clusters::load(&dir.path().join("nope.toml"), true).is_err());
    }

    #[test]
    fn a_cluster_token_comes_from_its_token_file_and_a_missing_one_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("east.token");
        std::fs::write(&token, "s3cret\n").unwrap();
        let path = dir.path().join("clusters.toml");
        let text = format!(
            "[clusters.east]\nscheduler = \"http://e:1\"\ntoken_file = \"{}\"\n[clusters.west]\nscheduler = \"http://w:1\"\ntoken_file = \"{}\"\n",
            token.display(),
            dir.path().join("gone.token").display()
        );
        std::fs::write(&path, text).unwrap();
        let clusters = Clusters::load(&path, true).unwrap();
        if std::env::var_os("ATOLL_TOKEN").is_some() {
            return assert!(clusters.token("east").unwrap().is_some(), "ATOLL_TOKEN wins");
        }
        assert_eq!(clusters.token("east").unwrap().as_deref(), Some("s3cret"));
        assert_eq!(clusters.token("devcluster").unwrap(), None);
        let err = clusters.token("west").unwrap_err().to_string();
        assert!(
            err.starts_with("cannot read the token file ")
                && err.contains("gone.token")
                && err.contains("of cluster west"),
            "{err}"
        );
    }
}
