//! The thin layer over the kernel: deadlines and stops ([`deadline`]),
//! waiting ([`wait`]), one-syscall reads and writes ([`io`]). Everything
//! goes through rustix; the places that must handle raw fd numbers or call
//! libc live in their own modules ([`inherit`], [`mqueue`], [`sysv`], ...).

pub(crate) mod bell;
pub(crate) mod bigbuf;
pub(crate) mod deadline;
pub(crate) mod futex;
pub(crate) mod inherit;
pub(crate) mod io;
pub(crate) mod membarrier;
pub(crate) mod mqueue;
pub(crate) mod posix_sem;
pub(crate) mod presence;
pub(crate) mod process;
pub(crate) mod pthread;
pub(crate) mod shm;
pub(crate) mod signal;
pub(crate) mod sysv;
pub(crate) mod wait;

pub(crate) use deadline::{deadline_in, Deadline};
pub use io::PeerCred;
pub(crate) use io::{
    is_disconnect, peer_cred, random_u32, read_some, recv_packet, wmem_max, write_parts, FdKind,
};
pub(crate) use wait::{
    pause, pause_between_polls, spin_for, spin_readable, take_blocked, timespec_until, wait,
    BlockedTimer, Spin, Woke,
};
