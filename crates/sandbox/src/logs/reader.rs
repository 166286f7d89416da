//! Reading one stream of one run as a single sequence of logical bytes, across the files a
//! rotating logger left (`stdout.N` … `stdout.1`, `stdout`), or the one file of a standard
//! logger.
//!
//! A [`Snapshot`] holds the files open as they were when it was taken, so reads from it stay
//! consistent however the writer rotates meanwhile; take a new snapshot to see new output.

use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::index::{LockedIndex, index_path};
use super::{LogFileError, Stream};

/// How many bytes a search for line starts reads at a time.
const TAIL_BLOCK: u64 = 8 * 1024;

/// One stream of one run: `<dir>/<stream>` and, when it rotates, its older files.
#[derive(Clone, Debug)]
pub struct LogFiles {
    dir: PathBuf,
    stream: Stream,
}

/// The stream's files, open, oldest first; never empty.
#[derive(Debug)]
pub struct Snapshot {
    segments: Vec<OpenSegment>,
}

#[derive(Debug)]
struct OpenSegment {
    path: PathBuf,
    file: File,
    /// The logical offsets of the file's first byte and of the byte after its last.
    start: u64,
    end: u64,
}

impl LogFiles {
    pub fn new(dir: &Path, stream: Stream) -> LogFiles {
        LogFiles { dir: dir.to_owned(), stream }
    }

    /// The stream's files as they are now; `None` when the run keeps no file for the stream.
    pub fn snapshot(&self) -> Result<Option<Snapshot>, LogFileError> {
        let index_path = index_path(&self.dir, self.stream);
        if let Some(index) = LockedIndex::shared(&index_path)? {
            return self.open_rotated(index);
        }
        let path = self.dir.join(self.stream.file_name());
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(LogFileError::io("open", &path)(error)),
        };
        // A writer creates the index before the stream's first byte and rotates only after
        // that, so a file opened while there is still no index is the whole stream. If the
        // index appeared meanwhile, the file may already be a newer one: read the index.
        if index_path.try_exists().map_err(LogFileError::io("look for", &index_path))? {
            return match LockedIndex::shared(&index_path)? {
                Some(index) => self.open_rotated(index),
                None => Ok(None),
            };
        }
        let end = file.metadata().map_err(LogFileError::io("measure", &path))?.len();
        Ok(Some(Snapshot { segments: vec![OpenSegment { path, file, start: 0, end }] }))
    }

    /// Opens the files the index names, newest first, while it stays locked. A file that is
    /// gone ends the list: everything older is gone too.
    fn open_rotated(&self, mut index: LockedIndex) -> Result<Option<Snapshot>, LogFileError> {
        let segments = index.read()?;
        let mut open: Vec<OpenSegment> = Vec::with_capacity(segments.len());
        for segment in &segments {
            let path = self.dir.join(&segment.name);
            let file = match File::open(&path) {
                Ok(file) => file,
                Err(error) if error.kind() == ErrorKind::NotFound => break,
                Err(error) => return Err(LogFileError::io("open", &path)(error)),
            };
            let end = match open.last() {
                Some(newer) => newer.start,
                None => {
                    let len = file.metadata().map_err(LogFileError::io("measure", &path))?.len();
                    // A start no stream could reach (a damaged index) is an error, not an overflow.
                    segment.start.checked_add(len).ok_or_else(|| {
                        let index = index_path(&self.dir, self.stream);
                        let reason = format!(
                            "{} starts it at offset {}, which leaves no room for its {len} bytes",
                            index.display(),
                            segment.start
                        );
                        LogFileError::io("read", &path)(std::io::Error::new(ErrorKind::InvalidData, reason))
                    })?
                }
            };
            open.push(OpenSegment { path, file, start: segment.start, end });
        }
        drop(index);
        open.reverse();
        Ok((!open.is_empty()).then_some(Snapshot { segments: open }))
    }
}

impl Snapshot {
    /// The logical offset of the oldest byte still kept.
    pub fn start(&self) -> u64 {
        self.segments.first().map_or(0, |s| s.start)
    }

