//! Scoring: how good a feasible agent is for a task. Nomad's BestFit v3 (`ScoreFitBinPack`) and
//! its worst-fit mirror (`ScoreFitSpread`), in exact fixed-point arithmetic.
//!
//! With `free = 1 - used/total` for cpu and memory after the task is added, and
//! `total = 10^free_cpu + 10^free_mem`, bin-packing scores `clamp(20 - total, 0, 18)` and spread
//! `clamp(total - 2, 0, 18)`. Powers of ten come from two tables built at compile time with integer
//! square roots, so scores are integers (units of 2^-30) and compare exactly on every machine.

use crate::input::Strategy;

/// Fixed-point one: scores and powers are in units of 2^-30.
pub(crate) const ONE: u64 = 1 << 30;
/// Bits of a free fraction: 20 bits, split into a high and a low table index of 10 bits each.
const FRACTION_BITS: u32 = 20;
const HALF_BITS: u32 = FRACTION_BITS / 2;
const HALF: usize = 1 << HALF_BITS;
/// Precision the tables are built in.
const BUILD_BITS: u32 = 60;

/// `ROOTS[i]` is `10^(1/2^i)` in units of 2^-60.
const ROOTS: [u128; FRACTION_BITS as usize + 1] = {
    let mut roots = [0u128; FRACTION_BITS as usize + 1];
    roots[0] = 10 << BUILD_BITS;
    let mut i = 1;
    while i < roots.len() {
        roots[i] = (roots[i - 1] << BUILD_BITS).isqrt();
        i += 1;
    }
    roots
};

/// `10^(n / 2^(FRACTION_BITS - shift))` in units of 2^-30, for `n` below 2^11.
const fn power_of_ten(n: usize, shift: u32) -> u64 {
    let mut acc: u128 = 1 << BUILD_BITS;
    let mut bit = 0;
    while bit <= HALF_BITS {
        if n & (1 << bit) != 0 {
            acc = (acc * ROOTS[(FRACTION_BITS - shift - bit) as usize]) >> BUILD_BITS;
        }
        bit += 1;
    }
    ((acc + (1 << (BUILD_BITS - 31))) >> (BUILD_BITS - 30)) as u64
}

/// `HIGH[h]` is `10^(h / 2^10)`, for h in 0..=2^10.
const HIGH: [u64; HALF + 1] = {
    let mut table = [0u64; HALF + 1];
    let mut h = 0;
    while h <= HALF {
        table[h] = power_of_ten(h, HALF_BITS);
        h += 1;
    }
    table
};

/// `LOW[l]` is `10^(l / 2^20)`, for l below 2^10.
const LOW: [u64; HALF] = {
    let mut table = [0u64; HALF];
    let mut l = 0;
    while l < HALF {
        table[l] = power_of_ten(l, 0);
        l += 1;
    }
    table
};

/// `10^free` with `free = available / total` (0 when `total` is 0), in units of 2^-30.
fn ten_to_the_free_fraction(available: u64, total: u64) -> u64 {
    if total == 0 {
        return ONE;
    }
    let fraction = ((u128::from(available.min(total)) << FRACTION_BITS) / u128::from(total)) as usize;
    let (high, low) = (fraction >> HALF_BITS, fraction & (HALF - 1));
    ((u128::from(HIGH[high]) * u128::from(LOW[low])) >> 30) as u64
}

/// The fit score of an agent whose cpu and memory would be `used` of `total` once the task is
/// on it: from 0 to 18 × [`ONE`], higher is better for `strategy`.
pub(crate) fn fit(strategy: Strategy, cpu_used: u64, cpu_total: u64, mem_used: u64, mem_total: u64) -> u64 {
    let total = ten_to_the_free_fraction(cpu_total.saturating_sub(cpu_used), cpu_total)
        + ten_to_the_free_fraction(mem_total.saturating_sub(mem_used), mem_total);
    match strategy {
        Strategy::Binpack => (20 * ONE).saturating_sub(total).min(18 * ONE),
        Strategy::Spread => total.saturating_sub(2 * ONE).min(18 * ONE),
    }
}

/// How good a feasible agent is; fields in priority order. Agents in SCHEDULED maintenance come
/// after every other agent, whatever their fit. Equal scores go to the lower agent id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Score {
    pub(crate) not_scheduled_for_maintenance: bool,
    pub(crate) fit: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn in_units(score: u64) -> f64 {
        score as f64 / ONE as f64
    }

    /// Nomad's `TestScoreFitBinPack`: a 4096 MHz / 8192 MB node with 2048 / 4096 reserved,
    /// so 2048 / 4096 usable.
    #[test]
    fn nomad_bin_pack_and_spread_vectors() {
        let cases: [(u64, u64, f64, f64); 3] = [
            (2048, 4096, 18.0, 0.0),
            (0, 0, 0.0, 18.0),
            (1024, 2048, 20.0 - 2.0 * 10f64.sqrt(), 2.0 * 10f64.sqrt() - 2.0),
        ];
        for (cpu, mem, binpack, spread) in cases {
            let b = fit(Strategy::Binpack, cpu, 2048, mem, 4096);
            let s = fit(Strategy::Spread, cpu, 2048, mem, 4096);
            assert!((in_units(b) - binpack).abs() < 1e-6, "binpack {cpu}/{mem}: {}", in_units(b));
            assert!((in_units(s) - spread).abs() < 1e-6, "spread {cpu}/{mem}: {}", in_units(s));
            assert!(b + s == 18 * ONE || b.abs_diff(18 * ONE - s) <= 1, "binpack + spread = 18");
        }
    }

    #[test]
    fn powers_of_ten_are_accurate_and_monotonic() {
        let mut previous = 0;
        for step in 0..=1000u64 {
            let power = ten_to_the_free_fraction(step, 1000);
            let exact = 10f64.powf(step as f64 / 1000.0);
            // The fraction is cut to 20 bits: 2^-20 of an exponent is 2.2e-6 of the power.
            assert!((in_units(power) - exact).abs() / exact < 3e-6, "10^{step}/1000");
            assert!(power > previous, "strictly increasing at {step}");
            previous = power;
        }
        assert_eq!(ten_to_the_free_fraction(5, 0), ONE, "no capacity counts as full");
    }

    #[test]
    fn fuller_agents_win_bin_packing_and_emptier_ones_spread() {
        let fuller = fit(Strategy::Binpack, 3000, 4000, 3000, 4000);
        let emptier = fit(Strategy::Binpack, 1000, 4000, 1000, 4000);
        assert!(fuller > emptier);
        assert!(fit(Strategy::Spread, 1000, 4000, 1000, 4000) > fit(Strategy::Spread, 3000, 4000, 3000, 4000));
        let scheduled = Score { not_scheduled_for_maintenance: false, fit: 18 * ONE };
        assert!(Score { not_scheduled_for_maintenance: true, fit: 0 } > scheduled);
    }
}
