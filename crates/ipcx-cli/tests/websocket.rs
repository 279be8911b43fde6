//! `ws://` and `wss://` between real processes and real clients that are
//! not ipcx: `ipcx recv` and `ipcx send`, Python's `websockets`, the
//! JavaScript sender of docs/ipcx-ws.mjs under Node (the browser's
//! WebSocket API). `scripts/test` installs websockets and Node is on the
//! machine.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ipcx_testkit::cli::{finish, free_port, ipcx, spawn_recv, wait_for_file, Running, Scratch};

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn python(script: &str, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .args(["-k", "5", "30", "python3", "-c", script])
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "python3 failed (python3 -m pip install websockets):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn send_and_recv_over_ws_in_order() {
    let port = free_port("127.0.0.1:0");
    let ep = format!("ws://127.0.0.1:{port}/frames");
    let rx = spawn_recv(&[&ep, "--timeout", "20s"]);
    wait_for_port(port);
    let mut send = ipcx()
        .args(["send", &ep])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = send.stdin.take().unwrap();
    for i in 0..500 {
        writeln!(stdin, "message {i}").unwrap();
    }
    drop(stdin);
    assert!(send.wait().unwrap().success());
    let (ok, out, err) = finish(rx);
    assert!(ok, "the receiver ends with its sender: {err}");
    let expected: String = (0..500).map(|i| format!("message {i}\n")).collect();
    assert_eq!(out, expected);
}

