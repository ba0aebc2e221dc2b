use super::*;
use crate::spool::codec::tests::reading;
use crate::spool::scan::Record;

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

/// Readings per batch in the damage tests.
const PER_BATCH: i64 = 4;

/// `batches` batches of [`PER_BATCH`] readings in segments of about 1000 bytes, left
/// unsealed as a killed process leaves them; the segment files, oldest first.
fn segments_after_kill(dir: &Path, batches: i64) -> Vec<PathBuf> {
    let mut c = cfg(dir);
    c.segment_bytes = 1_000;
    let (mut spool, _) = Spool::open(c).expect("opens");
    for i in 0..batches {
        spool
            .append(&batch(i * PER_BATCH, PER_BATCH))
            .expect("appends");
    }
    let mut paths: Vec<PathBuf> = fs::read_dir(dir.join("spool"))
        .expect("spool dir")
        .map(|e| e.expect("entry").path())
        .collect();
    paths.sort();
    assert!(paths.len() >= 3, "{paths:?}");
    paths
}

/// The records of a segment file as the scanner reads it.
fn records(path: &Path) -> Vec<Record> {
    let bytes = fs::read(path).expect("read segment");
    Scanner::new(&bytes[..], 0, false)
        .map(|item| match item.expect("reads") {
            Item::Record(r) => r,
            other => panic!("{} is not intact: {other:?}", path.display()),
        })
        .collect()
}

/// Which batch (by number) the first reading of a record holds.
fn batch_no(r: &Record) -> i64 {
    let first = r.readings.first().expect("a reading");
    let all = batch(0, 1_000);
    all.iter()
        .position(|x| x == first)
        .expect("a known reading") as i64
        / PER_BATCH
}

fn flip(path: &Path, offset: u64, mask: u8) {
    let mut bytes = fs::read(path).expect("read");
    bytes[offset as usize] ^= mask;
    fs::write(path, bytes).expect("write");
}

/// Every reading written by [`segments_after_kill`] but those of batch `lost`.
fn all_but(batches: i64, lost: Option<i64>) -> Vec<Reading> {
    (0..batches)
        .filter(|&b| Some(b) != lost)
        .flat_map(|b| batch(b * PER_BATCH, PER_BATCH))
        .collect()
}

fn reopen(dir: &Path) -> (Spool, OpenReport) {
    Spool::open(cfg(dir)).expect("reopens")
}

#[test]
fn a_flipped_length_bit_mid_segment_loses_nothing() {
    // The reported case: bit 4 of byte 6 of a record header, in a segment before the
    // last, makes the length run 1 MiB past the end of the file.
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = segments_after_kill(dir.path(), 12);
    let victim = records(&segs[0])[1].clone();
    flip(&segs[0], victim.offset + 6, 1 << 4);
    let (mut spool, report) = reopen(dir.path());
    assert_eq!(report.set_aside, vec![]);
    assert_eq!((report.repaired, report.torn_bytes), (1, 0));
    assert_eq!(drain(&mut spool), all_but(12, None));
}

#[test]
fn a_flipped_length_bit_in_the_newest_segment_is_not_taken_for_a_tear() {
    for which in ["middle", "last"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let segs = segments_after_kill(dir.path(), 12);
        let newest = segs.last().expect("a segment");
        let recs = records(newest);
        assert!(recs.len() >= 2, "{which}: {recs:?}");
        let victim = if which == "middle" {
            &recs[0]
        } else {
            recs.last().expect("a record")
        };
        flip(newest, victim.offset + 6, 1 << 4);
        let (mut spool, report) = reopen(dir.path());
        assert_eq!(report.set_aside, vec![], "{which}");
        assert_eq!((report.repaired, report.torn_bytes), (1, 0), "{which}");
        assert_eq!(drain(&mut spool), all_but(12, None), "{which}");
    }
}

#[test]
fn a_repaired_segment_is_rewritten_and_reads_plainly_after() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = segments_after_kill(dir.path(), 12);
    let before: Vec<i64> = records(&segs[1]).iter().map(batch_no).collect();
    let victim = records(&segs[1])[0].clone();
    flip(&segs[1], victim.offset + 5, 0x80);
    drop(reopen(dir.path()));
    // The rewritten file is a plain run of records again, the same ones.
    let after = records(&segs[1]);
    assert_eq!(after.iter().map(batch_no).collect::<Vec<_>>(), before);
    assert!(after.iter().all(|r| !r.repaired));
    let (mut spool, report) = reopen(dir.path());
    assert_eq!((report.repaired, report.set_aside.len()), (0, 0));
    assert_eq!(drain(&mut spool), all_but(12, None));
}

