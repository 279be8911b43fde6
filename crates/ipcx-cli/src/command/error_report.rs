//! Errors from other processes, printed so that a flood of them stays
//! readable: the first few of each second in full, then a count.
//! (A listener fed garbage by thousands of connections would otherwise
//! print a line for each.)

use std::time::{Duration, Instant};

/// Full lines printed per second; the rest are counted.
const LINES_PER_SECOND: u32 = 5;

pub(crate) struct ErrorReport {
    prefix: &'static str,
    window: Instant,
    printed: u32,
    held_back: u64,
}

impl ErrorReport {
    pub(crate) fn new(prefix: &'static str) -> ErrorReport {
        ErrorReport {
            prefix,
            window: Instant::now(),
            printed: 0,
            held_back: 0,
        }
    }

    /// One error: printed, or counted for the summary.
    pub(crate) fn error(&mut self, what: &dyn std::fmt::Display) {
        let now = Instant::now();
        if now.duration_since(self.window) >= Duration::from_secs(1) {
            self.summary();
            self.window = now;
            self.printed = 0;
        }
        if self.printed < LINES_PER_SECOND {
            eprintln!("{}: {what}", self.prefix);
            self.printed += 1;
        } else {
            self.held_back += 1;
        }
    }

    /// Says how many were not printed since the last summary.
    pub(crate) fn summary(&mut self) {
        if self.held_back > 0 {
            eprintln!(
                "{}: … and {} more errors like these (at most {LINES_PER_SECOND} a second are printed)",
                self.prefix, self.held_back
            );
            self.held_back = 0;
        }
    }
}

impl Drop for ErrorReport {
    fn drop(&mut self) {
        self.summary();
    }
}
