//! The HTTP server: GitHub webhook intake first (ChatOps, merge
//! detection), then health, metrics and the status page. So far only the
//! pure piece every request goes through before anything is parsed: the
//! webhook signature check.

pub mod signature;
