//! Readable address ranges of one table: reads as large as the device accepts (at most the
//! protocol's 125 registers or 2000 bits a request), and on exception 02/03 a bisection for
//! the longest accepted prefix, down to single addresses. Inside an unreadable stretch the
//! scan probes one address at a time and returns to large reads at the first that answers.

use super::access::{Answer, Probe, ScanLink};
use super::progress::Progress;
use crate::client::{ExceptionCode, ReadData, ReadError};
use crate::plan::ReadRequest;
use historian_model::{MAX_BITS_PER_READ, MAX_REGISTERS_PER_READ, Table};
use std::future::Future;
use thiserror::Error;

/// Link failures in a row after which a table's scan gives up.
const FAILURES_IN_A_ROW: u32 = 3;

/// Reads one stretch of one table of one unit.
pub trait Prober: Send {
    /// Reads `count` values of `table` from wire address `start`.
    fn read(
        &mut self,
        table: Table,
        start: u16,
        count: u16,
    ) -> impl Future<Output = Result<ReadData, ReadError>> + Send;
}

/// A [`ScanLink`] reading one unit.
#[derive(Debug)]
pub struct UnitProber<'a> {
    /// The link.
    pub link: &'a mut ScanLink,
    /// The unit id read.
    pub unit: u8,
}

impl Prober for UnitProber<'_> {
    async fn read(&mut self, table: Table, start: u16, count: u16) -> Result<ReadData, ReadError> {
        let req = ReadRequest::new(table, start, count, Vec::new())
            .map_err(|e| ReadError::Transport(e.to_string()))?;
        match self.link.send(self.unit, &Probe::Read(req)).await? {
            Answer::Data(d) => Ok(d),
            Answer::Identity(_) => Err(ReadError::Transport("identity for a read".into())),
        }
    }
}

/// A stretch of addresses that read without an exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// The table.
    pub table: Table,
    /// First wire address.
    pub start: u16,
    /// Addresses in the run (at least 1; up to 65536).
    pub len: u32,
}

impl Run {
    /// The last wire address of the run.
    pub fn last(&self) -> u16 {
        u16::try_from(u32::from(self.start) + self.len - 1).unwrap_or(u16::MAX)
    }
}

/// What the scan of one table found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableScan {
    /// The table scanned.
    pub table: Table,
    /// Readable runs in address order, adjacent ones merged.
    pub runs: Vec<Run>,
    /// True when the device refused the function code itself (exception 01).
    pub unsupported: bool,
    /// The largest read the device accepted, when it turned out smaller than the protocol's.
    pub device_limit: Option<u16>,
}

/// Why a table's scan stopped early.
#[derive(Debug, Error)]
pub enum ScanError {
    /// The device stopped answering (time-outs or a broken link, several in a row).
    #[error("{table} at wire address {address}: the device does not answer ({source})")]
    NoAnswer {
        /// The table scanned.
        table: Table,
        /// Where the scan was.
        address: u16,
        /// The last failure.
        source: ReadError,
    },
    /// A gateway reports the unit unreachable (0A or 0B).
    #[error("{table} at wire address {address}: the gateway cannot reach the unit ({source})")]
    Gateway {
        /// The table scanned.
        table: Table,
        /// Where the scan was.
        address: u16,
        /// The exception.
        source: ReadError,
    },
}

/// How a read went, for the scan.
enum Outcome {
    Read,
    Refused,
    Unsupported,
    Failed(ReadError),
}

fn outcome(r: Result<ReadData, ReadError>) -> Outcome {
    match r {
        Ok(_) => Outcome::Read,
        Err(ReadError::Exception(
            ExceptionCode::IllegalDataAddress
            | ExceptionCode::IllegalDataValue
            | ExceptionCode::ServerDeviceFailure,
        )) => Outcome::Refused,
        Err(ReadError::Exception(ExceptionCode::IllegalFunction)) => Outcome::Unsupported,
        Err(e) => Outcome::Failed(e),
    }
}

/// The scan of one table, as it goes.
struct Scan<'a, P> {
    prober: &'a mut P,
    table: Table,
    progress: &'a Progress,
    failures: u32,
    runs: Vec<Run>,
}

