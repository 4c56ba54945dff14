//! `ferry plan --config FILE [--output text|json]`: what a pass would do,
//! and for each app that does not move, why. Writes nothing: the pass runs
//! in a scratch checkout, soak clocks are not saved, smoke checks other
//! than GET and HEAD are not sent, nothing is pushed and no PR touched.

use std::path::PathBuf;

use super::Exit;
use super::check_image::Output;
use crate::promotion::pass::snapshot;
use crate::promotion::plan::PrOp;
use crate::promotion::{Action, Plan};

/// Arguments of `ferry plan`.
#[derive(clap::Args)]
pub struct Args {
    /// The ferry.yaml.
    #[arg(long)]
    config: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    output: Output,
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
    rt.block_on(async {
        let mut ctx = match crate::runner::context::load_read_only(&args.config).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return if e.input {
                    Exit::BadInput
                } else {
                    Exit::Failure
                };
            }
        };
        if let Err(e) = ctx.workspace.sync() {
            eprintln!("ferry: {e}");
            return Exit::Failure;
        }
        let io = ctx.promotion_io();
        let plan = crate::promotion::plan(
            &snapshot(&ctx.config, &ctx.workspace, &ctx.registry, &ctx.gates, &io).await,
        );
        match args.output {
            Output::Json => match serde_json::to_string_pretty(&plan) {
                Ok(s) => println!("{s}"),
                Err(e) => {
                    eprintln!("ferry: {e}");
                    return Exit::Failure;
                }
            },
            Output::Text => print!("{}", render_table(&plan)),
        }
        Exit::Ok
    })
}

/// `@` and the first 12 characters of a sha256 digest's hex. Counted in
/// characters, not bytes: a digest read from a repository may hold any
/// text, and must never make the table panic.
fn short(s: &Option<String>) -> String {
    s.as_deref()
        .map(|d| {
            d.strip_prefix("sha256:").map_or(d.to_string(), |h| {
                format!("@{}", h.chars().take(12).collect::<String>())
            })
        })
        .unwrap_or_default()
}

/// The plan as a table a person reads at a glance.
pub fn render_table(plan: &Plan) -> String {
    let mut rows = vec![[
        "APP".to_string(),
        "ENV".into(),
        "ACTION".into(),
        "FROM".into(),
        "TO / WHY".into(),
    ]];
    for e in &plan.entries {
        let from = e
            .from
            .as_ref()
            .map(|f| format!("{}{}", f.tag.clone().unwrap_or_default(), short(&f.digest)))
            .unwrap_or_else(|| "-".into());
        let (action, to) = match (e.action, &e.to, &e.reason) {
            (Action::None, _, Some(why)) => {
                let mut s = format!("{}: {}", why.code, why.message);
                for h in &why.held {
                    let codes: Vec<&str> = h.reasons.iter().map(|r| r.code.as_str()).collect();
                    s.push_str(&format!("; {} held ({})", h.tag, codes.join(", ")));
                }
                ("none", s)
            }
            (a, Some(to), _) => (
                if a == Action::Commit {
                    "commit"
                } else {
                    "pull_request"
                },
                format!(
                    "{}{}",
                    to.tag.clone().unwrap_or_default(),
                    short(&to.digest)
                ),
            ),
            _ => ("none", String::new()),
        };
        rows.push([e.app.clone(), e.env.clone(), action.into(), from, to]);
    }
    let widths: Vec<usize> = (0..4)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        for (i, w) in widths.iter().enumerate() {
            out.push_str(&format!("{:<w$}  ", r[i], w = *w));
        }
        out.push_str(&r[4]);
        out.push('\n');
    }
    out.push_str(&render_prs(plan));
    out.push_str(&render_watch(plan));
    out
}

/// The watches, one line each: `watch api/staging: watching (41m left)`,
/// `watch api/staging: reverting: smoke: … (failing for 2m of 5m)`.
fn render_watch(plan: &Plan) -> String {
    plan.watch
        .iter()
        .map(|w| format!("watch {}/{}: {}\n", w.app, w.env, w.describe()))
        .collect()
}

/// The pull-request steps, one line each: what a pass would open, update
/// or close, and why.
fn render_prs(plan: &Plan) -> String {
    let mut out = String::new();
    for s in &plan.pull_requests {
        let op = match s.op {
            PrOp::Open => "open",
            PrOp::Update => "update",
            PrOp::Close => "close",
        };
        let number = s.number.map(|n| format!(" #{n}")).unwrap_or_default();
        let why = serde_json::to_value(s.why)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let first = s.message.lines().next().unwrap_or_default();
        let detail = if first.is_empty() {
            String::new()
        } else {
            format!(" — {first}")
        };
        out.push_str(&format!(
            "pull request {op}{number} {} ({}): {why}{detail}\n",
            s.head,
            s.apps.join(", ")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::{render_prs, render_watch, short};
    use crate::promotion::Plan;
    use crate::promotion::plan::{PrOp, PrStep, PrWhy};

    #[test]
    fn pull_request_steps_are_listed_with_their_reason() {
        let step = PrStep {
            env: "staging".into(),
            head: "ferry/staging/api".into(),
            number: Some(7),
            op: PrOp::Close,
            why: PrWhy::GateFailed,
            message: "sha-3 no longer passes the gates: unsigned\nmore".into(),
            apps: vec!["api".into()],
            carries: Vec::new(),
            request: None,
        };
        let plan = Plan {
            entries: Vec::new(),
            pull_requests: vec![step],
            watch: Vec::new(),
        };
        assert_eq!(
            render_prs(&plan),
            "pull request close #7 ferry/staging/api (api): gate_failed — sha-3 no longer passes the gates: unsigned\n"
        );
    }

    #[test]
    fn watches_are_listed_with_time_left_or_the_failing_check() {
        use crate::promotion::watch::{Via, WatchEntry, WatchState};
        let entry = |state| WatchEntry {
            app: "api".into(),
            env: "staging".into(),
            commit: "c".repeat(40),
            via: Via::Commit,
            state,
            revert: None,
        };
        let plan = Plan {
            entries: Vec::new(),
            pull_requests: Vec::new(),
            watch: vec![
                entry(WatchState::Watching {
                    left_secs: 2460,
                    note: None,
                }),
                entry(WatchState::Reverting {
                    check: "smoke".into(),
                    seen: "http://api/healthz: expected HTTP 200, got 500".into(),
                    failing_secs: 125,
                    after_secs: 300,
                    left_secs: 3000,
                    blocked: None,
                }),
            ],
        };
        assert_eq!(
            render_watch(&plan),
            "watch api/staging: watching (41m left)\n\
             watch api/staging: reverting: smoke: http://api/healthz: expected HTTP 200, got 500 \
             (failing for 2m5s of 5m)\n"
        );
    }

    #[test]
    fn short_digests_never_split_a_character() {
        assert_eq!(
            short(&Some(format!("sha256:{}", "ab".repeat(32)))),
            "@abababababab"
        );
        // 11 ASCII bytes then a 3-byte character across byte 12.
        let odd = format!("sha256:{}한국어", "a".repeat(11));
        assert_eq!(short(&Some(odd)), "@aaaaaaaaaaa한");
        assert_eq!(short(&Some("sha256:é".into())), "@é");
        assert_eq!(short(&Some("latest".into())), "latest");
        assert_eq!(short(&None), "");
    }
}
