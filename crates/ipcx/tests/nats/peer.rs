//! The roles a peer process plays: parameters from the environment,
//! events on stdout, one line each.

use std::io::{BufRead, Write};
use std::time::Duration;

use ipcx::{Receiver, RecvTimeoutError, Sender};
use ipcx_testkit::harness::{EP_ENV, PATIENCE};

use crate::{Invoice, Job};

fn param(name: &str) -> Option<String> {
    std::env::var(format!("IPCX_{}", name.to_uppercase())).ok()
}

fn number(name: &str, default: u64) -> u64 {
    param(name).map_or(default, |v| v.parse().expect("a number"))
}

fn say(line: impl std::fmt::Display) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").expect("stdout");
    out.flush().expect("stdout");
}

pub fn run(role: &str) -> ! {
    let ep = std::env::var(EP_ENV).expect("IPCX_EP");
    match role {
        "send" => send(&ep),
        "send-invoice" => {
            let tx = Sender::<Invoice>::open(&ep).expect("open");
            tx.send(Invoice { total: 9.5 }).expect("send");
        }
        "count" => count(&ep),
        "recv-one" => {
            let rx = Receiver::<Job>::open(&ep).expect("open");
            say("READY");
            match rx.recv_timeout(PATIENCE) {
                Ok(job) => say(format!("GOT {}", job.seq)),
                Err(e) => say(format!("ERR {e:?}")),
            }
        }
        "recv-durable" => recv_durable(&ep),
        "serve-double" => crate::calls::serve_double(&ep),
        other => panic!("unknown peer role {other}"),
    }
    std::process::exit(0)
}

/// `count` jobs of `size` bytes, `delay_ms` apart.
fn send(ep: &str) {
    let tx = Sender::<Job>::open_timeout(ep, PATIENCE).expect("peer opens its sender");
    let size = number("size", 8) as usize;
    let delay = Duration::from_millis(number("delay_ms", 0));
    for seq in 0..number("count", 1) {
        tx.send(Job::sized(seq, size)).expect("send");
        if !delay.is_zero() {
            std::thread::sleep(delay);
        }
    }
}

/// Counts jobs until a line on stdin, then prints `COUNT n`.
fn count(ep: &str) {
    let rx = Receiver::<Job>::open(ep).expect("open");
    say("READY");
    let (tx, told) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        let _ = tx.send(());
    });
    let mut n = 0u64;
    loop {
        match rx.recv_timeout(Duration::from_millis(20)) {
            Ok(_) => n += 1,
            Err(RecvTimeoutError::Timeout) => {}
            Err(e) => panic!("{e:?}"),
        }
        if told.try_recv().is_ok() {
            break;
        }
    }
    // What arrived before the word is counted too.
    while rx.try_recv().is_ok() {
        n += 1;
    }
    say(format!("COUNT {n}"));
}

/// Prints `GOT seq` for each job (handling each for `delay_ms`), `END`
/// once every sender said bye.
fn recv_durable(ep: &str) {
    let rx = Receiver::<Job>::open(ep).expect("open");
    say("READY");
    let delay = Duration::from_millis(number("delay_ms", 0));
    loop {
        match rx.recv_timeout(PATIENCE) {
            Ok(job) => {
                say(format!("GOT {}", job.seq));
                std::thread::sleep(delay);
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
    say("END");
}
