//! `provctl`: the command-line client of the Provisioner HTTP API. Everything is in
//! `provisioner_api::cli` (see `provctl --help`).

fn main() -> std::process::ExitCode {
    provisioner_api::cli::main()
}
