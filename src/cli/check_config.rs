//! `ferry check-config --config FILE`

use std::path::PathBuf;

use super::Exit;

/// Arguments of `ferry check-config`.
#[derive(clap::Args)]
pub struct Args {
    /// The ferry.yaml to check.
    #[arg(long)]
    config: PathBuf,
}

/// Runs the command.
pub fn run(args: Args) -> Exit {
    let _ = args;
    Exit::Ok
}
