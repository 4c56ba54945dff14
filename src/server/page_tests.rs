use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use time::macros::datetime;

use super::*;
use crate::dora::{Band, EnvFigures, Report};
use crate::promotion::board::{Next, PrLink, Row};
use crate::runner::PassStatus;

const NOW: OffsetDateTime = datetime!(2026-12-02 02:00 UTC);

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

fn cell(tag: &str, d: char, action: Action, code: Option<&'static str>, msg: &str) -> Cell {
    Cell {
        running: Some(ImageRef {
            tag: Some(tag.into()),
            digest: Some(digest(d)),
        }),
        error: None,
        pin: None,
        pull_request: None,
        next: Next {
            action,
            to: None,
            code,
            message: msg.into(),
        },
    }
}

/// Two apps × dev, prod: api is pinned in prod (by a collaborator whose
/// reason is markup) with an open PR whose URL is not a web URL; web has
/// no prod overlay.
fn status() -> Status {
    let mut prod = cell("v1", 'a', Action::None, Some("pinned"), "pinned by oncall");
    prod.pin = Some(PinView {
        by: Some("oncall\"x".into()),
        reason: Some("<script>alert(1)</script>".into()),
        since: Some("2026-12-01T10:00:00Z".into()),
    });
    prod.pull_request = Some(PrLink {
        number: 7,
        url: "javascript:alert(1)".into(),
    });
    let mut dev = cell("v2", 'b', Action::Commit, None, "commit v3");
    dev.next.to = Some(ImageRef {
        tag: Some("v3".into()),
        digest: None,
    });
    let web_dev = Cell {
        pull_request: Some(PrLink {
            number: 12,
            url: "https://github.com/o/r/pull/12".into(),
        }),
        ..cell(
            "w9",
            'c',
            Action::None,
            Some("pr_open"),
            "waiting for review",
        )
    };
    let board = Board {
        taken_at: datetime!(2026-12-02 01:59:30 UTC),
        envs: vec!["dev".into(), "prod".into()],
        rows: vec![
            Row {
                app: "api".into(),
                cells: vec![Some(dev), Some(prod)],
            },
            Row {
                app: "web\"><b>".into(),
                cells: vec![Some(web_dev), None],
            },
        ],
    };
    Status {
        last_pass: Some(PassStatus {
            finished_at: datetime!(2026-12-02 01:59:31 UTC),
            duration: Duration::from_millis(1250),
            triggers: vec!["resync".into()],
            error: None,
        }),
        last_success: Some(datetime!(2026-12-02 01:59:31 UTC)),
        board: Some(Arc::new(board)),
        passes: 12,
        failures: 1,
        ..Status::default()
    }
}

/// The `<tr>` of `app` (as it appears, escaped, in `data-app`).
fn row<'h>(html: &'h str, data_app: &str) -> &'h str {
    let start = html
        .find(&format!("<tr data-app=\"{data_app}\">"))
        .unwrap_or_else(|| panic!("no row for {data_app}"));
    let len = html[start..].find("</tr>").unwrap();
    &html[start..start + len]
}

/// The `<td>` of `env` in a row.
fn td<'h>(row: &'h str, env: &str) -> &'h str {
    let at = row.find(&format!("data-env=\"{env}\"")).unwrap();
    let start = row[..at].rfind("<td").unwrap();
    let len = row[start..].find("</td>").unwrap();
    &row[start..start + len]
}

#[test]
fn everything_from_outside_is_escaped_and_only_web_urls_are_links() {
    let s = status();
    let html = render_html(&View::new(&s, true, None, NOW));
    // The pin reason is text, not a script: only the page's own runs.
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(html.matches("<script").count(), 1);
    // A quote cannot close an attribute, nor `>` open an element.
    assert!(html.contains("<tr data-app=\"web&quot;&gt;&lt;b&gt;\">"));
    assert!(!html.contains("<b>"));
    assert!(html.contains("oncall&quot;x"));
    // A javascript: URL is shown as a number, never a link.
    assert!(!html.contains("javascript:"), "{html}");
    let api = row(&html, "api");
    assert!(td(api, "prod").contains("open PR #7"));
    assert!(!td(api, "prod").contains("<a "));
    let web = row(&html, "web&quot;&gt;&lt;b&gt;");
    assert!(
        td(web, "dev").contains("<a href=\"https://github.com/o/r/pull/12\">#12</a>"),
        "{web}"
    );
}

