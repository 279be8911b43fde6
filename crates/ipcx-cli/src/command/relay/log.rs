//! What a relay tells: `-v`/`-x` dumps of each message, `--json-log`
//! events, warnings on stderr, and the `--stats` counters.

use std::fmt::Write as _;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// Which way a message went: from the first address to the second, or back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    AtoB,
    BtoA,
}

impl Dir {
    fn index(self) -> usize {
        self as usize
    }

    /// `>` from the first address to the second, `<` back (as socat).
    pub(crate) fn arrow(self) -> &'static str {
        match self {
            Dir::AtoB => ">",
            Dir::BtoA => "<",
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Dir::AtoB => "a>b",
            Dir::BtoA => "b>a",
        }
    }
}

/// How messages are shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dump {
    Off,
    /// Text, with bytes that are not printable escaped (`-v`).
    Text,
    /// Offset, hex and ASCII, 16 bytes a line (`-x`).
    Hex,
}

/// Counters for `--stats`.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    messages: [AtomicU64; 2],
    bytes: [AtomicU64; 2],
    pub(crate) clients: AtomicU64,
    pub(crate) active: AtomicU64,
    /// Messages that could not be delivered (too large, refused).
    pub(crate) refused: AtomicU64,
    /// Messages lost on the way in (bad frames from a peer, messages a
    /// remote or drop-oldest source says never came).
    pub(crate) lost: AtomicU64,
    /// Sessions that failed to open or ended with an error.
    pub(crate) errors: AtomicU64,
}

/// The relay's log, shared by every session thread.
pub(crate) struct Log {
    dump: Dump,
    json: Option<Mutex<Box<dyn Write + Send>>>,
    pub(crate) stats: Stats,
    started: Instant,
}

impl Log {
    pub(crate) fn new(dump: Dump, json: Option<Box<dyn Write + Send>>) -> Log {
        Log {
            dump,
            json: json.map(Mutex::new),
            stats: Stats::default(),
            started: Instant::now(),
        }
    }

    /// Whether messages are shown (`-v`/`-x`): then so is what the relay does.
    pub(crate) fn verbose(&self) -> bool {
        self.dump != Dump::Off
    }

    /// Counts (and shows, with `-v`/`-x`) one message relayed.
    pub(crate) fn message(&self, session: u64, dir: Dir, msg: &[u8]) {
        self.stats.messages[dir.index()].fetch_add(1, Ordering::Relaxed);
        self.stats.bytes[dir.index()].fetch_add(msg.len() as u64, Ordering::Relaxed);
        if self.dump != Dump::Off {
            let mut text = format!(
                "{} {} #{session} {} bytes\n",
                dir.arrow(),
                timestamp(SystemTime::now()),
                msg.len()
            );
            match self.dump {
                Dump::Hex => hex_dump(&mut text, msg),
                _ => text_dump(&mut text, msg),
            }
            let _ = std::io::stderr().lock().write_all(text.as_bytes());
        }
        if self.json.is_some() {
            self.event(
                Some(session),
                "message",
                json!({"dir": dir.name(), "len": msg.len()}),
            );
        }
    }

    /// Writes one JSON line (`--json-log`): time, event, session, fields.
    pub(crate) fn event(&self, session: Option<u64>, event: &str, fields: Value) {
        let Some(out) = &self.json else { return };
        let mut record = json!({"ts": timestamp(SystemTime::now()), "event": event});
        if let Some(s) = session {
            record["session"] = json!(s);
        }
        if let (Value::Object(to), Value::Object(from)) = (&mut record, fields) {
            to.extend(from);
        }
        if let Ok(mut out) = out.lock() {
            let _ = writeln!(out, "{record}");
            let _ = out.flush();
        }
    }