#[test]
fn a_bad_checksum_mid_segment_loses_that_record_alone() {
    for seg_no in [0, 1, usize::MAX] {
        let dir = tempfile::tempdir().expect("tempdir");
        let segs = segments_after_kill(dir.path(), 12);
        let seg = &segs[seg_no.min(segs.len() - 1)];
        let victim = records(seg)[0].clone();
        let original =
            fs::read(seg).expect("read")[victim.offset as usize..victim.end() as usize].to_vec();
        flip(seg, victim.payload().start + 20, 0x01);
        let (mut spool, report) = reopen(dir.path());
        assert_eq!(report.set_aside.len(), 1, "segment {seg_no}");
        let aside = &report.set_aside[0];
        assert_eq!(
            (&aside.segment, aside.offset, aside.bytes, aside.readings),
            (seg, victim.offset, victim.len, PER_BATCH as u64),
            "segment {seg_no}"
        );
        let mut damaged = original;
        damaged[HEADER_LEN + 20] ^= 0x01;
        assert_eq!(fs::read(&aside.copy).expect("the copy"), damaged);
        assert_eq!(
            drain(&mut spool),
            all_but(12, Some(batch_no(&victim))),
            "segment {seg_no}"
        );
    }
}

#[test]
fn a_flipped_bit_in_the_checksum_field_loses_that_record_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = segments_after_kill(dir.path(), 12);
    let victim = records(&segs[1])[1].clone();
    flip(&segs[1], victim.offset + 9, 0x04);
    let (mut spool, report) = reopen(dir.path());
    assert_eq!(report.set_aside.len(), 1);
    assert_eq!(report.set_aside[0].readings, PER_BATCH as u64);
    assert_eq!(drain(&mut spool), all_but(12, Some(batch_no(&victim))));
}

#[test]
fn any_bit_flipped_in_a_header_costs_at_most_that_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = segments_after_kill(dir.path(), 12);
    let pristine = tempfile::tempdir().expect("tempdir");
    let copy_all = |from: &Path, to: &Path| {
        let _ = fs::remove_dir_all(to);
        fs::create_dir_all(to).expect("mkdir");
        for e in fs::read_dir(from).expect("dir") {
            let e = e.expect("entry");
            fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    };
    copy_all(&dir.path().join("spool"), &pristine.path().join("spool"));
    let victim = records(&segs[1])[1].clone();
    for byte in 0..HEADER_LEN as u64 {
        for bit in 0..8 {
            copy_all(&pristine.path().join("spool"), &dir.path().join("spool"));
            flip(&segs[1], victim.offset + byte, 1 << bit);
            let (mut spool, report) = reopen(dir.path());
            // The magic and the length are vouched for by the checksum; the checksum
            // itself by nothing.
            let lost = (byte >= 8).then(|| batch_no(&victim));
            assert_eq!(
                drain(&mut spool),
                all_but(12, lost),
                "bit {bit} of byte {byte}"
            );
            assert_eq!(
                report.set_aside.len(),
                usize::from(lost.is_some()),
                "bit {bit} of byte {byte}"
            );
        }
    }
}

#[test]
fn a_torn_tail_of_the_newest_segment_is_cut_and_every_segment_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = segments_after_kill(dir.path(), 12);
    let newest = segs.last().expect("a segment");
    let record = codec::encode_record(&batch(12 * PER_BATCH, PER_BATCH));
    let mut f = OpenOptions::new().append(true).open(newest).expect("open");
    f.write_all(&record[..record.len() - 7]).expect("write");
    drop(f);
    let (mut spool, report) = reopen(dir.path());
    assert_eq!(report.torn_bytes, (record.len() - 7) as u64);
    assert_eq!(report.set_aside, vec![]);
    assert_eq!(segments(dir.path(), "corrupt"), 0);
    assert_eq!(drain(&mut spool), all_but(12, None));
}

