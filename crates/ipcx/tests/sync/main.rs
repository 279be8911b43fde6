//! Semaphores across real processes: the seed material's example (a
//! semaphore of 3, four processes, the fourth waits), SEM_UNDO giving back
//! the unit of a holder killed with SIGKILL, timeouts and naming errors.
//! Peers are this binary re-run with `IPCX_PEER=<role>`.

use ipcx_testkit::harness;
use std::io::BufRead;
use std::time::{Duration, Instant};

use harness::{Peer, Scratch, PATIENCE};
use ipcx::sync::{LockError, Mutex, Semaphore, UndoSemaphore};
use ipcx::ErrorKind;
use libtest_mimic::{Arguments, Trial};

fn main() {
    if let Ok(role) = std::env::var(harness::PEER_ENV) {
        peer(&role, &std::env::var(harness::EP_ENV).expect("IPCX_EP"));
    }
    let tests: [(&str, fn()); 10] = [
        (
            "robust_mutex_survives_a_killed_holder",
            robust_mutex_survives_a_killed_holder,
        ),
        (
            "condvar_wakes_another_process",
            condvar_wakes_another_process,
        ),
        (
            "try_lock_sees_another_process_holding",
            try_lock_sees_another_process_holding,
        ),
        ("mutex_checks_the_type", mutex_checks_the_type),
        ("a_second_stop_signal_kills", a_second_stop_signal_kills),
        (
            "four_processes_share_three_units",
            four_processes_share_three_units,
        ),
        (
            "undo_semaphore_survives_a_killed_holder",
            undo_semaphore_survives_a_killed_holder,
        ),
        (
            "posix_semaphore_keeps_a_killed_holders_unit",
            posix_semaphore_keeps_a_killed_holders_unit,
        ),
        ("timeouts", timeouts),
        ("names_and_errors", names_and_errors),
    ];
    let trials = tests
        .into_iter()
        .map(|(name, test)| {
            Trial::test(name, move || {
                test();
                Ok(())
            })
        })
        .collect();
    libtest_mimic::run(&Arguments::from_args(), trials).exit();
}

/// Peer roles: take a unit (saying whether it had to wait), hold it until
/// told, then give it back.
fn peer(role: &str, name: &str) -> ! {
    let say = |s: &str| println!("{s}");
    let wait_for_go = || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    };
    match role {
        "hold-posix" => {
            let sem = Semaphore::open(name).expect("open");
            let guard = match sem.try_acquire().expect("try") {
                Some(g) => g,
                None => {
                    say("WOULD BLOCK");
                    sem.acquire().expect("acquire")
                }
            };
            say("ACQUIRED");
            wait_for_go();
            drop(guard);
            say("RELEASED");
        }
        "hold-undo" => {
            let sem =
                UndoSemaphore::open(u32::from_str_radix(name, 16).expect("hex key")).expect("open");
            let _guard = sem.acquire().expect("acquire");
            say("ACQUIRED");
            wait_for_go();
        }
        "lock-and-hold" => {
            let m = Mutex::<[u64; 2]>::open(name).expect("open");
            let mut g = m.lock().expect("lock");
            g[0] = 1; // half of an update the process will not finish
            say("LOCKED");
            wait_for_go();
        }
        "wait-for-7" => {
            let m = Mutex::<[u64; 2]>::open(name).expect("open");
            let mut g = m.lock().expect("lock");
            say("WAITING");
            while g[0] != 7 {
                g.wait().expect("wait");
            }
            say(&format!("WOKE {}", g[0]));
        }
        "try-lock" => {
            let m = Mutex::<[u64; 2]>::open(name).expect("open");
            say(if m.try_lock().expect("try").is_some() {
                "FREE"
            } else {
                "BUSY"
            });
        }
        "shutdown-twice" => {
            let stop = ipcx::Stop::on_signals().expect("install");
            // SAFETY: raise(2) with a valid signal number.
            unsafe { libc::raise(libc::SIGTERM) };
            say(&format!(
                "REQUESTED {} {:?}",
                stop.is_stopped(),
                stop.signal()
            ));
            // SAFETY: as above. The second one must end the process.
            unsafe { libc::raise(libc::SIGTERM) };
            say("STILL ALIVE");
        }
        other => panic!("unknown role {other}"),
    }
    std::process::exit(0)
}

fn sem_name(s: &Scratch) -> String {
    s.mq_name() // a `/name` of this test's own (removed by the test's guard too)
}