#[test]
fn web_urls_only() {
    assert_eq!(web_url("https://x/pull/1"), Some("https://x/pull/1"));
    assert_eq!(web_url("HTTP://x"), Some("HTTP://x"));
    assert_eq!(web_url("javascript:alert(1)"), None);
    assert_eq!(web_url("javascript://%0aalert(1)"), None);
    assert_eq!(web_url("data:text/html,x"), None);
    assert_eq!(web_url("https:x"), None);
    assert_eq!(web_url("/pull/1"), None);
}

#[test]
fn each_cell_holds_its_app_and_environment() {
    let s = status();
    let view = View::new(&s, true, None, NOW);
    let board = view.board.as_ref().unwrap();
    assert_eq!(board.envs, ["dev", "prod"]);
    let api = &board.apps[0];
    assert_eq!(api.app, "api");
    let dev = api.cells[0].as_ref().unwrap();
    let prod = api.cells[1].as_ref().unwrap();
    assert_eq!(dev.tag, Some("v2"));
    assert_eq!(dev.short_digest, Some("bbbbbbbbbbbb"));
    assert_eq!(dev.next.kind, Kind::Moving);
    assert_eq!(prod.tag, Some("v1"));
    assert_eq!(prod.pin.unwrap().by.as_deref(), Some("oncall\"x"));
    assert_eq!(prod.next.kind, Kind::Pinned);
    assert_eq!(prod.pull_request.as_ref().unwrap().url, None);
    assert!(board.apps[1].cells[1].is_none());

    let html = render_html(&view);
    let api = row(&html, "api");
    let (dev, prod) = (td(api, "dev"), td(api, "prod"));
    assert!(dev.starts_with("<td class=\"k-moving\""), "{dev}");
    assert!(dev.contains("<span class=\"tag\">v2</span>"));
    assert!(dev.contains(&format!(
        "<code class=\"dg\" title=\"{}\">bbbbbbbbbbbb</code>",
        digest('b')
    )));
    assert!(dev.contains("<code class=\"badge\">commit</code>"));
    assert!(!dev.contains("pinned"));
    assert!(prod.starts_with("<td class=\"k-pinned\""), "{prod}");
    assert!(prod.contains("<span class=\"tag\">v1</span>"));
    assert!(prod.contains("pinned by <strong class=\"by\">oncall&quot;x</strong>"));
    assert!(prod.contains("since <span class=\"since\">2026-12-01T10:00:00Z</span>"));
    assert!(prod.contains("<code class=\"badge\">pinned</code>"));
    // The column order of the header is the cells' order.
    let head = &html[html.find("<thead>").unwrap()..html.find("</thead>").unwrap()];
    assert!(head.find(">dev<").unwrap() < head.find(">prod<").unwrap());
    let web = row(&html, "web&quot;&gt;&lt;b&gt;");
    assert!(td(web, "prod").contains("—"));
    assert!(td(web, "dev").starts_with("<td class=\"k-waiting\""));
    // The last pass and the totals.
    assert!(html.contains("took 1.3 s, for resync: <strong class=\"outcome\">succeeded</strong>"));
    assert!(html.contains("12 passes, 1 failed"));
    assert!(html.contains("<meta http-equiv=\"refresh\" content=\"30\">"));
    assert!(html.contains("no figures yet"));
}

#[test]
fn a_failed_pass_shows_its_error_and_the_streak() {
    let mut s = status();
    s.last_pass = Some(PassStatus {
        finished_at: datetime!(2026-12-02 01:58 UTC),
        duration: Duration::from_secs(42),
        triggers: vec!["resync".into(), "webhook: push".into()],
        error: Some("git: the remote <is> unreachable".into()),
    });
    s.consecutive_failures = 3;
    let html = render_html(&View::new(&s, false, None, NOW));
    assert!(html.contains("finished <time datetime=\"2026-12-02T01:58:00Z\">2026-12-02 01:58:00 UTC</time> (2 min ago), took 42 s, for resync, webhook: push"), "{html}");
    assert!(html.contains("<span class=\"failed\">git: the remote &lt;is&gt; unreachable</span>"));
    assert!(html.contains("3 failed in a row."));
    assert!(html.contains("The runner has stopped"));
}

#[test]
fn before_the_first_pass_the_page_says_so() {
    let s = Status::default();
    let view = View::new(&s, true, None, NOW);
    let html = render_html(&view);
    assert!(html.contains("No pass has run yet: the board appears after the first pass."));
    assert!(!html.contains("<table"));
    let json: Value = serde_json::from_str(&view.to_json().unwrap()).unwrap();
    assert_eq!(json["board"], Value::Null);
    assert_eq!(json["last_pass"], Value::Null);
    assert_eq!(json["passes"], 0);

    let failed = Status {
        last_pass: Some(PassStatus {
            finished_at: NOW,
            duration: Duration::from_secs(1),
            triggers: Vec::new(),
            error: Some("boom".into()),
        }),
        ..Status::default()
    };
    let html = render_html(&View::new(&failed, true, None, NOW));
    assert!(html.contains("No pass has succeeded yet"));
    assert!(html.contains("failed</strong>: <span class=\"failed\">boom</span>"));
}

