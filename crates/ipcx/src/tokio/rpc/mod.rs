//! Request/reply for tokio: [`Client`] and [`Server`] speak the same call
//! frames on the same transports as [`crate::rpc`] (`unix:`,
//! `unix+seqpacket:`, `tcp:`, `shm:`), so an async client calls a blocking
//! server and the other way round.
//!
//! - [`Client`]: `call(&self)` from many tasks at once on one connection;
//!   a waiting call reads the replies and hands each to its call (no task
//!   of its own: a lone caller reads its own reply). A call future that
//!   is dropped (a `tokio::select!` that went the other
//!   way, a timeout) withdraws its call: the reply, should it come, is
//!   dropped, and the server is told to skip it if it has not begun.
//! - [`Server`]: no thread per connection: a task per connection reads
//!   requests, a task per request runs the handler; at most `workers`
//!   requests run at once (64 by default), and a reader waits for a place
//!   before it reads the next request, so a slow handler makes clients'
//!   sends wait in the kernel's buffers rather than the server's memory.
//!
//! ```
//! use ipcx::tokio::rpc::{Client, Server};
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let ep = format!("unix:@ipcx-doc-async-rpc-{}", std::process::id());
//! let server = Server::<u64, u64>::bind(&ep)?;
//! tokio::spawn(server.serve(|n: u64| async move {
//!     n.checked_mul(2).ok_or_else(|| format!("{n} is too large"))
//! }));
//! let client = Client::<u64, u64>::connect_timeout(&ep, std::time::Duration::from_secs(5)).await?;
//! assert_eq!(client.call(&21).await?, 42);
//! assert!(client.call(&u64::MAX).await.is_err());
//! # Ok(()) }
//! ```

mod client;
mod server;

pub use client::Client;
pub use server::Server;
