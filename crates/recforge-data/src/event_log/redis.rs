//! The scale-out event log: a Redis Stream with consumer groups.
//!
//! Keys: the stream `recforge:events:{<NAME>}` (NAME from the URL path, default `events`),
//! `recforge:events:{<NAME>}:seq`, the number of events appended, and
//! `recforge:events:{<NAME>}:dead`, the dead-letter stream (fields `o` offset, `g` group, `c`
//! consumer, `t` append time, `d` dead time, `r` reason, `e` payload). The braces are a
//! hash tag: every key of a stream lives in one Redis Cluster slot, so the append script runs
//! on a cluster. A Lua script appends a batch
//! atomically with explicit entry ids `<offset + 1>-0` and remembers the client's batch id for
//! a day (`…:{NAME}:batch:<id>`), so an append retried after a lost reply is not doubled, so offsets are dense like the file
//! log's and several producers never interleave inside a batch; each entry holds `t` (append
//! time, ms) and `e` (the event's JSON).
//!
//! Consumers: XREADGROUP delivers new entries (`>`); a consumer that restarts under the same
//! name first gets back its own pending (delivered, unacknowledged) entries; entries pending
//! on a consumer idle longer than `claim_idle_ms` (default 30 s) are taken over with
//! XAUTOCLAIM, so work a dead labeler held is redone; XACK commits. Every call retries
//! connection failures with exponential backoff ([`crate::redis_conn`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::Value;

use super::inspect::min_committed;
use super::{
    Consumer, DeadLetter, EventLog, EventLogError, GroupStats, LogStats, RawDelivery, Result, Retention, TrimOutcome, check_group_name,
    check_sizes, dead_letter_for, now_ms,
};
use crate::redis_conn::{Connection, RedisConn, RedisUrl};

/// The stream name when the URL has none.
pub const DEFAULT_STREAM: &str = "events";
/// How long an entry may sit pending on a silent consumer before another claims it.
pub const DEFAULT_CLAIM_IDLE_MS: u64 = 30_000;
/// Events per append script call (bounds the script's argument list).
const APPEND_CHUNK: usize = 1000;

/// How long a batch id is remembered: a retried append arrives within the connection retry
/// window (`retry_secs`), far below a day.
const BATCH_ID_TTL_SECS: u64 = 86_400;

/// KEYS[1] = stream, KEYS[2] = sequence, KEYS[3] = this batch's id key; ARGV[1] = append time
/// (ms), ARGV[2] = how long to remember the batch id (s); ARGV[3..] = events. A batch id seen before returns its first offset again without
/// appending: a client that retries after losing the reply never appends twice.
const APPEND_SCRIPT: &str = r#"
local done = redis.call('GET', KEYS[3])
if done then return tonumber(done) end
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
local first = n
for i = 3, #ARGV do
  n = n + 1
  redis.call('XADD', KEYS[1], string.format('%.0f-0', n), 't', ARGV[1], 'e', ARGV[i])
end
redis.call('SET', KEYS[2], string.format('%.0f', n))
redis.call('SET', KEYS[3], string.format('%.0f', first), 'EX', ARGV[2])
return first
"#;

/// A Redis Streams event log.
pub struct RedisEventLog {
    url: RedisUrl,
    stream: String,
    claim_idle_ms: u64,
    conn: Mutex<RedisConn>,
    script: redis::Script,
}

fn backend(message: String) -> EventLogError {
    EventLogError::Backend(message)
}

impl RedisEventLog {
    /// Opens `redis://HOST:PORT[/NAME][?claim_idle_ms=M&retries=N&backoff_ms=B]` (or
    /// `redis+cluster://HOST:PORT[,HOST:PORT…][/NAME][?…]`) and checks the server answers (with
    /// retries).
    pub fn open(url: &str) -> Result<RedisEventLog> {
        let parsed = RedisUrl::parse(url).map_err(|reason| EventLogError::BadUrl { url: url.into(), reason })?;
        let claim_idle_ms = parsed.param("claim_idle_ms", DEFAULT_CLAIM_IDLE_MS).map_err(backend)?;
        let stream = format!("recforge:events:{{{}}}", parsed.name.as_deref().unwrap_or(DEFAULT_STREAM));
        let mut conn = RedisConn::new(&parsed).map_err(backend)?;
        conn.run(|c| redis::cmd("PING").query::<String>(c)).map_err(backend)?;
        Ok(RedisEventLog { url: parsed, stream, claim_idle_ms, conn: Mutex::new(conn), script: redis::Script::new(APPEND_SCRIPT) })
    }