#[test]
fn zeros_at_the_end_of_the_newest_segment_are_a_tear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = segments_after_kill(dir.path(), 12);
    let newest = segs.last().expect("a segment");
    let mut f = OpenOptions::new().append(true).open(newest).expect("open");
    f.write_all(&[0; 4096]).expect("write");
    drop(f);
    let (mut spool, report) = reopen(dir.path());
    assert_eq!((report.torn_bytes, report.set_aside.len()), (4096, 0));
    assert_eq!(drain(&mut spool), all_but(12, None));
}

#[test]
fn a_cut_short_older_segment_is_damage_not_a_tear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = segments_after_kill(dir.path(), 12);
    let last = records(&segs[0]).last().expect("a record").clone();
    let f = OpenOptions::new().write(true).open(&segs[0]).expect("open");
    f.set_len(last.end() - 10).expect("truncate");
    drop(f);
    let (mut spool, report) = reopen(dir.path());
    assert_eq!(report.torn_bytes, 0);
    assert_eq!(report.set_aside.len(), 1);
    assert_eq!(
        (report.set_aside[0].offset, report.set_aside[0].bytes),
        (last.offset, last.len - 10)
    );
    assert_eq!(drain(&mut spool), all_but(12, Some(batch_no(&last))));
}

#[test]
fn garbage_between_records_is_set_aside_and_every_record_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = segments_after_kill(dir.path(), 12);
    let at = records(&segs[1])[1].offset as usize;
    // Garbage holding the magic and a plausible length, too.
    let mut garbage = vec![0xAB; 100];
    garbage[40..44].copy_from_slice(&codec::MAGIC.to_le_bytes());
    garbage[44..48].copy_from_slice(&30u32.to_le_bytes());
    let mut bytes = fs::read(&segs[1]).expect("read");
    bytes.splice(at..at, garbage.iter().copied());
    fs::write(&segs[1], bytes).expect("write");
    let (mut spool, report) = reopen(dir.path());
    assert_eq!(report.set_aside.len(), 1);
    let aside = &report.set_aside[0];
    assert_eq!(
        (aside.offset, aside.bytes, aside.readings),
        (at as u64, 100, 0)
    );
    assert_eq!(fs::read(&aside.copy).expect("copy"), garbage);
    assert_eq!(drain(&mut spool), all_but(12, None));
}

#[test]
fn damage_is_set_aside_once_not_at_every_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = segments_after_kill(dir.path(), 12);
    let victim = records(&segs[1])[0].clone();
    flip(&segs[1], victim.payload().start + 3, 0x10);
    let (_, first) = reopen(dir.path());
    assert_eq!(first.set_aside.len(), 1);
    let (mut spool, second) = reopen(dir.path());
    assert_eq!(second.set_aside, vec![]);
    assert_eq!(segments(dir.path(), "corrupt"), 1);
    assert_eq!(drain(&mut spool), all_but(12, Some(batch_no(&victim))));
}

#[test]
fn damage_met_during_replay_is_skipped_and_handed_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut c = cfg(dir.path());
    c.segment_bytes = 1_000;
    let (mut spool, _) = Spool::open(c).expect("opens");
    for i in 0..12 {
        spool
            .append(&batch(i * PER_BATCH, PER_BATCH))
            .expect("appends");
    }
    // The disk goes bad under a sealed segment after start-up.
    let seg = spool.sealed[1].path.clone();
    let victim = records(&seg)[1].clone();
    flip(&seg, victim.payload().start + 21, 0x02);
    assert_eq!(drain(&mut spool), all_but(12, Some(batch_no(&victim))));
    let aside = spool.take_set_aside();
    assert_eq!(aside.len(), 1);
    assert_eq!(
        (&aside[0].segment, aside[0].offset, aside[0].readings),
        (&seg, victim.offset, PER_BATCH as u64)
    );
    assert!(aside[0].copy.exists());
    assert_eq!(spool.take_set_aside(), vec![]);
    assert!(spool.is_empty());
}

