//! Finding records again in damaged bytes. A segment is read record by record; after a
//! record that does not verify, the scan moves on byte by byte to the next one that does
//! (the magic, a length that fits, a checksum that matches, a payload that decodes), so a
//! bad byte costs the record it hit, never the records after it.
//!
//! What lies between two good records is a damaged span, set aside and not replayed, with
//! two exceptions that keep more:
//! - a record whose header was hit in its magic or its length (not its checksum) is
//!   recovered when the checksum in its header verifies every byte up to the next good
//!   record (or the end): such a record is marked `repaired`, and its header must be
//!   written again before the segment is read as a plain sequence of records;
//! - in the segment being written when the process stopped (`tail_may_tear`), a bad spot
//!   with no good record after it is a torn tail when it holds a partial header, a header
//!   whose length runs past the end of the file, or zeros where the header should be: an
//!   unfinished write, not damage.
//!
//! The scan only reads; what to do with the spans is the caller's (the spool copies them
//! to `.corrupt` files, `spool inspect` lists them, `spool salvage` skips them).

use super::codec::{self, HEADER_LEN, Header, MAGIC, MAX_PAYLOAD, MIN_READING_BYTES};
use historian_model::Reading;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::Path;

/// Bytes a scan reads: a segment file, or a slice (tests, the fuzzer).
pub trait Source {
    /// Total bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`; fails when that runs past [`Source::size`].
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl Source for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let bytes = usize::try_from(offset)
            .ok()
            .and_then(|start| self.get(start..start.checked_add(buf.len())?))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

/// A file read at positions, its size taken when opened.
#[derive(Debug)]
pub struct FileSource {
    file: File,
    size: u64,
}

impl FileSource {
    /// Opens `path` for reading.
    pub fn open(path: &Path) -> io::Result<FileSource> {
        let file = File::open(path)?;
        let size = file.metadata()?.len();
        Ok(FileSource { file, size })
    }
}

impl Source for FileSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let mut f = &self.file;
        f.seek(SeekFrom::Start(offset))?;
        f.read_exact(buf)
    }
}

/// A record that verifies: its checksum matches and its payload decodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Where its header starts.
    pub offset: u64,
    /// Bytes it takes, header included.
    pub len: u64,
    /// CRC-32 of its payload.
    pub crc: u32,
    /// Its readings.
    pub readings: Vec<Reading>,
    /// The header's magic or length was damaged and the record was found by its checksum.
    pub repaired: bool,
}

impl Record {
    /// Where the next record starts.
    pub fn end(&self) -> u64 {
        self.offset + self.len
    }

    /// Where its payload lies.
    pub fn payload(&self) -> Range<u64> {
        self.offset + HEADER_LEN as u64..self.end()
    }
}

/// Bytes holding no record that verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    /// Where they start.
    pub offset: u64,
    /// How many.
    pub bytes: u64,
    /// Record headers still legible in them.
    pub records: u64,
    /// Readings those headers claim: the best count there is of what the span held.
    pub readings: u64,
}

impl Span {
    /// Where the span ends.
    pub fn end(&self) -> u64 {
        self.offset + self.bytes
    }
}

/// One step of a scan.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A record that verifies.
    Record(Record),
    /// Damaged bytes, followed by a good record or the end.
    Damaged(Span),
    /// The unfinished last write of the segment being written (only with `tail_may_tear`).
    Torn(Span),
}

/// Reads a source from an offset to its end as records and spans, each byte in exactly
/// one item, in order.
#[derive(Debug)]
pub struct Scanner<'a, S: Source + ?Sized> {
    src: &'a S,
    pos: u64,
    tail_may_tear: bool,
    /// The good record found after a damaged span, handed out next.
    found: Option<Record>,
}

impl<'a, S: Source + ?Sized> Scanner<'a, S> {
    /// Scans `src` from `start` (a record boundary); `tail_may_tear` for the segment that
    /// was being written when the process stopped.
    pub fn new(src: &'a S, start: u64, tail_may_tear: bool) -> Self {
        Scanner {
            src,
            pos: start,
            tail_may_tear,
            found: None,
        }
    }