#[test]
fn json_is_the_view() {
    let mut s = status();
    s.dora = Some(Arc::new(dora()));
    let view = View::new(&s, true, None, NOW);
    let json: Value = serde_json::from_str(&view.to_json().unwrap()).unwrap();
    assert_eq!(json, serde_json::to_value(&view).unwrap());
    let prod = &json["board"]["apps"][0]["cells"][1];
    assert_eq!(prod["tag"], "v1");
    assert_eq!(prod["digest"], digest('a'));
    assert_eq!(prod["short_digest"], "aaaaaaaaaaaa");
    assert_eq!(prod["pin"]["reason"], "<script>alert(1)</script>");
    assert_eq!(prod["next"]["kind"], "pinned");
    assert_eq!(prod["next"]["code"], "pinned");
    assert_eq!(prod["pull_request"]["number"], 7);
    assert_eq!(prod["pull_request"]["url"], Value::Null);
    assert_eq!(json["board"]["apps"][1]["cells"][1], Value::Null);
    assert_eq!(json["board"]["envs"], serde_json::json!(["dev", "prod"]));
    assert_eq!(json["last_pass"]["duration_ms"], 1250);
    assert_eq!(json["last_pass"]["finished_at"], "2026-12-02T01:59:31Z");
    assert_eq!(json["dora"]["envs"][1]["band"], "weekly");
    assert_eq!(json["dora"]["envs"][1]["lead_time_median"], 7200);
}

fn dora() -> Report {
    let figures = |env: &str, n: u64, band: Band| EnvFigures {
        env: env.into(),
        deployments: n,
        per_day: n as f64 / 30.0,
        band,
        lead_time_median: Some(Duration::from_secs(7200)),
        lead_time_p90: Some(Duration::from_secs(90_000)),
        failures: 1,
        change_failure_rate: Some(1.0 / n as f64),
        time_to_restore_median: Some(Duration::from_secs(2400)),
    };
    Report {
        since: datetime!(2026-11-02 00:00 UTC),
        until: datetime!(2026-12-02 00:00 UTC),
        envs: vec![
            figures("dev", 40, Band::Daily),
            figures("prod", 8, Band::Weekly),
        ],
    }
}

#[test]
fn dora_figures_sit_under_their_environment() {
    let mut s = status();
    s.dora = Some(Arc::new(dora()));
    let html = render_html(&View::new(&s, true, None, NOW));
    let at = html.find("<tr class=\"dora\">").unwrap();
    let row = &html[at..at + html[at..].find("</tr>").unwrap()];
    assert!(row.contains("<span class=\"mute\" title=\"2026-11-02 – 2026-12-02\">30 days</span>"));
    let prod = &row[row.find("data-env=\"prod\"").unwrap()..];
    assert!(prod.starts_with(
        "data-env=\"prod\"><div>8 deployments, 0.27/day, <strong class=\"band\">weekly</strong></div>"
    ), "{prod}");
    assert!(prod.contains("lead time 2 h (p90 1 d 1 h)"));
    assert!(prod.contains("change failure 12% (1)"));
    assert!(prod.contains("restore 40 min"));

    // Figures before any board: shown on their own.
    let only = Status {
        dora: Some(Arc::new(dora())),
        ..Status::default()
    };
    let html = render_html(&View::new(&only, true, None, NOW));
    assert!(html.contains("<table id=\"dora\">"));
    assert!(html.contains("40 deployments, 1.33/day"));
}

#[test]
fn the_filter_keeps_matching_apps_ignoring_case() {
    let s = status();
    let view = View::new(&s, true, Some("API"), NOW);
    let board = view.board.as_ref().unwrap();
    assert_eq!(board.total_apps, 2);
    let apps: Vec<_> = board.apps.iter().map(|a| a.app).collect();
    assert_eq!(apps, ["api"]);
    let html = render_html(&view);
    assert!(html.contains("value=\"API\""));
    assert!(html.contains("<span id=\"shown\">1</span> of 2 apps"));
    assert!(!html.contains("data-app=\"web"));
    let none = View::new(&s, true, Some("zzz\"><script>"), NOW);
    let html = render_html(&none);
    assert!(html.contains("No app matches the filter."));
    // What was typed goes back into the box as an attribute value.
    assert!(
        html.contains("value=\"zzz&quot;&gt;&lt;script&gt;\""),
        "{html}"
    );
    let json: Value = serde_json::from_str(&view.to_json().unwrap()).unwrap();
    assert_eq!(json["filter"], "API");
    assert_eq!(json["board"]["apps"].as_array().unwrap().len(), 1);
}

