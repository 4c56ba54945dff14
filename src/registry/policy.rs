//! Tag policy.