    fn step(&mut self) -> io::Result<Option<Item>> {
        if let Some(r) = self.found.take() {
            self.pos = r.end();
            return Ok(Some(Item::Record(r)));
        }
        let size = self.src.size();
        if self.pos >= size {
            return Ok(None);
        }
        let start = self.pos;
        if let Some(r) = record_at(self.src, start)? {
            self.pos = r.end();
            return Ok(Some(Item::Record(r)));
        }
        let next = find_record(self.src, start + 1)?;
        let end = next.as_ref().map_or(size, |r| r.offset);
        self.pos = end;
        let repaired = repair(self.src, start, end)?;
        let torn =
            next.is_none() && repaired.is_none() && self.tail_may_tear && is_torn(self.src, start)?;
        self.found = next;
        if let Some(r) = repaired {
            return Ok(Some(Item::Record(r)));
        }
        let span = describe(self.src, start, end)?;
        Ok(Some(if torn {
            Item::Torn(span)
        } else {
            Item::Damaged(span)
        }))
    }
}

impl<S: Source + ?Sized> Iterator for Scanner<'_, S> {
    type Item = io::Result<Item>;

    fn next(&mut self) -> Option<io::Result<Item>> {
        let item = self.step();
        if item.is_err() {
            // An I/O error ends the scan: what follows cannot be told apart.
            self.pos = self.src.size();
            self.found = None;
        }
        item.transpose()
    }
}

/// The record whose header starts at `pos`, if it verifies.
pub fn record_at<S: Source + ?Sized>(src: &S, pos: u64) -> io::Result<Option<Record>> {
    let size = src.size();
    if pos.saturating_add(HEADER_LEN as u64) > size {
        return Ok(None);
    }
    let mut head = [0u8; HEADER_LEN];
    src.read_at(pos, &mut head)?;
    let Some(h) = Header::parse(&head) else {
        return Ok(None);
    };
    let end = pos + HEADER_LEN as u64 + u64::from(h.payload_len);
    if end > size {
        return Ok(None);
    }
    let mut payload = vec![0u8; h.payload_len as usize];
    src.read_at(pos + HEADER_LEN as u64, &mut payload)?;
    Ok(verified(pos, h.crc, &payload, false))
}

fn verified(offset: u64, crc: u32, payload: &[u8], repaired: bool) -> Option<Record> {
    if crc32fast::hash(payload) != crc {
        return None;
    }
    let readings = codec::decode_payload(payload).ok()?;
    Some(Record {
        offset,
        len: (HEADER_LEN + payload.len()) as u64,
        crc,
        readings,
        repaired,
    })
}

/// Bytes read at a time while looking for the magic.
const CHUNK: usize = 64 * 1024;

/// The first record at or after `from` that verifies.
fn find_record<S: Source + ?Sized>(src: &S, from: u64) -> io::Result<Option<Record>> {
    let size = src.size();
    let magic = MAGIC.to_le_bytes();
    let mut buf = vec![0u8; CHUNK + magic.len() - 1];
    let mut at = from;
    // A record needs a whole header, so the last candidate is HEADER_LEN before the end.
    while at.saturating_add(HEADER_LEN as u64) <= size {
        let n = usize::try_from(size - at).map_or(buf.len(), |left| left.min(buf.len()));
        src.read_at(at, &mut buf[..n])?;
        for (i, w) in buf[..n].windows(magic.len()).enumerate() {
            if w == magic
                && let Some(r) = record_at(src, at + i as u64)?
            {
                return Ok(Some(r));
            }
        }
        // Overlap by one magic less a byte, so a magic across two reads is seen.
        at += (n - (magic.len() - 1)) as u64;
    }
    Ok(None)
}

