//! The live view's loop: look every `every`, draw, answer keys. `q`, Esc
//! or Ctrl-C quit (as do SIGINT and SIGTERM); `+` and `-` double or halve
//! a pipe's or FIFO's size (`F_SETPIPE_SZ` through a holder's fd, so the
//! caller must have the rights over it that looking needs); a demo adds
//! its own keys ([`Keys`]).

use std::time::{Duration, Instant};

use anyhow::Result;
use ratatui::crossterm::event::{KeyCode, KeyModifiers};

use crate::keys::Waited;

use super::history::History;
use super::look::Look;
use super::target::Target;
use super::view::{self, Screen};

/// More keys, and more lines to show (the demo's).
pub(crate) trait Keys {
    /// Handles `key`; the answer to show, if it was ours.
    fn key(&mut self, key: char) -> Option<String>;
    /// Lines shown under the ends.
    fn lines(&self) -> Vec<String>;
    /// The keys line's part for these keys.
    fn help(&self) -> &'static str;
}

pub(crate) fn run(target: &Target, every: Duration, mut more: Option<&mut dyn Keys>) -> Result<()> {
    let stop = ipcx::Stop::on_signals()?;
    let mut terminal = ratatui::try_init()?;
    let result = (|| -> Result<()> {
        let mut history = History::default();
        let mut look = Look::take(target)?;
        history.push(&look);
        let mut status = String::new();
        let mut next = Instant::now() + every;
        let resizable = matches!(target, Target::Pipe { .. } | Target::Fifo { .. });
        let keys = format!(
            "q quit{}{}",
            if resizable {
                " · +/- pipe size ×2 / ÷2"
            } else {
                ""
            },
            more.as_ref()
                .map_or(String::new(), |m| format!(" · {}", m.help()))
        );
        loop {
            let extra = more.as_ref().map_or_else(Vec::new, |m| m.lines());
            terminal.draw(|f| {
                view::render(
                    f,
                    &Screen {
                        look: &look,
                        history: &history,
                        status: &status,
                        keys: &keys,
                        extra: &extra,
                    },
                )
            })?;
            let wait = next.saturating_duration_since(Instant::now());
            let key = match crate::keys::wait_key(&stop, wait)? {
                Waited::Gone => return Ok(()),
                Waited::Nothing => None,
                Waited::Key(key) => Some(key),
            };
            if let Some(key) = key {
                match key.code {
                    KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => {
                        return Ok(())
                    }
                    KeyCode::Char(c @ ('+' | '-')) if resizable => {
                        status = resize(&look, c == '+');
                        next = Instant::now();
                    }
                    KeyCode::Char(c) => {
                        if let Some(answer) = more.as_mut().and_then(|m| m.key(c)) {
                            status = answer;
                        }
                    }
                    _ => {}
                }
            }
            if Instant::now() >= next {
                look = Look::take(target)?;
                history.push(&look);
                next = Instant::now() + every;
            }
        }
    })();
    ratatui::restore();
    result
}

/// Doubles or halves the pipe's size; what happened, in words.
fn resize(look: &Look, grow: bool) -> String {
    let (Some((pid, fd)), Some(size)) = (look.through, look.capacity) else {
        return "cannot resize: the pipe's size cannot be read here".into();
    };
    let wanted = if grow { size * 2 } else { (size / 2).max(4096) };
    match crate::inventory::pipes::resize(pid, fd, wanted as usize) {
        Ok(now) => format!("pipe size {size} → {now} bytes (F_SETPIPE_SZ)"),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => format!(
            "cannot grow to {wanted}: above /proc/sys/fs/pipe-max-size needs CAP_SYS_RESOURCE"
        ),
        Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
            format!("cannot shrink to {wanted}: the pipe holds more than that now")
        }
        Err(e) => format!("cannot resize: {e}"),
    }
}
