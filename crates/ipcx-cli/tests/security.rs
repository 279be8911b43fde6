//! Secure defaults that do not depend on the caller's environment.

use std::time::{Duration, Instant};

use common::*;
use ipcx_testkit::cli as common;

/// `mq:?mode=0640` gives the queue exactly 0640 whatever the umask (as
/// every other kind does); the default stays 0600.
#[test]
fn queue_modes_ignore_the_umask() {
    for (options, want) in [("?mode=0640", 0o640), ("", 0o600)] {
        let name = format!("/ipcx-cli-mode-{}-{want:o}", std::process::id());
        let _queues = Queues(name.clone(), sysv_key(9));
        let rx = Running(
            std::process::Command::new("bash")
                .arg("-c")
                .arg(format!(
                    "umask 077; exec {} recv 'mq:{name}{options}' --timeout 20s",
                    assert_cmd::cargo::cargo_bin("ipcx").display()
                ))
                .spawn()
                .unwrap(),
        );
        let cname = std::ffi::CString::new(name.as_str()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        let fd = loop {
            // SAFETY: a valid C string; without O_CREAT no variadic argument is read.
            let fd = unsafe { libc::mq_open(cname.as_ptr(), libc::O_RDONLY) };
            if fd >= 0 {
                break fd;
            }
            assert!(Instant::now() < deadline, "the queue never appeared");
            std::thread::sleep(Duration::from_millis(5));
        };
        // SAFETY: fstat fills the zeroed struct; fd is an open queue descriptor.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        assert_eq!(unsafe { libc::fstat(fd, &mut st) }, 0);
        // SAFETY: fd was opened above.
        unsafe { libc::mq_close(fd) };
        assert_eq!(
            st.st_mode & 0o777,
            want,
            "mq:{name}{options} under umask 077"
        );
        drop(rx);
    }
}
