//! Property tests of the endpoint grammar: printing any endpoint and
//! parsing the text gives the same endpoint, and no input makes the
//! parser panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use ipcx::endpoint::{Address, Host, HostPort, Options, SysvKey, UnixAddr};
use ipcx::{Endpoint, UnixKind};
use proptest::prelude::*;

fn path(max: usize) -> impl Strategy<Value = PathBuf> {
    proptest::collection::vec(1u8..=255, 1..max)
        .prop_map(|b| PathBuf::from(std::ffi::OsString::from_vec(b)))
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(|o| Host::Ip(IpAddr::V4(Ipv4Addr::from(o)))),
        any::<[u16; 8]>().prop_map(|s| Host::Ip(IpAddr::V6(Ipv6Addr::from(s)))),
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9-]{0,10}){0,3}".prop_map(Host::Name),
    ]
}

fn host_port() -> impl Strategy<Value = HostPort> {
    (host(), any::<u16>()).prop_map(|(host, port)| HostPort { host, port })
}

fn unix_addr() -> impl Strategy<Value = UnixAddr> {
    prop_oneof![
        path(107).prop_map(UnixAddr::Path),
        proptest::collection::vec(any::<u8>(), 1..107).prop_map(UnixAddr::Abstract),
    ]
}

fn endpoint() -> impl Strategy<Value = Endpoint> {
    let address = prop_oneof![
        proptest::option::of(0i32..=65535).prop_map(Address::Pipe),
        path(300).prop_map(Address::Fifo),
        (
            prop_oneof![
                Just(UnixKind::Stream),
                Just(UnixKind::SeqPacket),
                Just(UnixKind::Dgram)
            ],
            unix_addr()
        )
            .prop_map(|(k, a)| Address::Unix(k, a)),
        host_port().prop_map(Address::Tcp),
        host_port().prop_map(Address::Udp),
        "/[a-zA-Z0-9._-]{1,60}".prop_map(Address::Mq),
        prop_oneof![
            (1u32..).prop_map(SysvKey::Key),
            path(200)
                .prop_filter("ftok paths start with / or .", |p| {
                    p.as_os_str()
                        .as_encoded_bytes()
                        .first()
                        .is_some_and(|b| *b == b'/' || *b == b'.')
                })
                .prop_map(SysvKey::Path),
        ]
        .prop_map(Address::SysvMq),
    ];
    let queue_options = (
        proptest::option::of(1u32..10_000),
        proptest::option::of(1u32..),
        0u32..32768,
        any::<i64>(),
        proptest::option::of(1u8..),
        any::<bool>(),
    );
    let options = (
        0u32..=0o777,
        1u32..=ipcx::endpoint::MAX_MAX_MSG,
        proptest::collection::vec(any::<u32>(), 0..4),
    );
    (address, options, queue_options).prop_map(
        |(
            address,
            (mode, max_msg, allow_uid),
            (maxmsg, msgsize, priority, msg_type, proj, persist),
        )| {
            let scheme_options = Endpoint::new(address.clone(), Options::default())
                .scheme()
                .options();
            let has = |key: &str| scheme_options.contains(&key);
            let mut o = Options::default();
            let abstract_name = matches!(address, Address::Unix(_, UnixAddr::Abstract(_)));
            if has("mode") && !abstract_name {
                o.mode = mode;
            }
            if has("max_msg") {
                o.max_msg = max_msg;
            }
            if has("allow_uid") {
                o.allow_uid = allow_uid;
            }
            if has("maxmsg") {
                o.maxmsg = maxmsg;
                o.msgsize = msgsize;
                o.priority = priority;
            }
            if has("type") {
                o.msg_type = msg_type;
                if matches!(address, Address::SysvMq(SysvKey::Path(_))) {
                    o.proj = proj;
                }
            }
            if has("persist") {
                o.persist = persist;
            }
            Endpoint::new(address, o)
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn print_then_parse_is_identity(ep in endpoint()) {
        let text = ep.to_string();
        let back: Endpoint = text.parse().map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&back, &ep);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn parser_never_panics(text in "\\PC{0,80}") {
        let _ = text.parse::<Endpoint>();
    }

    #[test]
    fn parser_never_panics_near_valid_input(
        scheme in prop_oneof![Just("unix"), Just("tcp"), Just("udp"), Just("fifo"), Just("pipe"), Just("unix+dgram")],
        rest in "[@/\\[\\]:?&=%0-9a-zA-Z.]{0,40}",
    ) {
        if let Ok(ep) = format!("{scheme}:{rest}").parse::<Endpoint>() {
            // Whatever parses prints canonically and parses back the same.
            prop_assert_eq!(ep.to_string().parse::<Endpoint>().ok(), Some(ep));
        }
    }
}
