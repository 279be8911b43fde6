//! The README's snippet, receiving half, as a program of its own: it
//! defines its own `Job` (in a module of its own) and receives the jobs
//! `jobs_sender` sends. The message type is known by its name without
//! module paths and its shape, so two programs that each define the same
//! `struct Job` agree.
//!
//! `cargo run -p ipcx --example jobs_receiver -- unix:/tmp/jobs.sock`, then
//! `cargo run -p ipcx --example jobs_sender -- unix:/tmp/jobs.sock`.

mod receiver {
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    pub struct Job {
        pub id: u64,
    }
}

fn main() -> Result<(), ipcx::Error> {
    let endpoint = std::env::args()
        .nth(1)
        .unwrap_or("unix:/tmp/ipcx-jobs.sock".into());
    let jobs = ipcx::Receiver::<receiver::Job>::open(&endpoint)?;
    println!("ready");
    for job in &jobs {
        println!("job {}", job.id);
    }
    Ok(())
}
