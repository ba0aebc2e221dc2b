//! The on-disk spool: batches the store could not take (down, or slower than the pollers)
//! are appended to checksummed segment files and replayed, oldest first, when it recovers.
//!
//! Segments are `NNNNNNNNNNNNNNNNNNNN.seg` files in one folder, numbered in write order.
//! New batches go to the newest (active) segment; replay reads sealed segments and deletes
//! each one when every batch in it is stored.
//!
//! Start-up rescans every segment ([`scan`]): a damaged record costs that record alone. Its
//! bytes are copied to `SEGMENT.OFFSET.corrupt` beside the segment and reported
//! ([`OpenReport::set_aside`]), the segment is rewritten with every record that verifies,
//! and a record whose header alone was hit is kept when its checksum still verifies it.
//! Only the newest segment (the one being written when the process stopped) may end in a
//! torn record; that is cut off. Damage found later, during replay, is skipped the same
//! way and handed out by [`Spool::take_set_aside`].
//!
//! Replay is at-least-once: a crash between storing a batch and deleting its segment
//! replays that batch again, and the store's primary key turns the repeat into skipped
//! duplicates, so every reading lands exactly once.

pub mod codec;
pub mod salvage;
pub mod scan;

use chrono::{DateTime, Utc};
use codec::HEADER_LEN;
use historian_model::Reading;
use scan::{FileSource, Item, Scanner, Source, Span};
use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
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
    /// Records kept although their header was damaged: their checksum verified them.
    pub repaired: u64,
    /// Damaged spans set aside, each copied to a `.corrupt` file.
    pub set_aside: Vec<SetAside>,
}

/// Damaged bytes of a segment, not replayed: copied to a `.corrupt` file beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetAside {
    /// The segment they were in.
    pub segment: PathBuf,
    /// Where they started in it.
    pub offset: u64,
    /// How many bytes.
    pub bytes: u64,
    /// Readings in them, as far as the damaged records' own headers tell.
    pub readings: u64,
    /// The copy.
    pub copy: PathBuf,
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
    read_file: Option<FileSource>,
    last_sync: Instant,
    dirty: bool,
    /// Damaged spans met during replay, not yet reported.
    set_aside: Vec<SetAside>,
}

impl Spool {
    /// Opens (creating) the spool folder and scans what an earlier run left, setting
    /// damaged spans aside (see the module's documentation).
    pub fn open(cfg: SpoolConfig) -> Result<(Spool, OpenReport), SpoolError> {
        fs::create_dir_all(&cfg.dir).map_err(io_err(&cfg.dir))?;
        let mut seqs = Vec::new();
        for entry in fs::read_dir(&cfg.dir).map_err(io_err(&cfg.dir))? {
            let entry = entry.map_err(io_err(&cfg.dir))?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            if name.ends_with(REWRITE_SUFFIX) {
                // A rewrite the last run did not finish; the segment itself is intact.
                let path = entry.path();
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            if let Some(seq) = name
                .strip_suffix(".seg")
                .and_then(|s| s.parse::<u64>().ok())
            {
                seqs.push(seq);
            }
        }
        seqs.sort_unstable();
        let mut report = OpenReport::default();
        let mut sealed = VecDeque::new();
        let newest = seqs.last().copied();
        for &seq in &seqs {
            let path = segment_path(&cfg.dir, seq);
            let mut seg = recover_segment(&path, Some(seq) == newest, &mut report)?;
            seg.seq = seq;
            if seg.batches == 0 {
                fs::remove_file(&path).map_err(io_err(&path))?;
                continue;
            }
            report.segments += 1;
            report.batches += seg.batches;
            report.readings += seg.readings;
            sealed.push_back(seg);
        }
        if !report.set_aside.is_empty() || report.repaired > 0 {
            sync_dir(&cfg.dir)?;
        }
        let next_seq = newest.map_or(1, |s| s + 1);
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
                set_aside: Vec::new(),
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
                self.read_file = Some(FileSource::open(&path).map_err(io_err(&path))?);
            }
            let Some(src) = self.read_file.as_ref() else {
                continue;
            };
            let item = Scanner::new(src, self.read_offset, false)
                .next()
                .transpose()
                .map_err(io_err(&path))?;
            match item {
                Some(Item::Record(r)) => {
                    let start = self.read_offset;
                    self.read_offset = r.end();
                    return Ok(Some(SpooledBatch {
                        readings: r.readings,
                        seq,
                        start,
                        end: self.read_offset,
                    }));
                }
                Some(Item::Damaged(span) | Item::Torn(span)) => {
                    let copy = copy_span(src, &span, &path)?;
                    sync_dir(&self.cfg.dir)?;
                    self.read_offset = span.end();
                    if let Some(front) = self.sealed.front_mut() {
                        front.batches = front.batches.saturating_sub(span.records);
                        front.readings = front.readings.saturating_sub(span.readings);
                    }
                    self.set_aside.push(SetAside {
                        segment: path,
                        offset: span.offset,
                        bytes: span.bytes,
                        readings: span.readings,
                        copy,
                    });
                }
                None => self.finish_front()?,
            }
        }
    }

    /// Damaged spans replay skipped since the last call (copied to `.corrupt` files), for
    /// the caller to count and report.
    pub fn take_set_aside(&mut self) -> Vec<SetAside> {
        std::mem::take(&mut self.set_aside)
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
}

