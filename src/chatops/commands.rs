//! The commands that write: `pin`, `unpin`, `revert` and `promote`. Each is
//! one commit on the base branch through `Workspace::apply` (a
//! compare-and-swap: the edit re-checks the overlay on every attempt), or
//! for a pull-request environment, `promote`'s promotion PR. Every image a
//! command sets passes through the registry and the gates first; only
//! `revert` lets a scan finding through (it must not block an emergency
//! rollback), never a missing or untrusted signature.

use std::path::{Path, PathBuf};

use time::format_description::well_known::Rfc3339;

use super::handle::{Done, Io, Request};
use crate::config::{App, Environment, Mode};
use crate::gates::{Gate, Verdict, format_counts};
use crate::gitops::Outcome;
use crate::image::{Digest, ImageUpdate, Tag};
use crate::kustomize::{self, Pin, PinSpec};
use crate::promotion::observe::read_overlay;
use crate::promotion::pass::PUSH_ATTEMPTS;
use crate::promotion::plan::{Action, ImageRef, plan, plan_prs};
use crate::promotion::revert::{self, Deployed};
use crate::promotion::{Plan, Proof, Running, pass, promote};
use crate::registry::ImageSource;

/// How far back `revert` reads an overlay's history.
const REVERT_VERSIONS: usize = 500;
const REVERT_COMMITS: usize = 5_000;

/// An image the registry has, with the gates' verdict on it.
struct Checked {
    tag: Option<Tag>,
    digest: Digest,
    verdict: Verdict,
}

impl Checked {
    fn failures(&self, only: Option<Gate>) -> Vec<String> {
        self.verdict
            .reasons
            .iter()
            .filter(|r| only.is_none_or(|g| r.gate == g))
            .map(|r| format!("{} ({})", r.code.as_str(), r.message))
            .collect()
    }

    fn scan(&self) -> String {
        match &self.verdict.scan_counts {
            Some(c) => format_counts(c),
            None => {
                let scan: Vec<String> = self.failures(Some(Gate::Scan));
                if scan.is_empty() {
                    "not checked".into()
                } else {
                    scan.join("; ")
                }
            }
        }
    }

    fn update(&self, image: &str) -> Result<ImageUpdate, String> {
        let arg = match &self.tag {
            Some(t) => format!("{image}=*:{t}@{}", self.digest),
            None => format!("{image}=*@{}", self.digest),
        };
        ImageUpdate::parse(&arg).map_err(|e| e.to_string())
    }

    fn deployed(&self) -> Deployed {
        Deployed {
            commit: String::new(),
            tag: self.tag.as_ref().map(ToString::to_string),
            digest: Some(self.digest.to_string()),
        }
    }

    fn describe(&self) -> String {
        self.deployed().describe()
    }
}

/// Finds `tag` (or checks `digest`) in the app's registry repository and
/// judges it.
async fn lookup(
    io: &Io<'_>,
    app: &App,
    tag: Option<&str>,
    digest: Option<&str>,
) -> Result<Checked, String> {
    let images = io
        .registry
        .list_images(&app.repository)
        .await
        .map_err(|e| format!("the registry cannot be asked: {e}"))?;
    let record = images.iter().find(|r| match (digest, tag) {
        (Some(d), _) => r.digest.as_str() == d,
        (None, Some(t)) => r.tags.iter().any(|x| x == t),
        (None, None) => false,
    });
    let shown = digest.or(tag).unwrap_or("the image");
    let Some(record) = record else {
        return Err(format!(
            "`{shown}` is not in the registry repository `{}`.",
            app.repository
        ));
    };
    let tag = tag.map(Tag::parse).transpose().map_err(|e| e.to_string())?;
    let verdict = io
        .gates
        .check(io.registry, &app.repository, &record.digest)
        .await;
    Ok(Checked {
        tag,
        digest: record.digest.clone(),
        verdict,
    })
}