impl<P: Prober> Scan<'_, P> {
    /// Reads and classifies, retrying a link failure until too many come in a row.
    async fn read(&mut self, start: u32, count: u32) -> Result<Outcome, ScanError> {
        let (Ok(s), Ok(n)) = (u16::try_from(start), u16::try_from(count)) else {
            return Ok(Outcome::Refused);
        };
        loop {
            match outcome(self.prober.read(self.table, s, n).await) {
                Outcome::Failed(e @ ReadError::Exception(_)) => {
                    return Err(ScanError::Gateway {
                        table: self.table,
                        address: s,
                        source: e,
                    });
                }
                Outcome::Failed(e) => {
                    self.failures += 1;
                    if self.failures >= FAILURES_IN_A_ROW || matches!(e, ReadError::Connect { .. })
                    {
                        return Err(ScanError::NoAnswer {
                            table: self.table,
                            address: s,
                            source: e,
                        });
                    }
                }
                other => {
                    self.failures = 0;
                    return Ok(other);
                }
            }
        }
    }

    fn readable(&mut self, start: u32, len: u32) {
        let start = u16::try_from(start).unwrap_or(u16::MAX);
        match self.runs.last_mut() {
            Some(last) if u32::from(last.start) + last.len == u32::from(start) => last.len += len,
            _ => {
                self.progress.count_range();
                self.runs.push(Run {
                    table: self.table,
                    start,
                    len,
                });
            }
        }
    }
}

/// Scans wire addresses `first..=last` of `table` with reads of at most `max_count`
/// values (clamped to the protocol's limit), reporting each address covered to `progress`.
pub async fn scan_table<P: Prober>(
    prober: &mut P,
    table: Table,
    first: u16,
    last: u16,
    max_count: u16,
    progress: &Progress,
) -> Result<TableScan, ScanError> {
    let ceiling = if table.is_bit() {
        MAX_BITS_PER_READ
    } else {
        MAX_REGISTERS_PER_READ
    };
    let mut limit = u32::from(max_count.clamp(1, ceiling));
    let mut device_limit = None;
    let mut scan = Scan {
        prober,
        table,
        progress,
        failures: 0,
        runs: Vec::new(),
    };
    let end = u32::from(last) + 1;
    let mut cursor = u32::from(first);
    // Inside an unreadable stretch: probe single addresses until one answers.
    let mut dead = false;
    while cursor < end {
        let n = if dead { 1 } else { limit.min(end - cursor) };
        let before = cursor;
        match scan.read(cursor, n).await? {
            Outcome::Read => {
                scan.readable(cursor, n);
                cursor += n;
                dead = false;
            }
            Outcome::Unsupported => {
                scan.progress.advance(u64::from(end - cursor));
                return Ok(TableScan {
                    table,
                    runs: scan.runs,
                    unsupported: true,
                    device_limit,
                });
            }
            Outcome::Refused if n == 1 => {
                cursor += 1;
                dead = true;
            }
            Outcome::Refused | Outcome::Failed(_) => {
                // The longest accepted prefix: reads of `ok` values pass, of `bad` do not.
                let (mut ok, mut bad) = (0, n);
                while bad - ok > 1 {
                    let mid = (ok + bad) / 2;
                    match scan.read(cursor, mid).await? {
                        Outcome::Read => ok = mid,
                        _ => bad = mid,
                    }
                }
                if ok > 0 {
                    scan.readable(cursor, ok);
                    cursor += ok;
                    // The address that broke the read: refused itself, or readable and the
                    // device only refuses reads that long.
                    match scan.read(cursor, 1).await? {
                        Outcome::Read => {
                            scan.readable(cursor, 1);
                            cursor += 1;
                            limit = ok;
                            device_limit = u16::try_from(ok).ok();
                        }
                        _ => {
                            cursor += 1;
                            dead = true;
                        }
                    }
                } else {
                    cursor += 1;
                    dead = true;
                }
            }
        }
        scan.progress.advance(u64::from(cursor - before));
    }
    Ok(TableScan {
        table,
        runs: scan.runs,
        unsupported: false,
        device_limit,
    })
}

