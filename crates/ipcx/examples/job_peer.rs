//! A Rust peer for the Python package's typed channels: it sends or
//! receives a `Job` that the Python side declares as a dataclass
//! (python/tests/test_typed.py, README "Python"). Both sides declare the
//! same identity (name and shape), so the channel opens and the postcard
//! bytes mean the same on both.
//!
//! ```text
//! cargo run -p ipcx --example job_peer -- identity
//! cargo run -p ipcx --example job_peer -- recv unix:/tmp/jobs.sock 3   # checks each job
//! cargo run -p ipcx --example job_peer -- send unix:/tmp/jobs.sock 3
//! ```

use std::collections::BTreeMap;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
enum Kind {
    Render,
    Encode,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Size {
    width: u32,
    height: u32,
}

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Job {
    id: u64,
    name: String,
    tags: Vec<String>,
    priority: Option<u8>,
    ratio: f32,
    offset: i64,
    kind: Kind,
    size: Size,
    corner: (i16, i16),
    limits: BTreeMap<String, u32>,
    done: bool,
    letter: char,
}

fn job(id: u64) -> Job {
    Job {
        id,
        name: format!("job {id}"),
        tags: (0..id % 3).map(|t| format!("t{t}")).collect(),
        priority: (id % 2 == 0).then_some(id as u8),
        ratio: 0.5 * id as f32,
        offset: -(id as i64) * 1000,
        kind: if id % 2 == 0 {
            Kind::Render
        } else {
            Kind::Encode
        },
        size: Size {
            width: 3840,
            height: 2160 + id as u32,
        },
        corner: (-(id as i16), id as i16),
        limits: BTreeMap::from([("cpu".to_owned(), id as u32), ("mem".to_owned(), 7)]),
        done: id % 3 == 0,
        letter: 'é',
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or("");
    match arg(0) {
        "identity" => println!("{}", ipcx::Identity::of::<Job>().text()),
        "send" => {
            let tx = ipcx::Sender::<Job>::open_timeout(arg(1), std::time::Duration::from_secs(10))?;
            for id in 1..=arg(2).parse()? {
                tx.send(job(id))?;
            }
        }
        "recv" => {
            let rx = ipcx::Receiver::<Job>::open(arg(1))?;
            println!("ready");
            // Each job must be exactly what `send` would have sent.
            for id in 1..=arg(2).parse()? {
                let (got, want) = (format!("{:?}", rx.recv()?), format!("{:?}", job(id)));
                if got != want {
                    return Err(format!("job {id}: got {got}, want {want}").into());
                }
                println!("ok {id}");
            }
        }
        _ => return Err("usage: job_peer identity | send EP N | recv EP N".into()),
    }
    Ok(())
}
