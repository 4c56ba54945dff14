//! `ferry report --config FILE [--since 30d] [--env ENV] [--output
//! text|json]`: the DORA figures of each environment, from the GitOps
//! repository alone. Like `ferry plan` it reads a scratch checkout that
//! borrows the cache's objects, and writes nothing; it asks no registry,
//! no Argo CD and no forge (beyond the token git itself may need).

use std::path::{Path, PathBuf};
use std::time::Duration;

use time::OffsetDateTime;

use super::Exit;
use super::check_image::Output;
use crate::config::{self, Config, DurationValue};
use crate::dora::figures::EnvSpec;
use crate::dora::{self, EnvFigures, Reading};
use crate::gitops::{CacheLock, Workspace};

/// Arguments of `ferry report`.
#[derive(clap::Args)]
pub struct Args {
    /// The ferry.yaml.
    #[arg(long)]
    config: PathBuf,
    /// The period, back from now: `30d`, `12h`, `1d12h` (as durations in
    /// the config).
    #[arg(long, default_value = "30d", value_parser = parse_since)]
    since: Duration,
    /// Only this environment.
    #[arg(long)]
    env: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
}

/// `--since`: a positive duration in the config's syntax.
fn parse_since(s: &str) -> Result<Duration, String> {
    let d = DurationValue::parse(s)?.0;
    if d.is_zero() {
        return Err(format!(
            "duration {s:?} is empty: the period must be longer than 0s"
        ));
    }
    Ok(d)
}

/// Runs the command.
pub fn run(args: Args) -> Exit {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("ferry: {e}");
            return Exit::Failure;
        }
    };
    // The runtime is there for a GitHub App's git token, minted when git
    // fetches; the report itself is synchronous.
    rt.block_on(async { report(&args) })
}

fn report(args: &Args) -> Exit {
    let config = match config::load(&args.config) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return Exit::BadInput;
        }
    };
    if let Some(env) = &args.env
        && !config.environments.iter().any(|e| &e.name == env)
    {
        let known: Vec<&str> = config
            .environments
            .iter()
            .map(|e| e.name.as_str())
            .collect();
        eprintln!(
            "ferry report: --env {env:?} is not an environment of {} (known: {})",
            args.config.display(),
            known.join(", ")
        );
        return Exit::BadInput;
    }
    let until = OffsetDateTime::now_utc();
    let since = match time::Duration::try_from(args.since)
        .ok()
        .and_then(|d| until.checked_sub(d))
    {
        Some(s) => s,
        None => {
            eprintln!("ferry report: --since reaches before the start of the calendar");
            return Exit::BadInput;
        }
    };
    let mut checkout = match open(&args.config, &config) {
        Ok(c) => c,
        Err((message, input)) => {
            eprintln!("{message}");
            return if input { Exit::BadInput } else { Exit::Failure };
        }
    };
    if let Err(e) = checkout.workspace.sync() {
        eprintln!("ferry: {e}");
        return Exit::Failure;
    }
    let mut reading = match dora::read(&config, &checkout.workspace, since, until) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferry: {e}");
            return Exit::Failure;
        }
    };
    if let Some(env) = &args.env {
        reading.report.envs.retain(|e| &e.env == env);
    }
    match args.output {
        Output::Json => match serde_json::to_string_pretty(&reading.report) {
            Ok(s) => println!("{s}"),
            Err(e) => {
                eprintln!("ferry: {e}");
                return Exit::Failure;
            }
        },
        Output::Text => print!("{}", render(&config, &reading)),
    }
    Exit::Ok
}

/// A scratch checkout of the GitOps repository, borrowing the cache's
/// objects, with the cache's lock held so it is never read halfway
/// through a pass.
struct Checkout {
    workspace: Workspace,
    _lock: Option<CacheLock>,
    _scratch: tempfile::TempDir,
}

/// Opens the checkout as `ferry plan` does; the error says whether it was
/// the input's fault.
fn open(path: &Path, config: &Config) -> Result<Checkout, (String, bool)> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let gitops = config
        .gitops
        .as_ref()
        .ok_or_else(|| (format!("{}: `gitops:` is required", path.display()), true))?;
    let (creds, repo) = crate::runner::context::git_access(config, gitops, &base)?;
    let failed = |e: crate::gitops::GitError| {
        let input = matches!(e, crate::gitops::GitError::LockWait(_));
        (e.to_string(), input)
    };
    let cache = crate::runner::context::cache_dir();
    let cached = Workspace::dir_for(&repo, &gitops.branch, &cache).map_err(failed)?;
    let lock = if cached.exists() {
        let wait = crate::gitops::wait_from_env().map_err(|e| (e, true))?;
        Some(Workspace::lock_dir(&cached, wait).map_err(failed)?)
    } else {
        None
    };
    let scratch = tempfile::Builder::new()
        .prefix("ferry-report-")
        .tempdir()
        .map_err(|e| (format!("ferry: scratch checkout: {e}"), false))?;
    let mut workspace =
        Workspace::open(&repo, &gitops.branch, scratch.path(), creds).map_err(failed)?;
    workspace.borrow_objects(&cached).map_err(failed)?;
    Ok(Checkout {
        workspace,
        _lock: lock,
        _scratch: scratch,
    })
}