#[test]
fn python_websockets_is_a_peer_and_bad_peers_are_told_why() {
    let port = free_port("127.0.0.1:0");
    let ep = format!("ws://127.0.0.1:{port}/in");
    let rx = spawn_recv(&[&ep, "-n", "3", "--timeout", "20s"]);
    wait_for_port(port);
    let out = python(
        r#"
import asyncio, sys, websockets
url = sys.argv[1]
async def refused(path, first):
    async with websockets.connect(url.rsplit("/", 1)[0] + path) as ws:
        try:
            await ws.send(first)
            await ws.recv()
        except websockets.ConnectionClosed as e:
            print(e.rcvd.code, e.rcvd.reason)
async def main():
    await refused("/in", "GET / HTTP/1.1")
    await refused("/elsewhere", "ipcx 1 sends 2f2ec0474f1c4fe4 bytes")
    async with websockets.connect(url) as ws:
        await ws.send("ipcx 1 sends 2f2ec0474f1c4fe4 bytes")
        print(await ws.recv())
        for m in [b"one", b"two", b"three"]:
            await ws.send(m)
asyncio.run(main())
"#,
        &[&ep],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("1008 the first message is not an ipcx hello"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("1008 no ipcx endpoint at /elsewhere"),
        "{out}"
    );
    assert_eq!(lines[2], "ipcx 1 ok");
    let (ok, out, err) = finish(rx);
    assert!(ok, "{err}");
    assert_eq!(out, "one\ntwo\nthree\n");
}

#[test]
fn the_javascript_sender_runs_in_node() {
    let port = free_port("127.0.0.1:0");
    let ep = format!("ws://127.0.0.1:{port}/js");
    let s = Scratch::new("ws-js");
    let snippet = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ipcx-ws.mjs");
    let driver = s.path("driver.mjs");
    std::fs::write(
        &driver,
        format!(
            "import {{ connect, fingerprint }} from {snippet:?};\n\
             if (fingerprint('bytes') !== '2f2ec0474f1c4fe4') throw new Error(fingerprint('bytes'));\n\
             try {{ await connect(process.argv[2].replace('/js', '/nope')); }}\n\
             catch (e) {{ console.log(e.message); }}\n\
             const tx = await connect(process.argv[2]);\n\
             tx.send('hello from javascript');\n\
             tx.send(new Uint8Array([0x6f, 0x6b]));\n\
             await tx.close();\n"
        ),
    )
    .unwrap();
    let rx = spawn_recv(&[&ep, "-n", "2", "--timeout", "20s"]);
    wait_for_port(port);
    let node = Command::new("timeout")
        .args([
            "-k",
            "5",
            "30",
            "node",
            "--experimental-websocket",
            &driver,
            &ep,
        ])
        .output()
        .expect("node");
    assert!(
        node.status.success(),
        "{}",
        String::from_utf8_lossy(&node.stderr)
    );
    let (ok, out, err) = finish(rx);
    assert!(ok, "{err}");
    assert_eq!(out, "hello from javascript\nok\n");
    assert!(
        String::from_utf8_lossy(&node.stdout).contains("no ipcx endpoint at /nope"),
        "{}",
        String::from_utf8_lossy(&node.stdout)
    );
}

#[test]
fn wss_verifies_the_certificate() {
    let s = Scratch::new("wss");
    let dir = s.path("");
    let status = Command::new("timeout")
        .args(["-k", "5", "60", "sh", "-ec"])
        .arg(format!(
            r#"cd {dir}
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=ipcx-ws-ca -keyout ca.key -out ca.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other -keyout other.key -out other.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' > san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext -out server.pem 2>/dev/null
chmod 600 *.key"#
        ))
        .status()
        .unwrap();
    assert!(status.success());
    let port = free_port("127.0.0.1:0");
    let base = format!("wss://127.0.0.1:{port}/secure");
    let rx = spawn_recv(&[
        &format!(
            "{base}?cert={}&key={}",
            s.path("server.pem"),
            s.path("server.key")
        ),
        "-n",
        "1",
        "--timeout",
        "20s",
    ]);
    wait_for_port(port);
    let wrong = ipcx()
        .args(["send", &format!("{base}?ca={}", s.path("other.pem")), "x"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("TLS"),
        "{}",
        String::from_utf8_lossy(&wrong.stderr)
    );
    let good = ipcx()
        .args([
            "send",
            &format!("{base}?ca={}", s.path("ca.pem")),
            "secret hello",
        ])
        .output()
        .unwrap();
    assert!(
        good.status.success(),
        "{}",
        String::from_utf8_lossy(&good.stderr)
    );
    let (ok, out, err) = finish(rx);
    assert!(ok, "{err}");
    assert_eq!(out, "secret hello\n");
    // A receiver's key that others can read is refused at open.
    std::fs::set_permissions(
        s.path("server.key"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let open = ipcx()
        .args([
            "recv",
            &format!(
                "{base}?cert={}&key={}",
                s.path("server.pem"),
                s.path("server.key")
            ),
            "--timeout",
            "1s",
        ])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&open.stderr).contains("chmod 600"),
        "{}",
        String::from_utf8_lossy(&open.stderr)
    );
}

/// Out of file descriptors, a listening WebSocket receiver waits (the
/// senders wait in its backlog), does not spin, and loses nothing once
/// connections close and free theirs.
#[test]
fn out_of_fds_a_ws_receiver_waits_and_loses_nothing() {
    let port = free_port("127.0.0.1:0");
    let ep = format!("ws://127.0.0.1:{port}/limits");
    let ipcx_bin = assert_cmd::cargo::cargo_bin("ipcx");
    // 64 fds: some 40 connections fit; 80 senders hold theirs for a second.
    let rx = Running(
        Command::new("bash")
            .arg("-c")
            .arg(format!(
                "ulimit -n 64; exec {} recv {ep} -n 160",
                ipcx_bin.display()
            ))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    let senders = ipcx_testkit::cli::two_message_senders(&ep, 80);
    for mut s in senders {
        assert!(
            s.0.wait().unwrap().success(),
            "every sender was taken in the end"
        );
    }
    let cpu = ipcx_testkit::cli::cpu_of(rx.0.id());
    let (ok, out, err) = finish(rx);
    assert!(ok, "{err}");
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    lines.dedup();
    assert_eq!(lines.len(), 160, "each message once: {out}");
    eprintln!("ws out of fds: 160 messages, receiver CPU {cpu:?}");
    assert!(
        cpu < Duration::from_millis(800),
        "the receiver spun: {cpu:?}"
    );
}

/// Waits for `child` to exit, failing the test after `limit`.
fn exits_within(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "still running after {limit:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `ipcx send 'AT?listen=true'` (fed through its stdin), once it listens on `port`.
fn listening_sender(at: &str, port: u16) -> Running {
    let send = Running(
        ipcx()
            .args(["send", &format!("{at}?listen=true")])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    send
}

/// Server-side connections established on `port`, as `ss` sees them.
fn established(port: u16) -> usize {
    let out = Command::new("ss")
        .args(["-Htn", "state", "established", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2)");
    String::from_utf8_lossy(&out.stdout).lines().count()
}

/// Reads one line from a child's stdout (a "ready" it prints).
fn read_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut line = String::new();
    let out = child.stdout.as_mut().unwrap();
    let mut byte = [0u8; 1];
    // Unbuffered, so nothing after the line is taken from the pipe.
    while !line.ends_with('\n') {
        match std::io::Read::read(out, &mut byte) {
            Ok(1) => line.push(byte[0] as char),
            _ => break,
        }
    }
    let _ = std::io::BufReader::new(std::io::empty()).fill_buf();
    line
}

/// Python's `websockets` as a receiver of `n` messages from the listening
/// sender at `at`: refused first as a receiver of another type (checked
/// here), then subscribed (it has said "ready"); it prints what it got.
fn python_subscriber(at: &str, n: usize) -> Running {
    let mut py = Running(
        Command::new("timeout")
            .args([
                "-k",
                "5",
                "30",
                "python3",
                "-c",
                PY_SUBSCRIBER,
                at,
                &n.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let refused = read_line(&mut py.0);
    assert_eq!(refused.trim(), "refused 1008 type mismatch", "{refused}");
    assert_eq!(read_line(&mut py.0).trim(), "ready");
    py
}

const PY_SUBSCRIBER: &str = r#"
import asyncio, sys, websockets
url, n = sys.argv[1], int(sys.argv[2])
async def main():
    # A receiver of another type is refused, with the reason.
    async with websockets.connect(url) as ws:
        await ws.send("ipcx 1 receives 00000000000000aa Invoice")
        try:
            await ws.recv()
        except websockets.ConnectionClosed as e:
            print("refused", e.rcvd.code, e.rcvd.reason, file=sys.stderr)
            print("refused", e.rcvd.code, e.rcvd.reason.split(":")[0])
    async with websockets.connect(url) as ws:
        await ws.send("ipcx 1 receives 2f2ec0474f1c4fe4 bytes")
        assert await ws.recv() == "ipcx 1 ok"
        print("ready", flush=True)
        got = []
        try:
            while len(got) < n:
                got.append((await ws.recv()).decode())
        except websockets.ConnectionClosedOK:
            pass
        print(len(got), got[0], got[-1], got == [f"line {i}" for i in range(n)])
asyncio.run(main())
"#;

#[test]
fn a_listening_sender_gives_each_receiver_every_message_python_node_and_ipcx() {
    let port = free_port("127.0.0.1:0");
    let at = format!("ws://127.0.0.1:{port}/feed");
    let s = Scratch::new("ws-listen");
    let mut send = listening_sender(&at, port);
    let mut py = python_subscriber(&at, 200);
    let snippet = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/ipcx-ws.mjs");
    let driver = s.path("subscribe.mjs");
    std::fs::write(
        &driver,
        format!(
            "import {{ subscribe }} from {snippet:?};\n\
             const got = [];\n\
             const rx = await subscribe(process.argv[2], (m) => got.push(new TextDecoder().decode(m)));\n\
             console.log('ready');\n\
             await rx.ended;\n\
             console.log(got.length, got[0], got[got.length - 1]);\n"
        ),
    )
    .unwrap();
    let mut node = Running(
        Command::new("timeout")
            .args(["-k", "5", "30", "node", "--experimental-websocket"])
            .arg(&driver)
            .arg(&at)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    assert_eq!(read_line(&mut node.0).trim(), "ready");
    let rx = spawn_recv(&[&format!("{at}?listen=false"), "--timeout", "20s"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while established(port) < 3 {
        assert!(
            Instant::now() < deadline,
            "the ipcx receiver did not connect"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let mut stdin = send.0.stdin.take().unwrap();
    for i in 0..200 {
        writeln!(stdin, "line {i}").unwrap();
    }
    drop(stdin);
    let sent = exits_within(&mut send.0, Duration::from_secs(20));
    assert!(sent.success(), "the sender ends cleanly");
    let (ok, out, err) = finish(rx);
    assert!(ok, "the ipcx receiver ends with the sender: {err}");
    let expected: String = (0..200).map(|i| format!("line {i}\n")).collect();
    assert_eq!(out, expected);
    assert_eq!(read_line(&mut py.0).trim(), "200 line 0 line 199 True");
    assert_eq!(read_line(&mut node.0).trim(), "200 line 0 line 199");
}

/// A receiver that says hello and then never reads holds the others up
/// for 10 s at most: it is disconnected ("too slow"), and the rest get
/// everything.
#[test]
fn a_stalled_receiver_is_cut_off_and_the_others_go_on() {
    let port = free_port("127.0.0.1:0");
    let s = Scratch::new("ws-stalled");
    let at = format!("ws://127.0.0.1:{port}/feed");
    let mut send = listening_sender(&at, port);
    // Says hello over a raw socket, then reads nothing (its buffers fill).
    let mut stalled = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let _ = stalled.set_read_timeout(Some(Duration::from_secs(5)));
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    write!(
        stalled,
        "GET /feed HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    let hello = b"ipcx 1 receives 2f2ec0474f1c4fe4 bytes";
    // A masked text frame (mask 0: the payload as it is).
    let mut frame = vec![0x81, 0x80 | hello.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(hello);
    stalled.write_all(&frame).unwrap();
    // Its output goes to a file: the test reads it only at the end.
    let got = s.path("got");
    let mut rx = Running(
        ipcx()
            .args(["recv", &format!("{at}?listen=false"), "--timeout", "30s"])
            .stdout(std::fs::File::create(&got).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while established(port) < 2 {
        assert!(Instant::now() < deadline, "the receivers did not connect");
        std::thread::sleep(Duration::from_millis(10));
    }
    // 30 MB: far more than the stalled peer's socket buffers and queue.
    let started = Instant::now();
    let mut stdin = send.0.stdin.take().unwrap();
    let mut chunk = vec![b'x'; 60_000];
    chunk[59_999] = b'\n';
    let writer = std::thread::spawn(move || {
        for _ in 0..512 {
            if stdin.write_all(&chunk).is_err() {
                break;
            }
        }
    });
    writer.join().unwrap();
    let sent = exits_within(&mut send.0, Duration::from_secs(40));
    assert!(sent.success(), "the sender ends cleanly");
    let status = exits_within(&mut rx.0, Duration::from_secs(20));
    assert!(status.success(), "the receiver ends with the sender");
    let out = std::fs::read(&got).unwrap();
    assert_eq!(out.len(), 512 * 60_000, "the receiver that reads gets all");
    let took = started.elapsed();
    assert!(
        took > Duration::from_secs(9) && took < Duration::from_secs(25),
        "held up for about 10 s, no longer: {took:?}"
    );
    drop(stalled);
}

/// `ipcx relay listen:unix:… listen:ws://…` pushes a local stream to WebSocket
/// clients, and `ipcx relay listen:ws://… unix:…` takes theirs in.
#[test]
fn the_relay_bridges_unix_and_listening_websockets_both_ways() {
    let s = Scratch::new("ws-relay");
    // Out: unix → relay → every WebSocket client.
    let (sock, port) = (s.path("in.sock"), free_port("127.0.0.1:0"));
    let at = format!("ws://127.0.0.1:{port}/feed");
    let _relay = Running(
        ipcx()
            .args([
                "relay",
                &format!("listen:unix:{sock}"),
                &format!("listen:{at}"),
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    let mut py = python_subscriber(&at, 50);
    wait_for_file(&sock);
    let lines: Vec<String> = (0..50).map(|i| format!("line {i}")).collect();
    let mut send = ipcx()
        .args(["send", &format!("unix:{sock}")])
        .args(&lines)
        .spawn()
        .unwrap();
    assert!(exits_within(&mut send, Duration::from_secs(20)).success());
    assert_eq!(read_line(&mut py.0).trim(), "50 line 0 line 49 True");

    // In: WebSocket clients → relay → unix.
    let (out_sock, port) = (s.path("out.sock"), free_port("127.0.0.1:0"));
    let rx = spawn_recv(&[&format!("unix:{out_sock}"), "--timeout", "20s"]);
    wait_for_file(&out_sock);
    let at = format!("ws://127.0.0.1:{port}/in");
    let _relay = Running(
        ipcx()
            .args([
                "relay",
                &format!("listen:{at}"),
                &format!("unix:{out_sock}"),
            ])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    wait_for_port(port);
    python(
        r#"
import asyncio, sys, websockets
async def main():
    async with websockets.connect(sys.argv[1]) as ws:
        await ws.send("ipcx 1 sends 2f2ec0474f1c4fe4 bytes")
        assert await ws.recv() == "ipcx 1 ok"
        for m in [b"from", b"a", b"browser"]:
            await ws.send(m)
asyncio.run(main())
"#,
        &[&at],
    );
    let (ok, out, err) = finish(rx);
    assert!(
        ok,
        "the receiver ends when the relay's one sender is done: {err}"
    );
    assert_eq!(out, "from\na\nbrowser\n");
}
