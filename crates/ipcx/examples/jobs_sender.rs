//! The README's snippet, sending half, as a program of its own, with its
//! own `Job` in another module than `jobs_receiver`'s.
//!
//! `cargo run -p ipcx --example jobs_sender -- unix:/tmp/jobs.sock`

mod sender {
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    pub struct Job {
        pub id: u64,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or("unix:/tmp/ipcx-jobs.sock".into());
    let tx = ipcx::Sender::<sender::Job>::open(&endpoint)?;
    for id in 1..=3 {
        tx.send(sender::Job { id })?; // blocks while the channel is full
    }
    Ok(())
}
