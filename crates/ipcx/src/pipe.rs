//! Anonymous pipes between a parent and the children it spawns.
//!
//! The parent makes the pipe and keeps one end as a typed [`Sender`] or
//! [`Receiver`]; the other end goes to the child, which opens it with the
//! endpoint string it finds in an environment variable (`pipe:N`).
//!
//! ```no_run
//! use std::process::Command;
//! // Parent:
//! let (jobs, child_end) = ipcx::pipe::to_child::<u64>()?;
//! let mut child = child_end.spawn(Command::new("worker"), "JOBS")?;
//! jobs.send(42)?;
//! drop(jobs); // the child's receiver ends when the parent's sender is gone
//! child.wait()?;
//!
//! // Child ("worker"):
//! let jobs = ipcx::Receiver::<u64>::open(std::env::var("JOBS")?)?;
//! for job in &jobs {
//!     println!("job {job}");
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Child, Command};

use crate::channel::Info;
use crate::codec::Message;
use crate::endpoint::{Address, Endpoint, Options};
use crate::error::Error;
use crate::link::{Inbound, Outbound};
use crate::sys::inherit;
use crate::transport::{self, Ctx};
use crate::wire::hello::Hello;
use crate::{Receiver, Sender};

/// The end of a pipe that is meant for a child process.
pub struct ChildEnd {
    fd: OwnedFd,
}

impl ChildEnd {
    /// The endpoint string the child opens: `pipe:N`.
    pub fn endpoint(&self) -> String {
        format!("pipe:{}", self.fd.as_raw_fd())
    }

    /// Spawns `command` with this end inherited and `env_var` set to its
    /// endpoint, then closes this process's copy (so that end-of-channel
    /// is seen when the child, not the parent, lets go of it).
    pub fn spawn(self, mut command: Command, env_var: &str) -> io::Result<Child> {
        command.env(env_var, self.endpoint());
        inherit::keep_across_exec(&mut command, self.fd.as_raw_fd());
        let child = command.spawn();
        drop(self.fd);
        child
    }
}

impl fmt::Debug for ChildEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildEnd")
            .field("fd", &self.fd.as_raw_fd())
            .finish()
    }
}

fn new_pipe() -> Result<(OwnedFd, OwnedFd), Error> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| Error::io("cannot create a pipe", e.into()))
}

fn info(ep: Endpoint) -> Info {
    Info {
        local: ep,
        peer_cred: None,
        _cleanup: None,
    }
}

fn sender_on<T: Message>(fd: OwnedFd) -> Result<Sender<T>, Error> {
    let ep = Endpoint::new(Address::Pipe(Some(fd.as_raw_fd())), Options::default());
    let hello = Hello {
        sends: Some(T::identity()),
        receives: None,
        max_msg: 0,
    };
    let ctx = Ctx {
        ep: &ep,
        label: transport::label_of(&ep),
        hello,
        deadline: crate::sys::Deadline::NEVER,
    };
    let writer = transport::pipe::writer(&ctx, fd)?;
    Ok(Sender::from_parts(Outbound::Stream(writer), info(ep)))
}

fn receiver_on<T: Message>(fd: OwnedFd) -> Receiver<T> {
    let ep = Endpoint::new(Address::Pipe(Some(fd.as_raw_fd())), Options::default());
    let hello = Hello {
        sends: None,
        receives: Some(T::identity()),
        max_msg: ep.options().max_msg,
    };
    let ctx = Ctx {
        ep: &ep,
        label: transport::label_of(&ep),
        hello,
        deadline: crate::sys::Deadline::NEVER,
    };
    let reader = transport::pipe::reader(&ctx, fd);
    Receiver::from_parts(Inbound::Stream(reader), info(ep))
}

/// A pipe with both ends in this process (e.g. for threads, or to keep
/// before forking by other means).
pub fn channel<T: Message>() -> Result<(Sender<T>, Receiver<T>), Error> {
    let (read, write) = new_pipe()?;
    Ok((sender_on(write)?, receiver_on(read)))
}

/// A pipe the parent writes and a child reads.
pub fn to_child<T: Message>() -> Result<(Sender<T>, ChildEnd), Error> {
    let (read, write) = new_pipe()?;
    Ok((sender_on(write)?, ChildEnd { fd: read }))
}

/// A pipe a child writes and the parent reads.
pub fn from_child<T: Message>() -> Result<(Receiver<T>, ChildEnd), Error> {
    let (read, write) = new_pipe()?;
    Ok((receiver_on(read), ChildEnd { fd: write }))
}