/// The record at `start` found by the checksum in its header when its magic or length is
/// wrong: the payload is everything up to `end` (the next good record or the end).
fn repair<S: Source + ?Sized>(src: &S, start: u64, end: u64) -> io::Result<Option<Record>> {
    let Some(payload_len) = (end - start).checked_sub(HEADER_LEN as u64) else {
        return Ok(None);
    };
    // Shorter than a version and a count: nothing to decode.
    if payload_len < 5 || payload_len > u64::from(MAX_PAYLOAD) {
        return Ok(None);
    }
    let mut head = [0u8; HEADER_LEN];
    src.read_at(start, &mut head)?;
    let crc = u32::from_le_bytes([head[8], head[9], head[10], head[11]]);
    let payload_at = start + HEADER_LEN as u64;
    // The checksum first, a chunk at a time: a damaged span can be large and rarely
    // verifies, so the whole of it is read into memory only when it does.
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; CHUNK];
    let mut at = payload_at;
    while at < end {
        let n = usize::try_from(end - at).map_or(CHUNK, |left| left.min(CHUNK));
        src.read_at(at, &mut buf[..n])?;
        hasher.update(&buf[..n]);
        at += n as u64;
    }
    if hasher.finalize() != crc {
        return Ok(None);
    }
    let mut payload = vec![0u8; payload_len as usize];
    src.read_at(payload_at, &mut payload)?;
    Ok(verified(start, crc, &payload, true))
}

/// A bad spot at `start`, with no good record after it, is a torn write when too few
/// bytes follow for a header, when the header's length runs past the end, or when the
/// header is zeros (pages the file was extended by but never written).
fn is_torn<S: Source + ?Sized>(src: &S, start: u64) -> io::Result<bool> {
    let size = src.size();
    if size - start < HEADER_LEN as u64 {
        return Ok(true);
    }
    let mut head = [0u8; HEADER_LEN];
    src.read_at(start, &mut head)?;
    Ok(match Header::parse(&head) {
        Some(h) => start + HEADER_LEN as u64 + u64::from(h.payload_len) > size,
        None => head.iter().all(|&b| b == 0),
    })
}

/// Counts the records whose headers are still legible in a damaged span (at its start,
/// where a record began, and wherever the magic appears) and the readings they claim.
fn describe<S: Source + ?Sized>(src: &S, start: u64, end: u64) -> io::Result<Span> {
    let mut span = Span {
        offset: start,
        bytes: end - start,
        records: 0,
        readings: 0,
    };
    let magic = MAGIC.to_le_bytes();
    let mut buf = vec![0u8; CHUNK + magic.len() - 1];
    let mut at = start;
    let mut next_header = start;
    while at < end {
        let n = usize::try_from(end - at).map_or(buf.len(), |left| left.min(buf.len()));
        src.read_at(at, &mut buf[..n])?;
        for i in 0..n {
            let pos = at + i as u64;
            if pos < next_header {
                continue;
            }
            let is_magic = buf[..n].get(i..i + magic.len()).is_some_and(|w| w == magic);
            if (pos == start || is_magic)
                && let Some((count, len)) = legible_header(src, pos, end)?
            {
                span.records += 1;
                span.readings += count;
                // Skip the payload of a header whose length fits, so that bytes inside it
                // are not read as headers of their own.
                next_header = len.map_or(pos + 1, |l| pos + l);
            }
        }
        at += if n == buf.len() {
            (n - (magic.len() - 1)) as u64
        } else {
            n as u64
        };
    }
    Ok(span)
}

/// The reading count of a header at `pos` that looks like one (version 1 and a count the
/// bytes before `end` could hold), and the record's length when it fits before `end`.
fn legible_header<S: Source + ?Sized>(
    src: &S,
    pos: u64,
    end: u64,
) -> io::Result<Option<(u64, Option<u64>)>> {
    const PREFIX: u64 = HEADER_LEN as u64 + 5;
    if end - pos < PREFIX {
        return Ok(None);
    }
    let mut head = [0u8; PREFIX as usize];
    src.read_at(pos, &mut head)?;
    let word = |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
    let (payload_len, version, count) = (u64::from(word(4)), head[HEADER_LEN], word(13));
    let room = (end - pos - HEADER_LEN as u64) / MIN_READING_BYTES as u64 + 1;
    if version != codec::VERSION || u64::from(count) > room {
        return Ok(None);
    }
    let len = HEADER_LEN as u64 + payload_len;
    let fits = (payload_len >= 5 && pos + len <= end).then_some(len);
    Ok(Some((u64::from(count), fits)))
}
