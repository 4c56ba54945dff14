//! The status page, `GET /`: what runs where, what is pinned, what the plan
//! says next, the DORA figures and the last pass, from the runner's
//! [`Status`]. Pure: a [`View`] is built from a status, then rendered as
//! HTML ([`render_html`]) or serialized as JSON (`?output=json`); serving
//! it never touches git, the registry or the forge.
//!
//! Everything shown comes from the repository, the registry or the forge,
//! and a pin reason is text any collaborator writes: the template (maud)
//! escapes every value, and a pull request's URL becomes a link only when
//! it is `http:` or `https:`. The page works without JavaScript (the filter
//! is a GET form, `?app=`, applied here); a small inline script filters as
//! one types. Its CSS and script are inline and named by hash in
//! [`CONTENT_SECURITY_POLICY`], so nothing else can run or load.

use std::sync::LazyLock;

use base64::Engine as _;
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::dora::{EnvFigures, Report};
use crate::promotion::board::{Board, Cell, PinView};
use crate::promotion::plan::{Action, ImageRef};
use crate::runner::Status;

/// How often the page reloads itself, in seconds.
pub const REFRESH_SECONDS: u32 = 30;

/// The longest `?app=` filter accepted, in characters.
pub const MAX_FILTER: usize = 200;

/// How many hex digits of a digest a cell shows.
const SHORT_DIGEST: usize = 12;

/// Why a query is refused (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// `output=` is neither `html` nor `json`.
    #[error("output must be html or json, not {0:?}")]
    Output(String),
    /// `app=` is longer than [`MAX_FILTER`].
    #[error("app filter is longer than {MAX_FILTER} characters")]
    FilterTooLong,
}

/// The form of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Output {
    /// The HTML page.
    #[default]
    Html,
    /// The view as JSON.
    Json,
}

/// What a request asks for: `?output=html|json` and `?app=SUBSTRING`;
/// other parameters are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// HTML or JSON.
    pub output: Output,
    /// Show only apps whose name contains this (case-insensitive).
    pub app: Option<String>,
}

impl Query {
    /// Parses a URI's query string (`None` when it has none).
    pub fn parse(query: Option<&str>) -> Result<Query, QueryError> {
        let mut q = Query::default();
        for pair in query.unwrap_or_default().split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match percent_decode(key).as_str() {
                "output" => {
                    q.output = match percent_decode(value).as_str() {
                        "html" => Output::Html,
                        "json" => Output::Json,
                        other => return Err(QueryError::Output(other.to_string())),
                    }
                }
                "app" => {
                    let v = percent_decode(value);
                    let v = v.trim();
                    if v.chars().count() > MAX_FILTER {
                        return Err(QueryError::FilterTooLong);
                    }
                    q.app = (!v.is_empty()).then(|| v.to_string());
                }
                _ => {}
            }
        }
        Ok(q)
    }
}

/// `application/x-www-form-urlencoded` decoding: `+` is a space, `%XX` a
/// byte; a `%` not followed by two hex digits stays as it is, and bytes
/// that are not UTF-8 become U+FFFD.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| (*c as char).to_digit(16));
        match b {
            b'+' => out.push(b' '),
            b'%' => match (hex(i + 1), hex(i + 2)) {
                (Some(h), Some(l)) => {
                    // Two hex digits: at most 0xFF.
                    out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Everything the page shows; `?output=json` is this, serialized.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct View<'a> {
    /// When the page was made.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Whether the runner still runs passes and commands.
    pub runner_alive: bool,
    /// The last pass, if one ran.
    pub last_pass: Option<PassView<'a>>,
    /// When the last pass that succeeded finished.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_success: Option<OffsetDateTime>,
    /// Passes run.
    pub passes: u64,
    /// Passes that failed.
    pub failures: u64,
    /// Failed passes since the last success.
    pub consecutive_failures: u32,
    /// The `?app=` filter applied to the rows.
    pub filter: Option<&'a str>,
    /// The matrix of the last pass that succeeded; `None` before one has.
    pub board: Option<BoardView<'a>>,
    /// DORA figures per environment; `None` until they are computed.
    pub dora: Option<&'a Report>,
}

/// The outcome of the last pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassView<'a> {
    /// When it finished.
    #[serde(with = "time::serde::rfc3339")]
    pub finished_at: OffsetDateTime,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Why it ran.
    pub triggers: &'a [String],
    /// `true` when it succeeded.
    pub succeeded: bool,
    /// Why it failed.
    pub error: Option<&'a str>,
}

/// The apps × environments matrix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BoardView<'a> {
    /// When its snapshot was taken.
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
    /// The columns, in config order.
    pub envs: &'a [String],
    /// How many apps the board has, before the filter.
    pub total_apps: usize,
    /// The rows the filter keeps, in config order.
    pub apps: Vec<AppView<'a>>,
}

