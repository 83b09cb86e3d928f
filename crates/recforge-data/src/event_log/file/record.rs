//! The record frame `[len u32][crc32 u32][offset u64][appended_ms u64][payload]` (little
//! endian; the CRC covers offset, time and payload) and the durable mark `DIR/durable`
//! (`[segment base u64][byte u64][crc32 u32]`): how far the active segment is known synced.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::event_log::MAX_RECORD_BYTES;

/// Bytes before the payload: length, CRC, offset, append time.
pub(super) const HEADER: usize = 24;
/// Bytes of the durable mark.
const MARK: usize = 20;

/// One step of a sequential scan.
pub(super) enum Step {
    Record { offset: u64, appended_ms: u64, payload: Vec<u8> },
    End,
    /// Bytes that are not a whole valid record (torn by a crash, or corrupt), and why.
    Torn(String),
}

pub(super) fn encode_record(offset: u64, appended_ms: u64, payload: &[u8], out: &mut Vec<u8>) {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&offset.to_le_bytes());
    hasher.update(&appended_ms.to_le_bytes());
    hasher.update(payload);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&appended_ms.to_le_bytes());
    out.extend_from_slice(payload);
}

/// Reads as many bytes as are there, up to `buf.len()`.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

fn le(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

pub(super) fn next_record(reader: &mut impl Read) -> std::io::Result<Step> {
    let mut header = [0u8; HEADER];
    match read_full(reader, &mut header)? {
        0 => return Ok(Step::End),
        n if n < HEADER => return Ok(Step::Torn(format!("a {n}-byte partial header"))),
        _ => {}
    }
    let len = le(&header[0..4]) as usize;
    let crc = le(&header[4..8]) as u32;
    let (offset, appended_ms) = (le(&header[8..16]), le(&header[16..24]));
    if len > MAX_RECORD_BYTES {
        return Ok(Step::Torn(format!("a length of {len} bytes")));
    }
    let mut payload = vec![0u8; len];
    if read_full(reader, &mut payload)? < len {
        return Ok(Step::Torn("a partial payload".into()));
    }
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&header[8..24]);
    hasher.update(&payload);
    if hasher.finalize() != crc {
        return Ok(Step::Torn("a checksum mismatch".into()));
    }
    Ok(Step::Record { offset, appended_ms, payload })
}

/// The durable mark: `(segment base, byte)`. Written after each synced append batch without a
/// sync of its own, so after a power loss it may lag (more is treated as a possibly torn
/// tail), never lead: it is only written once the bytes it covers are synced.
pub(super) fn write_mark(file: &File, base: u64, byte: u64) -> std::io::Result<()> {
    let mut bytes = [0u8; MARK];
    bytes[0..8].copy_from_slice(&base.to_le_bytes());
    bytes[8..16].copy_from_slice(&byte.to_le_bytes());
    let crc = crc32fast::hash(&bytes[0..16]);
    bytes[16..20].copy_from_slice(&crc.to_le_bytes());
    file.write_all_at(&bytes, 0)
}

/// Reads the durable mark; a missing or damaged mark reads as none (everything in the active
/// segment is then treated as a possibly torn tail, as before marks existed).
pub(super) fn read_mark(dir: &Path) -> Option<(u64, u64)> {
    let bytes = std::fs::read(dir.join("durable")).ok()?;
    if bytes.len() < MARK || crc32fast::hash(&bytes[0..16]) != le(&bytes[16..20]) as u32 {
        return None;
    }
    Some((le(&bytes[0..8]), le(&bytes[8..16])))
}

/// The durable byte of segment `base`: the mark's byte when it names this segment, else 0.
pub(super) fn durable_byte(dir: &Path, base: u64) -> u64 {
    match read_mark(dir) {
        Some((b, byte)) if b == base => byte,
        _ => 0,
    }
}