fn four_processes_share_three_units() {
    let s = Scratch::new("sem3");
    let name = sem_name(&s);
    let _cleanup = SemCleanup(name.clone());
    let sem = Semaphore::create(&name, 3).expect("create");
    let mut peers: Vec<Peer> = (0..4)
        .map(|_| Peer::spawn("hold-posix", &name, &[]))
        .collect();
    let firsts: Vec<String> = peers.iter().map(Peer::line).collect();
    assert_eq!(
        firsts.iter().filter(|l| *l == "ACQUIRED").count(),
        3,
        "{firsts:?}"
    );
    let waiting = firsts
        .iter()
        .position(|l| l == "WOULD BLOCK")
        .expect("the fourth waits");
    assert_eq!(sem.value().expect("value"), 0);

    let holder = (0..4).find(|i| *i != waiting).expect("a holder");
    peers[holder].tell("go");
    assert_eq!(peers[holder].line(), "RELEASED");
    assert_eq!(
        peers[waiting].line(),
        "ACQUIRED",
        "the fourth gets the released unit"
    );
    for p in peers {
        p.finish();
    }
    assert_eq!(sem.value().expect("value"), 3, "every unit came back");
}

fn undo_semaphore_survives_a_killed_holder() {
    let s = Scratch::new("undo");
    let key = s.sysv_key();
    let sem = UndoSemaphore::create(key, 1).expect("create");
    let mut holder = Peer::spawn("hold-undo", &format!("{key:x}"), &[]);
    assert_eq!(holder.line(), "ACQUIRED");
    assert!(
        sem.try_acquire().expect("try").is_none(),
        "the unit is held"
    );
    holder.kill(); // SIGKILL: no chance to release
    let started = Instant::now();
    let guard = sem.acquire_timeout(PATIENCE).expect("wait");
    assert!(
        guard.is_some(),
        "the kernel gave the killed holder's unit back"
    );
    assert!(started.elapsed() < PATIENCE);
}

fn posix_semaphore_keeps_a_killed_holders_unit() {
    // The contrast that UndoSemaphore exists for.
    let s = Scratch::new("nounde");
    let name = sem_name(&s);
    let _cleanup = SemCleanup(name.clone());
    let sem = Semaphore::create(&name, 1).expect("create");
    let mut holder = Peer::spawn("hold-posix", &name, &[]);
    assert_eq!(holder.line(), "ACQUIRED");
    holder.kill();
    assert!(
        sem.try_acquire().expect("try").is_none(),
        "a POSIX semaphore does not undo"
    );
}

fn timeouts() {
    let s = Scratch::new("semtimeout");
    let name = sem_name(&s);
    let _cleanup = SemCleanup(name.clone());
    let sem = Semaphore::create(&name, 0).expect("create");
    let t = Instant::now();
    assert!(sem
        .acquire_timeout(Duration::from_millis(100))
        .expect("wait")
        .is_none());
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "acquire_timeout returned early"
    );
    sem.release().expect("V");
    assert!(sem
        .acquire_timeout(Duration::from_millis(100))
        .expect("wait")
        .is_some());

    let undo = UndoSemaphore::create(s.sysv_key(), 0).expect("create");
    let t = Instant::now();
    assert!(undo
        .acquire_timeout(Duration::from_millis(100))
        .expect("wait")
        .is_none());
    assert!(t.elapsed() >= Duration::from_millis(100));
    assert!(undo.try_acquire().expect("try").is_none());
}

fn names_and_errors() {
    let s = Scratch::new("semnames");
    let name = sem_name(&s);
    let _cleanup = SemCleanup(name.clone());
    assert_eq!(
        Semaphore::open(&name).expect_err("missing").kind(),
        ErrorKind::NoPeer
    );
    let sem = Semaphore::create(&name, 1).expect("create");
    assert_eq!(
        Semaphore::create(&name, 1).expect_err("exists").kind(),
        ErrorKind::AddrInUse
    );
    assert_eq!(
        Semaphore::open("no-slash").expect_err("bad name").kind(),
        ErrorKind::InvalidEndpoint
    );
    drop(sem);
    assert_eq!(
        Semaphore::open(&name)
            .expect_err("the creator removed it")
            .kind(),
        ErrorKind::NoPeer
    );
    assert_eq!(
        UndoSemaphore::open(s.sysv_key())
            .expect_err("missing")
            .kind(),
        ErrorKind::NoPeer
    );
}

/// Removes a named semaphore on drop, even when the test fails.
struct SemCleanup(String);

