//! Config versions: a [`TaskConfig`] under its content address, shared by every task that runs it.
//!
//! A config's id is the SHA-256 of its canonical JSON (serde's field order, maps sorted), so two
//! submissions of the same config get the same id and one stored copy. Ids are computed when a
//! config is first seen; a stored config keeps the id it was stored under even if a later
//! Atoll would serialize it differently (a new field with a default), so records that refer to
//! it stay valid. Whether two configs are the same is therefore decided by value
//! ([`TaskConfig`]'s `PartialEq`), and the id is only a name.

use std::collections::BTreeSet;
use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::job::TaskConfig;

/// The content address of a config: the SHA-256 of its canonical JSON.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConfigId([u8; 32]);

/// Hex digits of an id shown to people (as git shortens commit ids).
pub const SHORT_ID_LEN: usize = 8;

impl ConfigId {
    /// The id of `config` as this build serializes it.
    pub fn of(config: &TaskConfig) -> ConfigId {
        let canonical = serde_json::to_vec(config).expect("a task config has string keys and no fallible fields");
        ConfigId(Sha256::digest(&canonical).into())
    }

    /// The first [`SHORT_ID_LEN`] hex digits, for tables.
    pub fn short(&self) -> String {
        self.to_string()[..SHORT_ID_LEN].to_owned()
    }
}

impl fmt::Display for ConfigId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for ConfigId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigId({})", self.short())
    }
}

/// Text that is not a config id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not a config id (64 hex digits)")]
pub struct ConfigIdError(pub String);

impl FromStr for ConfigId {
    type Err = ConfigIdError;

    fn from_str(text: &str) -> Result<ConfigId, ConfigIdError> {
        let bad = || ConfigIdError(text.to_owned());
        if text.len() != 64 || !text.is_ascii() {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).map_err(|_| bad())?;
        }
        Ok(ConfigId(bytes))
    }
}

impl serde::Serialize for ConfigId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ConfigId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<ConfigId, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// A config with its id and the named ports its tasks request, shared (cheap to clone) by
/// every task that runs it.
#[derive(Clone)]
pub struct ConfigVersion(Arc<Version>);

struct Version {
    id: ConfigId,
    config: TaskConfig,
    requested_ports: BTreeSet<String>,
}

impl ConfigVersion {
    /// A new version of `config`, named by its content.
    pub fn new(config: TaskConfig) -> ConfigVersion {
        ConfigVersion::stored(ConfigId::of(&config), config)
    }

    /// A version read back from a store, under the id it was stored with.
    pub fn stored(id: ConfigId, config: TaskConfig) -> ConfigVersion {
        let requested_ports = config.requested_ports();
        ConfigVersion(Arc::new(Version { id, config, requested_ports }))
    }

    pub fn id(&self) -> ConfigId {
        self.0.id
    }

    pub fn config(&self) -> &TaskConfig {
        &self.0.config
    }

    /// The named ports each task of this config needs ([`TaskConfig::requested_ports`]).
    pub fn requested_ports(&self) -> &BTreeSet<String> {
        &self.0.requested_ports
    }

    /// Whether both are the one shared copy (not merely equal).
    pub fn ptr_eq(&self, other: &ConfigVersion) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Deref for ConfigVersion {
    type Target = TaskConfig;

    fn deref(&self) -> &TaskConfig {
        &self.0.config
    }
}

/// Versions are the same when their ids are.
impl PartialEq for ConfigVersion {
    fn eq(&self, other: &ConfigVersion) -> bool {
        self.0.id == other.0.id
    }
}

impl fmt::Debug for ConfigVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ConfigVersion({})", self.0.id.short())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::tests::hello_job;

    #[test]
    fn equal_configs_have_one_id_and_any_change_gives_another() {
        let config = hello_job().config;
        assert_eq!(ConfigId::of(&config), ConfigId::of(&config.clone()));
        let mut changed = config.clone();
        changed.task.resources.cpu = 0.2;
        assert_ne!(ConfigId::of(&config), ConfigId::of(&changed));
        let mut reordered = config.clone();
        reordered.metadata.push(crate::config::Metadata { key: "k".into(), value: "v".into() });
        assert_ne!(ConfigId::of(&config), ConfigId::of(&reordered));
    }

    #[test]
    fn ids_print_as_hex_and_parse_back() {
        let id = ConfigId::of(&hello_job().config);
        let text = id.to_string();
        assert_eq!(text.len(), 64);
        assert!(text.chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(text.parse::<ConfigId>().unwrap(), id);
        assert_eq!(id.short(), text[..8]);
        assert_eq!(serde_json::to_string(&id).unwrap(), format!("\"{text}\""));
        assert!("xyz".parse::<ConfigId>().unwrap_err().to_string().contains("'xyz' is not a config id"));
        assert!("g".repeat(64).parse::<ConfigId>().is_err());
    }

    #[test]
    fn a_version_carries_its_ports_and_a_stored_one_keeps_its_id() {
        let version = ConfigVersion::new(hello_job().config);
        assert_eq!(version.requested_ports().iter().collect::<Vec<_>>(), vec!["http"]);
        assert_eq!(version.task.name, "hello", "derefs to the config");
        let other_id = ConfigId([7; 32]);
        let stored = ConfigVersion::stored(other_id, hello_job().config);
        assert_eq!(stored.id(), other_id);
        assert_ne!(stored, version, "versions are compared by id");
        assert!(version.ptr_eq(&version.clone()));
    }
}
