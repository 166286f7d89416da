//! The operator's vocabulary: Aurora's tiers (and what makes a job production), host
//! maintenance modes, and the resource aggregates quota is counted in.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::job::{Resources, TaskConfig};

/// Aurora's tiers (`tiers.json`). Preferred tasks are production: not preemptible, counted
/// against quota, placed first. Preemptible is the default; revocable tasks are preemptible too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    Preferred,
    #[default]
    Preemptible,
    Revocable,
}

impl Tier {
    /// The tier a job names; no tier, or one not known, is Aurora's default.
    pub fn from_name(name: Option<&str>) -> Tier {
        match name {
            Some("preferred") => Tier::Preferred,
            Some("revocable") => Tier::Revocable,
            _ => Tier::Preemptible,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Tier::Preferred => "preferred",
            Tier::Preemptible => "preemptible",
            Tier::Revocable => "revocable",
        }
    }

    /// Whether tasks of this tier may be preempted (every tier but preferred).
    pub fn is_preemptible(self) -> bool {
        self != Tier::Preferred
    }
}

impl TaskConfig {
    /// The task's tier: the one it names; without one, preferred for a job marked
    /// `production: true` (Aurora's mapping of the old flag), else preemptible.
    pub fn effective_tier(&self) -> Tier {
        match &self.tier {
            Some(name) => Tier::from_name(Some(name)),
            None if self.production => Tier::Preferred,
            None => Tier::Preemptible,
        }
    }

    /// Production means the preferred tier: not preemptible, and counted against quota.
    pub fn is_production(&self) -> bool {
        self.effective_tier() == Tier::Preferred
    }
}

/// A host's maintenance mode, as in Aurora: NONE → SCHEDULED (placed on last) → DRAINING (takes
/// nothing new; its tasks are moved off) → DRAINED (draining, and no active task is left).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum MaintenanceMode {
    #[default]
    None,
    Scheduled,
    Draining,
    Drained,
}

impl MaintenanceMode {
    pub const ALL: [MaintenanceMode; 4] =
        [MaintenanceMode::None, MaintenanceMode::Scheduled, MaintenanceMode::Draining, MaintenanceMode::Drained];

    /// Aurora's name for the mode.
    pub fn name(self) -> &'static str {
        match self {
            MaintenanceMode::None => "NONE",
            MaintenanceMode::Scheduled => "SCHEDULED",
            MaintenanceMode::Draining => "DRAINING",
            MaintenanceMode::Drained => "DRAINED",
        }
    }

    /// Whether a host in this mode may take new tasks.
    pub fn accepts_tasks(self) -> bool {
        matches!(self, MaintenanceMode::None | MaintenanceMode::Scheduled)
    }
}

impl fmt::Display for MaintenanceMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A mode name that is not one of Aurora's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown maintenance mode '{0}'; modes are NONE, SCHEDULED, DRAINING, DRAINED")]
pub struct UnknownMaintenanceMode(pub String);

impl FromStr for MaintenanceMode {
    type Err = UnknownMaintenanceMode;

    fn from_str(s: &str) -> Result<MaintenanceMode, UnknownMaintenanceMode> {
        MaintenanceMode::ALL
            .into_iter()
            .find(|mode| mode.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| UnknownMaintenanceMode(s.to_owned()))
    }
}

/// An amount of cpu, RAM and disk, as quota and its use are counted (Aurora's
/// `ResourceAggregate`). CPU is in thousandths of a core so sums are exact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceAggregate {
    pub cpu_millis: u64,
    pub ram_mb: u64,
    pub disk_mb: u64,
}

impl ResourceAggregate {
    /// What `count` tasks of `resources` take.
    pub fn of(resources: &Resources, count: u64) -> ResourceAggregate {
        ResourceAggregate {
            cpu_millis: resources.cpu_millis().saturating_mul(count),
            ram_mb: resources.ram_mb.saturating_mul(count),
            disk_mb: resources.disk_mb.saturating_mul(count),
        }
    }

    /// This and `other` together.
    pub fn plus(self, other: ResourceAggregate) -> ResourceAggregate {
        ResourceAggregate {
            cpu_millis: self.cpu_millis.saturating_add(other.cpu_millis),
            ram_mb: self.ram_mb.saturating_add(other.ram_mb),
            disk_mb: self.disk_mb.saturating_add(other.disk_mb),
        }
    }

    /// What this has beyond `other`, in each resource (none where `other` has more).
    pub fn less(self, other: ResourceAggregate) -> ResourceAggregate {
        ResourceAggregate {
            cpu_millis: self.cpu_millis.saturating_sub(other.cpu_millis),
            ram_mb: self.ram_mb.saturating_sub(other.ram_mb),
            disk_mb: self.disk_mb.saturating_sub(other.disk_mb),
        }
    }

    /// CPU in cores.
    pub fn cores(&self) -> f64 {
        self.cpu_millis as f64 / 1000.0
    }

    /// Aurora's `QuotaCheckResult` details when `requested` exceeds this quota, e.g. "CPU quota
    /// exceeded by 1.00 core(s); RAM quota exceeded by 64.00 MB"; None if it fits.
    pub fn excess(&self, requested: &ResourceAggregate) -> Option<String> {
        let over = [
            ("CPU", requested.cpu_millis.saturating_sub(self.cpu_millis) as f64 / 1000.0, "core(s)"),
            ("RAM", requested.ram_mb.saturating_sub(self.ram_mb) as f64, "MB"),
            ("DISK", requested.disk_mb.saturating_sub(self.disk_mb) as f64, "MB"),
        ];
        let parts: Vec<String> = over
            .iter()
            .filter(|(_, by, _)| *by > 0.0)
            .map(|(name, by, unit)| format!("{name} quota exceeded by {by:.2} {unit}"))
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ProcessSpec, TaskSpec};

    fn job(tier: Option<&str>, production: bool) -> TaskConfig {
        let task =
            TaskSpec::new(vec![ProcessSpec::new("p", "true")], Resources { cpu: 1.0, ram_mb: 1, disk_mb: 1, gpu: 0 });
        let mut config = TaskConfig::new(task);
        config.tier = tier.map(str::to_owned);
        config.production = production;
        config
    }

    #[test]
    fn production_is_the_preferred_tier_and_a_named_tier_wins() {
        assert_eq!(job(None, false).effective_tier(), Tier::Preemptible);
        assert!(job(None, true).is_production());
        assert!(job(Some("preferred"), false).is_production());
        assert!(!job(Some("revocable"), true).is_production(), "the tier decides, as in Aurora's TierManager");
        assert!(Tier::Revocable.is_preemptible() && !Tier::Preferred.is_preemptible());
    }

    #[test]
    fn quota_excess_is_worded_as_aurora_words_it() {
        let quota = ResourceAggregate { cpu_millis: 2000, ram_mb: 1024, disk_mb: 4096 };
        let fits = ResourceAggregate { cpu_millis: 2000, ram_mb: 1024, disk_mb: 10 };
        assert_eq!(quota.excess(&fits), None);
        let over = ResourceAggregate { cpu_millis: 3500, ram_mb: 1088, disk_mb: 4096 };
        assert_eq!(
            quota.excess(&over).as_deref(),
            Some("CPU quota exceeded by 1.50 core(s); RAM quota exceeded by 64.00 MB")
        );
    }

    #[test]
    fn maintenance_modes_round_trip_by_name() {
        for mode in MaintenanceMode::ALL {
            assert_eq!(mode.name().parse::<MaintenanceMode>().unwrap(), mode);
        }
        assert!("drain".parse::<MaintenanceMode>().unwrap_err().to_string().contains("'drain'"));
    }
}
