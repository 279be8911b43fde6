//! `ipcx plumber` on real pipes and FIFOs between real processes: a
//! writer blocked on a full buffer, then the buffer drained; a reader
//! blocked on an empty one; a FIFO by its path; bad targets and an
//! unprivileged caller get clear errors.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A child killed and reaped when the test ends, passed or not.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", script]);
    cmd
}

/// `ipcx plumber --once --json TARGET`, bounded by `timeout -k`.
fn look(target: &str) -> Result<Value, String> {
    let out = Command::new("timeout")
        .args(["-k", "2", "20"])
        .arg(assert_cmd::cargo::cargo_bin("ipcx"))
        .args(["plumber", "--once", "--json", target])
        .output()
        .unwrap();
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(serde_json::from_slice(&out.stdout).expect("JSON"))
}

/// Looks until `cond` holds (10 s at most); the last look on failure.
fn until(target: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(v) = look(target) {
            if cond(&v) {
                return v;
            }
            last = Some(v);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: never seen; last look: {last:#?}");
}

fn states(v: &Value, side: &str) -> Vec<String> {
    v[side]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["state"].as_str().unwrap().to_owned())
        .collect()
}

fn full_and_writer_blocked(v: &Value) -> bool {
    v["capacity"].as_u64().is_some()
        && v["queued"] == v["capacity"]
        && states(v, "writers") == ["blocked-full"]
}

#[test]
fn a_full_pipe_blocks_its_writer_then_drains() {
    let mut writer = Command::new("head")
        .args(["-c", "200000", "/dev/zero"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = Running(
        sh("sleep 2; cat > /dev/null; sleep 10")
            .stdin(writer.stdout.take().unwrap())
            .spawn()
            .unwrap(),
    );
    let writer = Running(writer);
    let target = format!("{}:0", reader.0.id());
    let v = until(
        &target,
        "a full pipe, its writer blocked",
        full_and_writer_blocked,
    );
    assert_eq!(v["kind"], "pipe");
    assert_eq!(v["unit"], "bytes");
    assert_eq!(v["writers"][0]["pid"], writer.0.id());
    assert_eq!(v["writers"][0]["command"], "head");
    assert!(
        !states(&v, "readers")
            .iter()
            .any(|s| s.starts_with("blocked")),
        "the reader sleeps, it does not read: {v:#}"
    );
    // The reader reads: the writer finishes, the pipe is empty.
    let v = until(&target, "the pipe drained", |v| {
        v["queued"] == 0 && v["writers"].as_array().unwrap().is_empty()
    });
    assert_eq!(v["capacity"], 65536, "{v:#}");
}

#[test]
fn a_reader_of_an_empty_pipe_is_blocked_empty() {
    let mut writer = sh("printf x; sleep 10")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let reader = Running(
        Command::new("cat")
            .stdin(writer.stdout.take().unwrap())
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _writer = Running(writer);
    let v = until(&format!("{}:0", reader.0.id()), "the reader blocked", |v| {
        v["queued"] == 0 && states(v, "readers") == ["blocked-empty"]
    });
    assert!(
        states(&v, "writers").iter().all(|s| s == "sleeping"),
        "{v:#}"
    );
}

#[test]
fn a_fifo_by_its_path() {
    let dir = tempdir("fifo");
    let fifo = format!("{dir}/plumber.fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let _reader = Running(
        sh(&format!(
            "exec 3<'{fifo}'; sleep 2; cat <&3 >/dev/null; sleep 10"
        ))
        .spawn()
        .unwrap(),
    );
    let _writer = Running(
        sh(&format!("exec head -c 200000 /dev/zero > '{fifo}'"))
            .spawn()
            .unwrap(),
    );
    let v = until(
        &fifo,
        "a full FIFO, its writer blocked",
        full_and_writer_blocked,
    );
    assert_eq!(v["kind"], "fifo");
    assert_eq!(v["target"], fifo.as_str());
    until(&format!("fifo:{fifo}"), "the FIFO drained", |v| {
        v["queued"] == 0 && v["writers"].as_array().unwrap().is_empty()
    });
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_targets_and_an_unprivileged_caller_get_clear_errors() {
    let err = look("999999999:0").unwrap_err();
    assert!(err.contains("no such process"), "{err}");
    let dir = tempdir("bad");
    let file = format!("{dir}/plain");
    std::fs::write(&file, b"x").unwrap();
    let err = look(&file).unwrap_err();
    assert!(err.contains("is not a FIFO"), "{err}");
    let err = look(&format!("{dir}/missing")).unwrap_err();
    assert!(err.contains("cannot look at"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
    // Another user's pipe, seen by nobody (65534): refused with the reason.
    let mut writer = sh("sleep 10").stdout(Stdio::piped()).spawn().unwrap();
    let reader = Running(
        Command::new("sleep")
            .arg("10")
            .stdin(writer.stdout.take().unwrap())
            .spawn()
            .unwrap(),
    );
    let _writer = Running(writer);
    let out = Command::new("timeout")
        .args([
            "-k", "2", "20", "setpriv", "--reuid", "65534", "--regid", "65534",
        ])
        .arg("--clear-groups")
        .arg(assert_cmd::cargo::cargo_bin("ipcx"))
        .args([
            "plumber",
            "--once",
            "--json",
            &format!("{}:0", reader.0.id()),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no right to look at pid"), "{err}");
}

fn tempdir(what: &str) -> String {
    let dir = std::env::temp_dir().join(format!("ipcx-plumber-{what}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}
