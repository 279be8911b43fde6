//! `ipcx serve ENDPOINT [--lines] [--workers N] [--timeout D] -- COMMAND [ARGS…]`:
//! inetd for every two-way transport. Each request's bytes go to a new run
//! of COMMAND on its stdin, and its stdout is the reply; a non-zero exit
//! is a remote error (with what it wrote on stderr). With `--lines`, one
//! COMMAND runs for good and each request is a line on its stdin, each
//! reply a line of its stdout.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitCode, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use ipcx::rpc::Server;
use ipcx::{Bytes, OpenOptions, Stop};

use crate::duration::parse_duration;

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Where to serve: unix:/path, unix:@name, unix+seqpacket:/path, tcp:HOST:PORT, shm:/name or nats://HOST:PORT/SUBJECT (a queue group: servers share the calls; plain `nats req` works too).
    pub(crate) endpoint: String,
    /// The command that answers, and its arguments (after `--`).
    #[arg(required = true, last = true, value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
    /// Run COMMAND once and for good: each request is a line on its stdin,
    /// each reply a line of its stdout (answered one at a time).
    #[arg(long)]
    pub(crate) lines: bool,
    /// How many requests run at once (each its own COMMAND).
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub(crate) workers: usize,
    /// Kill a COMMAND that has not answered after this long, and answer
    /// the call with an error.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION")]
    pub(crate) timeout: Option<Duration>,
}

pub(crate) fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // SIGTERM, SIGINT, SIGHUP: no new clients or requests; the ones queued
    // are answered, then exit 0. A second one kills at once.
    let stop = Stop::on_signals()?;
    let options = OpenOptions::new().stop(&stop).clone();
    let server = Server::<Bytes, Bytes>::bind_with(&args.endpoint, &options)
        .with_context(|| format!("cannot serve on {}", args.endpoint))?
        .workers(if args.lines { 1 } else { args.workers });
    eprintln!("ipcx serve: listening on {}", server.endpoint());
    let command = args.command.clone();
    let timeout = args.timeout;
    let served = if args.lines {
        let running = Mutex::new(None::<LineCommand>);
        server.serve_bytes(move |request| {
            let mut running = running.lock().unwrap_or_else(|p| p.into_inner());
            answer_line(&mut running, &command, request)
        })
    } else {
        server.serve_bytes(move |request| run_once(&command, request, timeout))
    };
    served.with_context(|| format!("serving on {} failed", args.endpoint))?;
    Ok(ExitCode::SUCCESS)
}

/// One run of the command: the request on stdin, the reply from stdout.
fn run_once(
    command: &[String],
    request: &[u8],
    timeout: Option<Duration>,
) -> Result<Vec<u8>, String> {
    let mut child = Command::new(&command[0])
        .args(&command[1..])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", command[0]))?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let request = request.to_vec();
    // Written from a thread: a command that answers before reading all of
    // its input must not block us.
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&request);
    });
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let err_reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = (&mut stderr).take(4096).read_to_end(&mut text);
        text
    });
    let out_reader = std::thread::spawn(move || {
        let mut reply = Vec::new();
        stdout.read_to_end(&mut reply).map(|_| reply)
    });
    let status = wait_at_most(&mut child, timeout, &command[0])?;
    let _ = writer.join();
    let reply = out_reader
        .join()
        .map_err(|_| "the reply reader failed".to_string())?
        .map_err(|e| format!("cannot read {}'s output: {e}", command[0]))?;
    let said = err_reader.join().unwrap_or_default();
    if status.success() {
        Ok(reply)
    } else {
        let said = String::from_utf8_lossy(&said);
        Err(format!(
            "{} exited with {status}: {}",
            command[0],
            said.trim()
        ))
    }
}

/// Waits for `child`, killing it after `timeout`.
fn wait_at_most(
    child: &mut Child,
    timeout: Option<Duration>,
    name: &str,
) -> Result<std::process::ExitStatus, String> {
    let Some(timeout) = timeout else {
        return child
            .wait()
            .map_err(|e| format!("cannot wait for {name}: {e}"));
    };
    let until = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|e| format!("cannot wait for {name}: {e}"))?
        {
            return Ok(status);
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{name} did not answer within {timeout:?}; killed"));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The command of `--lines`, running.
struct LineCommand {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Drop for LineCommand {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request as a line, one line back; the command is started (again)
/// when it is not running.
fn answer_line(
    running: &mut Option<LineCommand>,
    command: &[String],
    request: &[u8],
) -> Result<Vec<u8>, String> {
    if request.contains(&b'\n') {
        return Err("with --lines a request is one line: it must not hold a newline".into());
    }
    if running.is_none() {
        let mut child = Command::new(&command[0])
            .args(&command[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", command[0]))?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        *running = Some(LineCommand {
            child,
            stdin,
            stdout,
        });
    }
    let Some(cmd) = running.as_mut() else {
        return Err("the command is not running".into());
    };
    let mut line = request.to_vec();
    line.push(b'\n');
    let mut reply = Vec::new();
    let exchanged = cmd
        .stdin
        .write_all(&line)
        .and_then(|()| cmd.stdin.flush())
        .and_then(|()| cmd.stdout.read_until(b'\n', &mut reply));
    match exchanged {
        Ok(n) if n > 0 => {
            if reply.last() == Some(&b'\n') {
                reply.pop();
            }
            Ok(reply)
        }
        Ok(_) | Err(_) => {
            *running = None; // it ended: started again for the next request
            Err(format!("{} ended without answering", command[0]))
        }
    }
}