#[test]
fn queries() {
    assert_eq!(Query::parse(None), Ok(Query::default()));
    assert_eq!(
        Query::parse(Some("output=json&x=1&&y")),
        Ok(Query {
            output: Output::Json,
            app: None
        })
    );
    assert_eq!(
        Query::parse(Some("app=%3Cb%3E+c%zz&output=html")),
        Ok(Query {
            output: Output::Html,
            app: Some("<b> c%zz".into())
        })
    );
    assert_eq!(Query::parse(Some("app=")).unwrap().app, None);
    assert_eq!(
        Query::parse(Some("output=xml")),
        Err(QueryError::Output("xml".into()))
    );
    assert_eq!(
        Query::parse(Some("output=")).unwrap_err().to_string(),
        "output must be html or json, not \"\""
    );
    let long = format!("app={}", "é".repeat(MAX_FILTER + 1));
    assert_eq!(Query::parse(Some(&long)), Err(QueryError::FilterTooLong));
    assert_eq!(percent_decode("%C3%A9%FF%4"), "é\u{fffd}%4");
}

#[test]
fn short_digests() {
    assert_eq!(short_digest(&digest('a')), Some("aaaaaaaaaaaa"));
    assert_eq!(short_digest("sha256:abc"), None);
    assert_eq!(short_digest("sha256:abcdefabcdeéé"), None);
    assert_eq!(short_digest("sha256:abcdefabcdefé"), Some("abcdefabcdef"));
    assert_eq!(short_digest("abcdefabcdefabcdef"), None);
}

#[test]
fn kinds() {
    assert_eq!(Kind::of(Action::PullRequest, None), Kind::Moving);
    assert_eq!(Kind::of(Action::None, Some("up_to_date")), Kind::Current);
    assert_eq!(Kind::of(Action::None, Some("soak")), Kind::Waiting);
    assert_eq!(Kind::of(Action::None, Some("held")), Kind::Held);
    assert_eq!(Kind::of(Action::None, Some("pr_closed")), Kind::Held);
    assert_eq!(Kind::of(Action::None, Some("pinned")), Kind::Pinned);
    assert_eq!(
        Kind::of(Action::None, Some("registry_unavailable")),
        Kind::Error
    );
    let mut s = status();
    let board = Arc::make_mut(s.board.as_mut().unwrap());
    let c = board.rows[0].cells[0].as_mut().unwrap();
    c.error = Some("no kustomization".into());
    c.running = None;
    let html = render_html(&View::new(&s, true, None, NOW));
    let dev = td(row(&html, "api"), "dev");
    assert!(dev.starts_with("<td class=\"k-error\""));
    assert!(dev.contains("no image"));
    assert!(dev.contains("<div class=\"err\">no kustomization</div>"));
}

#[test]
fn the_policy_names_exactly_the_inline_style_and_script() {
    let s = status();
    let html = render_html(&View::new(&s, true, None, NOW));
    let inner = |open: &str, close: &str| {
        let start = html.find(open).unwrap() + open.len();
        let end = start + html[start..].find(close).unwrap();
        html[start..end].to_string()
    };
    let style = inner("<style>", "</style>");
    let script = inner("<script>", "</script>");
    let csp = CONTENT_SECURITY_POLICY.as_str();
    assert!(
        csp.contains(&format!("style-src '{}'", csp_hash(&style))),
        "{csp}"
    );
    assert!(
        csp.contains(&format!("script-src '{}'", csp_hash(&script))),
        "{csp}"
    );
    assert!(csp.starts_with("default-src 'none';"));
    assert!(!csp.contains("unsafe"));
}

#[test]
fn durations_read_like_a_person_would_say_them() {
    assert_eq!(secs(45), "45 s");
    assert_eq!(secs(720), "12 min");
    assert_eq!(secs(3600), "1 h");
    assert_eq!(secs(12_000), "3 h 20 min");
    assert_eq!(secs(187_200), "2 d 4 h");
    assert_eq!(duration(1250), "1.3 s");
    assert_eq!(duration(9_960), "10 s");
    assert_eq!(duration(42_000), "42 s");
}