/// The report for people: one block per environment.
fn render(config: &Config, reading: &Reading) -> String {
    let r = &reading.report;
    let fmt = |t: OffsetDateTime| {
        t.replace_nanosecond(0)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_default()
    };
    let days = (r.until - r.since).whole_seconds().max(0) as u64;
    let mut out = format!(
        "DORA figures from the GitOps repository, {} to {} ({}; {} commits read)\n",
        fmt(r.since),
        fmt(r.until),
        human(Duration::from_secs(days)),
        reading.commits
    );
    let roots = EnvSpec::from_config(config);
    for e in &r.envs {
        let root = roots
            .iter()
            .find(|s| s.name == e.env)
            .map_or(e.env.as_str(), |s| s.root.as_str());
        out.push('\n');
        out.push_str(&render_env(e, root));
    }
    if reading.capped {
        out.push_str(&format!(
            "\nnote: the walk stopped after {} commits: older deployments are left out\n",
            reading.commits
        ));
    }
    for s in &reading.skipped {
        out.push_str(&format!("\nnote: left out {s}\n"));
    }
    out
}

fn render_env(e: &EnvFigures, root: &str) -> String {
    let lead = match (e.lead_time_median, e.lead_time_p90) {
        (Some(m), Some(p)) => format!("median {}, p90 {}", human(m), human(p)),
        _ if e.deployments == 0 => "none: no deployment".into(),
        _ if root == e.env => "none: no push time recorded (the Ferry-Pushed-At trailer)".into(),
        _ => format!("none: no image deployed here was first seen in {root} in the history read"),
    };
    let cfr = match e.change_failure_rate {
        Some(r) => format!(
            "{:.0}% ({} of {} reverted)",
            r * 100.0,
            e.failures,
            e.deployments
        ),
        None => "none: no deployment".into(),
    };
    let ttr = match e.time_to_restore_median {
        Some(d) => format!("median {}", human(d)),
        None => "none: no failure".into(),
    };
    format!(
        "{}\n  deployments          {} ({:.2} a day; band: {})\n  lead time            {lead}\n  change failure rate  {cfr}\n  time to restore      {ttr}\n",
        e.env,
        e.deployments,
        e.per_day,
        e.band.as_str()
    )
}

/// `45s`, `4m 10s`, `3h 20m`, `2d 4h`: two units at most.
pub(super) fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (days, h, m, sec) = (s / 86_400, s % 86_400 / 3600, s % 3600 / 60, s % 60);
    match (days, h, m) {
        (0, 0, 0) => format!("{sec}s"),
        (0, 0, _) if sec == 0 => format!("{m}m"),
        (0, 0, _) => format!("{m}m {sec}s"),
        (0, _, 0) => format!("{h}h"),
        (0, _, _) => format!("{h}h {m}m"),
        (_, 0, _) => format!("{days}d"),
        _ => format!("{days}d {h}h"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_human_units() {
        let cases = [
            (0, "0s"),
            (45, "45s"),
            (60, "1m"),
            (250, "4m 10s"),
            (3600, "1h"),
            (12_000, "3h 20m"),
            (86_400, "1d"),
            (187_200, "2d 4h"),
            (30 * 86_400, "30d"),
        ];
        for (secs, want) in cases {
            assert_eq!(human(Duration::from_secs(secs)), want, "{secs}");
        }
    }

    #[test]
    fn since_takes_the_config_duration_syntax() {
        assert_eq!(parse_since("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert_eq!(parse_since("1h30m"), Ok(Duration::from_secs(5400)));
        for bad in ["", "0d", "30", "3w", "-1d"] {
            assert!(parse_since(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn an_environment_block_names_what_is_missing() {
        let e = EnvFigures {
            env: "dev".into(),
            deployments: 4,
            per_day: 4.0 / 30.0,
            band: crate::dora::Band::Monthly,
            lead_time_median: None,
            lead_time_p90: None,
            failures: 1,
            change_failure_rate: Some(0.25),
            time_to_restore_median: Some(Duration::from_secs(600)),
        };
        assert_eq!(
            render_env(&e, "dev"),
            "dev\n  deployments          4 (0.13 a day; band: monthly)\n  \
             lead time            none: no push time recorded (the Ferry-Pushed-At trailer)\n  \
             change failure rate  25% (1 of 4 reverted)\n  \
             time to restore      median 10m\n"
        );
        let staging = EnvFigures {
            env: "staging".into(),
            ..e
        };
        assert!(render_env(&staging, "dev").contains("first seen in dev"));
    }
}