impl Drop for SemCleanup {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.0.as_str()).expect("name");
        // SAFETY: `c` is a valid C string.
        unsafe { libc::sem_unlink(c.as_ptr()) };
    }
}

/// The first SIGTERM only sets the flag; the second gets the default action.
fn a_second_stop_signal_kills() {
    use std::os::unix::process::ExitStatusExt;
    let out = harness::peer_command("shutdown-twice", "", &[])
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run peer");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.lines().next(),
        Some("REQUESTED true Some(15)"),
        "{text}"
    );
    assert!(!text.contains("STILL ALIVE"), "{text}");
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGTERM),
        "killed by the second signal: {:?}",
        out.status
    );
}

/// Removes a shared-memory name on drop, even when the test fails.
struct ShmCleanup(String);

impl Drop for ShmCleanup {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.0.as_str()).expect("name");
        // SAFETY: `c` is a valid C string.
        unsafe { libc::shm_unlink(c.as_ptr()) };
    }
}

fn robust_mutex_survives_a_killed_holder() {
    let s = Scratch::new("robust");
    let name = sem_name(&s);
    let _cleanup = ShmCleanup(name.clone());
    let m = Mutex::create(&name, [0u64, 0]).expect("create");
    let mut holder = Peer::spawn("lock-and-hold", &name, &[]);
    assert_eq!(holder.line(), "LOCKED");
    assert!(
        matches!(m.try_lock(), Ok(None)),
        "held by the other process"
    );
    holder.kill(); // SIGKILL while holding the lock, mid-update
    match m.lock() {
        Err(LockError::OwnerDied(mut g)) => {
            assert_eq!(*g, [1, 0], "the data as the dead owner left it");
            *g = [0, 0]; // repair
        }
        other => panic!("expected OwnerDied, got {other:?}"),
    }
    let g = m.lock().expect("the lock works normally again");
    assert_eq!(*g, [0, 0]);
}

fn condvar_wakes_another_process() {
    let s = Scratch::new("condvar");
    let name = sem_name(&s);
    let _cleanup = ShmCleanup(name.clone());
    let m = Mutex::create(&name, [0u64, 0]).expect("create");
    let waiter = Peer::spawn("wait-for-7", &name, &[]);
    assert_eq!(waiter.line(), "WAITING");
    {
        // Taking the lock succeeds only once the waiter sleeps in wait().
        let mut g = m.lock().expect("lock");
        g[0] = 7;
        m.notify_all();
    }
    assert_eq!(waiter.line(), "WOKE 7");
    waiter.finish();

    let mut g = m.lock().expect("lock");
    let t = Instant::now();
    assert!(
        !g.wait_timeout(Duration::from_millis(100)).expect("wait"),
        "nobody notifies: timeout"
    );
    assert!(t.elapsed() >= Duration::from_millis(100));
}

fn try_lock_sees_another_process_holding() {
    let s = Scratch::new("trylock");
    let name = sem_name(&s);
    let _cleanup = ShmCleanup(name.clone());
    let m = Mutex::create(&name, [0u64, 0]).expect("create");
    let g = m.lock().expect("lock");
    let peer = Peer::spawn("try-lock", &name, &[]);
    assert_eq!(peer.line(), "BUSY");
    peer.finish();
    drop(g);
    let peer = Peer::spawn("try-lock", &name, &[]);
    assert_eq!(peer.line(), "FREE");
    peer.finish();
}

fn mutex_checks_the_type() {
    let s = Scratch::new("mutextype");
    let name = sem_name(&s);
    let _cleanup = ShmCleanup(name.clone());
    assert_eq!(
        Mutex::<u64>::open(&name).expect_err("missing").kind(),
        ErrorKind::NoPeer
    );
    let m = Mutex::create(&name, [0u64, 0]).expect("create");
    assert_eq!(
        Mutex::<[u64; 2]>::create(&name, [0, 0])
            .expect_err("exists")
            .kind(),
        ErrorKind::AddrInUse
    );
    assert_eq!(
        Mutex::<u32>::open(&name).expect_err("other type").kind(),
        ErrorKind::TypeMismatch
    );
    assert_eq!(
        Mutex::<[u32; 4]>::open(&name)
            .expect_err("same size, other type")
            .kind(),
        ErrorKind::TypeMismatch
    );
    let mode = std::fs::metadata(format!("/dev/shm{name}"))
        .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o777);
    assert_eq!(mode.expect("in /dev/shm"), 0o600);
    drop(m);
    assert!(
        std::fs::metadata(format!("/dev/shm{name}")).is_err(),
        "the creator removed it"
    );
}
