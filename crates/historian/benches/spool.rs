//! Micro-benchmarks of batch encoding on the ingest path: a batch of readings framed and
//! checksummed as a spool record, decoded back, and appended to a segment file.
//! Run: `cargo bench -p modbus-historian --bench spool`.

use chrono::DateTime;
use historian_model::Quality;
use historian_model::Reading;
use historian_sim::fleet::reference_map;
use modbus_historian::spool::codec::{HEADER_LEN, decode_payload, encode_record};
use modbus_historian::spool::{FsyncPolicy, Spool, SpoolConfig};
use std::sync::Arc;

fn main() {
    divan::main();
}

/// A batch as the batcher builds it: whole polls of 100-register devices.
fn batch(n: usize) -> Vec<Reading> {
    let map = reference_map(100);
    let names: Vec<Arc<str>> = map.iter().map(|p| Arc::from(p.name.as_str())).collect();
    let units: Vec<Arc<str>> = map.iter().map(|p| Arc::from(p.unit.as_str())).collect();
    (0..n)
        .map(|i| {
            let p = i % map.len();
            Reading {
                timestamp: DateTime::from_timestamp_micros(
                    1_700_000_000_000_000 + (i / 100) as i64,
                )
                .unwrap_or_default(),
                device_id: (i / 100) as i64,
                register_address: map[p].register,
                value: Some(i as f64 * 0.25),
                text: None,
                quality: Quality::Good,
                register_name: Arc::clone(&names[p]),
                data_type: map[p].data_type,
                unit: Arc::clone(&units[p]),
            }
        })
        .collect()
}

#[divan::bench(args = [500, 5000])]
fn encode(bencher: divan::Bencher, n: usize) {
    let b = batch(n);
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench(|| encode_record(divan::black_box(&b)));
}

#[divan::bench(args = [500, 5000])]
fn decode(bencher: divan::Bencher, n: usize) {
    let record = encode_record(&batch(n));
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench(|| decode_payload(divan::black_box(&record[HEADER_LEN..])));
}

/// Appending to a segment without fsync: the cost of the spool itself, not of the disk.
#[divan::bench(args = [5000])]
fn append_no_fsync(bencher: divan::Bencher, n: usize) {
    let b = batch(n);
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp dir: {e}"));
    let mut cfg = SpoolConfig::new(dir.path().join("spool"));
    cfg.fsync = FsyncPolicy::Never;
    cfg.max_bytes = u64::MAX;
    let (mut spool, _) = Spool::open(cfg).unwrap_or_else(|e| panic!("spool: {e}"));
    bencher
        .counter(divan::counter::ItemsCount::new(n))
        .bench_local(|| spool.append(divan::black_box(&b)));
}