    /// The stream's key.
    pub fn stream_key(&self) -> &str {
        &self.stream
    }

    /// This log's connection as `(node, CLIENT ID)` on every node it holds (node empty on a
    /// single server, one per master on a cluster); tests drop them with CLIENT KILL ID.
    pub fn client_ids(&self) -> Result<Vec<(String, i64)>> {
        self.with(|c| c.client_ids())
    }

    /// The master holding this log's stream (`HOST:PORT`) on a cluster; `None` on one server.
    pub fn master(&self) -> Result<Option<String>> {
        self.with(|c| c.master_of(&self.stream))
    }

    /// Deletes the stream and its sequence (tests clean up with this).
    pub fn delete(&self) -> Result<()> {
        let keys = [self.stream.clone(), format!("{}:seq", self.stream), format!("{}:dead", self.stream)];
        self.with(|c| redis::cmd("DEL").arg(&keys).query::<()>(c))
    }

    /// Appends `payloads` under the client batch id `batch` (one id per call; chunk `i` uses
    /// `<batch>.<i>`): calling again with the same id — what the connection retry does after
    /// a lost reply — returns the same first offset and appends nothing.
    pub fn append_batch(&self, batch: &str, payloads: &[Vec<u8>]) -> Result<u64> {
        check_sizes(payloads)?;
        let seq = format!("{}:seq", self.stream);
        let mut first = None;
        for (i, payloads) in payloads.chunks(APPEND_CHUNK).enumerate() {
            let now = now_ms();
            let id_key = format!("{}:batch:{batch}.{i}", self.stream);
            let start: u64 = self.with(|c| {
                let mut invocation = self.script.prepare_invoke();
                invocation.key(&self.stream).key(&seq).key(&id_key).arg(now).arg(BATCH_ID_TTL_SECS);
                for p in payloads {
                    invocation.arg(p.as_slice());
                }
                invocation.invoke(c)
            })?;
            first.get_or_insert(start);
        }
        match first {
            Some(first) => Ok(first),
            None => self.end_offset(),
        }
    }

    fn with<T>(&self, f: impl FnMut(&mut Connection) -> redis::RedisResult<T>) -> Result<T> {
        self.conn.lock().map_err(|_| backend("a thread panicked while holding the connection".into()))?.run(f).map_err(backend)
    }
}

impl EventLog for RedisEventLog {
    fn url(&self) -> &str {
        &self.url.url
    }

    fn append_raw(&self, payloads: &[Vec<u8>]) -> Result<u64> {
        let batch: u128 = rand::random();
        self.append_batch(&format!("{batch:032x}"), payloads)
    }

    fn read_raw(&self, from: u64, max: usize) -> Result<Vec<RawDelivery>> {
        let value: Value = self.with(|c| {
            redis::cmd("XRANGE").arg(&self.stream).arg(format!("{}-0", from + 1)).arg("+").arg("COUNT").arg(max).query(c)
        })?;
        parse_entries(&value, &self.url.url)
    }

    fn end_offset(&self) -> Result<u64> {
        let n: Option<u64> = self.with(|c| redis::cmd("GET").arg(format!("{}:seq", self.stream)).query(c))?;
        Ok(n.unwrap_or(0))
    }

    fn consumer(&self, group: &str, consumer: &str) -> Result<Box<dyn Consumer>> {
        check_group_name(group)?;
        let mut conn = RedisConn::new(&self.url).map_err(backend)?;
        conn.run(|c| match redis::cmd("XGROUP").arg("CREATE").arg(&self.stream).arg(group).arg("0").arg("MKSTREAM").query::<()>(c) {
            Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
            other => other,
        })
        .map_err(backend)?;
        Ok(Box::new(RedisConsumer {
            conn,
            url: self.url.url.clone(),
            stream: self.stream.clone(),
            group: group.to_string(),
            name: consumer.to_string(),
            claim_idle_ms: self.claim_idle_ms,
            dead: 0,
            own_pending_done: false,
            last_claim: None,
        }))
    }