/// The overlay's image and pin for the app, from the checkout as synced.
fn current(io: &Io<'_>, app: &App, dir: &Path) -> Result<(Option<Running>, Option<Pin>), String> {
    read_overlay(io.workspace.root(), dir, &app.image)
}

fn overlay_dir<'c>(app: &'c App, env: &Environment) -> Result<&'c PathBuf, String> {
    app.overlays
        .get(&env.name)
        .ok_or_else(|| format!("`{}` has no overlay in `{}`.", app.name, env.name))
}

fn pin_spec(io: &Io<'_>, by: &str, reason: String) -> PinSpec {
    PinSpec {
        by: by.to_string(),
        at: io
            .now
            .replace_nanosecond(0)
            .unwrap_or(io.now)
            .format(&Rfc3339)
            .unwrap_or_default(),
        reason,
    }
}

fn describe_pin(p: &Pin) -> String {
    let mut s = String::from("pinned");
    if let Some(by) = &p.by {
        s.push_str(&format!(" by {by}"));
    }
    if let Some(at) = &p.at {
        s.push_str(&format!(" at {at}"));
    }
    if let Some(r) = &p.reason {
        s.push_str(&format!(": \"{r}\""));
    }
    s
}

fn running_deployed(r: Option<&Running>) -> Deployed {
    Deployed {
        commit: String::new(),
        tag: r.and_then(|r| r.tag.clone()),
        digest: r.and_then(|r| r.digest.clone()),
    }
}

fn describe_running(r: Option<&Running>) -> String {
    running_deployed(r).describe()
}

struct Message<'a> {
    subject: String,
    verb: &'a str,
    image: Option<&'a Checked>,
    extra: Vec<(&'a str, String)>,
}

/// One commit's message: a subject, a line on who asked, trailers.
/// `name` is the image as the overlay renders it (`newName`, else the
/// image name).
fn render(
    m: &Message<'_>,
    request: &Request<'_>,
    app: &App,
    env: &Environment,
    name: &str,
) -> String {
    let (subject, verb, image, extra) = (&m.subject, m.verb, m.image, &m.extra);
    let mut s = format!(
        "{}: {subject}\n\nAsked by {} with `/ferry {verb}`.\n\n",
        env.name, request.login
    );
    let mut t = vec![
        format!("Ferry-Command: {verb}"),
        format!("Ferry-Requested-By: {}", request.login),
    ];
    if !request.comment_url.is_empty() {
        t.push(format!("Ferry-Comment: {}", request.comment_url));
    }
    t.push(format!("Ferry-App: {}", app.name));
    t.push(format!("Ferry-Env: {}", env.name));
    if let Some(c) = image {
        t.push(match &c.tag {
            Some(tag) => format!("Ferry-Image: {name}:{tag}@{}", c.digest),
            None => format!("Ferry-Image: {name}@{}", c.digest),
        });
        t.push(format!("Ferry-Digest: {}", c.digest));
        if let Some(key) = &c.verdict.signature_key {
            t.push(format!("Ferry-Signature: {key}"));
        }
    }
    for (k, v) in extra {
        t.push(format!("{k}: {v}"));
    }
    let _ = app;
    s.push_str(&t.join("\n"));
    s.push('\n');
    s
}

/// An edit of the app's overlay: optionally set the image, then set or
/// remove the pin. `expect` is what the overlay ran when the command was
/// decided; if another writer moved it since, nothing is written.
struct Edit<'a> {
    app: &'a App,
    env: &'a Environment,
    dir: &'a Path,
    expect: Option<&'a Running>,
    /// The pin the command saw (`None`: not pinned).
    expect_pin: Option<&'a Pin>,
    update: Option<&'a ImageUpdate>,
    pin: PinOp<'a>,
}

/// What an edit does to the app's pin.
#[derive(Clone, Copy)]
enum PinOp<'a> {
    /// Leave it as it is.
    Keep,
    /// Write this one (replacing any).
    Set(&'a PinSpec),
    /// Remove it.
    Remove,
}

