//! Command-line entry points. Each subcommand lives in its own file and
//! returns an exit code; errors are printed here, at the edge.

mod check_config;
mod check_image;
mod demo;
mod demo_argocd;
mod demo_chatops;
mod demo_notify;
mod demo_ops;
mod demo_revert;
mod plan;
mod report;
mod run;
mod set_image;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit status of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: done (also when nothing had to change).
    Ok,
    /// 1: a failure that is not the input's fault (I/O, network).
    Failure,
    /// 1: a gate holds the image (check-image).
    Hold,
    /// 2: bad input: arguments, YAML, config, an unsafe edit.
    BadInput,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(match e {
            Exit::Ok => 0,
            Exit::Failure | Exit::Hold => 1,
            Exit::BadInput => 2,
        })
    }
}

#[derive(Parser)]
#[command(
    name = "ferry",
    version,
    about = "GitOps image promotion: ECR → Kustomize overlays → pull requests"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Set images in a kustomization, changing nothing but the edited values.
    SetImage(set_image::Args),
    /// Load and validate a ferry.yaml.
    CheckConfig(check_config::Args),
    /// Judge one image with the gates: scan budget and cosign signature.
    CheckImage(check_image::Args),
    /// Run ferry's main job on its embedded demo: no cloud, a few seconds.
    Demo(demo::Args),
    /// Print what a pass would do, and why each app that does not move does not.
    Plan(plan::Args),
    /// DORA figures per environment, from the GitOps repository's history.
    Report(report::Args),
    /// Reconcile: run passes on events, the poll and a periodic resync.
    Run(run::Args),
}

/// Parses the arguments and runs the command.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                Exit::BadInput
            } else {
                Exit::Ok
            }
            .into();
        }
    };
    match cli.command {
        Command::SetImage(a) => set_image::run(a),
        Command::CheckConfig(a) => check_config::run(a),
        Command::CheckImage(a) => check_image::run(a),
        Command::Plan(a) => plan::run(a),
        Command::Demo(a) => demo::run(a),
        Command::Report(a) => report::run(a),
        Command::Run(a) => run::run(a),
    }
    .into()
}