    fn stats(&self) -> Result<LogStats> {
        let end_offset = self.end_offset()?;
        let dead_key = format!("{}:dead", self.stream);
        let (records, bytes, dead_letters, first): (u64, Option<u64>, u64, Value) = self.with(|c| {
            redis::pipe()
                .cmd("XLEN")
                .arg(&self.stream)
                .cmd("MEMORY")
                .arg("USAGE")
                .arg(&self.stream)
                .cmd("XLEN")
                .arg(&dead_key)
                .cmd("XRANGE")
                .arg(&self.stream)
                .arg("-")
                .arg("+")
                .arg("COUNT")
                .arg(1)
                .query(c)
        })?;
        let first_offset = match &first {
            Value::Array(entries) => entries.first().and_then(entry_fields).and_then(|(id, _)| id_offset(&id)).unwrap_or(end_offset),
            _ => end_offset,
        };
        let groups = self.groups(end_offset)?;
        Ok(LogStats {
            url: self.url.url.clone(),
            backend: "redis".into(),
            first_offset,
            end_offset,
            records,
            segments: None,
            bytes: bytes.unwrap_or(0),
            dead_letters,
            groups,
        })
    }

    fn dead_letters(&self, from: u64, max: usize) -> Result<Vec<DeadLetter>> {
        let key = format!("{}:dead", self.stream);
        let count = from.saturating_add(max as u64);
        let value: Value = self.with(|c| redis::cmd("XRANGE").arg(&key).arg("-").arg("+").arg("COUNT").arg(count).query(c))?;
        let Value::Array(entries) = value else { return Ok(Vec::new()) };
        let number = |fields: &[Value], name: &str| field(fields, name).and_then(int).unwrap_or(0);
        let string = |fields: &[Value], name: &str| field(fields, name).and_then(text).unwrap_or_default();
        Ok(entries
            .iter()
            .skip(from as usize)
            .filter_map(entry_fields)
            .map(|(_, fields)| DeadLetter {
                offset: number(fields, "o"),
                group: string(fields, "g"),
                consumer: string(fields, "c"),
                appended_ms: number(fields, "t"),
                dead_ms: number(fields, "d"),
                reason: string(fields, "r"),
                payload: match field(fields, "e") {
                    Some(Value::BulkString(bytes)) => String::from_utf8_lossy(bytes).into_owned(),
                    _ => String::new(),
                },
            })
            .collect())
    }

    /// `MAXLEN` (`retention.events`) and the time limit become one `MINID`, lowered to the
    /// oldest offset a group has not committed.
    fn trim(&self, retention: &Retention) -> Result<TrimOutcome> {
        let stats = self.stats()?;
        let floor = min_committed(&stats.groups);
        let mut target = stats.first_offset;
        if let Some(n) = retention.events {
            target = target.max(stats.end_offset.saturating_sub(n));
        }
        if let Some(cutoff) = retention.cutoff_ms(now_ms()) {
            target = target.max(self.first_at_or_after(cutoff, stats.first_offset, stats.end_offset)?);
        }
        if let Some(f) = floor {
            target = target.min(f);
        }
        let mut outcome = TrimOutcome { first_offset: stats.first_offset, min_committed: floor, ..TrimOutcome::default() };
        if target > stats.first_offset {
            outcome.removed_records = self.with(|c| redis::cmd("XTRIM").arg(&self.stream).arg("MINID").arg(format!("{}-0", target + 1)).query(c))?;
            outcome.first_offset = target;
        }
        Ok(outcome)
    }
}

