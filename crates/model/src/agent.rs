//! Agents as the scheduler sees them: ids, resources in Mesos syntax
//! (`cpus:4;mem:8192;disk:40960;ports:[31000-32000]`) and attributes (`host:h1;rack:r1`).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// An agent's unique id; agents are named after their hostname.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AgentId(pub String);

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An inclusive range of ports an agent offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PortRange {
    pub begin: u16,
    pub end: u16,
}

/// What an agent offers to tasks. `mem_mb` and `disk_mb` are mebibytes, as in Mesos.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentResources {
    pub cpus: f64,
    pub mem_mb: u64,
    pub disk_mb: u64,
    pub gpus: u64,
    pub ports: Vec<PortRange>,
}

/// The ports an agent offers when none are given.
pub const DEFAULT_PORTS: PortRange = PortRange { begin: 31000, end: 32000 };

/// A resource or attribute string that failed to parse; the message names the bad token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} '{token}': {reason}")]
pub struct ResourceParseError {
    pub what: &'static str,
    pub token: String,
    pub reason: String,
}

fn bad(what: &'static str, token: &str, reason: impl Into<String>) -> ResourceParseError {
    ResourceParseError { what, token: token.to_owned(), reason: reason.into() }
}

impl FromStr for AgentResources {
    type Err = ResourceParseError;

    /// Parses Mesos `--resources` syntax. cpus, mem and disk are required; gpus defaults to 0
    /// and ports to `[31000-32000]`.
    fn from_str(s: &str) -> Result<AgentResources, ResourceParseError> {
        const WHAT: &str = "resource";
        let (mut cpus, mut mem, mut disk, mut gpus, mut ports) = (None, None, None, 0, None);
        for token in s.split(';').map(str::trim).filter(|t| !t.is_empty()) {
            let Some((name, value)) = token.split_once(':') else {
                return Err(bad(WHAT, token, "expected NAME:VALUE, e.g. cpus:4"));
            };
            let number = |what: &str| -> Result<f64, ResourceParseError> {
                let v: f64 = value.trim().parse().map_err(|_| bad(WHAT, token, format!("{what} must be a number")))?;
                if !v.is_finite() || v < 0.0 {
                    return Err(bad(WHAT, token, format!("{what} must be a non-negative number")));
                }
                Ok(v)
            };
            match name.trim() {
                "cpus" => cpus = Some(number("cpus")?),
                "mem" => mem = Some(number("mem")? as u64),
                "disk" => disk = Some(number("disk")? as u64),
                "gpus" => gpus = number("gpus")? as u64,
                "ports" => ports = Some(parse_port_ranges(token, value)?),
                other => {
                    return Err(bad(
                        WHAT,
                        token,
                        format!("unknown resource '{other}'; known are cpus, mem, disk, gpus, ports"),
                    ));
                }
            }
        }
        let missing = |name: &str| bad(WHAT, s, format!("{name} is missing; give e.g. 'cpus:4;mem:8192;disk:40960'"));
        Ok(AgentResources {
            cpus: cpus.ok_or_else(|| missing("cpus"))?,
            mem_mb: mem.ok_or_else(|| missing("mem"))?,
            disk_mb: disk.ok_or_else(|| missing("disk"))?,
            gpus,
            ports: ports.unwrap_or_else(|| vec![DEFAULT_PORTS]),
        })
    }
}

fn parse_port_ranges(token: &str, value: &str) -> Result<Vec<PortRange>, ResourceParseError> {
    const WHAT: &str = "resource";
    let inner = value
        .trim()
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .ok_or_else(|| bad(WHAT, token, "ports are written as [BEGIN-END, ...], e.g. ports:[31000-32000]"))?;
    let mut ranges = Vec::new();
    for part in inner.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let port = |p: &str| {
            p.trim().parse::<u16>().map_err(|_| bad(WHAT, token, format!("'{}' is not a port number", p.trim())))
        };
        let (begin, end) = (port(lo)?, port(hi)?);
        if begin > end || begin == 0 {
            return Err(bad(WHAT, token, format!("port range {part} is empty or starts at 0")));
        }
        ranges.push(PortRange { begin, end });
    }
    ranges.sort();
    Ok(ranges)
}

impl fmt::Display for AgentResources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ports: Vec<String> = self.ports.iter().map(|r| format!("{}-{}", r.begin, r.end)).collect();
        write!(f, "cpus:{};mem:{};disk:{};", self.cpus, self.mem_mb, self.disk_mb)?;
        if self.gpus > 0 {
            write!(f, "gpus:{};", self.gpus)?;
        }
        write!(f, "ports:[{}]", ports.join(","))
    }
}

/// Agent attributes that constraints match against, e.g. `host:h1;rack:r1`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attributes(pub BTreeMap<String, String>);

impl FromStr for Attributes {
    type Err = ResourceParseError;

    fn from_str(s: &str) -> Result<Attributes, ResourceParseError> {
        let mut map = BTreeMap::new();
        for token in s.split(';').map(str::trim).filter(|t| !t.is_empty()) {
            match token.split_once(':') {
                Some((name, value)) if !name.trim().is_empty() && !value.trim().is_empty() => {
                    map.insert(name.trim().to_owned(), value.trim().to_owned());
                }
                _ => return Err(bad("attribute", token, "expected NAME:VALUE, e.g. rack:r1")),
            }
        }
        Ok(Attributes(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mesos_resources() {
        let r: AgentResources = "cpus:4;mem:8192;disk:40960;ports:[31000-32000]".parse().unwrap();
        assert_eq!(r.cpus, 4.0);
        assert_eq!(r.mem_mb, 8192);
        assert_eq!(r.disk_mb, 40960);
        assert_eq!(r.ports, vec![PortRange { begin: 31000, end: 32000 }]);
        let r: AgentResources = "cpus:0.5; mem:10; disk:10; ports:[2000-2001, 1000-1000]".parse().unwrap();
        assert_eq!(r.ports[0], PortRange { begin: 1000, end: 1000 });
        assert_eq!(r.to_string(), "cpus:0.5;mem:10;disk:10;ports:[1000-1000,2000-2001]");
    }

    #[test]
    fn names_the_bad_token() {
        let cases = [
            ("cpus:4;mem:lots;disk:1", "'mem:lots'"),
            ("cpus:4;mem:1;disk:1;ports:31000-32000", "'ports:31000-32000'"),
            ("cpus:4;mem:1;disk:1;bogus:3", "unknown resource 'bogus'"),
            ("cpus:4;mem:1", "disk is missing"),
            ("cpus4", "'cpus4'"),
            ("cpus:-1;mem:1;disk:1", "'cpus:-1'"),
        ];
        for (input, expected) in cases {
            let err = input.parse::<AgentResources>().unwrap_err().to_string();
            assert!(err.contains(expected), "{input}: {err}");
        }
    }

    #[test]
    fn parses_attributes() {
        let a: Attributes = "host:h1;rack:r1".parse().unwrap();
        assert_eq!(a.0.get("rack").map(String::as_str), Some("r1"));
        assert!("rack".parse::<Attributes>().unwrap_err().to_string().contains("'rack'"));
    }
}