/// One app: one cell per environment (`None` where it has no overlay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AppView<'a> {
    /// App name.
    pub app: &'a str,
    /// One per column of [`BoardView::envs`].
    pub cells: Vec<Option<CellView<'a>>>,
}

/// One app in one environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CellView<'a> {
    /// The tag the overlay runs.
    pub tag: Option<&'a str>,
    /// The digest it runs.
    pub digest: Option<&'a str>,
    /// The first 12 hex digits of the digest.
    pub short_digest: Option<&'a str>,
    /// Why the overlay could not be read.
    pub error: Option<&'a str>,
    /// A `# ferry:pin` on the image.
    pub pin: Option<&'a PinView>,
    /// ferry's open promotion pull request.
    pub pull_request: Option<PrView<'a>>,
    /// What the plan says next.
    pub next: NextView<'a>,
}

/// A pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PrView<'a> {
    /// Its number.
    pub number: u64,
    /// Its URL, only when it is `http:` or `https:` (it becomes a link).
    pub url: Option<&'a str>,
}

/// The plan's word on a cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NextView<'a> {
    /// How the cell is coloured.
    pub kind: Kind,
    /// Commit, pull request, or none.
    pub action: Action,
    /// The reason code when nothing moves.
    pub code: Option<&'static str>,
    /// What it moves to.
    pub to: Option<&'a ImageRef>,
    /// What a person reads.
    pub message: &'a str,
}

/// The families of what the plan says, each with its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A commit or a pull request moves it.
    Moving,
    /// It runs the newest image that qualifies.
    Current,
    /// Waiting on upstream, health, smoke, soak, a window or a review.
    Waiting,
    /// A gate, or a person, holds the newer image.
    Held,
    /// A pin freezes it.
    Pinned,
    /// Something could not be read or asked.
    Error,
}

impl Kind {
    /// The family of a plan's action and reason code.
    pub fn of(action: Action, code: Option<&str>) -> Kind {
        if action != Action::None {
            return Kind::Moving;
        }
        match code {
            Some("up_to_date") => Kind::Current,
            Some("pinned") => Kind::Pinned,
            Some("held" | "pr_closed" | "pr_foreign") => Kind::Held,
            Some("awaiting_upstream" | "health" | "smoke" | "soak" | "window" | "pr_open")
            | None => Kind::Waiting,
            Some(_) => Kind::Error,
        }
    }

    /// Its name, also its CSS class.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Moving => "moving",
            Kind::Current => "current",
            Kind::Waiting => "waiting",
            Kind::Held => "held",
            Kind::Pinned => "pinned",
            Kind::Error => "error",
        }
    }
}