#[test]
fn a_scan_covers_every_byte_once_in_order() {
    let mut bytes = Vec::new();
    for i in 0..6 {
        bytes.extend(codec::encode_record(&batch(i * 4, 4)));
    }
    let len = bytes.len();
    bytes[len / 3] ^= 0x40;
    bytes.splice(len / 2..len / 2, [1, 2, 3]);
    bytes.truncate(bytes.len() - 5);
    for tail_may_tear in [false, true] {
        let mut at = 0;
        let mut kinds = Vec::new();
        for item in Scanner::new(&bytes[..], 0, tail_may_tear) {
            let (offset, end, kind) = match item.expect("reads") {
                Item::Record(r) => (r.offset, r.end(), "record"),
                Item::Damaged(s) => (s.offset, s.end(), "damaged"),
                Item::Torn(s) => (s.offset, s.end(), "torn"),
            };
            assert_eq!(offset, at);
            at = end;
            kinds.push(kind);
        }
        assert_eq!(at, bytes.len() as u64);
        assert_eq!(
            kinds.last(),
            Some(&if tail_may_tear { "torn" } else { "damaged" })
        );
    }
}

#[test]
fn inspect_lists_damage_with_offsets_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = segments_after_kill(dir.path(), 12);
    let victim = records(&segs[1])[0].clone();
    flip(&segs[1], victim.payload().start + 20, 0x01);
    let before = fs::read(&segs[1]).expect("read");
    let found = salvage::inspect(&dir.path().join("spool")).expect("inspects");
    assert_eq!(fs::read(&segs[1]).expect("read"), before);
    assert_eq!(segments(dir.path(), "corrupt"), 0);
    assert_eq!(found.files.len(), segs.len());
    let damaged = &found.files[1].damaged;
    assert_eq!(damaged.len(), 1);
    assert_eq!(
        (damaged[0].offset, damaged[0].bytes),
        (victim.offset, victim.len)
    );
    let readings: u64 = found.files.iter().map(|f| f.readings).sum();
    assert_eq!(readings, 11 * PER_BATCH as u64);
    let text = found.to_string();
    assert!(
        text.contains(&format!(
            "damaged at byte {}: {} bytes (4 readings",
            victim.offset, victim.len
        )),
        "{text}"
    );
}

#[test]
fn salvage_recovers_whole_segments_set_aside_as_corrupt() {
    // Whole segments renamed `.corrupt` for one bad record, as older versions did.
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = segments_after_kill(dir.path(), 12);
    let victim = records(&segs[1])[1].clone();
    flip(&segs[1], victim.payload().start + 7, 0x08);
    fs::rename(&segs[1], segs[1].with_extension("corrupt")).expect("rename");
    let out = dir.path().join("clean");
    let done = salvage::salvage(&dir.path().join("spool"), &out).expect("salvages");
    assert_eq!(done.records, 11);
    assert_eq!(done.lost.len(), 1);
    assert_eq!(
        (done.lost[0].span.offset, done.lost[0].torn),
        (victim.offset, false)
    );
    let (mut clean, found) = Spool::open(SpoolConfig::new(&out)).expect("opens");
    assert_eq!(found.set_aside, vec![]);
    let mut got = drain(&mut clean);
    let mut want = all_but(12, Some(batch_no(&victim)));
    got.sort_by_key(|r| r.timestamp);
    want.sort_by_key(|r| r.timestamp);
    assert_eq!(got, want);
}

#[test]
fn salvage_refuses_to_write_into_the_folder_it_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    segments_after_kill(dir.path(), 12);
    let spool = dir.path().join("spool");
    let err =
        salvage::salvage(&spool, &dir.path().join(".").join("spool")).expect_err("same folder");
    assert!(matches!(err, salvage::SalvageError::SameFolder(_)), "{err}");
}

#[test]
fn a_second_damage_at_the_same_offset_gets_a_copy_of_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let segs = segments_after_kill(dir.path(), 12);
    let first = records(&segs[1])[1].clone();
    flip(&segs[1], first.payload().start + 20, 0x01);
    let (mut spool, report) = reopen(dir.path());
    assert_eq!(report.set_aside.len(), 1);
    // The record that follows now sits where the damaged one was; it goes bad in turn.
    let second = records(&segs[1])[1].clone();
    assert_eq!(second.offset, first.offset);
    flip(&segs[1], second.payload().start + 20, 0x01);
    assert_eq!(
        drain(&mut spool).len(),
        all_but(12, Some(batch_no(&first))).len() - PER_BATCH as usize
    );
    let aside = spool.take_set_aside();
    assert_eq!(aside.len(), 1);
    assert_ne!(aside[0].copy, report.set_aside[0].copy);
    assert!(report.set_aside[0].copy.exists() && aside[0].copy.exists());
    assert_eq!(segments(dir.path(), "corrupt"), 2);
}
