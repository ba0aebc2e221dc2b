//! `spool inspect` and `spool salvage`: what a spool folder holds, read without changing
//! it, and every record that still verifies copied into a clean spool folder, `.corrupt`
//! files included, whether they hold a damaged span or a whole segment.

use super::scan::{FileSource, Item, Scanner, Source, Span};
use super::{FsyncPolicy, OpenReport, Spool, SpoolConfig, SpoolError, io_err};
use chrono::{DateTime, Utc};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// What one file of a spool folder holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: u64,
    /// Records that verify.
    pub records: u64,
    /// Readings in them.
    pub readings: u64,
    /// Timestamp of the oldest of them.
    pub oldest: Option<DateTime<Utc>>,
    /// Offsets of records found by their checksum although their header is damaged.
    pub repaired: Vec<u64>,
    /// Damaged spans: nothing in them verifies.
    pub damaged: Vec<Span>,
    /// The unfinished last write of the newest segment.
    pub torn: Option<Span>,
}

/// What `spool inspect` found in a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The folder.
    pub dir: PathBuf,
    /// Segments then `.corrupt` files, each in name order (oldest first).
    pub files: Vec<FileReport>,
}

/// `spool salvage` failures.
#[derive(Debug, Error)]
pub enum SalvageError {
    /// Reading the damaged folder or writing the clean one failed.
    #[error(transparent)]
    Spool(#[from] SpoolError),
    /// The clean folder is the damaged one.
    #[error(
        "{0}: the salvaged spool must go to another folder (--out), so that the damaged one stays as it is"
    )]
    SameFolder(PathBuf),
}

/// What `spool salvage` recovered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Salvage {
    /// The folder read.
    pub dir: PathBuf,
    /// The spool folder written.
    pub out: PathBuf,
    /// Files read.
    pub files: usize,
    /// Records recovered, each appended to `out` as one batch.
    pub records: u64,
    /// Readings in them.
    pub readings: u64,
    /// Spans nothing could be recovered from.
    pub lost: Vec<Unrecoverable>,
    /// What opening `out` found there before (it may be a spool folder in use).
    pub out_found: OpenReport,
}

/// Bytes of a spool file holding no record that verifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unrecoverable {
    /// The file.
    pub file: PathBuf,
    /// Where in it, and how much.
    pub span: Span,
    /// An unfinished last write rather than damage.
    pub torn: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Segment { newest: bool },
    SetAside,
}

/// The spool files of `dir`: segments by number, then `.corrupt` files by name.
fn spool_files(dir: &Path) -> Result<Vec<(PathBuf, Kind)>, SpoolError> {
    let mut segments = Vec::new();
    let mut aside = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if let Some(seq) = name
            .strip_suffix(".seg")
            .and_then(|s| s.parse::<u64>().ok())
        {
            segments.push((seq, path));
        } else if name.ends_with(".corrupt") {
            aside.push(path);
        }
    }
    segments.sort();
    aside.sort();
    let newest = segments.last().map(|(seq, _)| *seq);
    Ok(segments
        .into_iter()
        .map(|(seq, p)| {
            (
                p,
                Kind::Segment {
                    newest: Some(seq) == newest,
                },
            )
        })
        .chain(aside.into_iter().map(|p| (p, Kind::SetAside)))
        .collect())
}

