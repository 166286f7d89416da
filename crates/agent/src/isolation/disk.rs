//! How much disk a task's sandbox uses, for enforcing its disk limit.
//!
//! The walk counts allocated blocks (`st_blocks`, like `du`), not apparent sizes, so sparse files
//! count what they occupy. It never follows symlinks, never leaves the sandbox's file system
//! (something mounted inside is not the sandbox's disk), counts hard-linked files once, skips
//! entries that vanish while it runs (the task keeps writing meanwhile), and is bounded: it
//! walks iteratively and gives up with an error past a maximum number of entries, which a caller
//! enforcing a limit should treat as over the limit.

use std::collections::HashSet;
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// The most entries one measurement visits before giving up.
const MAX_ENTRIES: u64 = 1_000_000;

/// Bytes allocated on disk for everything under `path` (including `path` itself).
pub fn sandbox_disk_usage(path: &Path) -> io::Result<u64> {
    disk_usage_bounded(path, MAX_ENTRIES)
}

fn disk_usage_bounded(root: &Path, max_entries: u64) -> io::Result<u64> {
    let root_meta = fs::symlink_metadata(root).map_err(|e| with_path(e, root))?;
    let device = root_meta.dev();
    let mut total = allocated(&root_meta);
    let mut linked = HashSet::new();
    let mut entries = 0u64;
    let mut pending = if root_meta.is_dir() { vec![root.to_owned()] } else { Vec::new() };
    while let Some(dir) = pending.pop() {
        let listing = match fs::read_dir(&dir) {
            Ok(listing) => listing,
            Err(e) if vanished(&e) => continue,
            Err(e) => return Err(with_path(e, &dir)),
        };
        for entry in listing {
            let entry = match entry {
                Ok(entry) => entry,
                Err(e) if vanished(&e) => continue,
                Err(e) => return Err(with_path(e, &dir)),
            };
            entries += 1;
            if entries > max_entries {
                let message = format!("more than {max_entries} entries under {}", root.display());
                return Err(io::Error::other(message));
            }
            // On Unix, DirEntry::metadata does not follow symlinks.
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(e) if vanished(&e) => continue,
                Err(e) => return Err(with_path(e, &entry.path())),
            };
            if meta.dev() != device || (!meta.is_dir() && meta.nlink() > 1 && !linked.insert(meta.ino())) {
                continue;
            }
            total = total.saturating_add(allocated(&meta));
            if meta.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    Ok(total)
}

/// Bytes allocated to one inode (`st_blocks` is always in 512-byte units).
fn allocated(meta: &Metadata) -> u64 {
    meta.blocks().saturating_mul(512)
}

/// An entry removed (or a directory replaced by a file) while the walk was looking at it.
fn vanished(error: &io::Error) -> bool {
    matches!(error.kind(), io::ErrorKind::NotFound | io::ErrorKind::NotADirectory)
}

fn with_path(error: io::Error, path: &Path) -> io::Error {
    io::Error::new(error.kind(), format!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::os::unix::fs::symlink;

    use super::*;

    fn blocks(path: &Path) -> io::Result<u64> {
        Ok(fs::symlink_metadata(path)?.blocks() * 512)
    }

    #[test]
    fn sums_allocated_blocks_once_without_following_symlinks() -> io::Result<()> {
        let outside = tempfile::tempdir()?;
        let big = outside.path().join("big");
        fs::write(&big, vec![7u8; 1 << 20])?;
        let sandbox = tempfile::tempdir()?;
        let root = sandbox.path();
        fs::create_dir_all(root.join("a/b"))?;
        fs::write(root.join("a/data"), vec![1u8; 10_000])?;
        fs::write(root.join("a/b/more"), vec![2u8; 70_000])?;
        fs::hard_link(root.join("a/b/more"), root.join("a/again"))?;
        symlink(&big, root.join("a/to-big"))?;
        symlink(outside.path(), root.join("outside-dir"))?;
        // Sparse: 1 GiB apparent size, (almost) nothing allocated.
        File::create(root.join("sparse"))?.set_len(1 << 30)?;

        let expected = [".", "a", "a/b", "a/data", "a/b/more", "a/to-big", "outside-dir", "sparse"]
            .iter()
            .map(|p| blocks(&root.join(p)))
            .sum::<io::Result<u64>>()?;
        let usage = sandbox_disk_usage(root)?;
        assert_eq!(usage, expected);
        assert!(usage >= 80_000, "{usage}");
        assert!(usage < 1 << 20, "the symlinked 1 MiB file and the sparse file must not count: {usage}");
        Ok(())
    }

    #[test]
    fn bounded_and_missing_roots() -> io::Result<()> {
        let sandbox = tempfile::tempdir()?;
        for i in 0..5 {
            fs::write(sandbox.path().join(format!("f{i}")), "x")?;
        }
        assert!(disk_usage_bounded(sandbox.path(), 5).is_ok());
        let error = disk_usage_bounded(sandbox.path(), 4).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("more than 4 entries"), "{error}");
        let gone = sandbox.path().join("gone");
        let error = sandbox_disk_usage(&gone).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("gone"), "{error}");
        // A single file is its own usage.
        assert_eq!(sandbox_disk_usage(&sandbox.path().join("f0"))?, blocks(&sandbox.path().join("f0"))?);
        Ok(())
    }
}
