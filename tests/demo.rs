//! `ferry demo` end to end on the local adapters: dev commits, dev proven,
//! staging PR, merge, staging proven (after a failing smoke check),
//! production PR (one for both apps: production is `group: environment`),
//! merge. The timeline's reason codes are asserted in order, with the
//! notifications the demo's Slack stand-in receives and what the operations
//! scene reads from the server (`/readyz`, `/metrics`, the status page).

use std::process::Command;

#[test]
fn the_demo_story_runs_through_production() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["demo", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );

    // The timeline, in order.
    let steps = [
        "arrived platform/api:sha-2a2a2a2  → pass",
        "commit ",
        "slack  committed  dev: api sha-1111111 → sha-2a2a2a2",
        "arrived platform/api:sha-3b3b3b3  → hold: scan_budget",
        "plan api/dev: held (sha-3b3b3b3)",
        "plan api/staging: health — dev has not proven",
        "slack  held  dev: api sha-3b3b3b3",
        "arrived platform/api:sha-4c4c4c4  → hold: unsigned",
        "pull request #1 opened for api/staging",
        "slack  pr_opened  staging: api sha-1111111 → sha-2a2a2a2 (#1)",
        "slack  held  dev: api sha-4c4c4c4",
        "arrived platform/web:v1.1.0  → pass",
        "dev: api sha-2a2a2a2→sha-5d5d5d5, web v1.0.0→v1.1.0",
        "slack  committed  dev: api sha-2a2a2a2 → sha-5d5d5d5, web v1.0.0 → v1.1.0",
        "pull request #1 updated for api/staging",
        "slack  pr_updated  staging: api sha-1111111 → sha-5d5d5d5 (#1)",
        "slack  pr_opened  staging: web v1.0.0 → v1.1.0 (#2)",
        "plan api/staging: pr_open — pull request #1 waits for review",
        "reviewer merged #1",
        "slack  promoted  staging: api sha-1111111 → sha-5d5d5d5 (#1)",
        "smoke — staging has not proven",
        "pull request #3 opened for api+web/production",
        "slack  pr_opened  production: api sha-1111111 → sha-5d5d5d5, web v1.0.0 → v1.1.0 (#3)",
        "plan web/production: pr_open — pull request #3 waits for review",
        "reviewer merged #3 \"production: api sha-1111111 → sha-5d5d5d5, web v1.0.0 → v1.1.0\"",
        "slack  promoted  production: api sha-1111111 → sha-5d5d5d5 (#3)",
        "every app runs the same image in dev, staging and production",
        // A hand edit to an unsigned image: dev runs it, nothing promotes it.
        "dana pushed \"dev: api sha-7e7e7e7 by hand (hotfix)\"",
        "plan api/staging: held — dev runs sha-7e7e7e7, which the gates hold (unsigned)",
        "slack  held  staging: api sha-7e7e7e7",
        // ChatOps through the real webhook server: a forged delivery is
        // refused, the maintainer's revert lands pinned, the reader's unpin
        // is refused, the pass leaves the pin, the maintainer unpins and
        // automation promotes again.
        "a delivery signed with another secret  → webhook 401, nothing done",
        "oncall comments \"/ferry revert api production\"  → webhook 202",
        "ferry replies: done: Reverted `api` in production from sha-5d5d5d5",
        "to sha-1111111",
        "[commit ",
        "reactions on the comment: eyes +1",
        "rita comments \"/ferry unpin api production\"  → webhook 202",
        "ferry replies: not done: Sorry, @rita: this needs the maintain role; yours is read.",
        "reactions on the comment: eyes confused",
        "plan api/production: pinned — pinned by oncall",
        "slack  reverted  production: api sha-5d5d5d5 → sha-1111111 by oncall",
        "oncall comments \"/ferry unpin api production\"  → webhook 202",
        "ferry replies: done: Unpinned `api` in production",
        "slack  unpinned  production: api at sha-1111111 by oncall",
        "pull request #5 opened for api/production",
        "slack  pr_opened  production: api sha-1111111 → sha-5d5d5d5 (#5)",
        "reviewer merged #5",
        // An image passes the gates and dev, lands in staging by a merged
        // PR, fails staging's smoke check: ferry reverts and pins it.
        "── auto-revert: sha-9f9f9f9 passes the gates and dev, then fails staging's smoke check ──",
        "commit ",
        "dev: api sha-7e7e7e7→sha-9f9f9f9",
        "pull request #6 opened for api/staging",
        "reviewer merged #6",
        "watch api/staging: reverting: smoke: ",
        "expected HTTP 200, got 500",
        "(failing for 0s of 1s)",
        "plan api/staging: reverting — smoke: ",
        "auto-revert ",
        " to staging: api back to sha-5d5d5d5 (smoke: ",
        "slack  reverted  staging: api sha-9f9f9f9 → sha-5d5d5d5 (#6) by ferry",
        "overlays/staging: # ferry:pin by=ferry at=",
        "reason=\"auto-revert: smoke: http://127.0.0.1:",
        "ferry commented on #6: **ferry reverted staging**: `api` failed its health for ",
        "the next pass:",
        "plan api/staging: pinned — pinned by ferry",
        "watch api/staging: reverted by ",
        // What the platform team sees, through the real server: readiness,
        // metrics that counted the scenes above, the status page, DORA.
        "── operations: what the platform team sees",
        "GET /readyz   200 ready: the last successful pass was ",
        "GET /metrics  200, ",
        "ferry_commits_total{env=\"production\"} 2",
        "ferry_pull_requests_total{action=\"opened\",env=\"production\"} 2",
        "ferry_commands_total{command=\"revert\",result=\"ok\"} 1",
        "ferry_commands_total{command=\"unpin\",result=\"failed\"} 1",
        "ferry_auto_reverts_total{check=\"smoke\",env=\"staging\"} 1",
        "ferry_watched_deployments{env=\"staging\",state=\"reverted\"} 1",
        "ferry_webhook_deliveries_total{event=\"issue_comment\",result=\"unauthorized\"} 1",
        "ferry_dora_deployments{env=\"production\"} 4",
        "ferry_dora_change_failure_ratio{env=\"production\"} 0.25",
        "GET /        200, the status page: 2 apps × 3 environments",
        "api  dev: sha-9f9f9f9 [up_to_date] | staging: sha-5d5d5d5 pinned by ferry [pinned] | production: sha-5d5d5d5 [up_to_date]",
        "DORA over the last 30 days",
        // The auto-revert counts as staging's failed deployment.
        "staging    4 deployments (monthly), lead time median ",
        "change failure rate 25%",
        // The lead time runs from the registry's push date to now.
        "production 4 deployments (monthly), lead time median ",
        "staging: auto-revert api sha-9f9f9f9→sha-5d5d5d5",
        "Merge pull request #6 from ferry/staging/api",
        "production: revert api sha-5d5d5d5→sha-1111111",
    ];
    let mut at = 0;
    for s in steps {
        let found = out[at..]
            .find(s)
            .unwrap_or_else(|| panic!("{s:?} not found after byte {at}:\n{out}"));
        at += found + s.len();
    }
    // The demo's Slack stand-in hears each event once: a hold seen on
    // every pass is announced when it starts.
    assert_eq!(
        out.matches("slack  held  dev: api sha-3b3b3b3").count(),
        1,
        "{out}"
    );
    assert_eq!(out.matches("  slack  ").count(), 21, "{out}");
    // The status page the operations scene saved: the matrix, escaped text.
    let page = std::fs::read_to_string(dir.path().join("status.html")).unwrap();
    assert!(page.contains("<table"), "{page}");
    assert!(page.matches("sha-5d5d5d5").count() >= 2, "{page}");
    assert!(
        page.contains("25%"),
        "production's change failure rate: {page}"
    );
    assert!(
        out.contains("── overlays/dev: api:sha-9f9f9f9, web:v1.1.0"),
        "{out}"
    );
    // Exactly one revert, of api in staging: web, which shares staging's
    // smoke check, is not blamed for it.
    assert_eq!(out.matches("  auto-revert ").count(), 1, "{out}");
    for env in ["staging", "production"] {
        assert!(
            out.contains(&format!("── overlays/{env}: api:sha-5d5d5d5, web:v1.1.0")),
            "{env}\n{out}"
        );
    }
    // No PR was left open, none was opened twice for the same app and
    // environment while another was open.
    let prs: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("prs.json")).unwrap()).unwrap();
    let pulls = prs["pulls"].as_array().unwrap();
    assert_eq!(
        pulls.len(),
        5,
        "api and web to staging, both together to production, api again after the unpin, \
         api's broken image to staging: {pulls:#?}"
    );
    assert!(pulls.iter().all(|p| p["state"] == "merged"));
    let mut heads: Vec<&str> = pulls.iter().map(|p| p["head"].as_str().unwrap()).collect();
    heads.sort();
    assert_eq!(
        heads,
        [
            "ferry/production/_all",
            "ferry/production/_all",
            "ferry/staging/api",
            "ferry/staging/api",
            "ferry/staging/web"
        ]
    );
    // The issue holds the three comments, ferry's three replies, and the
    // reactions; the replies quote each command.
    let issue = prs["issues"]
        .as_array()
        .and_then(|i| i.first())
        .unwrap_or_else(|| panic!("no issue in {prs:#}"));
    let comments = issue["comments"].as_array().unwrap();
    assert_eq!(comments.len(), 6, "{comments:#?}");
    let replies: Vec<&str> = comments
        .iter()
        .filter(|c| c["author"] == "ferry")
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(replies.len(), 3, "{comments:#?}");
    assert!(
        replies[0].starts_with("@oncall\n\n> /ferry revert api production\n\n**Done.**"),
        "{}",
        replies[0]
    );
    assert!(
        replies[1].contains("needs the maintain role; yours is read"),
        "{}",
        replies[1]
    );
    // The broken image's PR: the forge names the commit that merged it,
    // and ferry's last comment on it says why staging went back.
    let broken = pulls.iter().find(|p| p["number"] == 6).unwrap();
    assert!(broken["title"].as_str().unwrap().contains("sha-9f9f9f9"));
    assert_eq!(
        broken["merge_commit"].as_str().map(str::len),
        Some(40),
        "{broken:#}"
    );
    let said = broken["comments"].as_array().unwrap().last().unwrap()["body"]
        .as_str()
        .unwrap();
    assert!(
        said.starts_with("**ferry reverted staging**")
            && said.contains("`sha-9f9f9f9` to `sha-5d5d5d5`")
            && said.contains("**smoke**: "),
        "{said}"
    );
    let staging_api = pulls
        .iter()
        .find(|p| p["head"] == "ferry/staging/api")
        .unwrap();
    assert_eq!(staging_api["labels"], serde_json::json!(["promotion"]));
    assert_eq!(
        staging_api["reviewers"],
        serde_json::json!(["alice", "team:platform"])
    );
    let body = staging_api["body"].as_str().unwrap();
    assert!(
        body.contains("Ferry-Digest: sha256:") && body.contains("Evidence from dev"),
        "{body}"
    );
    // The api row: from → to, the scan counts and key recorded when dev
    // took the image, and the image's page in the ECR console.
    let row = body
        .lines()
        .find(|l| l.starts_with("| api | "))
        .unwrap_or_else(|| panic!("no api row in {body}"));
    let cells: Vec<&str> = row.split(" | ").collect();
    assert_eq!(cells.len(), 6, "{row}");
    assert!(cells[2].contains(" `sha256:"), "{row}");
    assert_eq!(cells[3], "HIGH=1 LOW=4", "{row}");
    assert!(cells[4].starts_with("`sha256:"), "{row}");
    let to_digest = cells[2].split('`').nth(1).unwrap();
    assert!(
        cells[5].starts_with(
            "[ECR](https://us-west-2.console.aws.amazon.com/ecr/repositories/private/123456789012/platform/api/_/image/"
        ) && cells[5].contains(&format!("/image/{to_digest}/details?region=us-west-2)")),
        "{row}"
    );
    assert!(
        body.contains("(Argo CD app [platform-dev](http://127.0.0.1:"),
        "{body}"
    );
}
