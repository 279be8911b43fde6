//! Any string: parsing never panics, and what parses prints back to a
//! string that parses to the same endpoint.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(ep) = text.parse::<ipcx::Endpoint>() {
        let printed = ep.to_string();
        let again: ipcx::Endpoint = printed.parse().expect("a printed endpoint parses");
        assert_eq!(again, ep, "{text:?} printed as {printed:?}");
    }
});
