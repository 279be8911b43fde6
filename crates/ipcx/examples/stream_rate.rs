//! One-way rate of small messages between two processes on any endpoint:
//! `stream_rate ENDPOINT [COUNT] [SIZE]` runs the receiver and spawns the
//! sender as a child. Prints messages per second.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let ep = args
        .get(1)
        .cloned()
        .unwrap_or_else(|| "tcp:127.0.0.1:47123".into());
    let count: usize = args.get(2).map_or(Ok(500_000), |s| s.parse())?;
    let size: usize = args.get(3).map_or(Ok(64), |s| s.parse())?;
    if std::env::var_os("STREAM_RATE_SENDER").is_some() {
        let tx = ipcx::ByteSender::open_timeout(&ep, std::time::Duration::from_secs(5))?;
        let msg = vec![7u8; size];
        for _ in 0..count {
            tx.send_bytes(msg.as_slice()).map_err(|e| e.to_string())?;
        }
        return Ok(());
    }
    let rx = ipcx::ByteReceiver::open(&ep)?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(&args[1..])
        .env("STREAM_RATE_SENDER", "1")
        .spawn()?;
    rx.recv_bytes()?;
    let t0 = Instant::now();
    for _ in 1..count {
        let _ = rx.recv_bytes_with(None, |m| m.len())?;
    }
    let secs = t0.elapsed().as_secs_f64();
    child.wait()?;
    println!("{ep}: {:.0} msg/s", (count - 1) as f64 / secs);
    Ok(())
}
