//! The rotating writer of one stream (Aurora's `RotatePolicy`): appends to `stdout` until the
//! next write would take it past `log_size`, then, under the index lock, shifts `stdout.N` to
//! `stdout.N+1` (dropping what is past `backups`), renames `stdout` to `stdout.1`, starts a new
//! `stdout` and records where it starts.
//!
//! Rotation happens only between writes, so a write lands whole in one file and no byte is
//! lost or written twice; only a write that alone exceeds `log_size` is split, at its last
//! newline that fits when it has one.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use atoll_model::config::RotatePolicy;
use atoll_sandbox::TaskUser;
use atoll_sandbox::logs::{LockedIndex, LogFileError, Segment, Stream, index_path, open_log_file};

/// A stream being written with rotation.
#[derive(Debug)]
pub struct RotatingLog {
    dir: PathBuf,
    stream: Stream,
    log_size: u64,
    backups: usize,
    file: File,
    /// Whose each new file is (the task's user), if not the executor's.
    owner: Option<TaskUser>,
    /// Bytes in the current file.
    in_file: u64,
    /// Bytes ever written to the stream: the logical offset of the next byte.
    total: u64,
    /// The logical start of each file kept, the current one first.
    starts: VecDeque<u64>,
}

impl RotatingLog {
    /// Starts the stream in `dir` afresh: an empty current file, and an index naming it.
    pub fn create(
        dir: &Path,
        stream: Stream,
        policy: &RotatePolicy,
        owner: Option<&TaskUser>,
    ) -> Result<RotatingLog, LogFileError> {
        let mut index = LockedIndex::exclusive(&index_path(dir, stream))?;
        let path = dir.join(stream.file_name());
        let file = open_log_file(&path, true, owner)?;
        let backups = usize::try_from(policy.backups).unwrap_or(usize::MAX);
        let log = RotatingLog {
            dir: dir.to_owned(),
            stream,
            log_size: policy.log_size.max(1),
            backups,
            file,
            owner: owner.cloned(),
            in_file: 0,
            total: 0,
            starts: VecDeque::from([0]),
        };
        index.write(&log.segments())?;
        Ok(log)
    }

    /// Appends `data`, rotating first when it would not fit in the current file.
    pub fn write(&mut self, mut data: &[u8]) -> Result<(), LogFileError> {
        while !data.is_empty() {
            let room = self.log_size.saturating_sub(self.in_file);
            if data.len() as u64 <= room {
                return self.append(data);
            }
            if self.in_file > 0 {
                self.rotate()?;
                continue;
            }
            // A fresh file and a write bigger than a whole file: split it.
            let fits = usize::try_from(self.log_size).unwrap_or(usize::MAX).min(data.len());
            let cut = data[..fits].iter().rposition(|&b| b == b'\n').map_or(fits, |newline| newline + 1);
            self.append(&data[..cut])?;
            data = &data[cut..];
        }
        Ok(())
    }

    fn append(&mut self, data: &[u8]) -> Result<(), LogFileError> {
        self.file.write_all(data).map_err(LogFileError::io("write", self.path(0)))?;
        self.in_file += data.len() as u64;
        self.total += data.len() as u64;
        Ok(())
    }

    /// `stdout` for generation 0, `stdout.N` for the Nth newest rotated file.
    fn path(&self, generation: usize) -> PathBuf {
        self.dir.join(file_name(self.stream, generation))
    }

    fn segments(&self) -> Vec<Segment> {
        self.starts
            .iter()
            .enumerate()
            .map(|(generation, &start)| Segment { name: file_name(self.stream, generation), start })
            .collect()
    }

    fn rotate(&mut self) -> Result<(), LogFileError> {
        let mut index = LockedIndex::exclusive(&index_path(&self.dir, self.stream))?;
        // Files past the backups limit go first, then each file moves one generation up.
        for generation in (self.backups..self.starts.len()).rev() {
            let path = self.path(generation);
            fs::remove_file(&path).map_err(LogFileError::io("remove", &path))?;
        }
        self.starts.truncate(self.backups);
        for generation in (0..self.starts.len()).rev() {
            let (from, to) = (self.path(generation), self.path(generation + 1));
            fs::rename(&from, &to).map_err(LogFileError::io("rename", &from))?;
        }
        let current = self.path(0);
        self.file = open_log_file(&current, true, self.owner.as_ref())?;
        self.in_file = 0;
        self.starts.push_front(self.total);
        index.write(&self.segments())
    }
}

