use super::*;
use crate::spool::codec::tests::reading;

fn batch(from: i64, n: i64) -> Vec<Reading> {
    (from..from + n).map(reading).collect()
}

fn cfg(dir: &Path) -> SpoolConfig {
    SpoolConfig::new(dir.join("spool"))
}

fn drain(spool: &mut Spool) -> Vec<Reading> {
    let mut out = Vec::new();
    while let Some(b) = spool.next_batch().expect("reads") {
        spool.ack(&b).expect("acks");
        out.extend(b.readings);
    }
    out
}

/// Appends batches of 4 readings (0..4, 4..8, ...) and drops the spool unsealed, as a
/// killed process leaves it; returns the segment file written.
fn killed_after(dir: &Path, batches: i64) -> PathBuf {
    let (mut spool, _) = Spool::open(cfg(dir)).expect("opens");
    for i in 0..batches {
        spool.append(&batch(i * 4, 4)).expect("appends");
    }
    spool.active.as_ref().expect("active").0.path.clone()
}

fn segments(dir: &Path, ext: &str) -> usize {
    fs::read_dir(dir.join("spool"))
        .expect("spool dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == ext))
        })
        .count()
}

#[test]
fn batches_replay_in_order_and_segments_are_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = cfg(dir.path());
    c.segment_bytes = 2_000; // several segments
    let (mut spool, report) = Spool::open(c).expect("opens");
    assert_eq!(report, OpenReport::default());
    let mut all = Vec::new();
    for i in 0..20 {
        let b = batch(i * 10, 10);
        spool.append(&b).expect("appends");
        all.extend(b);
    }
    let f = spool.figures();
    assert_eq!((f.batches, f.readings), (20, 200));
    assert_eq!(f.oldest, Some(all[0].timestamp));
    assert!(segments(dir.path(), "seg") > 2);
    assert_eq!(drain(&mut spool), all);
    assert!(spool.is_empty());
    assert_eq!(segments(dir.path(), "seg"), 0);
}

#[test]
fn live_appends_during_replay_are_replayed_after_the_backlog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spool, _) = Spool::open(cfg(dir.path())).expect("opens");
    spool.append(&batch(0, 5)).expect("appends");
    let first = spool.next_batch().expect("reads").expect("a batch");
    spool.append(&batch(5, 5)).expect("appends while replaying");
    spool.ack(&first).expect("acks");
    assert_eq!(drain(&mut spool), batch(5, 5));
}

#[test]
fn a_rewound_batch_is_handed_out_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut spool, _) = Spool::open(cfg(dir.path())).expect("opens");
    spool.append(&batch(0, 3)).expect("appends");
    spool.append(&batch(3, 3)).expect("appends");
    let b = spool.next_batch().expect("reads").expect("a batch");
    spool.rewind(b);
    assert_eq!(drain(&mut spool), batch(0, 6));
}

#[test]
fn a_reopened_spool_replays_what_the_last_run_left() {
    let dir = tempfile::tempdir().expect("tempdir");
    killed_after(dir.path(), 2);
    let (mut spool, report) = Spool::open(cfg(dir.path())).expect("reopens");
    assert_eq!(
        (report.segments, report.batches, report.readings),
        (1, 2, 8)
    );
    spool.append(&batch(8, 2)).expect("appends after reopening");
    assert_eq!(drain(&mut spool), batch(0, 10));
}

#[test]
fn a_torn_last_record_is_cut_off_and_the_rest_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = killed_after(dir.path(), 2);
    // Half of a third record, as when the process dies inside write().
    let record = codec::encode_record(&batch(8, 4));
    let mut f = OpenOptions::new().append(true).open(&path).expect("open");
    f.write_all(&record[..record.len() / 2]).expect("write");
    drop(f);
    let (mut spool, report) = Spool::open(cfg(dir.path())).expect("reopens");
    assert_eq!(report.torn_bytes, (record.len() / 2) as u64);
    assert_eq!(report.batches, 2);
    assert_eq!(drain(&mut spool), batch(0, 8));
}

#[test]
fn a_torn_header_is_cut_off_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = killed_after(dir.path(), 1);
    let mut f = OpenOptions::new().append(true).open(&path).expect("open");
    f.write_all(&codec::MAGIC.to_le_bytes()[..3])
        .expect("write");
    drop(f);
    let (mut spool, report) = Spool::open(cfg(dir.path())).expect("reopens");
    assert_eq!(report.torn_bytes, 3);
    assert_eq!(drain(&mut spool), batch(0, 4));
}

#[test]
fn a_flipped_bit_sets_the_segment_aside_instead_of_replaying_garbage() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = killed_after(dir.path(), 2);
    let mut bytes = fs::read(&path).expect("read");
    bytes[codec::HEADER_LEN + 20] ^= 0x01; // inside the first record's payload
    fs::write(&path, bytes).expect("write");
    let (spool, report) = Spool::open(cfg(dir.path())).expect("reopens");
    assert_eq!(report.corrupt_segments, 1);
    assert!(spool.is_empty());
    assert_eq!(segments(dir.path(), "corrupt"), 1);
}

#[test]
fn the_cap_refuses_new_batches_and_keeps_spooled_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let three: u64 = (0..3)
        .map(|i| codec::encode_record(&batch(i * 10, 10)).len() as u64)
        .sum();
    let mut c = cfg(dir.path());
    c.max_bytes = three;
    let (mut spool, _) = Spool::open(c).expect("opens");
    for i in 0..3 {
        spool.append(&batch(i * 10, 10)).expect("fits");
    }
    match spool.append(&batch(30, 10)) {
        Err(SpoolError::Full { bytes, max_bytes }) => {
            assert_eq!((bytes, max_bytes), (three, three));
        }
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(drain(&mut spool), batch(0, 30));
    spool
        .append(&batch(30, 10))
        .expect("room again after replay");
}

#[test]
fn every_fsync_policy_round_trips() {
    for policy in [
        FsyncPolicy::Always,
        FsyncPolicy::Interval(Duration::from_millis(1)),
        FsyncPolicy::Never,
    ] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut c = cfg(dir.path());
        c.fsync = policy;
        let (mut spool, _) = Spool::open(c).expect("opens");
        spool.append(&batch(0, 3)).expect("appends");
        spool.sync().expect("syncs");
        assert_eq!(drain(&mut spool), batch(0, 3), "{policy:?}");
    }
}
