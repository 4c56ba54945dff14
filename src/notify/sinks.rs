//! The sinks `notify:` configures, with the URLs and secrets read from
//! their environment variables when `ferry run` starts. A Slack webhook URL
//! is a credential (anyone holding it can post), so URLs are secrets as
//! much as the HMAC key: [`Secret`] never prints its value, and no error
//! here quotes one.

use std::ffi::OsString;
use std::fmt;

use crate::config::{EventKind, NotifySink, SinkKind};

/// A value that must not reach a log, an error or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Where a sink delivers.
#[derive(Debug, Clone)]
pub enum Endpoint {
    /// A Slack incoming webhook.
    Slack {
        /// Its URL.
        url: Secret,
    },
    /// A signed JSON webhook.
    Webhook {
        /// Its URL.
        url: Secret,
        /// The HMAC key.
        secret: Secret,
    },
}

/// One configured sink, ready to send.
#[derive(Debug, Clone)]
pub struct Target {
    /// How logs name it: `notify[0] (slack)`; never the URL.
    pub name: String,
    /// Where it delivers.
    pub endpoint: Endpoint,
    /// Its entry of `notify:` (kind and filter; names, never values).
    sink: NotifySink,
}

impl Target {
    /// A target built by hand (tests, the demo).
    pub fn new(name: &str, endpoint: Endpoint, events: Option<Vec<EventKind>>) -> Target {
        let kind = match endpoint {
            Endpoint::Slack { .. } => SinkKind::Slack,
            Endpoint::Webhook { .. } => SinkKind::Webhook,
        };
        Target {
            name: name.to_string(),
            endpoint,
            sink: NotifySink {
                kind,
                webhook_url_env: None,
                url_env: None,
                secret_env: None,
                events,
            },
        }
    }

    /// Whether this sink wants events of `kind`.
    pub fn wants(&self, kind: EventKind) -> bool {
        self.sink.wants(kind)
    }
}

/// A sink's variable is not usable. Names the field and the variable,
/// never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SinkError {
    /// The variable is unset or empty.
    #[error("environment variable {var} ({field}) is unset or empty")]
    Unset {
        /// `notify[0].webhook_url_env`.
        field: String,
        /// The variable's name.
        var: String,
    },
    /// The variable is not valid UTF-8.
    #[error("environment variable {var} ({field}) is not valid UTF-8")]
    NotUnicode {
        /// The field.
        field: String,
        /// The variable's name.
        var: String,
    },
    /// The variable does not hold an http(s) URL.
    #[error("environment variable {var} ({field}) does not hold an http:// or https:// URL")]
    NotUrl {
        /// The field.
        field: String,
        /// The variable's name.
        var: String,
    },
    /// The config lacks a variable its kind needs (a config not validated
    /// by `config::load`).
    #[error("notify[{0}]: a variable its kind needs is not named")]
    Missing(usize),
}

/// Every sink of `notify:`, with its values as `lookup` reports the
/// variables (the process environment in `ferry run`).
pub fn targets(
    sinks: &[NotifySink],
    lookup: impl Fn(&str) -> Option<OsString>,
) -> Result<Vec<Target>, SinkError> {
    let mut out = Vec::new();
    for (i, sink) in sinks.iter().enumerate() {
        let read = |field: &str, var: Option<&String>| -> Result<Secret, SinkError> {
            let var = var.ok_or(SinkError::Missing(i))?;
            let field = format!("notify[{i}].{field}");
            let value = lookup(var).ok_or_else(|| SinkError::Unset {
                field: field.clone(),
                var: var.clone(),
            })?;
            let value = value.into_string().map_err(|_| SinkError::NotUnicode {
                field: field.clone(),
                var: var.clone(),
            })?;
            if value.trim().is_empty() {
                return Err(SinkError::Unset {
                    field,
                    var: var.clone(),
                });
            }
            Ok(Secret(value.trim().to_string()))
        };
        let url = |field: &str, var: Option<&String>| -> Result<Secret, SinkError> {
            let value = read(field, var)?;
            let ok = reqwest::Url::parse(value.expose())
                .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some());
            if !ok {
                return Err(SinkError::NotUrl {
                    field: format!("notify[{i}].{field}"),
                    var: var.cloned().unwrap_or_default(),
                });
            }
            Ok(value)
        };
        let (endpoint, kind) = match sink.kind {
            SinkKind::Slack => (
                Endpoint::Slack {
                    url: url("webhook_url_env", sink.webhook_url_env.as_ref())?,
                },
                "slack",
            ),
            SinkKind::Webhook => (
                Endpoint::Webhook {
                    url: url("url_env", sink.url_env.as_ref())?,
                    secret: read("secret_env", sink.secret_env.as_ref())?,
                },
                "webhook",
            ),
        };
        out.push(Target {
            name: format!("notify[{i}] ({kind})"),
            endpoint,
            sink: sink.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn sinks() -> Vec<NotifySink> {
        crate::config::parse(
            "notify:\n  - {kind: slack, webhook_url_env: SLACK_URL}\n  - {kind: webhook, url_env: HOOK_URL, secret_env: HOOK_SECRET, events: [held]}\n",
        )
        .unwrap()
        .notify
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<OsString> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).map(OsString::from)
    }

    #[test]
    fn values_come_from_the_environment_and_never_print() {
        let url = "https://hooks.slack.com/services/T000/B000/XXXXSECRET";
        let t = targets(
            &sinks(),
            env(&[
                ("SLACK_URL", url),
                ("HOOK_URL", "https://hooks.acme.io/ferry"),
                ("HOOK_SECRET", "hmac-key-value"),
            ]),
        )
        .unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].name, "notify[0] (slack)");
        assert!(t[1].wants(EventKind::Held) && !t[1].wants(EventKind::Committed));
        let Endpoint::Slack { url: got } = &t[0].endpoint else {
            panic!("slack")
        };
        assert_eq!(got.expose(), url);
        let shown = format!("{t:?}");
        assert!(!shown.contains("XXXXSECRET"), "{shown}");
        assert!(!shown.contains("hmac-key-value"), "{shown}");
        assert!(!shown.contains("hooks.acme.io"), "{shown}");
    }

    #[test]
    fn a_missing_or_bad_value_names_the_variable_not_the_value() {
        let e = targets(&sinks(), env(&[("HOOK_URL", "x"), ("HOOK_SECRET", "s")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable SLACK_URL (notify[0].webhook_url_env) is unset or empty"
        );
        let e = targets(
            &sinks(),
            env(&[
                ("SLACK_URL", "https://hooks.slack.com/x"),
                ("HOOK_URL", "ftp://secret-host/path"),
                ("HOOK_SECRET", "s"),
            ]),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "environment variable HOOK_URL (notify[1].url_env) does not hold an http:// or https:// URL"
        );
        assert!(!e.to_string().contains("secret-host"));
        let e = targets(
            &sinks(),
            env(&[
                ("SLACK_URL", "https://hooks.slack.com/x"),
                ("HOOK_URL", "https://h/x"),
                ("HOOK_SECRET", "  "),
            ]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("HOOK_SECRET (notify[1].secret_env)"));
    }
}
