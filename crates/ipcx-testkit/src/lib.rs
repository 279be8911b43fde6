//! What the ipcx test suites share, in one place instead of copies and
//! `#[path]` includes: a dev-dependency of `ipcx` and `ipcx-cli`, never
//! published.
//!
//! - [`harness`]: scratch names that remove every IPC object they name,
//!   peer processes (the test binary re-run in a role), waiting helpers;
//! - [`raw`]: a second, independent writer of the wire format, from
//!   docs/wire.md, for raw peers;
//! - [`cli`]: the `ipcx` binary, receivers killed on drop, endpoints of
//!   every transport, process CPU and memory;
//! - [`nats`]: real nats-server processes and clusters on loopback.

pub mod cli;
pub mod harness;
pub mod nats;
pub mod raw;
pub mod tmux;
