//! One tokio process receives from three child processes at once, over
//! three mechanisms — a Unix socket, a shared-memory ring and a POSIX
//! queue — with `tokio::select!`, and checks that each sent 1000 numbered
//! messages in order.
//!
//! `cargo run --release -p ipcx --features tokio --example async_fan_in`
//!
//! The children are this program again (`async_fan_in send ENDPOINT`),
//! each sending with an async `ipcx::tokio::Sender`; a blocking
//! `ipcx::Sender` would do as well: the wire is the same.

use std::time::Duration;

use ipcx::tokio::{Receiver, Sender};
use ipcx::RecvError;

const COUNT: u64 = 1000;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if let [_, role, endpoint] = &args[..] {
        if role == "send" {
            return send(endpoint).await;
        }
    }
    let id = std::process::id();
    let dir = std::env::temp_dir().join(format!("ipcx-fan-in-{id}"));
    std::fs::create_dir_all(&dir)?;
    let endpoints = [
        ("unix", format!("unix:{}/numbers.sock", dir.display())),
        ("shm", format!("shm:/ipcx-fan-in-{id}")),
        ("mq", format!("mq:/ipcx-fan-in-{id}")),
    ];
    // Receivers first (each creates what it listens on), then the senders.
    let mut unix = Receiver::<u64>::open(&endpoints[0].1)?;
    let mut shm = Receiver::<u64>::open(&endpoints[1].1)?;
    let mut mq = Receiver::<u64>::open(&endpoints[2].1)?;
    let mut children = Vec::new();
    for (_, endpoint) in &endpoints {
        children.push(
            tokio::process::Command::new(std::env::current_exe()?)
                .args(["send", endpoint])
                .kill_on_drop(true)
                .spawn()?,
        );
    }

    let mut next = [0u64; 3];
    let mut open = [true; 3];
    while open.iter().any(|o| *o) {
        // One branch per receiver still open; a received message is never
        // lost to the branches that did not win (receives are cancel safe).
        let (i, got) = tokio::select! {
            got = unix.recv(), if open[0] => (0, got),
            got = shm.recv(), if open[1] => (1, got),
            got = mq.recv(), if open[2] => (2, got),
        };
        let name = endpoints[i].0;
        match got {
            Ok(n) if n == next[i] => next[i] += 1,
            Ok(n) => return Err(format!("{name}: got {n}, expected {}", next[i]).into()),
            Err(RecvError::Disconnected) => {
                open[i] = false;
                if next[i] != COUNT {
                    return Err(format!("{name}: ended after {} messages", next[i]).into());
                }
                println!("{name}: {COUNT} messages in order");
            }
            Err(e) => return Err(format!("{name}: {e}").into()),
        }
    }
    for mut child in children {
        let status = child.wait().await?;
        if !status.success() {
            return Err(format!("a sender exited with {status}").into());
        }
    }
    drop((unix, shm, mq));
    std::fs::remove_dir(&dir)?;
    println!("all done");
    Ok(())
}

/// A child: 1000 numbered messages, then the end of the channel (drop).
async fn send(endpoint: &str) -> Result<(), Box<dyn std::error::Error>> {
    let mut tx = Sender::<u64>::open_timeout(endpoint, Duration::from_secs(10)).await?;
    for n in 0..COUNT {
        tx.send(n).await?;
    }
    Ok(())
}