/// The same pin, wherever it sits in the file.
fn same_pin(a: Option<&Pin>, b: Option<&Pin>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => (&a.by, &a.at, &a.reason) == (&b.by, &b.at, &b.reason),
        _ => false,
    }
}

/// Commits `edit` with `msg`.
fn commit_edit(
    io: &mut Io<'_>,
    edit: Edit<'_>,
    msg: &Message<'_>,
    request: &Request<'_>,
) -> Result<Option<String>, String> {
    let Edit {
        app,
        env,
        dir,
        expect,
        expect_pin,
        update,
        pin,
    } = edit;
    let image = app.image.clone();
    let outcome = io
        .workspace
        .apply(io.author, PUSH_ATTEMPTS, |root: &Path| {
            let (now, now_pin) = read_overlay(root, dir, &image)?;
            if !same_pin(now_pin.as_ref(), expect_pin) {
                return Err(match &now_pin {
                    Some(p) => format!(
                        "the app was {} meanwhile; nothing was written",
                        describe_pin(p)
                    ),
                    None => "the app was unpinned meanwhile; nothing was written".into(),
                });
            }
            if now.as_ref() != expect {
                return Err(format!(
                    "the overlay changed meanwhile (it runs {} now); nothing was written, \
                     run the command again",
                    describe_running(now.as_ref())
                ));
            }
            let file = kustomize::resolve_in(root, dir).map_err(|e| e.to_string())?;
            if let Some(u) = update {
                kustomize::edit_file(&file, std::slice::from_ref(u), false)
                    .map_err(|e| e.to_string())?;
            }
            match pin {
                PinOp::Keep => {}
                PinOp::Set(spec) => {
                    kustomize::pin_file(&file, &image, Some(spec)).map_err(|e| e.to_string())?;
                }
                PinOp::Remove => {
                    kustomize::pin_file(&file, &image, None).map_err(|e| e.to_string())?;
                }
            }
            let text = std::fs::read_to_string(&file).map_err(|e| e.to_string())?;
            let name = kustomize::rendered_name(&text, &image);
            Ok::<_, String>(Some(render(msg, request, app, env, &name)))
        })
        .map_err(|e| e.to_string())?;
    Ok(match outcome {
        Outcome::Pushed { commit, .. } => Some(commit.to_string()),
        Outcome::NothingToDo => None,
    })
}

fn committed(done: Result<Option<String>, String>, what: String, nothing: &str) -> Done {
    match done {
        Ok(Some(commit)) => Done {
            ok: true,
            message: format!("{what} Commit {commit}."),
            commit: Some(commit),
            pull_request: None,
        },
        Ok(None) => Done::ok(nothing.to_string()),
        Err(e) => Done::failed(format!("Nothing was changed: {e}.")),
    }
}

/// What every command starts from: the checkout synced to the remote's
/// tip, the app's overlay in the environment, what it runs and its pin.
type Prepared<'c> = (&'c PathBuf, Option<Running>, Option<Pin>);

fn prepare<'c>(io: &mut Io<'_>, app: &'c App, env: &Environment) -> Result<Prepared<'c>, Done> {
    io.workspace
        .sync()
        .map_err(|e| Done::failed(format!("Cannot read the GitOps repository: {e}.")))?;
    let dir = overlay_dir(app, env).map_err(Done::failed)?;
    let (running, pinned) = current(io, app, dir)
        .map_err(|e| Done::failed(format!("Cannot read the overlay: {e}.")))?;
    Ok((dir, running, pinned))
}

