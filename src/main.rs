//! The `shopd` executable: everything lives in the library; this only runs the CLI.
#![deny(clippy::unwrap_used)]

fn main() -> std::process::ExitCode {
    shopd::cli::run()
}
