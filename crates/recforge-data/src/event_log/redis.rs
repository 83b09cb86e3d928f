//! The scale-out event log: a Redis Stream with consumer groups.
//!
//! Keys: the stream `recforge:events:<NAME>` (NAME from the URL path, default `events`) and
//! `recforge:events:<NAME>:seq`, the number of events appended. A Lua script appends a batch
//! atomically with explicit entry ids `<offset + 1>-0`, so offsets are dense like the file
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

use super::{Consumer, Delivery, Event, EventLog, EventLogError, Result, check_group_name, now_ms};
use crate::redis_conn::{RedisConn, RedisUrl};

/// The stream name when the URL has none.
pub const DEFAULT_STREAM: &str = "events";
/// How long an entry may sit pending on a silent consumer before another claims it.
pub const DEFAULT_CLAIM_IDLE_MS: u64 = 30_000;
/// Events per append script call (bounds the script's argument list).
const APPEND_CHUNK: usize = 1000;

/// KEYS[1] = stream, KEYS[2] = sequence; ARGV[1] = append time (ms); ARGV[2..] = events.
const APPEND_SCRIPT: &str = r#"
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
local first = n
for i = 2, #ARGV do
  n = n + 1
  redis.call('XADD', KEYS[1], string.format('%.0f-0', n), 't', ARGV[1], 'e', ARGV[i])
end
redis.call('SET', KEYS[2], string.format('%.0f', n))
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
    /// Opens `redis://HOST:PORT[/NAME][?claim_idle_ms=M&retries=N&backoff_ms=B]` and checks
    /// the server answers (with retries).
    pub fn open(url: &str) -> Result<RedisEventLog> {
        let parsed = RedisUrl::parse(url).map_err(|reason| EventLogError::BadUrl { url: url.into(), reason })?;
        let claim_idle_ms = parsed.param("claim_idle_ms", DEFAULT_CLAIM_IDLE_MS).map_err(backend)?;
        let stream = format!("recforge:events:{}", parsed.name.as_deref().unwrap_or(DEFAULT_STREAM));
        let mut conn = RedisConn::new(&parsed).map_err(backend)?;
        conn.run(|c| redis::cmd("PING").query::<String>(c)).map_err(backend)?;
        Ok(RedisEventLog { url: parsed, stream, claim_idle_ms, conn: Mutex::new(conn), script: redis::Script::new(APPEND_SCRIPT) })
    }

    /// The stream's key.
    pub fn stream_key(&self) -> &str {
        &self.stream
    }

    /// Deletes the stream and its sequence (tests clean up with this).
    pub fn delete(&self) -> Result<()> {
        let keys = [self.stream.clone(), format!("{}:seq", self.stream)];
        self.with(|c| redis::cmd("DEL").arg(&keys).query::<()>(c))
    }

    fn with<T>(&self, f: impl FnMut(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T> {
        self.conn.lock().map_err(|_| backend("a thread panicked while holding the connection".into()))?.run(f).map_err(backend)
    }
}

impl EventLog for RedisEventLog {
    fn url(&self) -> &str {
        &self.url.url
    }

    fn append(&self, events: &[Event]) -> Result<u64> {
        let seq = format!("{}:seq", self.stream);
        let mut first = None;
        for chunk in events.chunks(APPEND_CHUNK) {
            let payloads: Vec<Vec<u8>> = chunk.iter().map(Event::to_bytes).collect();
            let now = now_ms();
            let start: u64 = self.with(|c| {
                let mut invocation = self.script.prepare_invoke();
                invocation.key(&self.stream).key(&seq).arg(now);
                for p in &payloads {
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

    fn read(&self, from: u64, max: usize) -> Result<Vec<Delivery>> {
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
            own_pending_done: false,
            last_claim: None,
        }))
    }
}

struct RedisConsumer {
    conn: RedisConn,
    url: String,
    stream: String,
    group: String,
    name: String,
    claim_idle_ms: u64,
    own_pending_done: bool,
    last_claim: Option<Instant>,
}

impl RedisConsumer {
    fn read_group(&mut self, max: usize, id: &str, block: Option<Duration>) -> Result<Vec<Delivery>> {
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
    fn poll(&mut self, max: usize, wait: Duration) -> Result<Vec<Delivery>> {
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
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        _ => None,
    }
}

/// Parses `[[id, [field, value, …]], …]`; entries whose fields are gone (deleted) are skipped.
fn parse_entries(value: &Value, url: &str) -> Result<Vec<Delivery>> {
    let Value::Array(entries) = value else { return Ok(Vec::new()) };
    let mut out = Vec::with_capacity(entries.len());
    for entry in entries {
        let Value::Array(pair) = entry else { continue };
        let (Some(id), Some(Value::Array(fields))) = (pair.first().and_then(text), pair.get(1)) else { continue };
        let location = format!("{url} entry {id}");
        let bad = |message: &str| EventLogError::Corrupt { location: location.clone(), message: message.into() };
        let offset = id
            .split_once('-')
            .and_then(|(ms, _)| ms.parse::<u64>().ok())
            .and_then(|n| n.checked_sub(1))
            .ok_or_else(|| bad("the entry id is not <offset+1>-0; was the stream written by another program?"))?;
        let (mut appended_ms, mut payload) = (0, None);
        for kv in fields.chunks(2) {
            match (kv.first().and_then(text).as_deref(), kv.get(1)) {
                (Some("t"), Some(v)) => appended_ms = text(v).and_then(|t| t.parse().ok()).unwrap_or(0),
                (Some("e"), Some(Value::BulkString(bytes))) => payload = Some(bytes),
                _ => {}
            }
        }
        let payload = payload.ok_or_else(|| bad("no field \"e\""))?;
        out.push(Delivery { offset, appended_ms, event: Event::from_bytes(payload, &location)? });
    }
    Ok(out)
}