/// `/ferry pin APP ENV [TAG] [-- REASON]`.
pub(super) async fn pin(
    io: &mut Io<'_>,
    request: &Request<'_>,
    app: &App,
    env: &Environment,
    tag: Option<&Tag>,
    reason: Option<&str>,
) -> Done {
    let (dir, running, pinned) = match prepare(io, app, env) {
        Ok(p) => p,
        Err(d) => return d,
    };
    let reason = reason
        .map(str::to_string)
        .unwrap_or_else(|| format!("pinned by {}", request.login));
    let checked = match tag {
        None => None,
        Some(t) => match lookup(io, app, Some(t.as_str()), None).await {
            Ok(c) if c.verdict.passes() => Some(c),
            Ok(c) => {
                return Done::failed(format!(
                    "{} does not pass the gates: {}.",
                    c.describe(),
                    c.failures(None).join("; ")
                ));
            }
            Err(e) => return Done::failed(e),
        },
    };
    let runs_it = |c: &Checked| {
        running.as_ref().is_some_and(|r| {
            r.tag.as_deref() == c.tag.as_ref().map(Tag::as_str)
                && r.digest.as_deref() == Some(c.digest.as_str())
        })
    };
    if let Some(p) = &pinned
        && checked.as_ref().is_none_or(runs_it)
    {
        return Done::ok(format!(
            "`{}` in {} is {} already; nothing to do.",
            app.name,
            env.name,
            describe_pin(p)
        ));
    }
    let update = match checked.as_ref().map(|c| c.update(&app.image)).transpose() {
        Ok(u) => u,
        Err(e) => return Done::failed(e),
    };
    let at = checked
        .as_ref()
        .map_or_else(|| describe_running(running.as_ref()), Checked::describe);
    let spec = pin_spec(io, request.login, reason);
    let msg = Message {
        subject: format!(
            "pin {} at {}",
            app.name,
            checked.as_ref().map_or_else(
                || running_deployed(running.as_ref()).short(),
                |c| c.deployed().short()
            )
        ),
        verb: "pin",
        image: checked.as_ref(),
        extra: vec![],
    };
    let done = commit_edit(
        io,
        Edit {
            app,
            env,
            dir,
            expect: running.as_ref(),
            expect_pin: pinned.as_ref(),
            update: update.as_ref(),
            pin: PinOp::Set(&spec),
        },
        &msg,
        request,
    );
    committed(
        done,
        format!(
            "Pinned `{}` in {} at {at}: automation leaves it there until `unpin`.",
            app.name, env.name
        ),
        "Already pinned; nothing to do.",
    )
}

/// `/ferry unpin APP ENV`.
pub(super) fn unpin(io: &mut Io<'_>, request: &Request<'_>, app: &App, env: &Environment) -> Done {
    let (dir, running, pinned) = match prepare(io, app, env) {
        Ok(p) => p,
        Err(d) => return d,
    };
    let Some(p) = pinned else {
        return Done::ok(format!(
            "`{}` in {} is not pinned; nothing to do.",
            app.name, env.name
        ));
    };
    let msg = Message {
        subject: format!("unpin {}", app.name),
        verb: "unpin",
        image: None,
        extra: vec![("Ferry-Unpinned", describe_pin(&p))],
    };
    let done = commit_edit(
        io,
        Edit {
            app,
            env,
            dir,
            expect: running.as_ref(),
            expect_pin: Some(&p),
            update: None,
            pin: PinOp::Remove,
        },
        &msg,
        request,
    );
    committed(
        done,
        format!(
            "Unpinned `{}` in {} (it was {}): automation moves it again.",
            app.name,
            env.name,
            describe_pin(&p)
        ),
        "Not pinned; nothing to do.",
    )
}

/// The app's image in every recent version of its overlay, newest first.
fn history(io: &Io<'_>, app: &App, dir: &Path) -> Result<Vec<Deployed>, String> {
    let root = io.workspace.root();
    let file = kustomize::resolve_in(root, dir).map_err(|e| e.to_string())?;
    let rel = file
        .strip_prefix(root)
        .map_err(|_| "the overlay is outside the checkout".to_string())?;
    let versions = io
        .workspace
        .file_versions(rel, REVERT_VERSIONS, REVERT_COMMITS)
        .map_err(|e| e.to_string())?;
    Ok(versions
        .into_iter()
        .map(|v| {
            let entry = v
                .content
                .and_then(|c| String::from_utf8(c).ok())
                .and_then(|text| kustomize::read_images(&text).ok())
                .and_then(|es| es.into_iter().find(|e| e.name == app.image));
            Deployed {
                commit: v.commit,
                tag: entry.as_ref().and_then(|e| e.new_tag.clone()),
                digest: entry.and_then(|e| e.digest),
            }
        })
        .collect())
}

