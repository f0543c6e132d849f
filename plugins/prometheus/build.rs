//! Records the compiler version for the `goversion` label of `coredns_build_info`,
//! unless the build already sets `RUSTC_VERSION`.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=RUSTC_VERSION");
    if std::env::var_os("RUSTC_VERSION").is_some() {
        return;
    }
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let Ok(output) = Command::new(rustc).arg("--version").output() else {
        return;
    };
    // `rustc 1.88.0 (6b00bc388 2025-06-23)`: keep the version number.
    let text = String::from_utf8_lossy(&output.stdout);
    if let Some(version) = text.split_whitespace().nth(1) {
        println!("cargo:rustc-env=RUSTC_VERSION={version}");
    }
}