/// Reads one file as the historian's start-up would (a torn tail only at the end of the
/// newest segment), calling `record` with each record's readings.
fn read_file(
    path: &Path,
    kind: Kind,
    mut record: impl FnMut(&[historian_model::Reading]) -> Result<(), SpoolError>,
) -> Result<FileReport, SpoolError> {
    let src = FileSource::open(path).map_err(io_err(path))?;
    let mut report = FileReport {
        path: path.to_path_buf(),
        bytes: src.size(),
        records: 0,
        readings: 0,
        oldest: None,
        repaired: Vec::new(),
        damaged: Vec::new(),
        torn: None,
    };
    let tail_may_tear = kind == Kind::Segment { newest: true };
    for item in Scanner::new(&src, 0, tail_may_tear) {
        match item.map_err(io_err(path))? {
            Item::Record(r) => {
                record(&r.readings)?;
                report.records += 1;
                report.readings += r.readings.len() as u64;
                let oldest = r.readings.iter().map(|x| x.timestamp).min();
                report.oldest = match (report.oldest, oldest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                if r.repaired {
                    report.repaired.push(r.offset);
                }
            }
            Item::Damaged(span) => report.damaged.push(span),
            Item::Torn(span) => report.torn = Some(span),
        }
    }
    Ok(report)
}

/// Lists what every spool file of `dir` holds; changes nothing.
pub fn inspect(dir: &Path) -> Result<Inspection, SpoolError> {
    let files = spool_files(dir)?
        .into_iter()
        .map(|(path, kind)| read_file(&path, kind, |_| Ok(())))
        .collect::<Result<_, _>>()?;
    Ok(Inspection {
        dir: dir.to_path_buf(),
        files,
    })
}

/// The folder `spool salvage DIR` writes to without `--out`: `DIR.salvaged` beside it.
pub fn default_out(dir: &Path) -> PathBuf {
    let mut name = dir
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_else(|| "spool".into());
    name.push(".salvaged");
    dir.with_file_name(name)
}

/// Appends every record that verifies in `dir` (segments and `.corrupt` files) to the
/// spool folder `out`, which is created if missing and may already hold segments (the
/// spool folder of a stopped historian, say). `dir` is only read.
pub fn salvage(dir: &Path, out: &Path) -> Result<Salvage, SalvageError> {
    let files = spool_files(dir)?;
    if out.exists() {
        let same = fs::canonicalize(dir).map_err(io_err(dir))?
            == fs::canonicalize(out).map_err(io_err(out))?;
        if same {
            return Err(SalvageError::SameFolder(out.to_path_buf()));
        }
    }
    let cfg = SpoolConfig {
        max_bytes: u64::MAX,
        // Synced once at the end: a salvage that stops half-way is simply run again.
        fsync: FsyncPolicy::Never,
        ..SpoolConfig::new(out)
    };
    let (mut spool, out_found) = Spool::open(cfg)?;
    let mut summary = Salvage {
        dir: dir.to_path_buf(),
        out: out.to_path_buf(),
        files: files.len(),
        records: 0,
        readings: 0,
        lost: Vec::new(),
        out_found,
    };
    for (path, kind) in files {
        let report = read_file(&path, kind, |readings| spool.append(readings).map(|_| ()))?;
        summary.records += report.records;
        summary.readings += report.readings;
        let damaged = report.damaged.iter().map(|s| (s, false));
        let torn = report.torn.iter().map(|s| (s, true));
        summary
            .lost
            .extend(damaged.chain(torn).map(|(span, torn)| Unrecoverable {
                file: path.clone(),
                span: *span,
                torn,
            }));
    }
    spool.sync().map_err(io_err(out))?;
    super::sync_dir(out)?;
    Ok(summary)
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (mut records, mut readings, mut damaged, mut damaged_bytes) = (0, 0, 0, 0);
        writeln!(f, "spool {}:", self.dir.display())?;
        for file in &self.files {
            write!(
                f,
                "{}  {} bytes  {} records  {} readings",
                file_name(&file.path),
                file.bytes,
                file.records,
                file.readings
            )?;
            if let Some(oldest) = file.oldest {
                write!(f, "  oldest {}", oldest.to_rfc3339())?;
            }
            writeln!(f)?;
            for offset in &file.repaired {
                writeln!(
                    f,
                    "  repairable at byte {offset}: a record whose header is damaged; its checksum verifies it"
                )?;
            }
            for span in &file.damaged {
                writeln!(
                    f,
                    "  damaged at byte {}: {} bytes ({} readings by the headers still legible)",
                    span.offset, span.bytes, span.readings
                )?;
            }
            if let Some(t) = &file.torn {
                writeln!(
                    f,
                    "  torn at byte {}: {} bytes (an unfinished last write)",
                    t.offset, t.bytes
                )?;
            }
            records += file.records;
            readings += file.readings;
            damaged += file.damaged.len();
            damaged_bytes += file.damaged.iter().map(|s| s.bytes).sum::<u64>();
        }
        writeln!(
            f,
            "total: {} files, {records} records, {readings} readings; {damaged} damaged spans ({damaged_bytes} bytes)",
            self.files.len()
        )
    }
}

impl fmt::Display for Salvage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "salvaged {} records ({} readings) from {} files of {} into {}",
            self.records,
            self.readings,
            self.files,
            self.dir.display(),
            self.out.display()
        )?;
        for lost in &self.lost {
            let what = if lost.torn {
                "an unfinished last write"
            } else {
                "damaged"
            };
            writeln!(
                f,
                "not recoverable: {} at byte {}: {} bytes, {what} ({} readings by the headers still legible)",
                file_name(&lost.file),
                lost.span.offset,
                lost.span.bytes,
                lost.span.readings
            )?;
        }
        writeln!(
            f,
            "to replay: start the historian with spool.dir = {:?}, or salvage into its spool folder while it is stopped",
            self.out.display().to_string()
        )
    }
}
