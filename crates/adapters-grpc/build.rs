//! Compiles `proto/event.proto` without `protoc`: protox parses it in pure Rust (it ships the
//! google/protobuf well-known types), tonic-prost-build generates the messages, the server and
//! the client from the descriptor set, which is also written to OUT_DIR for server reflection.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let proto = proto_dir.join("event.proto");
    println!("cargo:rerun-if-changed={}", proto.display());

    let descriptors = protox::compile([&proto], [&proto_dir])?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("event_descriptor.bin"),
        prost::Message::encode_to_vec(&descriptors),
    )?;
    // Request-shape rules (`validator`) on the request messages; `crate::validation` runs them
    // and maps their errors to `BadRequest` field violations.
    let review = ".org.aquastream.event.CreateReviewRequest";
    let update = ".org.aquastream.event.UpdateReviewRequest";
    tonic_prost_build::configure()
        .type_attribute(review, "#[derive(validator::Validate)]")
        .field_attribute(
            format!("{review}.rating"),
            "#[validate(range(min = 1, max = 5))]",
        )
        .type_attribute(
            update,
            "#[derive(validator::Validate)] \
             #[validate(schema(function = \"crate::service::reviews::rating_or_content\"))]",
        )
        // 0 = keep the rating (proto3 has no absent scalars).
        .field_attribute(
            format!("{update}.rating"),
            "#[validate(range(min = 0, max = 5))]",
        )
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
