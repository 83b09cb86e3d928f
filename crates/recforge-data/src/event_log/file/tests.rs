//! The file log under crashes, corruption, retention and poison records.
use std::collections::BTreeMap;

use super::*;
use crate::event_log::{EVENT_FORMAT_VERSION, Event, FeatureValue, MAX_RECORD_BYTES};

fn event(id: u64) -> Event {
    let mut features = BTreeMap::new();
    features.insert("user".to_string(), FeatureValue::Tokens(vec![format!("u{}", id % 7)]));
    features.insert("price".to_string(), FeatureValue::Number(id as f64 * 0.5));
    Event { v: EVENT_FORMAT_VERSION, id, ts: 1000 + id as i64, label: (id % 2) as f32, features }
}

fn small_segments(dir: &Path) -> FileEventLog {
    FileEventLog::open_url("test", &format!("{}?segment_bytes=600", dir.display())).unwrap()
}

fn ids(log: &FileEventLog) -> Vec<u64> {
    log.read(0, 1000).unwrap().iter().map(|d| d.event.id).collect()
}

#[test]
fn round_trip_across_segment_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_segments(dir.path());
    let events: Vec<Event> = (0..50).map(event).collect();
    assert_eq!(log.append(&events[..20]).unwrap(), 0);
    assert_eq!(log.append(&events[20..]).unwrap(), 20);
    assert!(log.segments().unwrap().len() > 3, "600-byte segments rotate");
    let all = log.read(0, 1000).unwrap();
    assert_eq!(all.iter().map(|d| d.event.clone()).collect::<Vec<_>>(), events);
    assert!(all.iter().enumerate().all(|(i, d)| d.offset == i as u64));
    // Random access from the middle of a later segment, and a fresh handle sees the same.
    let again = small_segments(dir.path());
    assert_eq!(again.read(33, 5).unwrap().iter().map(|d| d.event.id).collect::<Vec<_>>(), vec![33, 34, 35, 36, 37]);
    assert_eq!(again.end_offset().unwrap(), 50);
    assert!(again.read(50, 10).unwrap().is_empty());
}

#[test]
fn a_torn_tail_after_the_durable_mark_is_invisible_to_readers_and_cut_by_the_next_writer() {
    let dir = tempfile::tempdir().unwrap();
    {
        let log = small_segments(dir.path());
        log.append(&(0..10).map(event).collect::<Vec<_>>()).unwrap();
    }
    let last = small_segments(dir.path()).segments().unwrap().pop().unwrap();
    let good_len = std::fs::metadata(&last).unwrap().len();
    // A crash mid-write: half of a record's bytes after the last synced batch.
    let mut record = Vec::new();
    encode_record(10, 1, &event(10).to_bytes(), &mut record);
    let mut file = OpenOptions::new().append(true).open(&last).unwrap();
    file.write_all(&record[..record.len() / 2]).unwrap();
    drop(file);
    let log = small_segments(dir.path());
    assert_eq!(log.read(0, 100).unwrap().len(), 10, "readers stop before the torn record");
    let report = log.verify().unwrap();
    assert_eq!((report.records, report.corrupt_segments), (10, 0), "a torn tail is not corruption");
    assert!(report.segments.last().unwrap().problem.as_ref().is_some_and(|p| !p.corrupt && p.offset == 10));
    assert_eq!(log.append(&[event(10), event(11)]).unwrap(), 10);
    assert_eq!(log.recovered_bytes(), (record.len() / 2) as u64);
    assert!(std::fs::metadata(&last).unwrap().len() >= good_len);
    assert_eq!(ids(&small_segments(dir.path())), (0..12).collect::<Vec<_>>());
}