impl<'a> View<'a> {
    /// The view of `status` at `now`, its rows narrowed to apps whose name
    /// contains `filter` (ignoring case).
    pub fn new(
        status: &'a Status,
        runner_alive: bool,
        filter: Option<&'a str>,
        now: OffsetDateTime,
    ) -> View<'a> {
        let last_pass = status.last_pass.as_ref().map(|p| PassView {
            finished_at: p.finished_at,
            duration_ms: u64::try_from(p.duration.as_millis()).unwrap_or(u64::MAX),
            triggers: &p.triggers,
            succeeded: p.error.is_none(),
            error: p.error.as_deref(),
        });
        View {
            generated_at: now,
            runner_alive,
            last_pass,
            last_success: status.last_success,
            passes: status.passes,
            failures: status.failures,
            consecutive_failures: status.consecutive_failures,
            filter,
            board: status.board.as_deref().map(|b| board_view(b, filter)),
            dora: status.dora.as_deref(),
        }
    }

    /// The view as JSON (`?output=json`).
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

fn board_view<'a>(board: &'a Board, filter: Option<&str>) -> BoardView<'a> {
    let needle = filter.map(str::to_lowercase);
    let apps = board
        .rows
        .iter()
        .filter(|r| {
            needle
                .as_deref()
                .is_none_or(|n| r.app.to_lowercase().contains(n))
        })
        .map(|r| AppView {
            app: &r.app,
            cells: r.cells.iter().map(|c| c.as_ref().map(cell_view)).collect(),
        })
        .collect();
    BoardView {
        taken_at: board.taken_at,
        envs: &board.envs,
        total_apps: board.rows.len(),
        apps,
    }
}

fn cell_view(c: &Cell) -> CellView<'_> {
    let digest = c.running.as_ref().and_then(|r| r.digest.as_deref());
    CellView {
        tag: c.running.as_ref().and_then(|r| r.tag.as_deref()),
        digest,
        short_digest: digest.and_then(short_digest),
        error: c.error.as_deref(),
        pin: c.pin.as_ref(),
        pull_request: c.pull_request.as_ref().map(|p| PrView {
            number: p.number,
            url: web_url(&p.url),
        }),
        next: NextView {
            kind: if c.error.is_some() {
                Kind::Error
            } else {
                Kind::of(c.next.action, c.next.code)
            },
            action: c.next.action,
            code: c.next.code,
            to: c.next.to.as_ref(),
            message: &c.next.message,
        },
    }
}

/// The first 12 hex digits after the algorithm (`sha256:`), when there
/// are that many.
pub fn short_digest(digest: &str) -> Option<&str> {
    let (_, hex) = digest.split_once(':')?;
    let end = hex
        .char_indices()
        .take_while(|(_, c)| c.is_ascii_hexdigit())
        .nth(SHORT_DIGEST - 1)?
        .0
        + 1;
    hex.get(..end)
}

/// `url` when it is an `http:` or `https:` URL, so that no other scheme
/// (`javascript:`, `data:`) becomes a link.
pub fn web_url(url: &str) -> Option<&str> {
    let (scheme, rest) = url.split_once(':')?;
    let web = scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http");
    (web && rest.starts_with("//")).then_some(url)
}

