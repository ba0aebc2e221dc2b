//! The on-disk spool: batches the store could not take (down, or slower than the pollers)
//! are appended to checksummed segment files and replayed, oldest first, when it recovers.
//!
//! Segments are `NNNNNNNNNNNNNNNNNNNN.seg` files in one folder, numbered in write order.
//! New batches go to the newest (active) segment; replay reads sealed segments and deletes
//! each one when every batch in it is stored. Start-up rescans every segment: a torn last
//! record (the process died mid-append) is cut off; a segment with a bad record elsewhere
//! is renamed `.corrupt` and reported, never silently replayed.
//!
//! Replay is at-least-once: a crash between storing a batch and deleting its segment
//! replays that batch again, and the store's primary key turns the repeat into skipped
//! duplicates, so every reading lands exactly once.

pub mod codec;

use chrono::{DateTime, Utc};
use codec::{HEADER_LEN, Header};
use historian_model::Reading;
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use thiserror::Error;

/// When appended batches are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// After every batch: survives power loss, costs one fsync per batch.
    Always,
    /// At most once per interval: a power cut may lose the last interval; a crash of the
    /// process alone loses nothing (the kernel holds the written pages).
    Interval(Duration),
    /// Never explicitly; the kernel writes back when it likes.
    Never,
}

/// What to do when appending would pass the size cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhenFull {
    /// Hold the batch and wait for the spool to drain: pollers feel back-pressure and
    /// skip grid slots (counted as missed polls). Nothing polled is dropped.
    Block,
    /// Drop the new batch (counted and logged as dropped readings); spooled batches stay.
    DropNewest,
}

/// Spool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpoolConfig {
    /// Folder of the segment files.
    pub dir: PathBuf,
    /// Cap on the bytes of all segments.
    pub max_bytes: u64,
    /// A segment is sealed once it holds this many bytes.
    pub segment_bytes: u64,
    /// Fsync policy.
    pub fsync: FsyncPolicy,
    /// Behaviour at the cap.
    pub when_full: WhenFull,
}

impl SpoolConfig {
    /// Defaults for a folder: 1 GiB cap, 64 MiB segments, fsync every batch, block when full.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            max_bytes: 1024 * 1024 * 1024,
            segment_bytes: 64 * 1024 * 1024,
            fsync: FsyncPolicy::Always,
            when_full: WhenFull::Block,
        }
    }
}

/// Spool failures.
#[derive(Debug, Error)]
pub enum SpoolError {
    /// A file operation failed.
    #[error("spool {path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Appending would pass the configured cap.
    #[error("spool is full ({bytes} of {max_bytes} bytes)")]
    Full {
        /// Bytes held now.
        bytes: u64,
        /// The cap.
        max_bytes: u64,
    },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What start-up found on disk.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct OpenReport {
    /// Segments with data to replay.
    pub segments: usize,
    /// Batches waiting.
    pub batches: u64,
    /// Readings waiting.
    pub readings: u64,
    /// Bytes of torn last records cut off.
    pub torn_bytes: u64,
    /// Segments set aside as `.corrupt`.
    pub corrupt_segments: usize,
}

/// Current size, for metrics and the API.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SpoolFigures {
    /// Bytes in all segments.
    pub bytes: u64,
    /// Batches waiting.
    pub batches: u64,
    /// Readings waiting.
    pub readings: u64,
    /// Timestamp of the oldest waiting reading.
    pub oldest: Option<DateTime<Utc>>,
}

#[derive(Debug)]
struct Segment {
    seq: u64,
    path: PathBuf,
    bytes: u64,
    batches: u64,
    readings: u64,
    oldest: Option<DateTime<Utc>>,
}

/// A batch handed out for replay; pass it back to [`Spool::ack`] once stored.
#[derive(Debug)]
pub struct SpooledBatch {
    /// The readings.
    pub readings: Vec<Reading>,
    seq: u64,
    start: u64,
    end: u64,
}

/// The spool. Blocking file I/O: call it from a blocking thread.
#[derive(Debug)]
pub struct Spool {
    cfg: SpoolConfig,
    /// Sealed segments, oldest first; replay reads the front one.
    sealed: VecDeque<Segment>,
    active: Option<(Segment, File)>,
    next_seq: u64,
    /// Replay position in the front sealed segment.
    read_offset: u64,
    read_file: Option<File>,
    last_sync: Instant,
    dirty: bool,
}

