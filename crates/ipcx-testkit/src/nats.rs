//! Real `nats-server` processes for the remote tests: one server or a
//! cluster on free loopback ports, each with its own scratch directory,
//! killed and removed on drop. The tests install nats-server when it is
//! missing (`.ci/run` does: `apt-get install -y nats-server`).

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli::free_port;

/// One `nats-server` on 127.0.0.1.
#[derive(Debug)]
pub struct NatsServer {
    pub port: u16,
    /// The cluster (route) port, for clustered servers.
    pub cluster_port: Option<u16>,
    args: Vec<String>,
    child: Option<Child>,
    pub dir: PathBuf,
}

/// One server for a whole test binary (the conformance suite's `nats`
/// transport), started on first use by a thread that lives as long as
/// the process, so the server dies with it.
pub fn shared() -> &'static NatsServer {
    static SHARED: std::sync::OnceLock<NatsServer> = std::sync::OnceLock::new();
    SHARED.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let server = NatsServer::start("shared", &[]);
            // A static is never dropped: its scratch directory goes now
            // (the server keeps writing its log to the unlinked file).
            let _ = std::fs::remove_dir_all(&server.dir);
            let _ = tx.send(server);
            loop {
                std::thread::park();
            }
        });
        rx.recv().expect("the shared nats-server did not start")
    })
}

/// Whether a nats-server binary is on the PATH.
pub fn have_nats_server() -> bool {
    Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl NatsServer {
    /// A server on a free port; `extra` are more flags (`--tls`, `--auth`…)
    /// or a config file (`-c path`).
    pub fn start(name: &str, extra: &[&str]) -> NatsServer {
        let port = free_port("127.0.0.1:0");
        Self::start_on(name, port, None, extra)
    }

    fn start_on(name: &str, port: u16, cluster_port: Option<u16>, extra: &[&str]) -> NatsServer {
        assert!(
            have_nats_server(),
            "nats-server is not installed: `apt-get install -y nats-server`"
        );
        let dir =
            std::env::temp_dir().join(format!("ipcx-nats-{}-{name}-{port}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut args: Vec<String> = vec![
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "--pid".into(),
            dir.join("pid").display().to_string(),
            "-l".into(),
            dir.join("log").display().to_string(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        let mut server = NatsServer {
            port,
            cluster_port,
            args,
            child: None,
            dir,
        };
        server.spawn();
        server
    }

    /// A cluster of `n` servers on loopback, each routed to the others.
    pub fn cluster(name: &str, n: usize) -> Vec<NatsServer> {
        let ports: Vec<(u16, u16)> = (0..n)
            .map(|_| (free_port("127.0.0.1:0"), free_port("127.0.0.1:0")))
            .collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, c)| format!("nats-route://127.0.0.1:{c}"))
            .collect();
        let servers: Vec<NatsServer> = ports
            .iter()
            .enumerate()
            .map(|(i, (p, c))| {
                let listen = format!("127.0.0.1:{c}");
                let name_flag = format!("{name}-{i}");
                Self::start_on(
                    &name_flag,
                    *p,
                    Some(*c),
                    &[
                        "--name",
                        &name_flag,
                        "--cluster_name",
                        name,
                        "--cluster",
                        &format!("nats://{listen}"),
                        "--routes",
                        &routes.join(","),
                    ],
                )
            })
            .collect();
        // Routes take a moment to form: wait until each server reports
        // as many routes as it has peers.
        let deadline = Instant::now() + Duration::from_secs(20);
        for server in &servers {
            while server.log().matches("Route connection created").count() < n - 1 {
                assert!(
                    Instant::now() < deadline,
                    "the cluster did not form:\n{}",
                    server.log()
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        servers
    }

    /// Starts the server process. Its life is bound to the thread that
    /// starts it (`PR_SET_PDEATHSIG`): a test that fails or is killed
    /// leaves no server behind (a `timeout` wrapper could not promise
    /// that: killing it orphans its child).
    fn spawn(&mut self) {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new("nats-server");
        command
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: prctl is async-signal-safe, and nothing else runs
        // between fork and exec.
        unsafe {
            command.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().expect("cannot start nats-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not listen on {}:\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nats://127.0.0.1:PORT`, for endpoints.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("log")).unwrap_or_default()
    }

    /// Kills the server (SIGKILL: no goodbye to its clients).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts it again on the same port.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