fn file_name(stream: Stream, generation: usize) -> String {
    match generation {
        0 => stream.file_name().to_owned(),
        n => format!("{}.{n}", stream.file_name()),
    }
}

#[cfg(test)]
mod tests {
    use atoll_sandbox::logs::{LogFiles, Snapshot};

    use super::*;

    impl RotatingLog {
        /// The logical offset the next byte will have.
        fn offset(&self) -> u64 {
            self.total
        }
    }

    fn policy(log_size: u64, backups: u32) -> RotatePolicy {
        RotatePolicy { log_size, backups }
    }

    fn numbered(from: usize, to: usize) -> String {
        (from..to).map(|n| format!("line {n}\n")).collect()
    }

    /// Everything the stream's files still hold, read from its oldest kept byte.
    fn read_all(dir: &Path) -> (u64, Vec<u8>) {
        let snapshot = LogFiles::new(dir, Stream::Stdout).snapshot().expect("snapshot").expect("a log");
        let start = snapshot.start();
        let mut data = Vec::new();
        let mut offset = start;
        loop {
            let (from, chunk) = snapshot.read(offset, 100).expect("read");
            assert_eq!(from, offset, "no gap inside what is kept");
            if chunk.is_empty() {
                return (start, data);
            }
            offset += chunk.len() as u64;
            data.extend_from_slice(&chunk);
        }
    }

