//! TCP and UDP sockets from `/proc/net/{tcp,tcp6,udp,udp6}`: addresses,
//! state, queues, owner, and the processes holding them (by inode).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::procs::{FdTarget, ProcessTable};
use super::{Kind, Object};

pub(crate) fn collect(procs: &ProcessTable, out: &mut Vec<Object>) {
    for (file, kind) in [
        ("/proc/net/tcp", Kind::Tcp),
        ("/proc/net/tcp6", Kind::Tcp),
        ("/proc/net/udp", Kind::Udp),
        ("/proc/net/udp6", Kind::Udp),
    ] {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        for line in text.lines().skip(1) {
            if let Some(row) = parse_row(line) {
                out.push(row.into_object(kind, procs));
            }
        }
    }
}

/// One line of `/proc/net/tcp` and friends.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Row {
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    pub(crate) state: u8,
    pub(crate) tx_queue: u64,
    pub(crate) rx_queue: u64,
    pub(crate) uid: u32,
    pub(crate) inode: u64,
}

impl Row {
    fn into_object(self, kind: Kind, procs: &ProcessTable) -> Object {
        let mut o = Object::new(kind, self.local.to_string()).owned_by(self.uid, None);
        o.local = Some(self.local.to_string());
        if self.remote.port() != 0 {
            o.peer = Some(self.remote.to_string());
        }
        o.state = Some(state_name(kind, self.state).to_owned());
        o.send_queue = Some(self.tx_queue);
        o.recv_queue = Some(self.rx_queue);
        o.inode = (self.inode != 0).then_some(self.inode);
        if self.inode != 0 {
            o.processes = procs.holders(&FdTarget::Socket(self.inode));
        }
        o
    }
}

fn state_name(kind: Kind, state: u8) -> &'static str {
    match (kind, state) {
        (Kind::Udp, 7) => "unconnected",
        (Kind::Udp, 1) => "connected",
        (_, 1) => "established",
        (_, 2) => "syn-sent",
        (_, 3) => "syn-recv",
        (_, 4) => "fin-wait1",
        (_, 5) => "fin-wait2",
        (_, 6) => "time-wait",
        (_, 7) => "close",
        (_, 8) => "close-wait",
        (_, 9) => "last-ack",
        (_, 10) => "listen",
        (_, 11) => "closing",
        _ => "other",
    }
}

pub(crate) fn parse_row(line: &str) -> Option<Row> {
    let f: Vec<&str> = line.split_whitespace().collect();
    let (tx, rx) = f.get(4)?.split_once(':')?;
    Some(Row {
        local: parse_addr(f.get(1)?)?,
        remote: parse_addr(f.get(2)?)?,
        state: u8::from_str_radix(f.get(3)?, 16).ok()?,
        tx_queue: u64::from_str_radix(tx, 16).ok()?,
        rx_queue: u64::from_str_radix(rx, 16).ok()?,
        uid: f.get(7)?.parse().ok()?,
        inode: f.get(9)?.parse().ok()?,
    })
}

/// `0100007F:1F90` (IPv4, one little-endian word) or 32 hex digits of
/// four words for IPv6, then the port in big-endian hex.
fn parse_addr(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let word = |i: usize| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok();
    let ip = match ip.len() {
        8 => Ipv4Addr::from(word(0)?.swap_bytes()).into(),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word(i)?.to_le_bytes());
            }
            Ipv6Addr::from(bytes).into()
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_net_lines_parse() {
        let row = parse_row(
            "   0: 0100007F:1F90 00000000:0000 0A 00000002:00000005 00:00000000 00000000  1000        0 4242 1 0000000000000000 100 0 0 10 0",
        )
        .unwrap();
        assert_eq!(row.local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(
            (row.state, row.tx_queue, row.rx_queue, row.uid, row.inode),
            (10, 2, 5, 1000, 4242)
        );
        let v6 = parse_addr("00000000000000000000000001000000:0050").unwrap();
        assert_eq!(v6, "[::1]:80".parse().unwrap());
        assert_eq!(parse_row("garbage"), None);
    }
}
