//! `ipcx plumber --demo`: the brief's pipe plumber, made real. A writer
//! process and a reader process (this binary again, named `demo-writer`
//! and `demo-reader`) move 4 KiB chunks over a real pipe at speeds the
//! keys change, and the live view watches the pipe: the user sees it
//! fill, the writer block, and both resume.
//!
//! Each side reads its speed from a memfd the demo holds, through
//! `/proc/DEMO/fd/N` (so nothing is left in the file system, however the
//! demo ends); a key rewrites it; a side blocked in the kernel takes the
//! change when it is let go. The sides die with the demo
//! (`PR_SET_PDEATHSIG`, and killed when it ends).

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use clap::ValueEnum;

use super::live::{self, Keys};
use super::target::Target;

/// Which side a demo process is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Side {
    Writer,
    Reader,
}

/// Speeds a side steps through, in KiB/s.
const SPEEDS: [u32; 8] = [1, 4, 16, 64, 256, 1024, 4096, 16384];
const CHUNK: usize = 4096;

/// One side as the demo steers it.
struct Steered {
    side: Side,
    child: Child,
    control: OwnedFd,
    speed: usize,
    paused: bool,
}

impl Steered {
    fn spawn(side: Side, fd: OwnedFd, speed: usize) -> Result<Steered> {
        let name = format!("ipcx-plumber-demo-{side:?}");
        let control = rustix::fs::memfd_create(name.as_str(), rustix::fs::MemfdFlags::CLOEXEC)?;
        let path = PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            control.as_raw_fd()
        ));
        let mut command = Command::new(std::env::current_exe()?);
        command
            .args(["plumber", "--demo-side"])
            .arg(format!("{side:?}").to_lowercase())
            .arg("--control")
            .arg(&path)
            .stderr(Stdio::null());
        match side {
            Side::Writer => command.stdin(Stdio::null()).stdout(fd),
            Side::Reader => command.stdin(fd).stdout(Stdio::null()),
        };
        let mut steered = Steered {
            side,
            child: command.spawn().context("cannot start a demo side")?,
            control,
            speed,
            paused: false,
        };
        steered.tell()?;
        Ok(steered)
    }

    /// Rewrites the control memfd in one write of a fixed width.
    fn tell(&mut self) -> Result<()> {
        let text = format!("{:>8} {}\n", SPEEDS[self.speed], u8::from(self.paused));
        rustix::io::pwrite(&self.control, text.as_bytes(), 0)?;
        Ok(())
    }

    fn line(&self, keys: &str) -> String {
        let name = match self.side {
            Side::Writer => "writer demo-writer",
            Side::Reader => "reader demo-reader",
        };
        format!(
            "{name} {:>5} KiB/s{}   ({keys})",
            SPEEDS[self.speed],
            if self.paused { " PAUSED" } else { "" }
        )
    }
}

impl Drop for Steered {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Demo {
    writer: Steered,
    reader: Steered,
}

impl Keys for Demo {
    fn key(&mut self, key: char) -> Option<String> {
        let (side, what) = match key {
            'a' => (&mut self.writer, Step::Slower),
            'd' => (&mut self.writer, Step::Faster),
            's' => (&mut self.writer, Step::Pause),
            'j' => (&mut self.reader, Step::Slower),
            'l' => (&mut self.reader, Step::Faster),
            'k' => (&mut self.reader, Step::Pause),
            _ => return None,
        };
        match what {
            Step::Slower => side.speed = side.speed.saturating_sub(1),
            Step::Faster => side.speed = (side.speed + 1).min(SPEEDS.len() - 1),
            Step::Pause => side.paused = !side.paused,
        }
        Some(match side.tell() {
            Ok(()) => format!(
                "{:?}: {} KiB/s{}",
                side.side,
                SPEEDS[side.speed],
                if side.paused { ", paused" } else { "" }
            ),
            Err(e) => format!("cannot steer the {:?}: {e}", side.side),
        })
    }

    fn lines(&self) -> Vec<String> {
        vec![
            self.writer.line("a slower · d faster · s pause"),
            self.reader.line("j slower · l faster · k pause"),
        ]
    }

    fn help(&self) -> &'static str {
        "writer a/d/s · reader j/l/k"
    }
}

enum Step {
    Slower,
    Faster,
    Pause,
}

/// Starts both sides over a new pipe and shows it until the user quits.
pub(crate) fn run(every: Duration) -> Result<()> {
    let (read_end, write_end) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let inode = rustix::fs::fstat(&read_end)?.st_ino;
    let mut demo = Demo {
        // A writer faster than its reader: the pipe fills within seconds.
        writer: Steered::spawn(Side::Writer, write_end, 3)?,
        reader: Steered::spawn(Side::Reader, read_end, 2)?,
    };
    live::run(&Target::Pipe { inode }, every, Some(&mut demo))
}

/// One side of the demo (`ipcx plumber --demo-side writer|reader`, run by
/// the demo): moves 4 KiB chunks at the speed in `control` until the pipe
/// is closed or the demo goes.
pub(crate) fn side(side: Side, control: &Path) -> Result<()> {
    use rustix::process::{getppid, set_parent_process_death_signal, Signal};
    set_parent_process_death_signal(Some(Signal::TERM))?;
    if getppid().is_none_or(|p| p.as_raw_nonzero().get() == 1) {
        return Ok(());
    }
    let name = match side {
        Side::Writer => c"demo-writer",
        Side::Reader => c"demo-reader",
    };
    let _ = rustix::thread::set_name(name);
    let mut chunk = vec![b'x'; CHUNK];
    // Straight on the fds: std's stdin would read 8 KiB ahead of the demo.
    let (stdin, stdout) = (rustix::stdio::stdin(), rustix::stdio::stdout());
    loop {
        let (speed, paused) = read_control(control);
        if paused {
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        let moved = match side {
            // Blocks while the pipe is full: what the demo is for.
            Side::Writer => write_all(stdout, &chunk).map(|()| CHUNK),
            Side::Reader => rustix::io::read(stdin, &mut chunk),
        };
        match moved {
            Ok(0) | Err(_) => return Ok(()),
            Ok(_) => {}
        }
        std::thread::sleep(Duration::from_secs_f64(
            CHUNK as f64 / (f64::from(speed) * 1024.0),
        ));
    }
}

fn write_all(fd: std::os::fd::BorrowedFd<'_>, mut bytes: &[u8]) -> rustix::io::Result<()> {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The speed (KiB/s) and pause a control file says; 64 KiB/s when unreadable.
fn read_control(path: &Path) -> (u32, bool) {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut fields = text.split_whitespace();
    let speed = fields
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
        .max(1);
    let paused = fields.next() == Some("1");
    (speed, paused)
}
