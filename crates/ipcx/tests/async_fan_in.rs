//! The async example does what its docs say: three child processes over
//! unix:, shm: and mq:, received with `tokio::select!`, every message in
//! order, nothing left behind.

#[test]
fn the_fan_in_example_receives_all_three_in_order() {
    let program = ipcx_testkit::harness::example("ipcx", "async_fan_in", &["tokio"]);
    let out = std::process::Command::new("timeout")
        .args(["-k", "2", "60"])
        .arg(&program)
        .output()
        .expect("run the example");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}: {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.pop(), Some("all done"), "{stdout}");
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "mq: 1000 messages in order",
            "shm: 1000 messages in order",
            "unix: 1000 messages in order"
        ]
    );
}
