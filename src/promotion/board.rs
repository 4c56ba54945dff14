//! The board: what one pass saw and planned, per app × environment, as
//! plain data for the status page, its JSON and the metrics. Built from the
//! snapshot and the plan (pure), so serving it never touches git, the
//! registry or the forge.

use serde::Serialize;
use time::OffsetDateTime;

use super::plan::{Action, ImageRef, Plan};
use super::snapshot::Snapshot;

/// Every app × environment of one pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Board {
    /// When the snapshot was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
    /// Environment names, in config order: the columns.
    pub envs: Vec<String>,
    /// One row per app, in config order.
    pub rows: Vec<Row>,
}

/// One app.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    /// App name.
    pub app: String,
    /// One cell per environment of [`Board::envs`]; `None` where the app
    /// has no overlay.
    pub cells: Vec<Option<Cell>>,
}

/// One app in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cell {
    /// What the overlay runs (`None` when it sets neither tag nor digest,
    /// or could not be read: see `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running: Option<ImageRef>,
    /// Why the overlay could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// A `# ferry:pin` on the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<PinView>,
    /// The open promotion pull request ferry opened for it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<PrLink>,
    /// What the plan says next.
    pub next: Next,
}

/// A pin as written in the overlay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PinView {
    /// Who pinned.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// Why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Since when (as written).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrLink {
    /// Its number.
    pub number: u64,
    /// Its web URL.
    pub url: String,
}

/// The plan's word on a cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Next {
    /// Commit, pull request, or none.
    pub action: Action,
    /// What it moves to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<ImageRef>,
    /// The reason code when nothing moves (`up_to_date`, `held`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// What a person reads.
    pub message: String,
}

impl Board {
    /// The board of a snapshot and the plan made from it.
    pub fn new(snapshot: &Snapshot, plan: &Plan, env_order: &[String]) -> Board {
        let rows = snapshot
            .apps
            .iter()
            .map(|app| Row {
                app: app.app.clone(),
                cells: env_order
                    .iter()
                    .map(|env| {
                        let state = app.envs.iter().find(|e| &e.env == env)?;
                        let entry = plan
                            .entries
                            .iter()
                            .find(|e| e.app == app.app && &e.env == env);
                        let (running, error) = match &state.running {
                            Ok(r) => (
                                r.as_ref().map(|r| ImageRef {
                                    tag: r.tag.clone(),
                                    digest: r.digest.clone(),
                                }),
                                None,
                            ),
                            Err(e) => (None, Some(e.clone())),
                        };
                        Some(Cell {
                            running,
                            error,
                            pin: state.pin.as_ref().map(|p| PinView {
                                by: p.by.clone(),
                                reason: p.reason.clone(),
                                since: p.at.clone(),
                            }),
                            pull_request: state.open_pr.as_ref().map(|p| PrLink {
                                number: p.number,
                                url: p.url.clone(),
                            }),
                            next: entry.map_or_else(
                                || Next {
                                    action: Action::None,
                                    to: None,
                                    code: None,
                                    message: "not planned".into(),
                                },
                                next_of,
                            ),
                        })
                    })
                    .collect(),
            })
            .collect();
        Board {
            taken_at: snapshot.taken_at,
            envs: env_order.to_vec(),
            rows,
        }
    }

    /// Records what `env`'s overlay holds for `m`'s app after the pass's
    /// commit, as read back from the checkout: the board shows the
    /// environment after the pass, and a move the commit left out (the
    /// overlay changed, or was pinned, in the meantime) is not shown as
    /// made.
    pub fn settle(
        &mut self,
        env: &str,
        m: &super::plan::Entry,
        after: Result<
            (
                Option<super::snapshot::Running>,
                Option<crate::kustomize::Pin>,
            ),
            String,
        >,
    ) {
        let Some(col) = self.envs.iter().position(|e| e == env) else {
            return;
        };
        let Some(cell) = self
            .rows
            .iter_mut()
            .find(|r| r.app == m.app)
            .and_then(|r| r.cells.get_mut(col))
            .and_then(Option::as_mut)
        else {
            return;
        };
        let (running, pin) = match after {
            Ok(found) => found,
            Err(e) => {
                cell.running = None;
                cell.error = Some(e);
                return;
            }
        };
        let running = running.map(|r| ImageRef {
            tag: r.tag,
            digest: r.digest,
        });
        let made = running.is_some() && running == m.to;
        cell.running = running;
        cell.error = None;
        cell.pin = pin.map(|p| PinView {
            by: p.by,
            reason: p.reason,
            since: p.at,
        });
        if made && let Some(to) = &m.to {
            cell.next = Next {
                action: m.action,
                to: None,
                code: None,
                message: format!(
                    "committed {}",
                    to.tag.as_deref().or(to.digest.as_deref()).unwrap_or("?")
                ),
            };
        }
    }

