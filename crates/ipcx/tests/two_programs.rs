//! The README's snippet as two separate programs (`examples/jobs_sender.rs`
//! and `examples/jobs_receiver.rs`), each defining its own `struct Job` in
//! a module of its own: they talk, because a message type is known by its
//! name without module paths and its shape. A `Job` of another shape is
//! refused at open, and the receiver goes on with the right one.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// An example program, built with the features this test was (so the
/// library is not built again without them).
fn example(name: &str) -> PathBuf {
    let features: &[&str] = if cfg!(feature = "tokio") {
        &["tokio"]
    } else {
        &[]
    };
    ipcx_testkit::harness::example("ipcx", name, features)
}

/// This program's own `Job`: the same name, another field type.
#[derive(serde::Serialize, serde::Deserialize)]
struct Job {
    id: String,
}

#[test]
fn two_programs_that_each_define_job_talk() {
    talk(false);
}

#[test]
fn a_job_of_another_shape_is_refused_at_open() {
    talk(true);
}

/// Runs the receiver program; with `wrong_first`, this process first
/// opens a sender of its own `Job`, which must be refused.
fn talk(wrong_first: bool) {
    // Removed on drop, a failed assertion included.
    let scratch = ipcx_testkit::harness::Scratch::new("two-programs");
    let ep = format!("unix:{}", scratch.path("jobs.sock"));
    let mut receiver = Command::new("timeout")
        .args(["-k", "2", "30"])
        .arg(example("jobs_receiver"))
        .arg(&ep)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(receiver.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    if wrong_first {
        // The receiver refuses the connection at its hello; this sender
        // learns it from the receiver's hello, at its first sends.
        let tx = ipcx::Sender::<Job>::open(&ep).unwrap();
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let err = loop {
            match tx.send(Job { id: "one".into() }) {
                Ok(()) => assert!(std::time::Instant::now() < give_up, "never refused"),
                Err(ipcx::SendError::Failed(_, e)) => break e,
                Err(e) => panic!("expected a type mismatch, got {e}"),
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        assert_eq!(err.kind(), ipcx::ErrorKind::TypeMismatch, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("both name it `Job`") && text.contains("struct Job{id:str}"),
            "the error says the shapes differ and shows this end's: {text}"
        );
    }
    let sent = Command::new("timeout")
        .args(["-k", "2", "30"])
        .arg(example("jobs_sender"))
        .arg(&ep)
        .output()
        .unwrap();
    let got: Vec<String> = lines.map(Result::unwrap).collect();
    let status = receiver.wait().unwrap();
    assert!(
        sent.status.success(),
        "the sender: {}",
        String::from_utf8_lossy(&sent.stderr)
    );
    assert!(status.success(), "the receiver exited with {status}");
    assert_eq!(got, ["job 1", "job 2", "job 3"]);
}
