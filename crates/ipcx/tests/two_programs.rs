//! The README's snippet as two separate programs (`examples/jobs_sender.rs`
//! and `examples/jobs_receiver.rs`), each defining its own `struct Job` in
//! a module of its own: they talk, because a message type is known by its
//! name without module paths.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// An example program, built (or found up to date) next to this test.
fn example(name: &str) -> PathBuf {
    let profile_dir = std::env::current_exe()
        .unwrap()
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .to_owned();
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "-q", "-p", "ipcx", "--example", name]);
    if profile_dir.ends_with("release") {
        build.arg("--release");
    }
    assert!(
        build.status().unwrap().success(),
        "cargo build --example {name}"
    );
    profile_dir.join("examples").join(name)
}

#[test]
fn two_programs_that_each_define_job_talk() {
    let dir = std::env::temp_dir().join(format!("ipcx-two-programs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ep = format!("unix:{}/jobs.sock", dir.display());
    let mut receiver = Command::new("timeout")
        .args(["-k", "2", "30"])
        .arg(example("jobs_receiver"))
        .arg(&ep)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(receiver.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let sent = Command::new("timeout")
        .args(["-k", "2", "30"])
        .arg(example("jobs_sender"))
        .arg(&ep)
        .output()
        .unwrap();
    let got: Vec<String> = lines.map(Result::unwrap).collect();
    let status = receiver.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        sent.status.success(),
        "the sender: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(status.success(), "the receiver exited with {status}");
    assert_eq!(got, ["job 1", "job 2", "job 3"]);
}