fn segment_path(dir: &Path, seq: u64) -> PathBuf {
    dir.join(format!("{seq:020}.seg"))
}

/// Suffix of a segment being rewritten without its damaged spans.
const REWRITE_SUFFIX: &str = ".seg.rewrite";

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

/// What a kept record needs for the rewrite: where its payload is and its checksum.
struct Kept {
    offset: u64,
    len: u64,
    crc: u32,
}

/// Scans one segment, sets its damaged spans aside (copied, listed in `report`), rewrites
/// it when anything was set aside or repaired, and cuts a torn tail off the newest.
fn recover_segment(
    path: &Path,
    newest: bool,
    report: &mut OpenReport,
) -> Result<Segment, SpoolError> {
    let src = FileSource::open(path).map_err(io_err(path))?;
    let mut seg = Segment {
        seq: 0,
        path: path.to_path_buf(),
        bytes: src.size(),
        batches: 0,
        readings: 0,
        oldest: None,
    };
    let mut kept = Vec::new();
    let mut damaged = Vec::new();
    let mut torn = None;
    let mut repaired = 0u64;
    for item in Scanner::new(&src, 0, newest) {
        match item.map_err(io_err(path))? {
            Item::Record(r) => {
                if r.repaired {
                    repaired += 1;
                    tracing::warn!(segment = %path.display(), offset = r.offset,
                        readings = r.readings.len(),
                        "spool record with a damaged header kept: its checksum verifies it");
                }
                seg.batches += 1;
                seg.readings += r.readings.len() as u64;
                let oldest = r.readings.iter().map(|x| x.timestamp).min();
                seg.oldest = match (seg.oldest, oldest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                kept.push(Kept {
                    offset: r.offset,
                    len: r.len,
                    crc: r.crc,
                });
            }
            Item::Damaged(span) => damaged.push(span),
            Item::Torn(span) => torn = Some(span),
        }
    }
    for span in &damaged {
        let copy = copy_span(&src, span, path)?;
        report.set_aside.push(SetAside {
            segment: path.to_path_buf(),
            offset: span.offset,
            bytes: span.bytes,
            readings: span.readings,
            copy,
        });
    }
    if let Some(t) = torn {
        tracing::warn!(segment = %path.display(), offset = t.offset, torn_bytes = t.bytes,
            "cutting off a torn last record (the previous run stopped mid-write)");
        report.torn_bytes += t.bytes;
    }
    report.repaired += repaired;
    if !damaged.is_empty() || repaired > 0 {
        seg.bytes = rewrite(path, &src, &kept)?;
    } else if let Some(t) = torn {
        let file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        file.set_len(t.offset).map_err(io_err(path))?;
        file.sync_all().map_err(io_err(path))?;
        seg.bytes = t.offset;
    }
    Ok(seg)
}

/// Copies a span's bytes durably to a new file beside the segment,
/// `SEGMENT.OFFSET.corrupt` (`SEGMENT.OFFSET-N.corrupt` if that exists: a rewritten
/// segment can go bad again at the same offset), and returns its path.
fn copy_span<S: Source + ?Sized>(
    src: &S,
    span: &Span,
    segment: &Path,
) -> Result<PathBuf, SpoolError> {
    let mut n = 0u32;
    let (dest, file) = loop {
        let ext = match n {
            0 => format!("{}.corrupt", span.offset),
            n => format!("{}-{n}.corrupt", span.offset),
        };
        let dest = segment.with_extension(ext);
        match OpenOptions::new().write(true).create_new(true).open(&dest) {
            Ok(file) => break (dest, file),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < u32::MAX => n += 1,
            Err(e) => return Err(io_err(&dest)(e)),
        }
    };
    let mut out = BufWriter::new(file);
    copy_range(src, span.offset, span.bytes, &mut out).map_err(io_err(&dest))?;
    let file = out.into_inner().map_err(|e| SpoolError::Io {
        path: dest.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io_err(&dest))?;
    Ok(dest)
}

fn copy_range<S: Source + ?Sized>(
    src: &S,
    offset: u64,
    len: u64,
    out: &mut impl Write,
) -> io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut done = 0;
    while done < len {
        let n = usize::try_from(len - done).map_or(buf.len(), |left| left.min(buf.len()));
        src.read_at(offset + done, &mut buf[..n])?;
        out.write_all(&buf[..n])?;
        done += n as u64;
    }
    Ok(())
}

/// Replaces a segment by its kept records, each with a header written afresh (a repaired
/// record's was wrong); the old file stays whole until the new one is durable. Returns
/// the new size.
fn rewrite(path: &Path, src: &FileSource, kept: &[Kept]) -> Result<u64, SpoolError> {
    let tmp = path.with_extension(&REWRITE_SUFFIX[1..]);
    let file = File::create(&tmp).map_err(io_err(&tmp))?;
    let mut out = BufWriter::new(file);
    let mut size = 0;
    for k in kept {
        let payload_len = k.len - HEADER_LEN as u64;
        // A kept record's payload is at most MAX_PAYLOAD bytes, so its length fits.
        let header = codec::header(payload_len as u32, k.crc);
        out.write_all(&header).map_err(io_err(&tmp))?;
        copy_range(src, k.offset + HEADER_LEN as u64, payload_len, &mut out)
            .map_err(io_err(&tmp))?;
        size += k.len;
    }
    let file = out.into_inner().map_err(|e| SpoolError::Io {
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    Ok(size)
}

#[cfg(test)]
mod tests;
