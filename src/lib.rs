//! ferry: a GitOps image-promotion bot.
//!
//! See `docs/ARCHITECTURE.md` for the map of modules and the data flow.

#![warn(missing_docs)]

pub mod atomic;
pub mod chatops;
pub mod cli;
pub mod config;
pub mod dora;
pub mod evidence;
pub mod failpoint;
pub mod forge;
pub mod gates;
pub mod gitops;
pub mod health;
pub mod image;
pub mod kustomize;
pub mod metrics;
pub mod notify;
pub mod oci;
pub mod promotion;
pub mod redact;
pub mod registry;
pub mod runner;
pub mod schedule;
pub mod server;
pub mod yaml;
