//! The fault suite: on every transport, either side killed with SIGKILL at
//! a random moment, round after round, with numbered messages checked for
//! loss, duplication, reordering and tearing; the survivor must notice in
//! bounded time, and `ipcx rm` must leave nothing behind.
//!
//! Each round is a real peer process (this binary, re-run with
//! `IPCX_FAULT_PEER=send|recv`) and the test process on the other side.
//!
//! - `IPCX_FAULT_ROUNDS` rounds per transport and victim (default 3; the
//!   soak, `scripts/soak`, runs many more);
//! - `IPCX_FAULT_SEED` repeats a run's random kill points (each run prints
//!   its seed).
//!
//! Then garbage floods into every kind of listener (`flood`), and another
//! user against every object ipcx creates (`other_uid`).
//!
//! Run one transport: `cargo test -p ipcx-cli --test faults -- mq`.

mod flood;
mod message;
mod other_uid;
mod peer;
mod random;
mod ready;
mod rounds;

use ipcx_testkit::cli as common;

use libtest_mimic::{Arguments, Trial};

fn main() {
    if let Ok(role) = std::env::var(peer::ROLE_ENV) {
        peer::run(&role);
    }
    let mut args = Arguments::from_args();
    // One round at a time: each checks the test process's fd count.
    args.test_threads.get_or_insert(1);
    let rounds: u32 = std::env::var("IPCX_FAULT_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let seed: u64 = std::env::var("IPCX_FAULT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    eprintln!("faults: {rounds} round(s) per transport and victim, IPCX_FAULT_SEED={seed}");
    let mut trials = Vec::new();
    for (i, t) in rounds::TRANSPORTS.iter().enumerate() {
        for victim in [rounds::Victim::Sender, rounds::Victim::Receiver] {
            let seed = seed.wrapping_add((i as u64) << 8 | victim as u64);
            trials.push(Trial::test(
                format!("{}::kill_{}", t.name, victim.name()),
                move || {
                    let tally = rounds::run(t, victim, rounds, seed);
                    eprintln!("{}::kill_{}: {tally}", t.name, victim.name());
                    Ok(())
                },
            ));
        }
    }
    for f in flood::FLOODS {
        trials.push(Trial::test(
            format!("{}::garbage_flood", f.name),
            move || {
                flood::run(f, seed);
                Ok(())
            },
        ));
    }
    for o in other_uid::OBJECTS {
        trials.push(Trial::test(
            format!("{}::other_uid_refused", o.name),
            move || {
                other_uid::run(o);
                Ok(())
            },
        ));
    }
    libtest_mimic::run(&args, trials).exit();
}