/// `/ferry revert APP ENV [to TAG]`.
pub(super) async fn revert(
    io: &mut Io<'_>,
    request: &Request<'_>,
    app: &App,
    env: &Environment,
    to: Option<&Tag>,
) -> Done {
    let (dir, running, pinned) = match prepare(io, app, env) {
        Ok(p) => p,
        Err(d) => return d,
    };
    // A bare revert of a pinned app would go back past the pin: after a
    // revert, that is to the very image it reverted. Say where to go.
    if let (None, Some(p)) = (to, &pinned) {
        return Done::failed(format!(
            "`{}` in {} is {} at {}; name the image (`revert {} {} to TAG`) or unpin it first.",
            app.name,
            env.name,
            describe_pin(p),
            describe_running(running.as_ref()),
            app.name,
            env.name
        ));
    }
    let history = match history(io, app, dir) {
        Ok(h) => h,
        Err(e) => return Done::failed(format!("Cannot read the overlay's history: {e}.")),
    };
    let now = running_deployed(running.as_ref());
    if history
        .first()
        .is_none_or(|h| (&h.tag, &h.digest) != (&now.tag, &now.digest))
    {
        return Done::failed(format!(
            "The overlay's history does not end in what it runs ({}); nothing was changed.",
            now.describe()
        ));
    }
    let target = match revert::pick(&history, to.map(Tag::as_str)) {
        Ok(t) => t,
        Err(e) => return Done::failed(format!("Nothing to revert to: {e}.")),
    };
    let checked = match lookup(
        io,
        app,
        target.to.tag.as_deref(),
        target.to.digest.as_deref(),
    )
    .await
    {
        Ok(c) => c,
        Err(e) => return Done::failed(format!("Cannot go back to {}: {e}", target.to.describe())),
    };
    let unsigned = checked.failures(Some(Gate::Signature));
    if !unsigned.is_empty() {
        return Done::failed(format!(
            "Cannot go back to {}: its signature does not pass: {}.",
            checked.describe(),
            unsigned.join("; ")
        ));
    }
    let update = match checked.update(&app.image) {
        Ok(u) => u,
        Err(e) => return Done::failed(e),
    };
    let was = describe_running(running.as_ref());
    let back = checked.describe();
    let spec = pin_spec(
        io,
        request.login,
        format!(
            "revert by {}: {} ran {was}; back to {back}",
            request.login, env.name
        ),
    );
    let msg = Message {
        subject: format!(
            "revert {} {}→{}",
            app.name,
            running_deployed(running.as_ref()).short(),
            checked.deployed().short()
        ),
        verb: "revert",
        image: Some(&checked),
        extra: vec![("Ferry-Reverts", target.reverts.commit.clone())],
    };
    let done = commit_edit(
        io,
        Edit {
            app,
            env,
            dir,
            expect: running.as_ref(),
            expect_pin: pinned.as_ref(),
            update: Some(&update),
            pin: PinOp::Set(&spec),
        },
        &msg,
        request,
    );
    let scan = checked.scan();
    committed(
        done,
        format!(
            "Reverted `{}` in {} from {was} to {back} (as of {}), and pinned it: automation \
             leaves it there until `unpin`. Scan of {back}: {scan}.",
            app.name,
            env.name,
            short_commit(&target.to.commit)
        ),
        "Already there; nothing to do.",
    )
}

fn short_commit(c: &str) -> &str {
    c.get(..12).unwrap_or(c)
}

