//! The generic webhook's delivery (pure): a JSON body `{event, id, …}` and
//! the headers that go with it, signed the way GitHub signs its webhooks,
//! so a receiver can reuse the same check:
//!
//! - `X-Ferry-Event`: the event kind (`committed`, `held`, …);
//! - `X-Ferry-Delivery`: the event's id (its dedup key), the same on every
//!   retry, so a receiver can drop a repeat;
//! - `X-Ferry-Signature-256`: `sha256=` and the hex HMAC-SHA256 of the raw
//!   body under the sink's secret.

use aws_lc_rs::hmac;
use serde_json::{Value, json};

use super::events::Event;
use super::links;
use crate::config::Config;

/// The header naming the event kind.
pub const EVENT_HEADER: &str = "X-Ferry-Event";
/// The header carrying the delivery id.
pub const DELIVERY_HEADER: &str = "X-Ferry-Delivery";
/// The signature header.
pub const SIGNATURE_HEADER: &str = "X-Ferry-Signature-256";

/// `sha256=<hex>`: the HMAC-SHA256 of `body` under `secret`, as
/// `X-Ferry-Signature-256` carries it.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let tag = hmac::sign(&key, body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The JSON body for `e`: the event's fields, its `id`, and the links a
/// receiver would otherwise have to rebuild.
pub fn payload(config: &Config, e: &Event) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_else(|_| json!({}));
    if let Value::Object(map) = &mut v {
        map.insert("id".into(), Value::String(e.key()));
        map.insert("summary".into(), Value::String(e.summary()));
        if let Some(url) = e
            .commit
            .as_deref()
            .and_then(|c| links::commit_url(config, c))
        {
            map.insert("commit_url".into(), Value::String(url));
        }
        if let Some(Value::Array(changes)) = map.get_mut("changes") {
            for (c, out) in e.changes.iter().zip(changes.iter_mut()) {
                let Value::Object(out) = out else { continue };
                let digest = c.to.as_ref().and_then(|t| t.digest.as_deref());
                if let Some(url) = links::ecr(c.image.as_deref(), digest) {
                    out.insert("ecr_url".into(), Value::String(url));
                }
                if let Some(env) = &e.env
                    && let Some((name, url)) = links::argocd(config, env, &c.app)
                {
                    out.insert("argocd_app".into(), Value::String(name));
                    out.insert("argocd_url".into(), Value::String(url));
                }
            }
        }
    }
    v
}

/// The raw body and the headers of one delivery of `e`.
pub fn delivery(
    config: &Config,
    e: &Event,
    secret: &[u8],
) -> (Vec<u8>, Vec<(&'static str, String)>) {
    let body = serde_json::to_vec(&payload(config, e)).unwrap_or_default();
    let headers = vec![
        (EVENT_HEADER, e.kind.as_str().to_string()),
        (DELIVERY_HEADER, e.key()),
        (SIGNATURE_HEADER, signature(secret, &body)),
    ];
    (body, headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    // GitHub's documented vector for X-Hub-Signature-256: the same scheme.
    #[test]
    fn signs_like_github() {
        assert_eq!(
            signature(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn a_delivery_is_signed_over_its_exact_body() {
        let config =
            crate::config::parse("forge: {kind: github, repository: acme/gitops, token_env: T}\n")
                .unwrap();
        let outcomes = [crate::chatops::CommandOutcome {
            line: 1,
            text: "/ferry unpin api production".into(),
            ok: true,
            commit: Some("0123456789abcdef0123456789abcdef01234567".into()),
            pull_request: None,
            message: String::new(),
        }];
        let comment = crate::chatops::CommentEvent {
            repository: "acme/gitops".into(),
            number: 4,
            is_pull_request: false,
            comment_id: 9,
            comment_url: "https://github.com/acme/gitops/issues/4#issuecomment-9".into(),
            login: "dana".into(),
            body: "/ferry unpin api production".into(),
        };
        let events = super::super::events::from_commands(
            &comment,
            &outcomes,
            &[],
            None,
            time::macros::datetime!(2026-12-01 10:00 UTC),
        );
        let (body, headers) = delivery(&config, &events[0], b"s3cret");
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["event"], "unpinned");
        assert_eq!(v["id"], "unpinned:0123456789abcdef0123456789abcdef01234567");
        assert_eq!(v["who"], "dana");
        assert_eq!(v["env"], "production");
        assert_eq!(v["at"], "2026-12-01T10:00:00Z");
        assert_eq!(
            v["commit_url"],
            "https://github.com/acme/gitops/commit/0123456789abcdef0123456789abcdef01234567"
        );
        assert_eq!(headers[0], (EVENT_HEADER, "unpinned".to_string()));
        assert_eq!(headers[1].1, v["id"].as_str().unwrap());
        // An independent HMAC over the bytes sent.
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"s3cret");
        let hex = headers[2].1.strip_prefix("sha256=").unwrap();
        let tag: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        assert!(hmac::verify(&key, &body, &tag).is_ok());
        assert!(hmac::verify(&key, b"{}", &tag).is_err());
    }
}
