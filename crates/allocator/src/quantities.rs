//! Scalar resource quantities, the dimensions dominant shares are taken over.

/// Cpus, memory and disk (MB) and GPUs.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Quantities {
    pub cpus: f64,
    pub mem_mb: f64,
    pub disk_mb: f64,
    pub gpus: f64,
}

impl Quantities {
    pub const ZERO: Quantities = Quantities { cpus: 0.0, mem_mb: 0.0, disk_mb: 0.0, gpus: 0.0 };

    /// Cpus and memory alone, as most of Mesos' examples give them.
    pub fn cpus_mem(cpus: f64, mem_mb: f64) -> Quantities {
        Quantities { cpus, mem_mb, ..Quantities::ZERO }
    }

    fn dims(self) -> [f64; 4] {
        [self.cpus, self.mem_mb, self.disk_mb, self.gpus]
    }

    fn from_dims([cpus, mem_mb, disk_mb, gpus]: [f64; 4]) -> Quantities {
        Quantities { cpus, mem_mb, disk_mb, gpus }
    }

    pub fn plus(self, other: Quantities) -> Quantities {
        let (a, b) = (self.dims(), other.dims());
        Quantities::from_dims([a[0] + b[0], a[1] + b[1], a[2] + b[2], a[3] + b[3]])
    }

    /// `self - other`, never below zero in any dimension.
    pub fn minus(self, other: Quantities) -> Quantities {
        let (a, b) = (self.dims(), other.dims());
        Quantities::from_dims([0, 1, 2, 3].map(|i| (a[i] - b[i]).max(0.0)))
    }

    /// Whether `self` fits within `room` in every dimension.
    pub fn fits_in(self, room: Quantities) -> bool {
        let (a, b) = (self.dims(), room.dims());
        (0..4).all(|i| a[i] <= b[i] + 1e-9)
    }

    pub fn is_zero(self) -> bool {
        self.dims().iter().all(|d| *d <= 1e-9)
    }

    /// The dominant share of `self` in `total`: the largest of its fractions, over the
    /// dimensions the total has.
    pub fn dominant_share(self, total: Quantities) -> f64 {
        let (a, t) = (self.dims(), total.dims());
        (0..4).filter(|i| t[*i] > 0.0).map(|i| a[i] / t[i]).fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dominant_share_is_the_largest_fraction_of_what_exists() {
        let total = Quantities::cpus_mem(9.0, 18.0);
        assert!((Quantities::cpus_mem(1.0, 4.0).dominant_share(total) - 2.0 / 9.0).abs() < 1e-12);
        assert!((Quantities::cpus_mem(3.0, 1.0).dominant_share(total) - 1.0 / 3.0).abs() < 1e-12);
        let gpus = Quantities { gpus: 1.0, ..Quantities::ZERO };
        assert_eq!(gpus.dominant_share(total), 0.0, "a dimension the cluster lacks counts for nothing");
        assert!(Quantities::cpus_mem(1.0, 1.0).fits_in(Quantities::cpus_mem(1.0, 2.0)));
        assert!(!Quantities::cpus_mem(1.5, 1.0).fits_in(Quantities::cpus_mem(1.0, 2.0)));
        assert_eq!(
            Quantities::cpus_mem(1.0, 1.0).minus(Quantities::cpus_mem(2.0, 0.5)),
            Quantities::cpus_mem(0.0, 0.5)
        );
    }
}