    /// The logical offset after the newest byte.
    pub fn end(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.end)
    }

    /// Up to `max` bytes from `offset`, and the offset they start at: `offset`, or the oldest
    /// byte kept when the bytes at `offset` were rotated away. Empty at or past the end.
    pub fn read(&self, offset: u64, max: usize) -> Result<(u64, Vec<u8>), LogFileError> {
        let offset = offset.max(self.start());
        let Some(segment) = self.segments.iter().rev().find(|s| s.start <= offset && offset < s.end) else {
            return Ok((offset, Vec::new()));
        };
        let len = usize::try_from(segment.end - offset).unwrap_or(usize::MAX).min(max);
        let mut data = vec![0; len];
        let mut filled = 0;
        while filled < len {
            let position = offset - segment.start + filled as u64;
            match segment.file.read_at(&mut data[filled..], position) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == ErrorKind::Interrupted => {}
                Err(error) => return Err(LogFileError::io("read", &segment.path)(error)),
            }
        }
        data.truncate(filled);
        Ok((offset, data))
    }

    /// The offset where the last `lines` lines start (a last line without its newline counts);
    /// the oldest byte kept when there are fewer.
    pub fn tail_start(&self, lines: u32) -> Result<u64, LogFileError> {
        let (start, end) = (self.start(), self.end());
        if lines == 0 {
            return Ok(end);
        }
        let mut position = end;
        // A final newline ends the last line; it does not start another.
        if position > start && self.range(position - 1, position)? == b"\n" {
            position -= 1;
        }
        let mut newlines = 0;
        while position > start {
            let from = position.saturating_sub(TAIL_BLOCK).max(start);
            let block = self.range(from, position)?;
            for (index, _) in block.iter().enumerate().rev().filter(|(_, byte)| **byte == b'\n') {
                newlines += 1;
                if newlines == lines {
                    return Ok(from + index as u64 + 1);
                }
            }
            position = from;
        }
        Ok(start)
    }

    /// The bytes from `from` to `to`, across files.
    pub fn range(&self, from: u64, to: u64) -> Result<Vec<u8>, LogFileError> {
        let mut bytes = Vec::new();
        let mut offset = from;
        while offset < to {
            let want = usize::try_from(to - offset).unwrap_or(usize::MAX);
            let (at, chunk) = self.read(offset, want)?;
            if chunk.is_empty() || at != offset {
                break;
            }
            offset += chunk.len() as u64;
            bytes.extend_from_slice(&chunk);
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn plain(text: &str) -> (tempfile::TempDir, Snapshot) {
        let dir = tempfile::tempdir().expect("temp dir");
        fs::write(dir.path().join("stdout"), text).expect("write log");
        let snapshot = LogFiles::new(dir.path(), Stream::Stdout).snapshot().expect("snapshot").expect("a log");
        (dir, snapshot)
    }

    fn tail(snapshot: &Snapshot, lines: u32) -> String {
        let from = snapshot.tail_start(lines).expect("tail");
        String::from_utf8(snapshot.range(from, snapshot.end()).expect("range")).expect("utf-8")
    }

    #[test]
    fn a_standard_log_is_one_file_from_offset_zero() {
        let (_dir, snapshot) = plain("one\ntwo\n");
        assert_eq!((snapshot.start(), snapshot.end()), (0, 8));
        assert_eq!(snapshot.read(4, 100).expect("read"), (4, b"two\n".to_vec()));
        assert_eq!(snapshot.read(8, 100).expect("read at end"), (8, Vec::new()));
        assert_eq!(snapshot.read(0, 2).expect("short read"), (0, b"on".to_vec()));
    }

    #[test]
    fn no_file_is_no_log() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(LogFiles::new(dir.path(), Stream::Stderr).snapshot().expect("snapshot").is_none());
    }

    #[test]
    fn tail_counts_lines_from_the_end() {
        let (_dir, snapshot) = plain("a\nb\nc\nd\n");
        assert_eq!(tail(&snapshot, 2), "c\nd\n");
        assert_eq!(tail(&snapshot, 0), "");
        assert_eq!(tail(&snapshot, 10), "a\nb\nc\nd\n");
        let (_dir, unterminated) = plain("a\nb\nc");
        assert_eq!(tail(&unterminated, 2), "b\nc", "a last line without its newline counts");
        let (_dir, empty) = plain("");
        assert_eq!(tail(&empty, 3), "");
    }
}