/// `/ferry promote APP TAG to ENV`.
pub(super) async fn promote(
    io: &mut Io<'_>,
    request: &Request<'_>,
    app: &App,
    env: &Environment,
    tag: &Tag,
) -> Done {
    let (dir, running, pinned) = match prepare(io, app, env) {
        Ok(p) => p,
        Err(d) => return d,
    };
    if let Some(p) = pinned {
        return Done::failed(format!(
            "`{}` in {} is {}; unpin it first.",
            app.name,
            env.name,
            describe_pin(&p)
        ));
    }
    let checked = match lookup(io, app, Some(tag.as_str()), None).await {
        Ok(c) if c.verdict.passes() => c,
        Ok(c) => {
            return Done::failed(format!(
                "{} does not pass the gates: {}.",
                c.describe(),
                c.failures(None).join("; ")
            ));
        }
        Err(e) => return Done::failed(e),
    };
    if running.as_ref().is_some_and(|r| {
        r.tag.as_deref() == Some(tag.as_str())
            && r.digest.as_deref() == Some(checked.digest.as_str())
    }) {
        return Done::ok(format!(
            "{} runs {} already; nothing to do.",
            env.name,
            checked.describe()
        ));
    }
    match env.mode {
        Mode::Commit => {
            let update = match checked.update(&app.image) {
                Ok(u) => u,
                Err(e) => return Done::failed(e),
            };
            let msg = Message {
                subject: format!(
                    "{} {}→{}",
                    app.name,
                    running_deployed(running.as_ref()).short(),
                    checked.deployed().short()
                ),
                verb: "promote",
                image: Some(&checked),
                extra: vec![],
            };
            let done = commit_edit(
                io,
                Edit {
                    app,
                    env,
                    dir,
                    expect: running.as_ref(),
                    expect_pin: None,
                    update: Some(&update),
                    pin: PinOp::Keep,
                },
                &msg,
                request,
            );
            committed(
                done,
                format!(
                    "Promoted `{}` to {} in {} (the gates pass: scan {}).",
                    app.name,
                    checked.describe(),
                    env.name,
                    checked.scan()
                ),
                "Already there; nothing to do.",
            )
        }
        Mode::PullRequest => propose(io, request, app, env, &checked).await,
    }
}

