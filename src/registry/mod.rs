//! Where images come from: the registry adapters (ECR, local), EventBridge
//! events that say "look now", and the tag policy that picks candidates.

pub mod events;
pub mod policy;