impl Spool {
    /// Opens (creating) the spool folder and scans what an earlier run left.
    pub fn open(cfg: SpoolConfig) -> Result<(Spool, OpenReport), SpoolError> {
        fs::create_dir_all(&cfg.dir).map_err(io_err(&cfg.dir))?;
        let mut seqs = Vec::new();
        for entry in fs::read_dir(&cfg.dir).map_err(io_err(&cfg.dir))? {
            let entry = entry.map_err(io_err(&cfg.dir))?;
            let name = entry.file_name();
            let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".seg")) else {
                continue;
            };
            if let Ok(seq) = stem.parse::<u64>() {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let mut report = OpenReport::default();
        let mut sealed = VecDeque::new();
        for &seq in &seqs {
            let path = segment_path(&cfg.dir, seq);
            match scan_segment(&path)? {
                Scan::Ok(mut seg, torn) => {
                    seg.seq = seq;
                    report.torn_bytes += torn;
                    if seg.batches == 0 {
                        fs::remove_file(&path).map_err(io_err(&path))?;
                        continue;
                    }
                    report.segments += 1;
                    report.batches += seg.batches;
                    report.readings += seg.readings;
                    sealed.push_back(seg);
                }
                Scan::Corrupt(reason) => {
                    let aside = path.with_extension("corrupt");
                    tracing::error!(segment = %path.display(), %reason, moved_to = %aside.display(),
                        "spool segment is corrupt; set aside, not replayed");
                    fs::rename(&path, &aside).map_err(io_err(&path))?;
                    report.corrupt_segments += 1;
                }
            }
        }
        let next_seq = seqs.last().map_or(1, |s| s + 1);
        Ok((
            Spool {
                cfg,
                sealed,
                active: None,
                next_seq,
                read_offset: 0,
                read_file: None,
                last_sync: Instant::now(),
                dirty: false,
            },
            report,
        ))
    }

    /// Appends one batch as one record, fsyncing as the policy says.
    pub fn append(&mut self, batch: &[Reading]) -> Result<u64, SpoolError> {
        let record = codec::encode_record(batch);
        let held = self.figures().bytes;
        if held + record.len() as u64 > self.cfg.max_bytes {
            return Err(SpoolError::Full {
                bytes: held,
                max_bytes: self.cfg.max_bytes,
            });
        }
        if self
            .active
            .as_ref()
            .is_some_and(|(seg, _)| seg.bytes >= self.cfg.segment_bytes)
        {
            self.seal()?;
        }
        if self.active.is_none() {
            self.start_segment()?;
        }
        let fsync = self.cfg.fsync;
        let (seg, file) = self.active.as_mut().ok_or_else(|| SpoolError::Io {
            path: self.cfg.dir.clone(),
            source: io::Error::other("no active segment"),
        })?;
        if let Err(source) = file.write_all(&record) {
            // Cut a partial record off now so the segment stays well-formed for replay.
            let _ = file.set_len(seg.bytes);
            let _ = file.seek(SeekFrom::Start(seg.bytes));
            return Err(SpoolError::Io {
                path: seg.path.clone(),
                source,
            });
        }
        seg.bytes += record.len() as u64;
        seg.batches += 1;
        seg.readings += batch.len() as u64;
        let oldest = batch.iter().map(|r| r.timestamp).min();
        seg.oldest = match (seg.oldest, oldest) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let path = seg.path.clone();
        self.dirty = true;
        match fsync {
            FsyncPolicy::Always => self.sync().map_err(io_err(&path))?,
            FsyncPolicy::Interval(every) if self.last_sync.elapsed() >= every => {
                self.sync().map_err(io_err(&path))?;
            }
            _ => {}
        }
        Ok(record.len() as u64)
    }

    /// Forces appended batches to disk (the interval policy's timer calls this too).
    pub fn sync(&mut self) -> io::Result<()> {
        if self.dirty {
            if let Some((_, file)) = &self.active {
                file.sync_data()?;
            }
            self.dirty = false;
        }
        self.last_sync = Instant::now();
        Ok(())
    }

