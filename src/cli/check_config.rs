//! `ferry check-config --config FILE`

use std::path::PathBuf;

use super::Exit;
use crate::config;

/// Arguments of `ferry check-config`.
#[derive(clap::Args)]
pub struct Args {
    /// The ferry.yaml to check.
    #[arg(long)]
    config: PathBuf,
}

/// Runs the command: prints a summary, or every problem with its position.
pub fn run(args: Args) -> Exit {
    match config::load(&args.config) {
        Ok(c) => {
            println!(
                "{}: ok ({} environments, {} apps)",
                args.config.display(),
                c.environments.len(),
                c.apps.len()
            );
            Exit::Ok
        }
        Err(e) => {
            eprintln!("{e}");
            let unreadable = e
                .errors
                .iter()
                .all(|x| x.pos.is_none() && x.field.is_none());
            if unreadable {
                Exit::Failure
            } else {
                Exit::BadInput
            }
        }
    }
}