    /// Records what a pass did to a promotion pull request: opened or
    /// updated, its apps' cells link it; closed, they no longer do.
    pub fn pull_request(&mut self, pr: &super::promote::PrAction) {
        let Some(col) = self.envs.iter().position(|e| *e == pr.env) else {
            return;
        };
        for row in self.rows.iter_mut().filter(|r| pr.apps.contains(&r.app)) {
            if let Some(Some(cell)) = row.cells.get_mut(col) {
                cell.pull_request = (pr.what != "closed").then(|| PrLink {
                    number: pr.number,
                    url: pr.url.clone(),
                });
            }
        }
    }

    /// The cell of `app` in `env`.
    pub fn cell(&self, app: &str, env: &str) -> Option<&Cell> {
        let col = self.envs.iter().position(|e| e == env)?;
        self.rows
            .iter()
            .find(|r| r.app == app)?
            .cells
            .get(col)?
            .as_ref()
    }
}

fn next_of(e: &super::plan::Entry) -> Next {
    match &e.reason {
        Some(why) => Next {
            action: e.action,
            to: e.to.clone(),
            code: Some(why.code),
            message: why.message.clone(),
        },
        None => {
            let to =
                e.to.as_ref()
                    .and_then(|t| t.tag.as_deref().or(t.digest.as_deref()))
                    .unwrap_or("?");
            let message = match e.action {
                Action::Commit => format!("commit {to}"),
                Action::PullRequest => format!("pull request for {to}"),
                Action::None => String::new(),
            };
            Next {
                action: e.action,
                to: e.to.clone(),
                code: None,
                message,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;
    use crate::config::{Group, Mode};
    use crate::kustomize::Pin;
    use crate::promotion::plan::plan;
    use crate::promotion::snapshot::{AppState, EnvState, OpenPr, Running, Window};

    fn env(name: &str, running: Result<Option<Running>, String>) -> EnvState {
        EnvState {
            env: name.into(),
            mode: Mode::Commit,
            after: None,
            group: Group::App,
            running,
            pin: None,
            file: None,
            new_name: None,
            proof: None,
            open_pr: None,
            rejected: None,
            window: Window::Open,
            incoming: None,
            foreign_pr: None,
            live: None,
            watch: None,
            analysis: Vec::new(),
        }
    }

    #[test]
    fn cells_follow_the_env_order_and_carry_pins_prs_and_reasons() {
        let running = Running {
            tag: Some("v1".into()),
            digest: Some(format!("sha256:{}", "a".repeat(64))),
        };
        let mut prod = env("prod", Ok(Some(running.clone())));
        prod.pin = Some(Pin {
            image: "api".into(),
            by: Some("oncall".into()),
            at: Some("2026-12-01T10:00:00Z".into()),
            reason: Some("incident 42".into()),
            line: 3,
        });
        prod.open_pr = Some(OpenPr {
            number: 7,
            url: "https://github.com/o/r/pull/7".into(),
            digest: None,
            tag: None,
            intact: true,
            asked: false,
            gate: None,
        });
        let snap = Snapshot {
            taken_at: datetime!(2026-12-01 12:00 UTC),
            apps: vec![
                AppState {
                    app: "api".into(),
                    image: "api".into(),
                    candidates: Ok(Vec::new()),
                    records: Default::default(),
                    envs: vec![env("dev", Err("no kustomization".into())), prod],
                },
                AppState {
                    app: "web".into(),
                    image: "web".into(),
                    candidates: Err("throttled".into()),
                    records: Default::default(),
                    envs: vec![env("dev", Ok(None))],
                },
            ],
            proposals: Vec::new(),
            forge_error: None,
        };
        let p = plan(&snap);
        let order = ["dev".to_string(), "prod".to_string()];
        let board = Board::new(&snap, &p, &order);
        assert_eq!(board.envs, order);
        assert_eq!(board.rows.len(), 2);
        let dev = board.cell("api", "dev").unwrap();
        assert_eq!(dev.error.as_deref(), Some("no kustomization"));
        assert!(dev.running.is_none());
        let prod = board.cell("api", "prod").unwrap();
        assert_eq!(prod.running.as_ref().unwrap().tag.as_deref(), Some("v1"));
        let pin = prod.pin.as_ref().unwrap();
        assert_eq!(pin.by.as_deref(), Some("oncall"));
        assert_eq!(pin.reason.as_deref(), Some("incident 42"));
        assert_eq!(pin.since.as_deref(), Some("2026-12-01T10:00:00Z"));
        assert_eq!(prod.pull_request.as_ref().unwrap().number, 7);
        assert_eq!(prod.next.code, Some("pinned"));
        // web has no prod overlay: an empty cell, not a made-up one.
        assert!(board.cell("web", "prod").is_none());
        assert_eq!(board.rows[1].cells.len(), 2);
        assert_eq!(
            board.cell("web", "dev").unwrap().next.code,
            Some("registry_unavailable")
        );
    }

    #[test]
    fn a_pushed_commit_shows_what_the_environment_runs_after_it() {
        let running = |tag: &str| Running {
            tag: Some(tag.into()),
            digest: None,
        };
        let snap = Snapshot {
            taken_at: datetime!(2026-12-01 12:00 UTC),
            apps: vec![AppState {
                app: "api".into(),
                image: "api".into(),
                candidates: Ok(Vec::new()),
                records: Default::default(),
                envs: vec![env("dev", Ok(Some(running("v1"))))],
            }],
            proposals: Vec::new(),
            forge_error: None,
        };
        let order = ["dev".to_string()];
        let moved = crate::promotion::Entry {
            app: "api".into(),
            env: "dev".into(),
            action: Action::Commit,
            from: None,
            to: Some(ImageRef {
                tag: Some("v2".into()),
                digest: None,
            }),
            reason: None,
            held: Vec::new(),
            scan: None,
            signature_key: None,
            pushed_at: None,
        };
        let p = Plan {
            entries: vec![moved.clone()],
            pull_requests: Vec::new(),
            watch: Vec::new(),
        };
        let mut board = Board::new(&snap, &p, &order);
        assert_eq!(board.cell("api", "dev").unwrap().next.message, "commit v2");
        // The commit left the move out: someone pinned v1 meanwhile.
        let pin = Pin {
            image: "api".into(),
            by: Some("oncall".into()),
            at: None,
            reason: Some("freeze".into()),
            line: 4,
        };
        board.settle("dev", &moved, Ok((Some(running("v1")), Some(pin))));
        let cell = board.cell("api", "dev").unwrap();
        assert_eq!(cell.running.as_ref().unwrap().tag.as_deref(), Some("v1"));
        assert_eq!(cell.pin.as_ref().unwrap().by.as_deref(), Some("oncall"));
        assert_eq!(cell.next.message, "commit v2", "not shown as made");
        board.settle("dev", &moved, Ok((Some(running("v2")), None)));
        board.settle("nowhere", &moved, Ok((None, None)));
        let cell = board.cell("api", "dev").unwrap();
        assert_eq!(cell.running.as_ref().unwrap().tag.as_deref(), Some("v2"));
        assert!(cell.pin.is_none());
        assert_eq!(cell.next.message, "committed v2");
        let mut pr = crate::promotion::promote::PrAction {
            env: "dev".into(),
            apps: vec!["api".into()],
            number: 9,
            url: "https://example.invalid/pull/9".into(),
            what: "opened",
        };
        board.pull_request(&pr);
        let link = board.cell("api", "dev").unwrap().pull_request.clone();
        assert_eq!(link.map(|l| l.number), Some(9));
        pr.what = "closed";
        board.pull_request(&pr);
        assert!(board.cell("api", "dev").unwrap().pull_request.is_none());
    }
}