/// Opens (or updates) the promotion PR for `checked` now, without waiting
/// for upstream proof, soak or a window; the body says who asked and what
/// was not proven yet.
async fn propose(
    io: &mut Io<'_>,
    request: &Request<'_>,
    app: &App,
    env: &Environment,
    checked: &Checked,
) -> Done {
    let Some(forge) = io.promotion.forge else {
        return Done::failed("No forge is configured to open a pull request.".into());
    };
    let snap = pass::snapshot(
        io.config,
        io.workspace,
        io.registry,
        io.gates,
        &io.promotion,
    )
    .await;
    let head = promote::head_for(env, &app.name);
    if let Some(open) = snap.proposal(&head)
        && open.tampered.is_none()
        && open
            .carried
            .iter()
            .any(|c| c.app == app.name && c.digest == checked.digest.as_str())
    {
        return Done {
            ok: true,
            message: format!(
                "Pull request #{} already proposes {} for `{}` in {}: {}.",
                open.number,
                checked.describe(),
                app.name,
                env.name,
                open.url
            ),
            commit: None,
            pull_request: Some(open.url.clone()),
        };
    }
    let mut planned = plan(&snap);
    let Some(entry) = planned
        .entries
        .iter_mut()
        .find(|e| e.app == app.name && e.env == env.name)
    else {
        return Done::failed(format!("{} is not planned for {}.", app.name, env.name));
    };
    // A collaborator's PR on the branch is never pushed over, whatever the
    // plan's first reason for this app is.
    if let Some(foreign) = snap
        .apps
        .iter()
        .find(|a| a.app == app.name)
        .and_then(|a| a.envs.iter().find(|e| e.env == env.name))
        .and_then(|e| e.foreign_pr.as_ref())
    {
        return Done::failed(format!(
            "Cannot propose now: pr_foreign: pull request #{} on `{head}` was not opened by \
             ferry; ferry does not push over it ({}).",
            foreign.number, foreign.url
        ));
    }
    // The holds a request does not lift: another person's PR on the branch
    // (never pushed over), a forge that cannot list PRs (a grouped branch
    // would lose its other apps), an overlay ferry cannot edit.
    if let Some(why) = &entry.reason
        && matches!(
            why.code,
            "pr_foreign" | "forge_unavailable" | "overlay_unreadable" | "overlay_invalid"
        )
    {
        return Done::failed(format!(
            "Cannot propose now: {}: {}.",
            why.code, why.message
        ));
    }
    // Proven only if upstream runs this very image and has proven it.
    let upstream = env.after.as_deref().unwrap_or_default();
    let up = snap
        .apps
        .iter()
        .find(|a| a.app == app.name)
        .and_then(|a| a.envs.iter().find(|e| e.env == upstream));
    let runs = up.and_then(|u| u.running.as_ref().ok().cloned().flatten());
    let unproven = match (runs, up.and_then(|u| u.proof.as_ref())) {
        (Some(r), proof) if r.digest.as_deref() == Some(checked.digest.as_str()) => match proof {
            Some(Proof::Proven { .. }) => None,
            Some(Proof::NotYet { code, message }) => Some(format!("{code}: {message}")),
            None => Some(format!("{upstream} has not been checked")),
        },
        (r, _) => Some(format!(
            "{upstream} does not run it (it runs {})",
            describe_running(r.as_ref())
        )),
    };
    entry.action = Action::PullRequest;
    entry.to = Some(ImageRef {
        tag: checked.tag.as_ref().map(ToString::to_string),
        digest: Some(checked.digest.to_string()),
    });
    entry.reason = None;
    entry.held = Vec::new();
    entry.scan = checked.verdict.scan_counts.as_ref().map(format_counts);
    entry.signature_key = checked.verdict.signature_key.clone();
    let link = if request.comment_url.is_empty() {
        "a comment".to_string()
    } else {
        format!("[a comment]({})", request.comment_url)
    };
    let note = format!(
        "ferry proposes **{}** {} for **{}** because @{} asked in {link} \
         (`/ferry promote`). The gates pass; {}",
        app.name,
        checked.describe(),
        env.name,
        request.login,
        match &unproven {
            Some(u) => format!("**not yet proven**: {u}."),
            None => "upstream has proven it.".into(),
        }
    );
    let steps: Vec<_> = plan_prs(&snap, &planned.entries)
        .into_iter()
        .filter(|s| {
            s.env == env.name
                && s.op != crate::promotion::plan::PrOp::Close
                && s.apps.contains(&app.name)
        })
        .map(|mut s| {
            s.request = Some(note.clone());
            s
        })
        .collect();
    let only = Plan {
        entries: planned.entries,
        pull_requests: steps,
        watch: Vec::new(),
    };
    match promote::execute(
        io.config,
        &snap,
        &only,
        io.workspace,
        io.author,
        Some(forge),
    )
    .await
    {
        Ok(actions) => match actions.into_iter().next() {
            Some(a) => {
                // A person's deployment, not ferry's: the automatic revert
                // never watches what this PR lands.
                io.promotion.watch.asked(a.number, &app.name);
                if !io.promotion.read_only
                    && let Err(e) = io.promotion.watch.save()
                {
                    tracing::warn!(error = %e, "cannot save the watch book");
                }
                Done {
                    ok: true,
                    message: format!(
                        "Pull request #{} {} with `{}` at {} for {}: {}. The gates pass; {}",
                        a.number,
                        a.what,
                        app.name,
                        checked.describe(),
                        env.name,
                        a.url,
                        match &unproven {
                            Some(u) => format!("not yet proven: {u}."),
                            None => "upstream has proven it.".into(),
                        }
                    ),
                    commit: None,
                    pull_request: Some(a.url),
                }
            }
            None => Done::ok(format!(
                "The promotion pull request for `{}` in {} already proposes {}.",
                app.name,
                env.name,
                checked.describe()
            )),
        },
        Err(e) => Done::failed(format!("Cannot open the pull request: {e}.")),
    }
}
