//! Notifications: what a pass or a command did (a commit, a pull request,
//! a hold, a pin, a revert, failing passes), sent to Slack and signed
//! webhooks, each event once.
