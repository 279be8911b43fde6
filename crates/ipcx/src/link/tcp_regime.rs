//! Keeps a stream of small messages over loopback TCP in its fast regime.
//!
//! Such a stream settles in one of two stable states, raw sockets as much
//! as ipcx (figures in docs/performance.md):
//!
//! * **coalesced**: the receiver lags a little, its receive window fills,
//!   and the sender's writes gather in the send queue and go out as large
//!   segments;
//! * **eager**: the receiver keeps up, every write leaves at once as its
//!   own small segment, and each one costs both sides the TCP input path,
//!   an acknowledgement and a wake-up. The sender is then too slow for the
//!   receiver to fall behind, so the state holds.
//!
//! A receiver that polls before sleeping (`wait=adaptive`) is the most
//! eager of readers. So it watches for the eager state — among 1 024
//! messages, at least 16 for which it had caught up and the next one came
//! within 5 µs of polling (a request/response exchange waits a whole round
//! trip, longer than that) — and then stops reading once for 300 µs: the
//! window fills, the sender starts coalescing, and the stream stays fast.

use std::time::{Duration, Instant};

/// Messages per look.
const WINDOW: u32 = 1024;
/// Messages in a window that found the receiver caught up, and came soon
/// after, for the stream to count as eager.
const EAGER_AT: u32 = 16;
/// "Soon": shorter than any round trip on loopback TCP.
const SOON: Duration = Duration::from_micros(5);
/// How long the receiver stops reading to let the window fill.
const PAUSE: Duration = Duration::from_micros(300);

#[derive(Debug, Default)]
pub(crate) struct TcpRegime {
    seen: u32,
    soon: u32,
    pause_next: bool,
}

impl TcpRegime {
    /// One message taken. `caught_up_since`: when the receiver found
    /// nothing to read and started polling, if it did (`None`: the message
    /// was already waiting, or the receiver slept for it).
    pub(crate) fn on_message(&mut self, caught_up_since: Option<Instant>) {
        self.seen += 1;
        if caught_up_since.is_some_and(|t| t.elapsed() < SOON) {
            self.soon += 1;
        }
        if self.seen >= WINDOW {
            self.pause_next |= self.soon >= EAGER_AT;
            self.seen = 0;
            self.soon = 0;
        }
    }

    /// Before the next read: pauses if the stream was found eager, unless
    /// the pause would run past the caller's deadline.
    pub(crate) fn pause_if_eager(&mut self, deadline: Option<Instant>) {
        if !std::mem::take(&mut self.pause_next) {
            return;
        }
        if deadline.is_some_and(|d| Instant::now() + PAUSE > d) {
            return;
        }
        std::thread::sleep(PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_only_after_a_window_with_enough_quick_catch_ups() {
        let mut r = TcpRegime::default();
        let long_ago = Instant::now() - Duration::from_millis(1);
        // Coalesced: messages waiting, or long waits: never a pause.
        for k in 0..WINDOW * 3 {
            r.on_message((k % 7 == 0).then_some(long_ago));
        }
        assert!(!r.pause_next);
        // Eager: EAGER_AT quick catch-ups in one window.
        for k in 0..WINDOW {
            r.on_message((k < EAGER_AT).then(Instant::now));
        }
        assert!(r.pause_next);
        let t0 = Instant::now();
        r.pause_if_eager(None);
        assert!(t0.elapsed() >= PAUSE);
        // Once.
        let t0 = Instant::now();
        r.pause_if_eager(None);
        assert!(t0.elapsed() < PAUSE);
    }

    #[test]
    fn never_pauses_past_a_deadline() {
        let mut r = TcpRegime {
            pause_next: true,
            ..TcpRegime::default()
        };
        let t0 = Instant::now();
        r.pause_if_eager(Some(t0 + Duration::from_micros(50)));
        assert!(t0.elapsed() < PAUSE);
        assert!(!r.pause_next, "a skipped pause is not kept for later");
    }
}
