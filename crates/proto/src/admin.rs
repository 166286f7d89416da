//! Conversions of the admin service's values: maintenance modes and resource aggregates.

use atoll_model as model;

use crate::{WireError, v1};

impl From<model::MaintenanceMode> for v1::MaintenanceMode {
    fn from(m: model::MaintenanceMode) -> v1::MaintenanceMode {
        match m {
            model::MaintenanceMode::None => v1::MaintenanceMode::None,
            model::MaintenanceMode::Scheduled => v1::MaintenanceMode::Scheduled,
            model::MaintenanceMode::Draining => v1::MaintenanceMode::Draining,
            model::MaintenanceMode::Drained => v1::MaintenanceMode::Drained,
        }
    }
}

/// Reads a maintenance mode field, rejecting unknown and unspecified values.
pub fn maintenance_mode(raw: i32) -> Result<model::MaintenanceMode, WireError> {
    let wire = v1::MaintenanceMode::try_from(raw)
        .map_err(|_| WireError { field: "maintenance mode", reason: format!("unknown value {raw}") })?;
    model::MaintenanceMode::ALL
        .into_iter()
        .find(|m| v1::MaintenanceMode::from(*m) == wire)
        .ok_or_else(|| WireError { field: "maintenance mode", reason: "unspecified".to_owned() })
}

impl From<&model::ResourceAggregate> for v1::ResourceAggregate {
    fn from(r: &model::ResourceAggregate) -> v1::ResourceAggregate {
        v1::ResourceAggregate { cpu: r.cores(), ram_mb: r.ram_mb, disk_mb: r.disk_mb }
    }
}

impl TryFrom<&v1::ResourceAggregate> for model::ResourceAggregate {
    type Error = WireError;

    /// CPU must be a finite number of cores, at least 0; it is kept in thousandths.
    fn try_from(r: &v1::ResourceAggregate) -> Result<model::ResourceAggregate, WireError> {
        if !(r.cpu.is_finite() && r.cpu >= 0.0 && r.cpu <= 1e12) {
            return Err(WireError { field: "quota cpu", reason: format!("{} is not a number of cores", r.cpu) });
        }
        Ok(model::ResourceAggregate {
            cpu_millis: (r.cpu * 1000.0).round() as u64,
            ram_mb: r.ram_mb,
            disk_mb: r.disk_mb,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_and_unspecified_is_rejected() {
        for mode in model::MaintenanceMode::ALL {
            assert_eq!(maintenance_mode(v1::MaintenanceMode::from(mode) as i32).unwrap(), mode);
        }
        assert_eq!(maintenance_mode(0).unwrap_err().to_string(), "invalid maintenance mode: unspecified");
        assert!(maintenance_mode(9).is_err());
    }

    #[test]
    fn aggregates_keep_thousandths_of_a_core_and_refuse_nonsense() {
        let quota = model::ResourceAggregate { cpu_millis: 2_500, ram_mb: 1024, disk_mb: 4096 };
        let wire = v1::ResourceAggregate::from(&quota);
        assert_eq!(wire.cpu, 2.5);
        assert_eq!(model::ResourceAggregate::try_from(&wire).unwrap(), quota);
        let negative = v1::ResourceAggregate { cpu: -1.0, ..wire };
        assert!(model::ResourceAggregate::try_from(&negative).unwrap_err().to_string().contains("quota cpu"));
        let nan = v1::ResourceAggregate { cpu: f64::NAN, ..wire };
        assert!(model::ResourceAggregate::try_from(&nan).is_err());
    }
}
