//! With the `grpc` feature, compiles proto/echo.proto for `rpc-bench`'s
//! tonic peer (needs `protoc`: `apt-get install protobuf-compiler`).

fn main() {
    if std::env::var_os("CARGO_FEATURE_GRPC").is_some() {
        #[cfg(feature = "grpc")]
        tonic_build::compile_protos("proto/echo.proto").expect("protoc compiles proto/echo.proto");
    }
}