impl RedisEventLog {
    /// Every consumer group with its committed offset: the oldest pending entry, or the last
    /// delivered one + 1 when nothing is pending.
    fn groups(&self, end_offset: u64) -> Result<Vec<GroupStats>> {
        let value: Value = match self.with(|c| redis::cmd("XINFO").arg("GROUPS").arg(&self.stream).query(c)) {
            Ok(v) => v,
            Err(EventLogError::Backend(m)) if m.contains("no such key") => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let Value::Array(groups) = value else { return Ok(Vec::new()) };
        let mut out = Vec::new();
        for group in &groups {
            let info = pairs(group);
            let get = |name: &str| info.iter().find(|(k, _)| k == name).map(|(_, v)| *v);
            let Some(name) = get("name").and_then(text) else { continue };
            let pending = get("pending").and_then(int).unwrap_or(0);
            let consumers = get("consumers").and_then(int);
            let delivered = get("last-delivered-id").and_then(text).and_then(|id| id_offset(&id)).map_or(0, |o| o + 1);
            let committed = if pending > 0 {
                let summary: Value = self.with(|c| redis::cmd("XPENDING").arg(&self.stream).arg(&name).query(c))?;
                match &summary {
                    Value::Array(parts) => parts.get(1).and_then(text).and_then(|id| id_offset(&id)).unwrap_or(delivered),
                    _ => delivered,
                }
            } else {
                delivered
            };
            out.push(GroupStats { group: name, committed, lag: end_offset.saturating_sub(committed), pending: Some(pending), consumers });
        }
        Ok(out)
    }

    /// The first offset in `first..end` appended at or after `cutoff_ms` (binary search on `t`).
    fn first_at_or_after(&self, cutoff_ms: u64, first: u64, end: u64) -> Result<u64> {
        let (mut lo, mut hi) = (first, end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match self.read_raw(mid, 1)?.first() {
                Some(r) if r.appended_ms < cutoff_ms => lo = r.offset.max(mid) + 1,
                _ => hi = mid,
            }
        }
        Ok(lo)
    }
}

struct RedisConsumer {
    conn: RedisConn,
    url: String,
    stream: String,
    group: String,
    name: String,
    claim_idle_ms: u64,
    dead: u64,
    own_pending_done: bool,
    last_claim: Option<Instant>,
}

impl RedisConsumer {
    fn read_group(&mut self, max: usize, id: &str, block: Option<Duration>) -> Result<Vec<RawDelivery>> {
        let value: Value = self
            .conn
            .run(|c| {
                let mut cmd = redis::cmd("XREADGROUP");
                cmd.arg("GROUP").arg(&self.group).arg(&self.name).arg("COUNT").arg(max);
                if let Some(block) = block {
                    cmd.arg("BLOCK").arg(block.as_millis().max(1) as u64);
                }
                cmd.arg("STREAMS").arg(&self.stream).arg(id).query(c)
            })
            .map_err(backend)?;
        // [[stream, [entries…]]] or nil.
        match value {
            Value::Array(streams) => match streams.first() {
                Some(Value::Array(pair)) if pair.len() == 2 => parse_entries(&pair[1], &self.url),
                _ => Ok(Vec::new()),
            },
            _ => Ok(Vec::new()),
        }
    }
}

impl Consumer for RedisConsumer {
    fn poll_raw(&mut self, max: usize, wait: Duration) -> Result<Vec<RawDelivery>> {
        if !self.own_pending_done {
            let mine = self.read_group(max, "0", None)?;
            if !mine.is_empty() {
                return Ok(mine);
            }
            self.own_pending_done = true;
        }
        let claim_every = Duration::from_millis((self.claim_idle_ms / 2).max(1));
        if self.last_claim.is_none_or(|t| t.elapsed() >= claim_every) {
            self.last_claim = Some(Instant::now());
            let value: Value = self
                .conn
                .run(|c| {
                    redis::cmd("XAUTOCLAIM")
                        .arg(&self.stream)
                        .arg(&self.group)
                        .arg(&self.name)
                        .arg(self.claim_idle_ms)
                        .arg("0-0")
                        .arg("COUNT")
                        .arg(max)
                        .query(c)
                })
                .map_err(backend)?;
            // [next cursor, [entries…], [deleted ids…]]
            if let Value::Array(parts) = &value
                && let Some(entries) = parts.get(1)
            {
                let claimed = parse_entries(entries, &self.url)?;
                if !claimed.is_empty() {
                    return Ok(claimed);
                }
            }
        }
        self.read_group(max, ">", (!wait.is_zero()).then_some(wait))
    }

