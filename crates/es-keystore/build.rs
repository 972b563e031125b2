//! Records the optimization level this crate is built with, so its tests can check that the
//! SIMD PBKDF2 kernels they exercise are built the way users run them (see
//! `tests/kdf_kernels.rs` and `[profile.dev.package.es-keystore]` in the workspace root).

fn main() {
    let level = std::env::var("OPT_LEVEL").unwrap_or_else(|_| "unknown".to_owned());
    println!("cargo:rustc-env=ES_KEYSTORE_OPT_LEVEL={level}");
    println!("cargo:rerun-if-changed=build.rs");
}
