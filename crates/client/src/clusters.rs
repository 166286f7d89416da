//! The clusters file: `~/.config/atoll/clusters.toml`, or the file `ATOLL_CLUSTERS` names.
//!
//! ```toml
//! [clusters.prod-east]
//! scheduler = "http://scheduler.east.example:7070"
//! ```
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
}

/// Known clusters and their schedulers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clusters {
    path: PathBuf,
    schedulers: BTreeMap<String, String>,
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
        let shown = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let file: ClustersFile = toml::from_str(&text)
                    .map_err(|e| ClientError::ClustersFile { path: shown.clone(), detail: e.to_string() })?;
                schedulers.extend(file.clusters.into_iter().map(|(name, entry)| (name, entry.scheduler)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => {}
            Err(e) => return Err(ClientError::ClustersFile { path: shown, detail: e.to_string() }),
        }
        Ok(Clusters { path: path.to_owned(), schedulers })
    }

    /// Loads the default file.
    pub fn load_default() -> Result<Clusters, ClientError> {
        Clusters::load(&Clusters::default_path(), std::env::var_os("ATOLL_CLUSTERS").is_some())
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
}
