//! The offsets file of a rotating log, `<run dir>/<stream>.offsets`: one line per file still
//! kept, newest first, `<file name> <logical start offset>`:
//!
//! ```text
//! stdout 3000
//! stdout.1 2000
//! stdout.2 1000
//! ```
//!
//! The writer changes files and this index only while it holds an exclusive `flock` on the
//! index file; readers take a shared one while they read the index and open the files it
//! names. So a reader never pairs a name with the wrong start while files are being shifted,
//! and once it has the files open, later renames do not matter to it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

use super::{LogFileError, Stream};

/// One file of a stream and the logical offset of its first byte.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub name: String,
    pub start: u64,
}

/// `<dir>/<stream>.offsets`
pub fn index_path(dir: &Path, stream: Stream) -> PathBuf {
    dir.join(format!("{}.offsets", stream.file_name()))
}

/// The index file, locked until dropped.
pub struct LockedIndex {
    path: PathBuf,
    file: Flock<File>,
}

impl LockedIndex {
    /// Locks the index for writing, creating it (empty) if there is none.
    pub fn exclusive(path: &Path) -> Result<LockedIndex, LogFileError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(LogFileError::io("open", path))?;
        LockedIndex::lock(path, file, FlockArg::LockExclusive)
    }

    /// Locks the index for reading; `None` when the stream has no index (it does not rotate).
    pub fn shared(path: &Path) -> Result<Option<LockedIndex>, LogFileError> {
        match File::open(path) {
            Ok(file) => LockedIndex::lock(path, file, FlockArg::LockShared).map(Some),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(LogFileError::io("open", path)(error)),
        }
    }

    fn lock(path: &Path, file: File, kind: FlockArg) -> Result<LockedIndex, LogFileError> {
        let file = Flock::lock(file, kind).map_err(|(_, errno)| LogFileError::io("lock", path)(errno.into()))?;
        Ok(LockedIndex { path: path.to_owned(), file })
    }

    /// The segments, newest first.
    pub fn read(&mut self) -> Result<Vec<Segment>, LogFileError> {
        let mut text = String::new();
        self.file.seek(SeekFrom::Start(0)).map_err(LogFileError::io("seek", &self.path))?;
        self.file.read_to_string(&mut text).map_err(LogFileError::io("read", &self.path))?;
        parse(&text).map_err(|(line, text)| LogFileError::MalformedIndex { path: self.path.clone(), line, text })
    }

    /// Replaces the index with `segments`, newest first.
    pub fn write(&mut self, segments: &[Segment]) -> Result<(), LogFileError> {
        let text = render(segments);
        self.file.set_len(0).map_err(LogFileError::io("truncate", &self.path))?;
        self.file.seek(SeekFrom::Start(0)).map_err(LogFileError::io("seek", &self.path))?;
        self.file.write_all(text.as_bytes()).map_err(LogFileError::io("write", &self.path))
    }
}

fn render(segments: &[Segment]) -> String {
    segments.iter().map(|s| format!("{} {}\n", s.name, s.start)).collect()
}

/// Parses an index; on error, the 1-based line number and its text.
fn parse(text: &str) -> Result<Vec<Segment>, (usize, String)> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            let malformed = || (number + 1, line.to_owned());
            let (name, start) = line.trim().rsplit_once(' ').ok_or_else(malformed)?;
            let start = start.parse().map_err(|_| malformed())?;
            if name.is_empty() || name.contains('/') {
                return Err(malformed());
            }
            Ok(Segment { name: name.to_owned(), start })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(name: &str, start: u64) -> Segment {
        Segment { name: name.to_owned(), start }
    }

    #[test]
    fn an_index_round_trips_through_its_text() {
        let segments = vec![segment("stdout", 3000), segment("stdout.1", 2000)];
        assert_eq!(render(&segments), "stdout 3000\nstdout.1 2000\n");
        assert_eq!(parse(&render(&segments)), Ok(segments));
        assert_eq!(parse(""), Ok(vec![]));
    }

    #[test]
    fn malformed_lines_are_named() {
        assert_eq!(parse("stdout 10\nstdout.1 ten\n"), Err((2, "stdout.1 ten".to_owned())));
        assert_eq!(parse("stdout"), Err((1, "stdout".to_owned())));
        assert_eq!(parse("../x 0"), Err((1, "../x 0".to_owned())));
    }

    #[test]
    fn the_locked_index_is_rewritten_in_place() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = index_path(dir.path(), Stream::Stderr);
        assert!(path.ends_with("stderr.offsets"));
        assert!(LockedIndex::shared(&path).expect("no index yet").is_none());
        let mut index = LockedIndex::exclusive(&path).expect("create index");
        index.write(&[segment("stderr", 0)]).expect("write");
        index.write(&[segment("stderr", 7), segment("stderr.1", 0)]).expect("rewrite");
        drop(index);
        let mut shared = LockedIndex::shared(&path).expect("open").expect("index exists");
        assert_eq!(shared.read().expect("read"), vec![segment("stderr", 7), segment("stderr.1", 0)]);
    }
}