    /// The oldest batch not yet acknowledged, or `None` when the spool is empty.
    /// Seals the active segment when it is all that is left, so live appends and replay
    /// never share a file.
    pub fn next_batch(&mut self) -> Result<Option<SpooledBatch>, SpoolError> {
        loop {
            if self.sealed.is_empty() {
                if self.active.as_ref().is_some_and(|(s, _)| s.batches > 0) {
                    self.seal()?;
                } else {
                    return Ok(None);
                }
            }
            let Some(seg) = self.sealed.front() else {
                return Ok(None);
            };
            let (seq, path, len) = (seg.seq, seg.path.clone(), seg.bytes);
            if self.read_offset >= len {
                self.finish_front()?;
                continue;
            }
            if self.read_file.is_none() {
                let mut f = File::open(&path).map_err(io_err(&path))?;
                f.seek(SeekFrom::Start(self.read_offset))
                    .map_err(io_err(&path))?;
                self.read_file = Some(f);
            }
            let Some(file) = self.read_file.as_mut() else {
                continue;
            };
            match read_record(file).map_err(io_err(&path))? {
                Some((payload, record_len)) => match codec::decode_payload(&payload) {
                    Ok(readings) => {
                        let start = self.read_offset;
                        let end = start + record_len;
                        self.read_offset = end;
                        return Ok(Some(SpooledBatch {
                            readings,
                            seq,
                            start,
                            end,
                        }));
                    }
                    Err(e) => {
                        self.set_aside_front(&e.to_string())?;
                    }
                },
                None => {
                    self.set_aside_front("bad record during replay")?;
                }
            }
        }
    }

    /// Marks a batch from [`Spool::next_batch`] as stored; deletes its segment when it was
    /// the segment's last.
    pub fn ack(&mut self, batch: &SpooledBatch) -> Result<(), SpoolError> {
        let Some(front) = self.sealed.front_mut() else {
            return Ok(());
        };
        if front.seq != batch.seq {
            return Ok(());
        }
        front.batches = front.batches.saturating_sub(1);
        front.readings = front.readings.saturating_sub(batch.readings.len() as u64);
        if batch.end >= front.bytes {
            self.finish_front()?;
        }
        Ok(())
    }

    /// Forgets the replay position, so the next [`Spool::next_batch`] starts again at the
    /// oldest unacknowledged batch (after a failed store write).
    pub fn rewind(&mut self, batch: SpooledBatch) {
        if self.sealed.front().is_some_and(|s| s.seq == batch.seq) {
            self.read_offset = batch.start;
            self.read_file = None;
        }
    }

    /// Size and age of what waits.
    pub fn figures(&self) -> SpoolFigures {
        let mut f = SpoolFigures::default();
        let active = self.active.as_ref().map(|(s, _)| s);
        for seg in self.sealed.iter().chain(active) {
            f.bytes += seg.bytes;
            f.batches += seg.batches;
            f.readings += seg.readings;
            f.oldest = match (f.oldest, seg.oldest) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        f
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.figures().batches == 0
    }

    /// The configuration in force.
    pub fn config(&self) -> &SpoolConfig {
        &self.cfg
    }

    fn start_segment(&mut self) -> Result<(), SpoolError> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let path = segment_path(&self.cfg.dir, seq);
        let file = OpenOptions::new()
            .create_new(true)
            .append(true)
            .open(&path)
            .map_err(io_err(&path))?;
        // Make the new file's directory entry durable too, or a power cut could lose the
        // whole segment even though its data was fsynced.
        if self.cfg.fsync != FsyncPolicy::Never {
            File::open(&self.cfg.dir)
                .and_then(|d| d.sync_all())
                .map_err(io_err(&self.cfg.dir))?;
        }
        self.active = Some((
            Segment {
                seq,
                path,
                bytes: 0,
                batches: 0,
                readings: 0,
                oldest: None,
            },
            file,
        ));
        Ok(())
    }

    fn seal(&mut self) -> Result<(), SpoolError> {
        self.sync().map_err(io_err(&self.cfg.dir))?;
        if let Some((seg, _file)) = self.active.take() {
            if seg.batches == 0 {
                fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
            } else {
                self.sealed.push_back(seg);
            }
        }
        Ok(())
    }

