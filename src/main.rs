//! The `ferry` command.

use std::process::ExitCode;

fn main() -> ExitCode {
    ferry::cli::main()
}