    #[test]
    fn many_rotations_keep_backups_files_and_every_kept_line_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut log = RotatingLog::create(dir.path(), Stream::Stdout, &policy(100, 3), None).expect("create");
        let mut written = String::new();
        for n in 0..1000 {
            let line = format!("line {n}\n");
            log.write(line.as_bytes()).expect("write");
            written.push_str(&line);
        }
        assert_eq!(log.offset(), written.len() as u64);
        let mut names: Vec<String> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        names.sort();
        assert_eq!(names, ["stdout", "stdout.1", "stdout.2", "stdout.3", "stdout.offsets"]);
        for name in ["stdout.1", "stdout.2", "stdout.3"] {
            let size = fs::metadata(dir.path().join(name)).expect("metadata").len();
            assert!(size <= 100 && size > 80, "{name} holds whole lines up to log_size: {size}");
        }
        let (start, kept) = read_all(dir.path());
        // What is kept is exactly the tail of what was written, starting at its logical offset.
        assert_eq!(String::from_utf8(kept).expect("utf-8"), written[start as usize..]);
        assert!(written[start as usize..].starts_with("line "), "rotation happens between whole lines");
        assert!(written.ends_with("line 999\n"));
    }

    #[test]
    fn offsets_mean_the_same_bytes_after_later_rotations() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut log = RotatingLog::create(dir.path(), Stream::Stdout, &policy(64, 100), None).expect("create");
        log.write(numbered(0, 10).as_bytes()).expect("write");
        let offset = log.offset();
        log.write(b"marker\n").expect("write marker");
        let files = LogFiles::new(dir.path(), Stream::Stdout);
        let before = files.snapshot().expect("snapshot").expect("a log").read(offset, 7).expect("read").1;
        log.write(numbered(10, 200).as_bytes()).expect("write more");
        let after = files.snapshot().expect("snapshot").expect("a log");
        assert_eq!(after.start(), 0, "nothing dropped with 100 backups");
        assert_eq!(before, b"marker\n");
        assert_eq!(after.read(offset, 7).expect("read").1, b"marker\n");
        let (_, all) = read_all(dir.path());
        assert_eq!(all, [numbered(0, 10), "marker\n".to_owned(), numbered(10, 200)].concat().into_bytes());
    }

    #[test]
    fn a_write_bigger_than_a_file_is_split_at_newlines() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut log = RotatingLog::create(dir.path(), Stream::Stdout, &policy(20, 10), None).expect("create");
        let text = "aaaaaaaaa\nbbbbbbbbb\ncccccccccccccccccccccccccccccc\n";
        log.write(text.as_bytes()).expect("write");
        assert_eq!(fs::read_to_string(dir.path().join("stdout.2")).expect("oldest"), "aaaaaaaaa\nbbbbbbbbb\n");
        assert_eq!(fs::read_to_string(dir.path().join("stdout.1")).expect("middle"), "cccccccccccccccccccc");
        assert_eq!(fs::read_to_string(dir.path().join("stdout")).expect("current"), "cccccccccc\n");
        assert_eq!(read_all(dir.path()).1, text.as_bytes());
    }

    #[test]
    fn zero_backups_keep_only_the_current_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut log = RotatingLog::create(dir.path(), Stream::Stdout, &policy(10, 0), None).expect("create");
        log.write(b"12345678\n").expect("write");
        log.write(b"abcdefgh\n").expect("write");
        assert!(!dir.path().join("stdout.1").exists());
        assert_eq!(read_all(dir.path()), (9, b"abcdefgh\n".to_vec()));
    }

    #[test]
    fn a_reader_beside_the_writer_sees_every_byte_once_in_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut log = RotatingLog::create(dir.path(), Stream::Stdout, &policy(200, 1000), None).expect("create");
        let expected = numbered(0, 2000);
        let reader_dir = dir.path().to_owned();
        let total = expected.len() as u64;
        let reader = std::thread::spawn(move || {
            let files = LogFiles::new(&reader_dir, Stream::Stdout);
            let mut seen = Vec::new();
            while (seen.len() as u64) < total {
                let snapshot = files.snapshot().expect("snapshot").expect("a log");
                let (from, chunk) = snapshot.read(seen.len() as u64, 37).expect("read");
                assert_eq!(from, seen.len() as u64, "nothing was dropped");
                seen.extend_from_slice(&chunk);
            }
            seen
        });
        for line in expected.split_inclusive('\n') {
            log.write(line.as_bytes()).expect("write");
        }
        let seen = reader.join().expect("reader thread");
        assert_eq!(String::from_utf8(seen).expect("utf-8"), expected);
    }

    /// The last `lines` lines of a snapshot, as the reader finds them.
    fn tail(snapshot: &Snapshot, lines: u32) -> String {
        let from = snapshot.tail_start(lines).expect("tail");
        String::from_utf8(snapshot.range(from, snapshot.end()).expect("range")).expect("utf-8")
    }

    #[test]
    fn tail_reaches_across_rotated_files_and_many_blocks() {
        let dir = tempfile::tempdir().expect("temp dir");
        let policy = RotatePolicy { log_size: 5000, backups: 100 };
        let mut log = RotatingLog::create(dir.path(), Stream::Stdout, &policy, None).expect("create");
        let long_line = format!("{}\n", "x".repeat(20_000));
        log.write(long_line.as_bytes()).expect("write long line");
        for n in 0..3000 {
            log.write(format!("line {n}\n").as_bytes()).expect("write");
        }
        let snapshot = LogFiles::new(dir.path(), Stream::Stdout).snapshot().expect("snapshot").expect("a log");
        let last: String = (2995..3000).map(|n| format!("line {n}\n")).collect();
        assert_eq!(tail(&snapshot, 5), last);
        let from = snapshot.tail_start(3001).expect("tail over the long line");
        assert_eq!(from, 0, "the long line spans several files and is the 3001st line from the end");
        assert_eq!(snapshot.tail_start(3000).expect("tail"), long_line.len() as u64);
    }

    #[test]
    fn offsets_rotated_away_move_up_to_the_oldest_byte_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut log = RotatingLog::create(dir.path(), Stream::Stdout, &RotatePolicy { log_size: 10, backups: 1 }, None)
            .expect("create");
        for line in ["aaaa\n", "bbbb\n", "cccc\n", "dddd\n", "eeee\n"] {
            log.write(line.as_bytes()).expect("write");
        }
        let snapshot = LogFiles::new(dir.path(), Stream::Stdout).snapshot().expect("snapshot").expect("a log");
        assert_eq!((snapshot.start(), snapshot.end()), (10, 25));
        assert_eq!(snapshot.read(0, 100).expect("read"), (10, b"cccc\ndddd\n".to_vec()));
        assert_eq!(snapshot.read(20, 100).expect("read"), (20, b"eeee\n".to_vec()));
    }
}
