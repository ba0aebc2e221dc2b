//! Arbitrary bytes as a spool record payload, as a segment (alone and between two good
//! records), and as segment files opened by the spool: no panic, every record handed out
//! verifies, every byte is accounted for, and nothing found is lost on the way to replay.

use chrono::DateTime;
use historian_model::{DataType, Quality, Reading, RegisterRef, Table};
use modbus_historian::spool::codec::{self, HEADER_LEN};
use modbus_historian::spool::scan::{Item, Record, Scanner, record_at};
use modbus_historian::spool::{FsyncPolicy, Spool, SpoolConfig};
use std::path::Path;

/// The bytes as a payload, as a segment alone and between good records, and on disk.
pub fn check(data: &[u8]) {
    payload(data);
    for tail_may_tear in [false, true] {
        scan(data, tail_may_tear);
    }
    between_good_records(data);
    on_disk(data);
}

/// Readings compared by their encoding: a NaN value is not equal to itself.
fn encoded(readings: &[Reading]) -> Vec<u8> {
    codec::encode_record(readings)
}

/// A payload that decodes encodes to bytes that decode to the same encoding.
fn payload(data: &[u8]) {
    if let Ok(readings) = codec::decode_payload(data) {
        let once = encoded(&readings);
        let again = codec::decode_payload(&once[HEADER_LEN..]).expect("its own encoding decodes");
        assert_eq!(encoded(&again), once);
    }
}

/// The items of a scan, checked: in order, each byte in exactly one, each record verified
/// by its checksum and its decoding, each damaged span starting where no record verifies,
/// a tear only as the last item and only where one may be.
fn scan(data: &[u8], tail_may_tear: bool) -> Vec<Item> {
    let mut at = 0u64;
    let mut items = Vec::new();
    for item in Scanner::new(data, 0, tail_may_tear) {
        let item = item.expect("a slice reads");
        assert!(
            !matches!(items.last(), Some(Item::Torn(_))),
            "an item after a tear"
        );
        match &item {
            Item::Record(r) => {
                assert_eq!(r.offset, at);
                check_record(data, r);
                at = r.end();
            }
            Item::Damaged(s) | Item::Torn(s) => {
                assert_eq!(s.offset, at);
                assert!(s.bytes > 0);
                assert!(
                    record_at(data, s.offset).expect("reads").is_none(),
                    "a damaged span starts with a good record"
                );
                if matches!(item, Item::Torn(_)) {
                    assert!(tail_may_tear, "a tear where none may be");
                    assert_eq!(s.end(), data.len() as u64, "a tear before the end");
                }
                at = s.end();
            }
        }
        items.push(item);
    }
    assert_eq!(at, data.len() as u64, "bytes left unscanned");
    items
}

fn check_record(data: &[u8], r: &Record) {
    let range = r.payload();
    let payload = &data[range.start as usize..range.end as usize];
    assert_eq!(
        crc32fast::hash(payload),
        r.crc,
        "a record that does not verify"
    );
    let decoded = codec::decode_payload(payload).expect("a record that does not decode");
    assert_eq!(encoded(&decoded), encoded(&r.readings));
    if !r.repaired {
        let head = &data[r.offset as usize..r.offset as usize + HEADER_LEN];
        assert_eq!(
            head,
            codec::header(payload.len() as u32, r.crc),
            "a record read by a header that is not its own"
        );
    }
}

/// A record of three readings, different for each `seed`.
fn good(seed: i64) -> Vec<u8> {
    let batch: Vec<Reading> = (0..3)
        .map(|i| Reading {
            timestamp: DateTime::from_timestamp_micros(1_700_000_000_000_000 + seed * 1_000 + i)
                .expect("in range"),
            device_id: seed,
            register_address: RegisterRef::new(Table::HoldingRegister, i as u16),
            value: Some(i as f64),
            text: None,
            quality: Quality::Good,
            register_name: format!("r{i}").into(),
            data_type: DataType::Float32,
            unit: "V".into(),
        })
        .collect();
    codec::encode_record(&batch)
}

/// A good record before arbitrary bytes is always read; one after them is read unless a
/// record found in the bytes runs over it.
fn between_good_records(data: &[u8]) {
    let (a, b) = (good(1), good(2));
    let mut bytes = a.clone();
    bytes.extend_from_slice(data);
    let b_at = bytes.len() as u64;
    bytes.extend_from_slice(&b);
    let items = scan(&bytes, false);
    match items.first() {
        Some(Item::Record(r)) => {
            assert_eq!((r.offset, r.len, r.repaired), (0, a.len() as u64, false));
        }
        other => panic!("the first good record was not read: {other:?}"),
    }
    let b_read = items.iter().any(|i| match i {
        Item::Record(r) => r.offset == b_at && r.len == b.len() as u64,
        _ => false,
    });
    let b_covered = items.iter().any(|i| match i {
        Item::Record(r) => r.offset < b_at && r.end() > b_at,
        _ => false,
    });
    assert!(
        b_read || b_covered,
        "the last good record was lost: {items:?}"
    );
}

/// The records a scan of `bytes` finds, encoded.
fn found(bytes: &[u8], tail_may_tear: bool) -> Vec<Vec<u8>> {
    Scanner::new(bytes, 0, tail_may_tear)
        .filter_map(|i| match i.expect("reads") {
            Item::Record(r) => Some(encoded(&r.readings)),
            _ => None,
        })
        .collect()
}

/// The spool, opened on segments holding the bytes (one before a good segment, one as the
/// newest), sets aside what the scan calls damaged, replays exactly the records it finds,
/// and finds nothing more when opened again.
fn on_disk(data: &[u8]) {
    let base = Path::new("/dev/shm");
    let dir = if base.is_dir() {
        tempfile::tempdir_in(base)
    } else {
        tempfile::tempdir()
    }
    .expect("temp dir");
    let mut first = good(3);
    first.extend_from_slice(data);
    let files = [(1, first), (2, good(4)), (3, data.to_vec())];
    for (seq, bytes) in &files {
        std::fs::write(dir.path().join(format!("{seq:020}.seg")), bytes).expect("write");
    }
    let cfg = SpoolConfig {
        fsync: FsyncPolicy::Never,
        ..SpoolConfig::new(dir.path())
    };
    let (spool, report) = Spool::open(cfg.clone()).expect("opens");
    drop(spool);
    let mut expected_aside = 0;
    for (seq, bytes) in &files {
        for item in Scanner::new(&bytes[..], 0, *seq == 3) {
            if let Item::Damaged(s) = item.expect("reads") {
                expected_aside += s.bytes;
            }
        }
    }
    let aside: u64 = report.set_aside.iter().map(|a| a.bytes).sum();
    assert_eq!(aside, expected_aside, "set aside {:?}", report.set_aside);
    for a in &report.set_aside {
        let copy = std::fs::read(&a.copy).expect("the copy");
        assert_eq!(copy.len() as u64, a.bytes);
    }
    let (mut spool, again) = Spool::open(cfg).expect("reopens");
    assert!(again.set_aside.is_empty(), "damage found twice: {again:?}");
    assert_eq!((again.repaired, again.torn_bytes), (0, 0));
    let mut replayed = Vec::new();
    while let Some(b) = spool.next_batch().expect("replays") {
        replayed.push(encoded(&b.readings));
        spool.ack(&b).expect("acks");
    }
    assert!(spool.take_set_aside().is_empty(), "damage met in replay");
    let expected: Vec<Vec<u8>> = files
        .iter()
        .flat_map(|(seq, bytes)| found(bytes, *seq == 3))
        .collect();
    assert_eq!(replayed, expected);
}
