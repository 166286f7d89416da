//! Job keys (`CLUSTER/ROLE/ENV/NAME`) and key prefixes (`CLUSTER[/ROLE[/ENV]]`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What a job key looks like, for error messages.
pub const JOB_KEY_SHAPE: &str = "CLUSTER/ROLE/ENV/NAME, e.g. devcluster/www-data/devel/hello";

/// The unique name of a job: cluster, role, environment and name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct JobKey {
    pub cluster: String,
    pub role: String,
    pub environment: String,
    pub name: String,
}

/// A job key that failed to parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JobKeyError {
    #[error("invalid job key '{input}': {reason}; a job key looks like {JOB_KEY_SHAPE}")]
    Malformed { input: String, reason: String },
}

impl JobKey {
    pub fn new(cluster: &str, role: &str, environment: &str, name: &str) -> Result<JobKey, JobKeyError> {
        let input = format!("{cluster}/{role}/{environment}/{name}");
        for (what, part) in [("cluster", cluster), ("role", role), ("environment", environment), ("name", name)] {
            check_component(&input, what, part)?;
        }
        Ok(JobKey {
            cluster: cluster.to_owned(),
            role: role.to_owned(),
            environment: environment.to_owned(),
            name: name.to_owned(),
        })
    }

    /// Does this key fall under `prefix`?
    pub fn matches(&self, prefix: &JobKeyPrefix) -> bool {
        self.cluster == prefix.cluster
            && prefix.role.as_ref().is_none_or(|r| *r == self.role)
            && prefix.environment.as_ref().is_none_or(|e| *e == self.environment)
    }
}

/// The longest cluster, role, environment or job name (ZooKeeper paths and task ids carry them).
pub const MAX_COMPONENT_CHARS: usize = 128;

fn check_component(input: &str, what: &str, part: &str) -> Result<(), JobKeyError> {
    // A key too long to print whole is shown by its start.
    let shown = if input.chars().count() > 200 {
        format!("{}…", input.chars().take(200).collect::<String>())
    } else {
        input.to_owned()
    };
    let malformed = |reason: String| JobKeyError::Malformed { input: shown.clone(), reason };
    if part.is_empty() {
        return Err(malformed(format!("the {what} is empty")));
    }
    if part.len() > MAX_COMPONENT_CHARS {
        return Err(malformed(format!("the {what} is {} characters long; at most {MAX_COMPONENT_CHARS}", part.len())));
    }
    if let Some(bad) = part.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))) {
        return Err(malformed(format!("the {what} '{part}' contains '{bad}'; use letters, digits, '-', '_' and '.'")));
    }
    Ok(())
}

impl fmt::Display for JobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}/{}", self.cluster, self.role, self.environment, self.name)
    }
}

impl FromStr for JobKey {
    type Err = JobKeyError;

    fn from_str(s: &str) -> Result<JobKey, JobKeyError> {
        let parts: Vec<&str> = s.split('/').collect();
        match parts.as_slice() {
            [c, r, e, n] => JobKey::new(c, r, e, n),
            _ => Err(JobKeyError::Malformed {
                input: s.to_owned(),
                reason: format!("it has {} part(s) separated by '/', not 4", parts.len()),
            }),
        }
    }
}

/// A cluster, optionally narrowed to a role and an environment: what `job list` takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobKeyPrefix {
    pub cluster: String,
    pub role: Option<String>,
    pub environment: Option<String>,
}

impl FromStr for JobKeyPrefix {
    type Err = JobKeyError;

    fn from_str(s: &str) -> Result<JobKeyPrefix, JobKeyError> {
        let parts: Vec<&str> = s.split('/').collect();
        if parts.len() > 3 {
            return Err(JobKeyError::Malformed {
                input: s.to_owned(),
                reason: "expected CLUSTER[/ROLE[/ENV]]".to_owned(),
            });
        }
        for (what, part) in ["cluster", "role", "environment"].iter().zip(&parts) {
            check_component(s, what, part)?;
        }
        Ok(JobKeyPrefix {
            cluster: parts[0].to_owned(),
            role: parts.get(1).map(|r| (*r).to_owned()),
            environment: parts.get(2).map(|e| (*e).to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_a_job_key() {
        let key: JobKey = "devcluster/www-data/devel/hello".parse().unwrap();
        assert_eq!(key.role, "www-data");
        assert_eq!(key.name, "hello");
        assert_eq!(key.to_string(), "devcluster/www-data/devel/hello");
    }

    #[test]
    fn rejects_malformed_job_keys_and_says_what_a_key_looks_like() {
        for bad in ["devcluster/www-data/hello", "a/b/c/d/e", "a//c/d", "a/b c/d/e"] {
            let err = bad.parse::<JobKey>().unwrap_err().to_string();
            assert!(err.contains(bad), "{err}");
            assert!(err.contains("CLUSTER/ROLE/ENV/NAME"), "{err}");
        }
    }

    #[test]
    fn an_over_long_part_is_refused_and_shown_by_its_start() {
        let long = "n".repeat(MAX_COMPONENT_CHARS + 1);
        assert!(format!("c/r/e/{}", "n".repeat(MAX_COMPONENT_CHARS)).parse::<JobKey>().is_ok());
        let err = format!("c/r/e/{long}").parse::<JobKey>().unwrap_err().to_string();
        assert!(err.contains("the name is 129 characters long; at most 128"), "{err}");
        let huge = format!("c/r/e/{}", "n".repeat(100_000)).parse::<JobKey>().unwrap_err().to_string();
        assert!(huge.len() < 500, "the message does not repeat the whole key: {} bytes", huge.len());
    }

    #[test]
    fn prefixes_match_keys() {
        let key: JobKey = "c/r/e/n".parse().unwrap();
        assert!(key.matches(&"c".parse().unwrap()));
        assert!(key.matches(&"c/r".parse().unwrap()));
        assert!(key.matches(&"c/r/e".parse().unwrap()));
        assert!(!key.matches(&"c/x".parse().unwrap()));
        assert!(!key.matches(&"d".parse().unwrap()));
        assert!("c/r/e/n".parse::<JobKeyPrefix>().is_err());
    }
}
