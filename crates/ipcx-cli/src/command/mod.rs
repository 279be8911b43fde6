//! One file per subcommand.

pub(crate) mod recv;
pub(crate) mod send;