    fn commit(&mut self, offsets: &[u64]) -> Result<()> {
        if offsets.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = offsets.iter().map(|o| format!("{}-0", o + 1)).collect();
        self.conn
            .run(|c| redis::cmd("XACK").arg(&self.stream).arg(&self.group).arg(&ids).query::<u64>(c))
            .map(|_| ())
            .map_err(backend)
    }

    fn dead_letter(&mut self, record: &RawDelivery, reason: &str) -> Result<()> {
        let letter = dead_letter_for(record, reason, &self.group, &self.name);
        let key = format!("{}:dead", self.stream);
        self.conn
            .run(|c| {
                redis::cmd("XADD")
                    .arg(&key)
                    .arg("*")
                    .arg("o")
                    .arg(letter.offset)
                    .arg("g")
                    .arg(&letter.group)
                    .arg("c")
                    .arg(&letter.consumer)
                    .arg("t")
                    .arg(letter.appended_ms)
                    .arg("d")
                    .arg(letter.dead_ms)
                    .arg("r")
                    .arg(&letter.reason)
                    .arg("e")
                    .arg(record.payload.as_slice())
                    .query::<String>(c)
            })
            .map_err(backend)?;
        self.dead += 1;
        Ok(())
    }

    fn dead_lettered(&self) -> u64 {
        self.dead
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// Parses `[[id, [field, value, …]], …]`; entries whose fields are gone (deleted) are skipped.
fn parse_entries(value: &Value, url: &str) -> Result<Vec<RawDelivery>> {
    let Value::Array(entries) = value else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let Some((id, fields)) = entry_fields(entry) else { continue };
        let location = format!("{url} entry {id}");
        let bad = |message: &str| EventLogError::Corrupt { location: location.clone(), message: message.into() };
        let offset = id
            .split_once('-')
            .and_then(|(ms, _)| ms.parse::<u64>().ok())
            .and_then(|n| n.checked_sub(1))
            .ok_or_else(|| bad("the entry id is not <offset+1>-0; was the stream written by another program?"))?;
        let appended_ms = field(fields, "t").and_then(|v| text(v)).and_then(|t| t.parse().ok()).unwrap_or(0);
        // An entry without a payload is still delivered (and dead-lettered), never a stop.
        let payload = match field(fields, "e") {
            Some(Value::BulkString(bytes)) => bytes.clone(),
            _ => Vec::new(),
        };
        out.push(RawDelivery { offset, appended_ms, payload });
    }
    Ok(out)
}

/// `[id, [field, value, …]]` → (id, fields).
fn entry_fields(entry: &Value) -> Option<(String, &[Value])> {
    let Value::Array(pair) = entry else { return None };
    match (pair.first().and_then(text), pair.get(1)) {
        (Some(id), Some(Value::Array(fields))) => Some((id, fields.as_slice())),
        _ => None,
    }
}

fn field<'a>(fields: &'a [Value], name: &str) -> Option<&'a Value> {
    fields.chunks(2).find(|kv| kv.first().and_then(text).as_deref() == Some(name)).and_then(|kv| kv.get(1))
}

/// Offset of a stream id `<offset + 1>-0`.
fn id_offset(id: &str) -> Option<u64> {
    id.split_once('-').and_then(|(ms, _)| ms.parse::<u64>().ok()).and_then(|n| n.checked_sub(1))
}

fn int(value: &Value) -> Option<u64> {
    match value {
        Value::Int(n) => u64::try_from(*n).ok(),
        other => text(other).and_then(|t| t.parse().ok()),
    }
}

/// `[k, v, k, v, …]` (RESP2) or a map (RESP3) → pairs.
fn pairs(value: &Value) -> Vec<(String, &Value)> {
    match value {
        Value::Array(items) => items.chunks(2).filter_map(|kv| Some((text(kv.first()?)?, kv.get(1)?))).collect(),
        Value::Map(items) => items.iter().filter_map(|(k, v)| Some((text(k)?, v))).collect(),
        _ => Vec::new(),
    }
}
