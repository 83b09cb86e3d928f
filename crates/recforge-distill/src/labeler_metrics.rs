//! The labeler's optional `/metrics` endpoint (`recforge labeler --metrics-addr HOST:PORT`):
//! Prometheus text from the latest [`LabelerStats`], served by one thread over plain
//! `std::net` (a scrape every few seconds needs no HTTP stack).

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::labeler::LabelerStats;

/// The statistics the endpoint reports; the labeler replaces them after every batch.
pub type SharedStats = Arc<Mutex<LabelerStats>>;

/// Binds `addr` and serves `GET /metrics` from `stats` on a background thread; returns the
/// bound address (port 0 picks a free one).
pub fn serve_metrics(addr: &str, stats: SharedStats) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(addr)?;
    let bound = listener.local_addr()?;
    std::thread::Builder::new().name("labeler-metrics".into()).spawn(move || {
        for stream in listener.incoming().flatten() {
            let _ = answer(stream, &stats);
        }
    })?;
    Ok(bound)
}

fn answer(mut stream: TcpStream, stats: &SharedStats) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut request = String::new();
    BufReader::new(&stream).read_line(&mut request)?;
    let (status, body) = if request.starts_with("GET /metrics") {
        let s = stats.lock().map(|s| s.clone()).unwrap_or_default();
        ("200 OK", render(&s))
    } else {
        ("404 Not Found", "try GET /metrics\n".to_string())
    };
    write!(stream, "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

/// Prometheus text exposition of `s`.
pub fn render(s: &LabelerStats) -> String {
    let gauges = [
        ("recforge_labeler_events_total", "Events labelled by this process.", s.events as f64),
        ("recforge_labeler_dead_letters_total", "Events sent to the dead-letter log.", s.dead_letters as f64),
        ("recforge_labeler_labels_per_second", "Labels per second since the first event.", s.labels_per_sec),
        ("recforge_labeler_lag_p50_ms", "Append to label durable, median (ms).", s.lag_ms_p50),
        ("recforge_labeler_lag_p99_ms", "Append to label durable, 99th percentile (ms).", s.lag_ms_p99),
        ("recforge_labeler_lag_max_ms", "Append to label durable, maximum (ms).", s.lag_ms_max),
        ("recforge_labeler_teacher_version", "Newest teacher version labels were written under.", s.versions.last().copied().unwrap_or(0) as f64),
        ("recforge_labeler_refreshes_total", "Teacher refreshes.", s.refreshes as f64),
    ];
    let mut out = String::new();
    for (name, help, value) in gauges {
        let kind = if name.ends_with("_total") { "counter" } else { "gauge" };
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn metrics_are_served_as_prometheus_text() {
        let stats: SharedStats = Arc::default();
        let addr = serve_metrics("127.0.0.1:0", stats.clone()).unwrap();
        if let Ok(mut s) = stats.lock() {
            s.events = 1234;
            s.dead_letters = 2;
            s.versions = vec![1, 3];
        }
        let mut conn = TcpStream::connect(addr).unwrap();
        conn.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 200 OK"), "{reply}");
        assert!(reply.contains("recforge_labeler_events_total 1234\n"), "{reply}");
        assert!(reply.contains("recforge_labeler_dead_letters_total 2\n"));
        assert!(reply.contains("recforge_labeler_teacher_version 3\n"));
        let mut other = TcpStream::connect(addr).unwrap();
        other.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let mut reply = String::new();
        other.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.1 404"), "{reply}");
    }
}
