//! An in-memory [`Store`] for unit tests and the simulator.

use std::sync::Mutex;

use atoll_state::{Changes, Durable, StoreImage};

use crate::{Store, StoreError};

/// Keeps everything in memory; lost when dropped.
#[derive(Debug, Default)]
pub struct MemoryStore {
    image: Mutex<StoreImage>,
}

impl Store for MemoryStore {
    fn load(&self) -> Result<Durable, StoreError> {
        Ok(self.image.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).durable())
    }

    /// Writes nothing anywhere: 0 bytes.
    fn write(&self, changes: &Changes) -> Result<u64, StoreError> {
        self.image.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).apply(changes);
        Ok(0)
    }

    /// What is in memory is as durable as it gets.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}
