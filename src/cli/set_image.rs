//! `ferry set-image [--dry-run] PATH IMAGE...`

use std::io::Write;
use std::path::PathBuf;

use super::Exit;
use crate::image::ImageUpdate;
use crate::kustomize;

/// Arguments of `ferry set-image`.
#[derive(clap::Args)]
pub struct Args {
    /// Print a unified diff and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// A kustomization file, or a directory holding one (the file itself
    /// must not be a symbolic link: ferry would replace the link).
    path: PathBuf,
    /// name=newName:tag@digest, name:tag, name@digest, ... (`*` keeps a value).
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

/// Runs the command.
pub fn run(args: Args) -> Exit {
    let mut updates = Vec::with_capacity(args.images.len());
    for arg in &args.images {
        match ImageUpdate::parse(arg) {
            Ok(u) => updates.push(u),
            Err(e) => {
                eprintln!("ferry: {e}");
                return Exit::BadInput;
            }
        }
    }
    match kustomize::edit_file(&args.path, &updates, args.dry_run) {
        Ok(edit) => {
            if args.dry_run {
                let _ = std::io::stdout().write_all(edit.unified_diff().as_bytes());
            } else if edit.changed() {
                eprintln!("ferry: updated {}", edit.path.display());
            } else {
                eprintln!("ferry: {} already up to date", edit.path.display());
            }
            Exit::Ok
        }
        Err(e) => {
            eprintln!("ferry: {e}");
            if e.is_input_error() {
                Exit::BadInput
            } else {
                Exit::Failure
            }
        }
    }
}