    fn finish_front(&mut self) -> Result<(), SpoolError> {
        self.read_file = None;
        self.read_offset = 0;
        if let Some(seg) = self.sealed.pop_front() {
            fs::remove_file(&seg.path).map_err(io_err(&seg.path))?;
        }
        Ok(())
    }

    fn set_aside_front(&mut self, reason: &str) -> Result<(), SpoolError> {
        self.read_file = None;
        self.read_offset = 0;
        if let Some(seg) = self.sealed.pop_front() {
            let aside = seg.path.with_extension("corrupt");
            tracing::error!(segment = %seg.path.display(), reason, batches = seg.batches,
                readings = seg.readings, moved_to = %aside.display(),
                "spool segment went bad during replay; set aside");
            fs::rename(&seg.path, &aside).map_err(io_err(&seg.path))?;
        }
        Ok(())
    }
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.seg"))
}

/// Reads one whole record at the file's position: `Ok(None)` when the header or checksum
/// is wrong or the file ends inside the record.
fn read_record(file: &mut File) -> io::Result<Option<(Vec<u8>, u64)>> {
    let mut head = [0u8; HEADER_LEN];
    match file.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let Some(header) = Header::parse(&head) else {
        return Ok(None);
    };
    let mut payload = vec![0u8; header.payload_len as usize];
    match file.read_exact(&mut payload) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    if crc32fast::hash(&payload) != header.crc {
        return Ok(None);
    }
    let record_len = (HEADER_LEN + payload.len()) as u64;
    Ok(Some((payload, record_len)))
}

enum Scan {
    /// A good segment, and the torn bytes cut off its end.
    Ok(Segment, u64),
    Corrupt(String),
}

/// Validates every record of a segment. Only the last record may be incomplete (a torn
/// append); it is cut off. A bad record followed by more data is corruption.
fn scan_segment(path: &Path) -> Result<Scan, SpoolError> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io_err(path))?;
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut seg = Segment {
        seq: 0,
        path: path.to_path_buf(),
        bytes: 0,
        batches: 0,
        readings: 0,
        oldest: None,
    };
    let mut offset = 0u64;
    while offset < len {
        match read_record(&mut file).map_err(io_err(path))? {
            Some((payload, record_len)) => match codec::decode_payload(&payload) {
                Ok(readings) => {
                    seg.batches += 1;
                    seg.readings += readings.len() as u64;
                    let oldest = readings.iter().map(|r| r.timestamp).min();
                    seg.oldest = match (seg.oldest, oldest) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                    offset += record_len;
                }
                Err(e) => return Ok(Scan::Corrupt(format!("at byte {offset}: {e}"))),
            },
            None => {
                if is_torn_tail(&mut file, offset, len).map_err(io_err(path))? {
                    let torn = len - offset;
                    tracing::warn!(segment = %path.display(), torn_bytes = torn,
                        "cutting off a torn last record (the previous run stopped mid-write)");
                    file.set_len(offset).map_err(io_err(path))?;
                    file.sync_all().map_err(io_err(path))?;
                    seg.bytes = offset;
                    return Ok(Scan::Ok(seg, torn));
                }
                return Ok(Scan::Corrupt(format!("bad record at byte {offset}")));
            }
        }
    }
    seg.bytes = offset;
    Ok(Scan::Ok(seg, 0))
}

/// A record that fails to read is a torn tail when its header claims to run past the end
/// of the file, or when too few bytes remain for a header at all. A complete record whose
/// checksum fails is corruption, not a tear.
fn is_torn_tail(file: &mut File, offset: u64, len: u64) -> io::Result<bool> {
    let remaining = len - offset;
    if remaining < HEADER_LEN as u64 {
        return Ok(true);
    }
    file.seek(SeekFrom::Start(offset))?;
    let mut head = [0u8; HEADER_LEN];
    file.read_exact(&mut head)?;
    Ok(match Header::parse(&head) {
        Some(h) => HEADER_LEN as u64 + u64::from(h.payload_len) > remaining,
        // An append writes the header in one piece, so a garbled header with nothing
        // else after the cut is still a tear only if it is all zeros (unwritten pages).
        None => head.iter().all(|&b| b == 0),
    })
}

#[cfg(test)]
mod tests;