/// The page's stylesheet (inline, named by hash in the policy).
const CSS: &str = r#"
:root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--mute:#59636e;--line:#d1d9e0;--head:#f6f8fa;--fail:#cf222e}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--mute:#9198a1;--line:#3d444d;--head:#151b23;--fail:#f85149}}
body{margin:0;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;background:var(--bg);color:var(--fg)}
header{padding:.6rem 1rem .3rem}
h1{font-size:1.15rem;margin:0 0 .2rem}
header p{margin:.15rem 0}
.mute{color:var(--mute)}
.failed{color:var(--fail)}
form{margin:.3rem 1rem .5rem;display:flex;gap:.5rem;align-items:center;flex-wrap:wrap}
input[type=search]{font:inherit;padding:.25rem .4rem;min-width:14rem;border:1px solid var(--line);border-radius:4px;background:var(--bg);color:var(--fg)}
form.live button{display:none}
.wrap{overflow:auto;max-height:calc(100vh - 8rem);margin:0 1rem 1rem;border:1px solid var(--line)}
table{border-collapse:separate;border-spacing:0;min-width:100%}
th,td{padding:.35rem .55rem;border-bottom:1px solid var(--line);border-right:1px solid var(--line);vertical-align:top;text-align:left;background:var(--bg)}
td{min-width:11rem;max-width:22rem}
thead{position:sticky;top:0;z-index:2}
thead th{background:var(--head)}
th[scope=row],thead th:first-child{position:sticky;left:0;z-index:1;background:var(--head)}
tbody th{white-space:nowrap}
thead th:first-child{z-index:3}
tr.dora th{font-weight:normal;font-size:.85em}
.tag{font-weight:600;overflow-wrap:anywhere}
code{font:.85em ui-monospace,SFMono-Regular,Menlo,"DejaVu Sans Mono",monospace}
.dg{color:var(--mute)}
.pin,.pr,.err,.msg{font-size:.85em;margin-top:.15rem;overflow-wrap:anywhere}
.msg{color:var(--mute)}
.err{color:var(--fail)}
.badge{display:inline-block;border-radius:1em;padding:0 .5em;color:#fff;background:#59636e;font-weight:600}
.k-moving .badge{background:#0969da}
.k-current .badge{background:#1a7f37}
.k-waiting .badge{background:#9a6700}
.k-held .badge{background:#bc4c00}
.k-pinned .badge{background:#8250df}
.k-error .badge{background:#cf222e}
.empty{margin:1rem}
@media (max-width:600px){body{font-size:13px}.wrap{margin:0 .3rem .5rem}td{min-width:9rem}}
"#;

/// Filters the rows as one types, and keeps the filter in the URL so the
/// refresh keeps it; without it the form does the same on the server.
const SCRIPT: &str = r#"
(function(){var f=document.getElementById("filter");if(!f)return;f.form.classList.add("live");
var rows=document.querySelectorAll("tbody tr[data-app]"),n=document.getElementById("shown");
function apply(){var q=f.value.trim().toLowerCase(),c=0;
for(var i=0;i<rows.length;i++){var m=rows[i].getAttribute("data-app").toLowerCase().indexOf(q)>=0;rows[i].hidden=!m;if(m)c++}
if(n)n.textContent=String(c);var u=new URL(location.href);
if(q)u.searchParams.set("app",f.value.trim());else u.searchParams.delete("app");history.replaceState(null,"",u)}
f.addEventListener("input",apply)})();
"#;

/// The `Content-Security-Policy` of the HTML page: nothing loads from
/// anywhere, and only the page's own stylesheet and script (by hash) apply
/// and run; the filter form submits to the page itself.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src '{}'; script-src '{}'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
        csp_hash(CSS),
        csp_hash(SCRIPT)
    )
});

fn csp_hash(text: &str) -> String {
    let sum = Sha256::digest(text.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(sum)
    )
}

/// The HTML page of `view`.
pub fn render_html(view: &View<'_>) -> String {
    let now = view.generated_at;
    let page = html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta http-equiv="refresh" content=(REFRESH_SECONDS);
                title { "ferry status" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    h1 { "ferry status" }
                    (pass_line(view, now))
                    (totals_line(view, now))
                }
                @match &view.board {
                    None => {
                        p.empty {
                            @if view.last_pass.is_none() {
                                "No pass has run yet: the board appears after the first pass."
                            } @else {
                                "No pass has succeeded yet: the board appears after the first successful pass."
                            }
                        }
                        @if let Some(r) = view.dora {
                            (dora_table(r))
                        }
                    }
                    Some(board) => {
                        (filter_form(view.filter, board))
                        div.wrap {
                            table #board {
                                thead {
                                    tr {
                                        th scope="col" { "app" }
                                        @for env in board.envs {
                                            th scope="col" { (env) }
                                        }
                                    }
                                    (dora_row(board.envs, view.dora))
                                }
                                tbody {
                                    @for app in &board.apps {
                                        tr data-app=(app.app) {
                                            th scope="row" { (app.app) }
                                            @for (env, cell) in board.envs.iter().zip(&app.cells) {
                                                (cell_markup(env, cell.as_ref()))
                                            }
                                        }
                                    }
                                }
                            }
                        }
                        @if board.apps.is_empty() {
                            p.empty.mute { "No app matches the filter." }
                        }
                    }
                }
                script { (PreEscaped(SCRIPT)) }
            }
        }
    };
    page.into_string()
}

