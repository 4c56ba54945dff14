//! EventBridge payloads.
