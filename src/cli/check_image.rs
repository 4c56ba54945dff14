//! `ferry check-image --config FILE [--output text|json] REPOSITORY(:TAG|@DIGEST)`

use std::path::PathBuf;

use super::Exit;
use crate::config;
use crate::gates::{GatePolicy, Gates, Verdict};
use crate::image::{Digest, ImageName};
use crate::registry::{AnyRegistry, ImageSource};

/// Output format.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Output {
    /// For people.
    Text,
    /// For machines.
    Json,
}

/// Arguments of `ferry check-image`.
#[derive(clap::Args)]
pub struct Args {
    /// The ferry.yaml (needs `registry`, and `gates`).
    #[arg(long)]
    config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
    /// REPOSITORY:TAG or REPOSITORY@DIGEST.
    image: String,
}

/// What the argument names.
enum Target {
    Tag(String),
    Digest(Digest),
}

fn parse_target(arg: &str) -> Result<(String, Target), String> {
    if let Some((repo, d)) = arg.split_once('@') {
        ImageName::parse(repo).map_err(|e| e.to_string())?;
        let d = Digest::parse(d).map_err(|e| e.to_string())?;
        return Ok((repo.to_string(), Target::Digest(d)));
    }
    let slash = arg.rfind('/').map_or(0, |i| i + 1);
    let Some(i) = arg[slash..].rfind(':') else {
        return Err(format!("{arg:?}: give REPOSITORY:TAG or REPOSITORY@DIGEST"));
    };
    let (repo, tag) = (&arg[..slash + i], &arg[slash + i + 1..]);
    ImageName::parse(repo).map_err(|e| e.to_string())?;
    crate::image::Tag::parse(tag).map_err(|e| e.to_string())?;
    Ok((repo.to_string(), Target::Tag(tag.to_string())))
}

/// Runs the command: exit 0 on pass, 1 on hold, 2 on bad input or config.
pub fn run(args: Args) -> Exit {
    let (repo, target) = match parse_target(&args.image) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("ferry: {e}");
            return Exit::BadInput;
        }
    };
    let cfg = match config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Exit::BadInput;
        }
    };
    let base = args.config.parent().map(PathBuf::from).unwrap_or_default();
    let Some(reg_cfg) = cfg.registry.as_ref() else {
        eprintln!(
            "ferry: {}: `registry:` is required for check-image",
            args.config.display()
        );
        return Exit::BadInput;
    };
    let policy = match GatePolicy::load(cfg.gates.as_ref(), &base) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("ferry: {}: {e}", args.config.display());
            return Exit::BadInput;
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferry: cannot start the runtime: {e}");
            return Exit::Failure;
        }
    };
    rt.block_on(async move {
        let registry = match AnyRegistry::from_config(reg_cfg, &base).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("ferry: {e}");
                return Exit::BadInput;
            }
        };
        let (shown, digest) = match target {
            Target::Digest(d) => (format!("{repo}@{d}"), d),
            Target::Tag(tag) => match registry.list_images(&repo).await {
                Ok(images) => match images.into_iter().find(|i| i.tags.contains(&tag)) {
                    Some(i) => (format!("{repo}:{tag}"), i.digest),
                    None => {
                        eprintln!("ferry: {repo}:{tag}: no such tag");
                        return Exit::BadInput;
                    }
                },
                Err(e) => {
                    eprintln!("ferry: {repo}: {e}");
                    return Exit::Failure;
                }
            },
        };
        let verdict = Gates::new(policy).check(&registry, &repo, &digest).await;
        print_verdict(&shown, &verdict, args.output);
        if verdict.passes() {
            Exit::Ok
        } else {
            Exit::Hold
        }
    })
}

fn print_verdict(image: &str, v: &Verdict, output: Output) {
    match output {
        Output::Json => {
            let json = serde_json::json!({
                "image": image,
                "digest": v.digest.as_str(),
                "verdict": if v.passes() { "pass" } else { "hold" },
                "reasons": v.reasons.iter().map(|r| serde_json::json!({
                    "gate": r.gate, "code": r.code.as_str(), "message": r.message,
                })).collect::<Vec<_>>(),
            });
            println!("{json}");
        }
        Output::Text => {
            println!("{image}");
            println!("  digest   {}", v.digest);
            println!("  verdict  {}", if v.passes() { "pass" } else { "hold" });
            if let Some(c) = &v.scan_counts {
                println!("  scan     {}", crate::gates::format_counts(c));
            }
            if let Some(k) = &v.signature_key {
                println!("  signed   {k}");
            }
            for r in &v.reasons {
                println!(
                    "  hold     {} {}: {}",
                    if matches!(r.gate, crate::gates::Gate::Scan) {
                        "scan"
                    } else {
                        "signature"
                    },
                    r.code.as_str(),
                    r.message
                );
            }
        }
    }
}