fn pass_line(view: &View<'_>, now: OffsetDateTime) -> Markup {
    html! {
        p #pass {
            @match &view.last_pass {
                None => { "No pass has run yet." }
                Some(p) => {
                    "Last pass finished " (when(p.finished_at, now))
                    ", took " (duration(p.duration_ms))
                    @if !p.triggers.is_empty() {
                        ", for " (p.triggers.join(", "))
                    }
                    ": "
                    @if p.succeeded {
                        strong.outcome { "succeeded" } "."
                    } @else {
                        strong.outcome.failed { "failed" } ": "
                        span.failed { (p.error.unwrap_or("unknown error")) }
                    }
                    @if view.consecutive_failures > 0 {
                        " " strong.failed { (view.consecutive_failures) " failed in a row." }
                    }
                }
            }
            @if !view.runner_alive {
                " " strong.failed { "The runner has stopped: no pass or command runs." }
            }
        }
    }
}

fn totals_line(view: &View<'_>, now: OffsetDateTime) -> Markup {
    html! {
        p.mute {
            (view.passes) " passes, " (view.failures) " failed"
            @if let Some(at) = view.last_success {
                "; last success " (when(at, now))
            }
            @if let Some(b) = &view.board {
                "; board from the snapshot of " (when(b.taken_at, now))
            }
            ". Refreshes every " (REFRESH_SECONDS) " s; "
            a href="?output=json" { "JSON" } "."
        }
    }
}

fn filter_form(filter: Option<&str>, board: &BoardView<'_>) -> Markup {
    html! {
        form method="get" action="" role="search" {
            label for="filter" { "Filter apps" }
            input #filter type="search" name="app" value=[filter] placeholder="name contains…" autocomplete="off";
            button type="submit" { "Filter" }
            span.mute {
                span #shown { (board.apps.len()) } " of " (board.total_apps) " apps"
            }
        }
    }
}

fn cell_markup(env: &str, cell: Option<&CellView<'_>>) -> Markup {
    let Some(c) = cell else {
        return html! { td.none data-env=(env) { span.mute { "—" } } };
    };
    html! {
        td class={ "k-" (c.next.kind.as_str()) } data-env=(env) {
            div.img {
                @match (c.tag, c.short_digest) {
                    (None, None) => { span.mute { "no image" } }
                    (tag, short) => {
                        @if let Some(t) = tag { span.tag { (t) } " " }
                        @if let Some(s) = short { code.dg title=[c.digest] { (s) } }
                    }
                }
            }
            @if let Some(e) = c.error {
                div.err { (e) }
            }
            @if let Some(p) = c.pin {
                div.pin {
                    "pinned"
                    @if let Some(by) = &p.by { " by " strong.by { (by) } }
                    @if let Some(since) = &p.since { " since " span.since { (since) } }
                    @if let Some(why) = &p.reason { ": " q.reason { (why) } }
                }
            }
            @if let Some(pr) = &c.pull_request {
                div.pr {
                    "open PR "
                    @if let Some(url) = pr.url {
                        a href=(url) { "#" (pr.number) }
                    } @else {
                        "#" (pr.number)
                    }
                }
            }
            div.next {
                code.badge { (badge(&c.next)) }
                @if !c.next.message.is_empty() {
                    " " span.msg { (c.next.message) }
                }
            }
        }
    }
}