    /// A problem people should see: on stderr, and as an event.
    pub(crate) fn warn(&self, session: Option<u64>, event: &str, text: &str) {
        match session {
            Some(s) => eprintln!("ipcx relay: #{s}: {text}"),
            None => eprintln!("ipcx relay: {text}"),
        }
        self.event(session, event, json!({"error": text}));
    }

    /// The `--stats` figures so far.
    pub(crate) fn stats_json(&self) -> Value {
        let s = &self.stats;
        let secs = self.started.elapsed().as_secs_f64();
        let dir = |d: Dir| {
            let messages = s.messages[d.index()].load(Ordering::Relaxed);
            let bytes = s.bytes[d.index()].load(Ordering::Relaxed);
            json!({
                "messages": messages,
                "bytes": bytes,
                "messages_per_s": rate(messages, secs),
                "bytes_per_s": rate(bytes, secs),
            })
        };
        json!({
            "seconds": (secs * 1000.0).round() / 1000.0,
            "a>b": dir(Dir::AtoB),
            "b>a": dir(Dir::BtoA),
            "clients": s.clients.load(Ordering::Relaxed),
            "active": s.active.load(Ordering::Relaxed),
            "refused": s.refused.load(Ordering::Relaxed),
            "lost": s.lost.load(Ordering::Relaxed),
            "errors": s.errors.load(Ordering::Relaxed),
        })
    }

    /// Prints the stats on stderr (and as an event).
    pub(crate) fn report_stats(&self) {
        let v = self.stats_json();
        let dir = |d: &str| {
            format!(
                "{d} {} messages, {} bytes ({:.1} msg/s, {:.0} B/s)",
                v[d]["messages"], v[d]["bytes"], v[d]["messages_per_s"], v[d]["bytes_per_s"]
            )
        };
        eprintln!(
            "ipcx relay: after {}s: {}; {}; {} clients ({} active), {} refused, {} lost, {} errors",
            v["seconds"],
            dir("a>b"),
            dir("b>a"),
            v["clients"],
            v["active"],
            v["refused"],
            v["lost"],
            v["errors"]
        );
        self.event(None, "stats", v);
    }
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        (n as f64 / secs * 10.0).round() / 10.0
    } else {
        0.0
    }
}

fn text_dump(out: &mut String, msg: &[u8]) {
    for &b in msg {
        match b {
            b'\n' => out.push('\n'),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e | b'\t' => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    if !out.ends_with('\n') {
        out.push('\n');
    }
}

fn hex_dump(out: &mut String, msg: &[u8]) {
    for (line, chunk) in msg.chunks(16).enumerate() {
        let _ = write!(out, " {:08x} ", line * 16);
        for i in 0..16 {
            match chunk.get(i) {
                Some(b) => {
                    let _ = write!(out, " {b:02x}");
                }
                None => out.push_str("   "),
            }
        }
        out.push_str("  |");
        out.extend(chunk.iter().map(|&b| match b {
            0x20..=0x7e => b as char,
            _ => '.',
        }));
        out.push_str("|\n");
    }
}

/// `2026-11-22T10:04:05.123456Z`: UTC with microseconds.
pub(crate) fn timestamp(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_micros()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_dates() {
        assert_eq!(timestamp(UNIX_EPOCH), "1970-01-01T00:00:00.000000Z");
        let t = UNIX_EPOCH + Duration::from_micros(1_795_349_045_123_456);
        assert_eq!(timestamp(t), "2026-11-22T12:04:05.123456Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(timestamp(leap), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn dumps_show_every_byte() {
        let mut hex = String::new();
        hex_dump(&mut hex, b"hello, world\x00\xff!!!!");
        assert_eq!(
            hex,
            " 00000000  68 65 6c 6c 6f 2c 20 77 6f 72 6c 64 00 ff 21 21  |hello, world..!!|\n \
             00000010  21 21                                            |!!|\n"
        );
        let mut text = String::new();
        text_dump(&mut text, b"a\\b\x01");
        assert_eq!(text, "a\\\\b\\x01\n");
    }
}
