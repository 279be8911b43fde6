//! Bytes from another process: the hello record, the datagram header and
//! a postcard payload decode to a value or an error, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    ipcx::fuzzing::hello(bytes);
    ipcx::fuzzing::datagram_header(bytes);
    ipcx::fuzzing::payload(bytes);
});
