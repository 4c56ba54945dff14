//! The GitOps repository workspace.
