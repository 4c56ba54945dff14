//! Prometheus metrics: what passes, commits, pull requests, gates, webhooks
//! and commands did, and what each environment runs, for `GET /metrics`.
