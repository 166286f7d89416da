//! A size check on the arrays and maps variables hold, where Rhai's own does not look.
//!
//! Rhai checks a value's size after most operations, but not an object map growing by index or
//! property assignment (`m[key] = v`, `m.inner[key] = v`), and it never counts map keys. This
//! guard runs when a script reads a variable: the variable's top-level length is checked every
//! time (cheap), and its full size — nested elements and entries, and the bytes of its strings
//! and keys — whenever enough reads have passed since the last full check to pay for it, so the
//! guard's work stays proportional to the script's own.

use std::sync::atomic::{AtomicIsize, Ordering};

use rhai::{Array, Dynamic, EvalAltResult, EvalContext, Map, Position};

use crate::sandbox::{MAX_ARRAY_ELEMENTS, MAX_MAP_ENTRIES, MAX_STRING_BYTES};

/// How deeply arrays and maps may nest inside one another.
pub(crate) const MAX_NESTING: usize = 64;
/// How much full checking each variable read pays for, in elements and entries visited.
const CREDIT_PER_READ: isize = 64;

/// The guard for one evaluation; see the module documentation.
#[derive(Debug, Default)]
pub(crate) struct GrowthGuard {
    /// Reads' credit, less what full checks have cost; a full check runs when it is not negative.
    credit: AtomicIsize,
}

/// Rhai's names for the sizes it limits, which the report turns into messages.
const ARRAY: &str = "Size of array/BLOB";
const MAP: &str = "Size of object map";
const STRING: &str = "Length of string";
/// The name of the nesting limit, for the report.
pub(crate) const NESTING: &str = "Nesting of arrays and maps";

impl GrowthGuard {
    /// Checks the variable `name` a script is about to read; an `Err` stops the script.
    pub(crate) fn check(
        &self,
        name: &str,
        context: &EvalContext<'_, '_, '_, '_, '_, '_>,
    ) -> Result<(), Box<EvalAltResult>> {
        let Some(value) = context.scope().get(name) else {
            return Ok(());
        };
        if let Ok(array) = value.as_array_ref() {
            if array.len() > MAX_ARRAY_ELEMENTS {
                return Err(too_large(ARRAY));
            }
        } else if let Ok(map) = value.as_map_ref() {
            if map.len() > MAX_MAP_ENTRIES {
                return Err(too_large(MAP));
            }
        } else {
            return Ok(());
        }
        if self.credit.fetch_add(CREDIT_PER_READ, Ordering::Relaxed) + CREDIT_PER_READ < 0 {
            return Ok(());
        }
        let mut sizes = Sizes::default();
        let checked = sizes.measure(value, 0);
        let cost = sizes.elements + sizes.entries;
        self.credit.store(-isize::try_from(cost).unwrap_or(isize::MAX), Ordering::Relaxed);
        checked
    }
}

/// What a value holds, counting nested values.
#[derive(Default)]
struct Sizes {
    elements: usize,
    entries: usize,
    bytes: usize,
}

impl Sizes {
    /// Adds `value`'s sizes, failing as soon as one passes its limit.
    fn measure(&mut self, value: &Dynamic, depth: usize) -> Result<(), Box<EvalAltResult>> {
        if depth > MAX_NESTING {
            return Err(too_large(NESTING));
        }
        if let Ok(array) = value.as_array_ref() {
            self.elements += array.len();
            self.within_limits()?;
            return measure_all(self, &array, depth);
        }
        if let Ok(map) = value.as_map_ref() {
            self.entries += map.len();
            self.bytes += map.keys().map(|key| key.len()).sum::<usize>();
            self.within_limits()?;
            return measure_entries(self, &map, depth);
        }
        if let Ok(text) = value.as_immutable_string_ref() {
            self.bytes += text.len();
            self.within_limits()?;
        }
        Ok(())
    }

    fn within_limits(&self) -> Result<(), Box<EvalAltResult>> {
        if self.elements > MAX_ARRAY_ELEMENTS {
            Err(too_large(ARRAY))
        } else if self.entries > MAX_MAP_ENTRIES {
            Err(too_large(MAP))
        } else if self.bytes > MAX_STRING_BYTES {
            Err(too_large(STRING))
        } else {
            Ok(())
        }
    }
}

fn measure_all(sizes: &mut Sizes, array: &Array, depth: usize) -> Result<(), Box<EvalAltResult>> {
    array.iter().try_for_each(|element| sizes.measure(element, depth + 1))
}

fn measure_entries(sizes: &mut Sizes, map: &Map, depth: usize) -> Result<(), Box<EvalAltResult>> {
    map.values().try_for_each(|entry| sizes.measure(entry, depth + 1))
}

fn too_large(what: &str) -> Box<EvalAltResult> {
    Box::new(EvalAltResult::ErrorDataTooLarge(what.to_owned(), Position::NONE))
}
