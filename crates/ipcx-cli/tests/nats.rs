//! The CLI on `nats://` against real nats-server processes: `ipcx relay`
//! bridges a local `shm:` stream onto NATS and back (and counts what a
//! server restart lost), `ipcx recv` reads a plain NATS publisher
//! (Python's nats-py), `ipcx send` reaches a node of a cluster that the
//! receiver is not on. `scripts/test` installs nats-server and nats-py.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipcx_testkit::cli::{finish, ipcx, run_ok, spawn_recv, Running, Scratch};
use ipcx_testkit::nats::NatsServer;

/// Shared-memory names removed on drop, even when the test fails.
struct Rings(Vec<String>);

impl Rings {
    fn name(&mut self, what: &str) -> String {
        let name = format!("/ipcx-clinats-{}-{what}", std::process::id());
        self.0.push(name.clone());
        name
    }
}

impl Drop for Rings {
    fn drop(&mut self) {
        for name in &self.0 {
            let _ = std::fs::remove_file(format!("/dev/shm{name}"));
        }
    }
}

fn subject(case: &str) -> String {
    format!("ipcx.cli.{}.{case}", std::process::id())
}

/// A relay with a JSON log; returns once both its sides are open.
fn relay(s: &Scratch, log: &str, a: &str, b: &str) -> Running {
    let log = s.path(log);
    let running = Running(
        ipcx()
            .args([
                "relay",
                "-u",
                "--stats",
                "--json-log",
                &log,
                "--wait",
                "10s",
                a,
                b,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("\"open\"")
    {
        assert!(Instant::now() < deadline, "relay {a} → {b} did not open");
        std::thread::sleep(Duration::from_millis(10));
    }
    running
}

fn python_publish(url: &str, subject: &str, payload: &str) {
    let status = Command::new("timeout")
        .args(["-k", "5", "30", "python3", "-c"])
        .arg(
            "import asyncio, sys, nats\n\
             async def m():\n    \
                 nc = await nats.connect(sys.argv[1])\n    \
                 await nc.publish(sys.argv[2], sys.argv[3].encode())\n    \
                 await nc.flush()\n    \
                 await nc.close()\n\
             asyncio.run(m())",
        )
        .args([url, subject, payload])
        .status()
        .expect("python3");
    assert!(
        status.success(),
        "nats-py publish failed (python3 -m pip install nats-py)"
    );
}

fn sigterm(r: &Running) {
    // SAFETY: kill(2) on our own child.
    unsafe { libc::kill(r.0.id() as i32, libc::SIGTERM) };
}

#[test]
fn relay_bridges_shm_onto_nats_and_back() {
    let server = NatsServer::start("cli-relay", &[]);
    let s = Scratch::new("nats-relay");
    let mut rings = Rings(Vec::new());
    let (inn, out) = (rings.name("in"), rings.name("out"));
    let nats = format!("{}/{}", server.url(), subject("frames"));
    let rx = spawn_recv(&[&format!("shm:{out}"), "-n", "4", "--timeout", "20s"]);
    // NATS → shm: keeps taking senders (the ipcx one, then Python).
    let back = relay(
        &s,
        "back.log",
        &format!("{nats}?serve=true"),
        &format!("shm:{out}"),
    );
    // shm → NATS.
    let onto = relay(&s, "onto.log", &format!("shm:{inn}"), &nats);
    let mut send = ipcx()
        .args(["send", "--wait", "10s", &format!("shm:{inn}")])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    send.stdin
        .take()
        .unwrap()
        .write_all(b"one\ntwo\nthree\n")
        .unwrap();
    assert!(send.wait().unwrap().success());
    // A plain NATS client's message joins the stream as it is.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(s.path("back.log"))
        .unwrap_or_default()
        .contains("three")
    {
        if Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    python_publish(&server.url(), &subject("frames"), "plain from python");
    let (ok, stdout, stderr) = finish(rx);
    assert!(ok, "{stderr}");
    assert_eq!(stdout, "one\ntwo\nthree\nplain from python\n");
    let (ok, _, err) = finish(onto);
    assert!(ok, "the shm → NATS relay ends with its sender: {err}");
    sigterm(&back);
    let (ok, _, err) = finish(back);
    assert!(ok, "{err}");
    assert!(err.contains("0 lost"), "{err}");
}

#[test]
fn a_relay_counts_what_a_server_restart_lost() {
    let mut server = NatsServer::start("cli-restart", &[]);
    let s = Scratch::new("nats-restart");
    let nats = format!("{}/{}", server.url(), subject("restart"));
    let out = s.path("out");
    let back = relay(&s, "back.log", &nats, &format!("file:{out}?frame=line"));
    // A paced stream of numbered lines into `ipcx send`.
    let total = 1500;
    let mut send = ipcx()
        .args(["send", &nats])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = send.stdin.take().unwrap();
    for i in 0..total {
        writeln!(stdin, "line {i}").unwrap();
        std::thread::sleep(Duration::from_millis(2));
        if i == 300 {
            server.kill();
            std::thread::sleep(Duration::from_millis(400));
            server.restart();
        }
    }
    drop(stdin);
    assert!(send.wait().unwrap().success());
    let (ok, _, err) = finish(back);
    let written = std::fs::read_to_string(&out).unwrap().lines().count() as u64;
    let lost: u64 = err
        .split(" lost")
        .next()
        .and_then(|before| before.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no lost count in the stats: {err}"));
    eprintln!("restart: {written} lines written, {lost} counted lost of {total}");
    assert!(
        written > total / 2,
        "the stream went on after the restart: {written}"
    );
    assert_eq!(
        written + lost,
        total,
        "each line written or counted lost:\n{err}"
    );
    // A relay that lost messages says so in its exit status too.
    assert_eq!(ok, lost == 0, "exit status: {err}");
}

#[test]
fn recv_reads_a_plain_publisher_and_send_reaches_another_node() {
    let nodes = NatsServer::cluster("cli-trio", 3);
    let subj = subject("trio");
    let mut rx = spawn_recv(&[&format!("{}/{subj}", nodes[1].url()), "--serve"]);
    let lines = {
        let out = rx.0.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(out)) {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        lines
    };
    // The subscription crosses the routes shortly after it is made:
    // publish from node 1 until the receiver on node 2 has one.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            Instant::now() < deadline,
            "no plain message crossed the cluster"
        );
        python_publish(&nodes[0].url(), &subj, "plain");
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) {
            assert_eq!(line, "plain");
            break;
        }
    }
    let status = ipcx()
        .args(["send", &format!("{}/{subj}", nodes[2].url()), "from node 3"])
        .status()
        .unwrap();
    assert!(status.success());
    loop {
        match lines.recv_timeout(Duration::from_secs(20)) {
            Ok(line) if line == "plain" => {}
            Ok(line) => {
                assert_eq!(line, "from node 3");
                break;
            }
            Err(e) => panic!("the message from node 3 never came: {e}"),
        }
    }
    sigterm(&rx);
    let (ok, _, stderr) = finish(rx);
    assert!(ok, "{stderr}");
}

#[test]
fn serve_answers_ipcx_call_and_a_plain_nats_request() {
    let server = NatsServer::start("cli-serve", &[]);
    let ep = format!("{}/{}", server.url(), subject("upper"));
    let serving = Running(
        ipcx()
            .args(["serve", &ep, "--", "tr", "a-z", "A-Z"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Until `serve` has subscribed, a call hears "no responders".
    let deadline = Instant::now() + Duration::from_secs(20);
    let answer = loop {
        let out = ipcx().args(["call", &ep, "hello"]).output().unwrap();
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(answer, "HELLO\n");
    let out = Command::new("timeout")
        .args(["-k", "5", "30", "python3", "-c"])
        .arg(
            "import asyncio, sys, nats\n\
             async def m():\n    \
                 nc = await nats.connect(sys.argv[1])\n    \
                 r = await nc.request(sys.argv[2], b'from python', timeout=10)\n    \
                 print(r.data.decode())\n    \
                 await nc.close()\n\
             asyncio.run(m())",
        )
        .args([&server.url(), &subject("upper")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "FROM PYTHON\n");
    // No server on a subject: said at once, exit status 1.
    let out = ipcx()
        .args([
            "call",
            &format!("{}/{}", server.url(), subject("nobody")),
            "x",
        ])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("no responders"));
    sigterm(&serving);
    let (ok, _, err) = finish(serving);
    assert!(ok, "serve stops on SIGTERM: {err}");
}

#[test]
fn top_and_ls_show_the_remote_endpoints_of_ipcx_processes() {
    let server = NatsServer::start("cli-top", &[]);
    let ep = format!("{}/{}", server.url(), subject("top"));
    let ws_port = ipcx_testkit::cli::free_port("127.0.0.1:0");
    let ws = format!("ws://127.0.0.1:{ws_port}/top");
    let nats_rx = spawn_recv(&[&ep, "--timeout", "20s"]);
    let ws_rx = spawn_recv(&[&ws, "--timeout", "20s"]);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let top = ipcx_testkit::cli::top_json().to_string();
        if top.contains(&ep) && top.contains(&ws) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ipcx top never showed {ep} and {ws}: {top}"
        );
    }
    // `ipcx ls` names the TCP sockets under them: the connection to the
    // server with the NATS endpoint (subject and all), the listening
    // socket with the WebSocket one.
    let ls: serde_json::Value =
        serde_json::from_str(&run_ok(&["ls", "--ipcx", "--type", "tcp", "--json"])).unwrap();
    let marked: Vec<String> = ls["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|o| o["ipcx"].as_str().map(str::to_owned))
        .collect();
    assert!(marked.contains(&ep), "{marked:?}");
    assert!(marked.contains(&ws), "{marked:?}");
    drop((nats_rx, ws_rx));
}