#[test]
fn mid_segment_corruption_is_an_error_naming_segment_and_byte_and_repair_tombstones_it() {
    let dir = tempfile::tempdir().unwrap();
    let segment = {
        let log = FileEventLog::open(dir.path()).unwrap();
        log.append(&(0..5).map(event).collect::<Vec<_>>()).unwrap();
        log.append(&(5..10).map(event).collect::<Vec<_>>()).unwrap();
        log.segments().unwrap().pop().unwrap()
    };
    // Flip one payload byte of record 3 (inside the first, long-synced batch).
    let record_len = |id: u64| (HEADER + event(id).to_bytes().len()) as u64;
    let third: u64 = (0..3).map(record_len).sum();
    let mut bytes = std::fs::read(&segment).unwrap();
    let before = bytes.len();
    bytes[third as usize + HEADER + 5] ^= 0x55;
    std::fs::write(&segment, &bytes).unwrap();

    let log = FileEventLog::open(dir.path()).unwrap();
    let err = log.read(0, 100).unwrap_err().to_string();
    assert!(err.contains(&format!("{}:{third}", segment.display())) && err.contains("checksum") && err.contains("repair"), "{err}");
    let err = log.append(&[event(10)]).unwrap_err().to_string();
    assert!(err.contains("durable position"), "the writer refuses too, cutting nothing: {err}");
    assert_eq!(std::fs::metadata(&segment).unwrap().len() as usize, before, "nothing was truncated");

    let report = log.verify().unwrap();
    assert_eq!(report.corrupt_segments, 1);
    let problem = report.segments[0].problem.clone().unwrap();
    assert_eq!((problem.byte, problem.offset, problem.corrupt), (third, 3, true));

    let repaired = log.repair(false).unwrap();
    assert_eq!(repaired.tombstoned, vec![3]);
    assert_eq!(repaired.lost_records, 0);
    assert_eq!(log.verify().unwrap().corrupt_segments, 0);
    // Offset 3 is now an undecodable record: a plain read names it, a consumer dead-letters it.
    assert!(log.read(0, 100).unwrap_err().to_string().contains("offset 3"));
    let mut consumer = log.consumer("g", "c").unwrap();
    let got: Vec<u64> = consumer.poll(100, Duration::ZERO).unwrap().iter().map(|d| d.event.id).collect();
    assert_eq!(got, vec![0, 1, 2, 4, 5, 6, 7, 8, 9]);
    let dead = log.dead_letters(0, 10).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].offset, 3);
    assert!(dead[0].payload.starts_with("#recforge repair"), "{:?}", dead[0].payload);
    assert_eq!(log.append(&[event(10)]).unwrap(), 10, "appends go on after the repair");
}

#[test]
fn a_damaged_frame_is_cut_only_when_asked_and_the_loss_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    let segment = {
        let log = FileEventLog::open(dir.path()).unwrap();
        log.append(&(0..6).map(event).collect::<Vec<_>>()).unwrap();
        log.segments().unwrap().pop().unwrap()
    };
    let second = (HEADER + event(0).to_bytes().len()) as usize;
    let mut bytes = std::fs::read(&segment).unwrap();
    bytes[second] ^= 0x40; // the length field: the frame no longer lines up
    std::fs::write(&segment, &bytes).unwrap();
    let log = FileEventLog::open(dir.path()).unwrap();
    let err = log.repair(false).unwrap_err().to_string();
    assert!(err.contains("losing 5 record(s)") && err.contains("--truncate"), "{err}");
    let outcome = log.repair(true).unwrap();
    assert_eq!((outcome.lost_records, outcome.tombstoned.len()), (5, 0));
    assert_eq!(ids(&log), vec![0]);
    assert_eq!(log.append(&[event(1)]).unwrap(), 1);
}

#[test]
fn an_oversized_record_is_rejected_and_nothing_of_its_batch_is_appended() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileEventLog::open(dir.path()).unwrap();
    log.append(&[event(0)]).unwrap();
    let batch = vec![event(1).to_bytes(), vec![b'x'; MAX_RECORD_BYTES + 1]];
    match log.append_raw(&batch) {
        Err(EventLogError::TooLarge { index, bytes, limit }) => assert_eq!((index, bytes, limit), (1, MAX_RECORD_BYTES + 1, MAX_RECORD_BYTES)),
        other => panic!("expected TooLarge, got {other:?}"),
    }
    assert_eq!(log.end_offset().unwrap(), 1);
    assert_eq!(log.append(&[event(1)]).unwrap(), 1);
}

