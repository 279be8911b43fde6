//! A real terminal for the full-screen views: a tmux server of the test's
//! own (its socket in a directory of its own), one session running the
//! command, and what the screen shows. The server is killed when the
//! value is dropped, whatever happened.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Tmux {
    dir: PathBuf,
    session: String,
}

impl Tmux {
    /// Runs `command` (a shell line) in a `width`×`height` terminal.
    pub fn start(name: &str, command: &str, width: u16, height: u16) -> Tmux {
        let dir = std::env::temp_dir().join(format!("ipcx-tmux-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let tmux = Tmux {
            dir,
            session: name.to_owned(),
        };
        let status = tmux
            .cmd()
            .args(["new-session", "-d", "-s", name])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(command)
            .status()
            .expect("tmux (apt-get install tmux)");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.arg("-S").arg(self.dir.join("tmux.sock"));
        cmd
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits up to `limit` for a screen that `ok` accepts; returns it.
    pub fn until(&self, limit: Duration, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + limit;
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(Instant::now() < deadline, "never {what}:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Types `keys` (tmux key names, e.g. "q", "+", "C-c").
    pub fn keys(&self, keys: &[&str]) {
        let _ = self
            .cmd()
            .args(["send-keys", "-t", &self.session])
            .args(keys)
            .status();
    }

    /// Whether the session's command still runs.
    pub fn alive(&self) -> bool {
        self.cmd()
            .args(["has-session", "-t", &self.session])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Waits up to `limit` for the command to end (the session goes with it).
    pub fn ended_within(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while self.alive() {
            if Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// Kills the server: the terminal hangs up under the command.
    pub fn hang_up(&self) {
        let _ = self.cmd().arg("kill-server").stderr(Stdio::null()).status();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.hang_up();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
