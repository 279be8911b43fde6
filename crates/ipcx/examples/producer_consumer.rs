//! Go-style producer and consumer in two real processes, over a pipe.
//!
//! The producer (this process) spawns a consumer (this program again) and
//! sends it jobs faster than it can work. The pipe holds 64 KiB, about
//! three of these 20 KiB jobs: after that `try_send` gives the job back
//! (`Full`) and `send` blocks until the consumer makes room. When the
//! producer drops its sender, the consumer's `for` loop ends.
//!
//! Run: `cargo run --release -p ipcx --example producer_consumer`

use std::process::Command;
use std::time::{Duration, Instant};

use ipcx::{Receiver, TrySendError};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Job {
    id: u32,
    /// Image bytes, say: big enough that a few jobs fill the pipe.
    pixels: Vec<u8>,
}

const JOBS: u32 = 10;
const WORK: Duration = Duration::from_millis(200);

fn main() -> Result<(), Box<dyn std::error::Error>> {
    match std::env::var("JOBS_ENDPOINT") {
        Ok(endpoint) => consumer(&endpoint),
        Err(_) => producer(),
    }
}

fn producer() -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let at = move || format!("{:>5} ms", start.elapsed().as_millis());
    let (jobs, consumer_end) = ipcx::pipe::to_child::<Job>()?;
    let mut consumer =
        consumer_end.spawn(Command::new(std::env::current_exe()?), "JOBS_ENDPOINT")?;
    println!(
        "{} producer: consumer started (pid {}), sending {JOBS} jobs of 20 KiB",
        at(),
        consumer.id()
    );

    for id in 1..=JOBS {
        let job = Job {
            id,
            pixels: vec![id as u8; 20 * 1024],
        };
        match jobs.try_send(job) {
            Ok(()) => println!("{} producer: job {id} sent at once", at()),
            Err(TrySendError::Full(job)) => {
                println!(
                    "{} producer: pipe full, try_send gave job {id} back; blocking in send…",
                    at()
                );
                let blocked = Instant::now();
                jobs.send(job)?;
                println!(
                    "{} producer: job {id} sent after blocking {} ms",
                    at(),
                    blocked.elapsed().as_millis()
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
    drop(jobs); // closes the channel: the consumer's loop ends
    println!(
        "{} producer: all sent, channel closed; waiting for the consumer",
        at()
    );
    let status = consumer.wait()?;
    println!("{} producer: consumer exited with {status}", at());
    Ok(())
}

fn consumer(endpoint: &str) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let jobs = Receiver::<Job>::open(endpoint)?;
    for job in &jobs {
        assert!(
            job.pixels.iter().all(|p| *p == job.id as u8),
            "job {} arrived intact",
            job.id
        );
        std::thread::sleep(WORK); // the work: slower than the producer
        println!(
            "        consumer: finished job {} ({} KiB) at {} ms",
            job.id,
            job.pixels.len() / 1024,
            start.elapsed().as_millis()
        );
    }
    println!("        consumer: channel closed by the producer, done");
    Ok(())
}