/// Reads the whole of `run` in reads of at most `max_count` values: its registers as words,
/// its bits as 0/1 words.
pub async fn read_run<P: Prober>(
    prober: &mut P,
    run: &Run,
    max_count: u16,
) -> Result<Vec<u16>, ReadError> {
    let ceiling = if run.table.is_bit() {
        MAX_BITS_PER_READ
    } else {
        MAX_REGISTERS_PER_READ
    };
    let step = u32::from(max_count.clamp(1, ceiling));
    let mut out = Vec::with_capacity(run.len as usize);
    let mut at = u32::from(run.start);
    let end = u32::from(run.start) + run.len;
    while at < end {
        let n = step.min(end - at);
        let (Ok(s), Ok(c)) = (u16::try_from(at), u16::try_from(n)) else {
            break;
        };
        match prober.read(run.table, s, c).await? {
            ReadData::Registers(w) => out.extend(w),
            ReadData::Bits(b) => out.extend(b.into_iter().map(u16::from)),
        }
        at += n;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// A device of fixed shape: which addresses read, and the largest read it accepts;
    /// records every request so the tests can check the limits were kept.
    struct Shape {
        readable: BTreeSet<u16>,
        max: u16,
        silent: bool,
        requests: Vec<(u16, u16)>,
    }

    impl Shape {
        fn new(ranges: &[(u16, u16)], max: u16) -> Self {
            let readable = ranges.iter().flat_map(|&(a, b)| a..=b).collect();
            Self {
                readable,
                max,
                silent: false,
                requests: Vec::new(),
            }
        }
    }

    impl Prober for Shape {
        async fn read(
            &mut self,
            table: Table,
            start: u16,
            count: u16,
        ) -> Result<ReadData, ReadError> {
            self.requests.push((start, count));
            if self.silent {
                return Err(ReadError::Timeout(std::time::Duration::from_millis(1)));
            }
            if count > self.max {
                return Err(ReadError::Exception(ExceptionCode::IllegalDataValue));
            }
            if (start..=start + (count - 1)).all(|a| self.readable.contains(&a)) {
                Ok(if table.is_bit() {
                    ReadData::Bits(vec![false; usize::from(count)])
                } else {
                    ReadData::Registers(vec![0; usize::from(count)])
                })
            } else {
                Err(ReadError::Exception(ExceptionCode::IllegalDataAddress))
            }
        }
    }

    async fn scan(shape: &mut Shape, table: Table, first: u16, last: u16) -> TableScan {
        let progress = Progress::default();
        let out = scan_table(shape, table, first, last, 2000, &progress)
            .await
            .expect("scan");
        assert_eq!(progress.done(), u64::from(last - first) + 1);
        out
    }

    fn spans(s: &TableScan) -> Vec<(u16, u16)> {
        s.runs.iter().map(|r| (r.start, r.last())).collect()
    }

    #[tokio::test]
    async fn ranges_and_boundaries_are_exact() {
        let ranges = [(0, 9), (100, 100), (130, 400), (999, 1000)];
        let mut shape = Shape::new(&ranges, 125);
        let found = scan(&mut shape, Table::HoldingRegister, 0, 1200).await;
        assert_eq!(spans(&found), ranges.to_vec());
        assert_eq!(found.device_limit, None);
        assert!(shape.requests.iter().all(|&(_, n)| n <= 125));
        // Readable stretches go by in full-size reads: 271 addresses in 3 reads.
        let big = shape
            .requests
            .iter()
            .filter(|&&(s, n)| s >= 130 && s + n <= 401 && n == 125)
            .count();
        assert_eq!(big, 2);
    }

    #[tokio::test]
    async fn bits_use_reads_of_up_to_2000() {
        let mut shape = Shape::new(&[(0, 4999)], 2000);
        let found = scan(&mut shape, Table::Coil, 0, 5999).await;
        assert_eq!(spans(&found), vec![(0, 4999)]);
        assert_eq!(
            &shape.requests[..3],
            &[(0, 2000), (2000, 2000), (4000, 2000)]
        );
    }

    #[tokio::test]
    async fn a_device_with_a_smaller_read_limit_is_read_at_that_limit() {
        let mut shape = Shape::new(&[(0, 299)], 32);
        let found = scan(&mut shape, Table::InputRegister, 0, 299).await;
        assert_eq!(spans(&found), vec![(0, 299)]);
        assert_eq!(found.device_limit, Some(32));
        let after = shape.requests.iter().skip_while(|&&(_, n)| n != 1);
        assert!(after.skip(1).all(|&(_, n)| n <= 32));
    }

    #[tokio::test]
    async fn the_last_address_is_reachable_and_nothing_wraps() {
        let mut shape = Shape::new(&[(65_500, 65_535)], 125);
        let found = scan(&mut shape, Table::HoldingRegister, 65_400, 65_535).await;
        assert_eq!(spans(&found), vec![(65_500, 65_535)]);
        assert!(
            shape
                .requests
                .iter()
                .all(|&(s, n)| u32::from(s) + u32::from(n) <= 65_536)
        );
    }

    #[tokio::test]
    async fn a_silent_device_ends_the_scan_with_a_clear_error() {
        let mut shape = Shape::new(&[(0, 10)], 125);
        shape.silent = true;
        let progress = Progress::default();
        let err = scan_table(&mut shape, Table::HoldingRegister, 0, 100, 125, &progress)
            .await
            .expect_err("silent");
        assert!(
            matches!(err, ScanError::NoAnswer { address: 0, .. }),
            "{err}"
        );
        assert_eq!(shape.requests.len(), FAILURES_IN_A_ROW as usize);
        assert!(err.to_string().contains("does not answer"), "{err}");
    }
}
