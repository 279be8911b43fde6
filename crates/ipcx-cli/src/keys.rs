//! Keys for the full-screen views (`top`, `plumber`), waited for without
//! trusting the terminal to stay. crossterm's `event::poll` spins when the
//! terminal hangs up (its read returns at once, forever: seen with `tmux
//! kill-server`), so a view first waits in `poll(2)` on the terminal and
//! its stop together, and takes a hang-up or a stop as the end. crossterm
//! is asked only while the terminal is there.

use std::time::Duration;

use anyhow::Result;
use ratatui::crossterm::event::{self, Event, KeyEvent, KeyEventKind};
use rustix::event::{poll, PollFd, PollFlags, Timespec};

/// What came while waiting.
pub(crate) enum Waited {
    Key(KeyEvent),
    /// Nothing in time (or not a key): draw again.
    Nothing,
    /// The terminal hung up, or a signal stopped the view.
    Gone,
}

/// The next key press within `timeout`.
pub(crate) fn wait_key(stop: &ipcx::Stop, timeout: Duration) -> Result<Waited> {
    let tty = rustix::stdio::stdin();
    for wait in [Duration::ZERO, timeout] {
        let mut fds = [
            PollFd::new(&tty, PollFlags::IN),
            PollFd::new(stop, PollFlags::IN),
        ];
        let limit = Timespec::try_from(wait).unwrap_or_default();
        match poll(&mut fds, Some(&limit)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let (terminal, stopped) = (fds[0].revents(), fds[1].revents());
        if !stopped.is_empty()
            || terminal.intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL)
        {
            return Ok(Waited::Gone);
        }
        // The terminal is there: crossterm may have keys buffered, or read new ones.
        if event::poll(Duration::ZERO)? {
            return Ok(match event::read()? {
                Event::Key(key) if key.kind == KeyEventKind::Press => Waited::Key(key),
                _ => Waited::Nothing,
            });
        }
        if terminal.contains(PollFlags::IN) {
            // Readable but not a whole event yet (an escape sequence).
            return Ok(Waited::Nothing);
        }
    }
    Ok(Waited::Nothing)
}