#[test]
fn retention_never_passes_a_groups_committed_offset() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_segments(dir.path());
    log.append(&(0..40).map(event).collect::<Vec<_>>()).unwrap();
    let segments = log.segments().unwrap().len();
    assert!(segments > 4);
    let mut consumer = log.consumer("slow", "a").unwrap();
    let got = consumer.poll(12, Duration::ZERO).unwrap();
    consumer.commit(&got.iter().map(|d| d.offset).collect::<Vec<_>>()).unwrap();
    // Keep 1 byte: everything sealed could go, but "slow" has committed only 0..12.
    let outcome = log.trim(&Retention { bytes: Some(1), ..Retention::default() }).unwrap();
    assert_eq!(outcome.min_committed, Some(12));
    assert!(outcome.first_offset <= 12 && outcome.removed_segments > 0, "{outcome:?}");
    assert_eq!(outcome.removed_records, outcome.first_offset);
    // The group still gets every uncommitted event, and a new group starts at the oldest kept.
    let rest: Vec<u64> = consumer.poll(100, Duration::ZERO).unwrap().iter().map(|d| d.offset).collect();
    assert_eq!(rest, (12..40).collect::<Vec<_>>());
    let mut late = log.consumer("late", "b").unwrap();
    assert_eq!(late.poll(1, Duration::ZERO).unwrap()[0].offset, outcome.first_offset);
    drop(late);
    // "late" committed nothing: it now holds retention at the oldest kept offset.
    let again = log.trim(&Retention { bytes: Some(1), ..Retention::default() }).unwrap();
    assert_eq!(again.removed_records, 0);
    let stats = log.stats().unwrap();
    assert_eq!((stats.first_offset, stats.end_offset, stats.records), (outcome.first_offset, 40, 40 - outcome.first_offset));
    let slow = stats.groups.iter().find(|g| g.group == "slow").unwrap();
    assert_eq!((slow.committed, slow.lag), (12, 28));
    // Retention in the URL trims as segments fill.
    let dir2 = tempfile::tempdir().unwrap();
    let auto = FileEventLog::open_url("t", &format!("{}?segment_bytes=600&retain_bytes=1500", dir2.path().display())).unwrap();
    auto.append(&(0..60).map(event).collect::<Vec<_>>()).unwrap();
    auto.append(&[event(60)]).unwrap();
    let s = auto.stats().unwrap();
    assert!(s.first_offset > 0 && s.bytes <= 1500 + 600, "{s:?}");
}

#[test]
fn undecodable_records_go_to_the_dead_letter_log_and_are_committed() {
    let dir = tempfile::tempdir().unwrap();
    let log = FileEventLog::open(dir.path()).unwrap();
    log.append(&[event(0), event(1)]).unwrap();
    log.append_raw(&[b"{not json".to_vec(), br#"{"v":99,"id":7,"ts":0,"label":1,"features":{}}"#.to_vec()]).unwrap();
    log.append(&[event(4)]).unwrap();
    {
        let mut consumer = log.consumer("labelers", "me").unwrap();
        let got = consumer.poll(100, Duration::ZERO).unwrap();
        assert_eq!(got.iter().map(|d| d.offset).collect::<Vec<_>>(), vec![0, 1, 4]);
        assert_eq!(consumer.dead_lettered(), 2);
        consumer.commit(&[0, 1, 4]).unwrap();
    }
    let dead = log.dead_letters(0, 10).unwrap();
    assert_eq!(dead.iter().map(|d| d.offset).collect::<Vec<_>>(), vec![2, 3]);
    assert_eq!((dead[0].group.as_str(), dead[0].consumer.as_str(), dead[0].payload.as_str()), ("labelers", "me", "{not json"));
    assert!(dead[0].reason.contains("not an event"), "{}", dead[0].reason);
    assert!(dead[1].reason.contains("version 99"), "{}", dead[1].reason);
    let stats = log.stats().unwrap();
    assert_eq!(stats.dead_letters, 2);
    assert_eq!((stats.groups[0].committed, stats.groups[0].lag), (5, 0));
}

#[test]
fn committed_offsets_survive_a_restart_and_uncommitted_events_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let log = small_segments(dir.path());
    log.append(&(0..30).map(event).collect::<Vec<_>>()).unwrap();
    {
        let mut consumer = log.consumer("labelers", "a").unwrap();
        let first = consumer.poll(10, Duration::ZERO).unwrap();
        assert_eq!(first.len(), 10);
        // A second process (here: a second handle) cannot join the same file group.
        assert!(matches!(small_segments(dir.path()).consumer("labelers", "b"), Err(EventLogError::Busy(_))));
        consumer.commit(&first.iter().map(|d| d.offset).collect::<Vec<_>>()).unwrap();
        let second = consumer.poll(10, Duration::ZERO).unwrap();
        assert_eq!(second[0].offset, 10);
        // Out-of-order commit of the tail of the batch does not move the group past 10.
        consumer.commit(&[15, 16]).unwrap();
    } // "crash": the consumer goes away without committing 10..15.
    let mut consumer = small_segments(dir.path()).consumer("labelers", "a").unwrap();
    let again = consumer.poll(100, Duration::ZERO).unwrap();
    assert_eq!(again.first().map(|d| d.offset), Some(10));
    assert_eq!(again.len(), 20);
    assert!(consumer.poll(10, Duration::from_millis(20)).unwrap().is_empty());
    // Another group starts from 0.
    assert_eq!(log.consumer("students", "x").unwrap().poll(5, Duration::ZERO).unwrap()[0].offset, 0);
    assert!(log.consumer("../evil", "x").is_err());
}