/// The badge text: the reason code, or the action of a moving cell.
fn badge(n: &NextView<'_>) -> &'static str {
    match (n.code, n.action) {
        (Some(code), _) => code,
        (None, Action::Commit) => "commit",
        (None, Action::PullRequest) => "pull_request",
        (None, Action::None) => "none",
    }
}

fn dora_row(envs: &[String], dora: Option<&Report>) -> Markup {
    html! {
        tr.dora {
            th scope="row" {
                "DORA"
                @if let Some(r) = dora {
                    br; span.mute title={ (date(r.since)) " – " (date(r.until)) } { (period(r)) }
                }
            }
            @match dora {
                None => { th colspan=(envs.len()) .mute { "no figures yet" } }
                Some(r) => {
                    @for env in envs {
                        th data-env=(env) {
                            @if let Some(f) = r.envs.iter().find(|f| &f.env == env) {
                                (figures(f))
                            } @else {
                                span.mute { "no figures" }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// DORA figures without a board: a table of their own.
fn dora_table(r: &Report) -> Markup {
    html! {
        table #dora {
            tr {
                th { "DORA " span.mute title={ (date(r.since)) " – " (date(r.until)) } { (period(r)) } }
                @for f in &r.envs { th { (f.env) } }
            }
            tr {
                td {}
                @for f in &r.envs { td { (figures(f)) } }
            }
        }
    }
}

/// The report's period: `30 days`.
fn period(r: &Report) -> String {
    match (r.until - r.since).whole_days() {
        1 => "1 day".to_string(),
        d => format!("{d} days"),
    }
}

fn figures(f: &EnvFigures) -> Markup {
    html! {
        div {
            (f.deployments) " deployments, " (format!("{:.2}", f.per_day)) "/day, "
            strong.band { (f.band.as_str()) }
        }
        div {
            "lead time "
            @match f.lead_time_median {
                Some(m) => {
                    (secs(m.as_secs()))
                    @if let Some(p) = f.lead_time_p90 { " (p90 " (secs(p.as_secs())) ")" }
                }
                None => { "—" }
            }
        }
        div {
            "change failure "
            @match f.change_failure_rate {
                Some(r) => { (format!("{:.0}%", r * 100.0)) " (" (f.failures) ")" }
                None => { "—" }
            }
        }
        div {
            "restore "
            @match f.time_to_restore_median {
                Some(d) => { (secs(d.as_secs())) }
                None => { "—" }
            }
        }
    }
}

/// A moment: the UTC time, and how long ago.
fn when(at: OffsetDateTime, now: OffsetDateTime) -> Markup {
    let ago = (now - at).whole_seconds();
    html! {
        time datetime=(rfc3339(at)) { (stamp(at)) }
        @if ago >= 0 {
            " (" (secs(ago.unsigned_abs())) " ago)"
        }
    }
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn stamp(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

fn date(at: OffsetDateTime) -> String {
    let at = at.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}",
        at.year(),
        u8::from(at.month()),
        at.day()
    )
}

/// A pass's duration: tenths of a second under ten seconds, else as
/// [`secs`].
fn duration(millis: u64) -> String {
    if millis < 9_950 {
        let tenths = (millis + 50) / 100;
        format!("{}.{} s", tenths / 10, tenths % 10)
    } else {
        secs((millis + 500) / 1000)
    }
}

/// Seconds as a person reads them: `45 s`, `12 min`, `3 h 20 min`, `2 d 4 h`.
fn secs(s: u64) -> String {
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => match (s % 3600) / 60 {
            0 => format!("{} h", s / 3600),
            m => format!("{} h {m} min", s / 3600),
        },
        _ => match (s % 86_400) / 3600 {
            0 => format!("{} d", s / 86_400),
            h => format!("{} d {h} h", s / 86_400),
        },
    }
}

#[cfg(test)]
#[path = "page_tests.rs"]
mod tests;
