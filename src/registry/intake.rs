//! Intake: what tells ferry to look now. EventBridge events arrive through
//! an SQS queue; a cron-scheduled full poll is the fallback that catches
//! anything missed. Events carry no state: a lost or duplicated one
//! changes nothing, because every pass reads the registry itself.

use std::future::Future;
use std::time::Duration;

use aws_sdk_sqs::types::DeleteMessageBatchRequestEntry;

use super::RegistryError;
use super::events::{Trigger, parse_event};
// The poll schedule is a schedule type (no registry in it); kept here under
// its old path.
pub use crate::schedule::PollSchedule;

/// What one receive did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IntakeStats {
    /// Messages received.
    pub received: usize,
    /// Messages handled and deleted.
    pub handled: usize,
    /// Malformed or unknown messages, logged and deleted.
    pub dropped: usize,
    /// Messages whose handler failed: left on the queue to come back.
    pub failed: usize,
}

/// An SQS queue of EventBridge events.
pub struct SqsIntake {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    /// Long-poll wait (SQS allows at most 20 s).
    pub wait: Duration,
}

impl SqsIntake {
    /// Connects with the default credential chain.
    pub async fn connect(region: &str, endpoint: Option<&str>, queue_url: &str) -> Self {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()));
        if let Some(ep) = endpoint {
            loader = loader.endpoint_url(ep);
        }
        let config = loader.load().await;
        Self::from_sdk_config(&config, queue_url)
    }

    /// Builds the consumer from an SDK configuration.
    pub fn from_sdk_config(config: &aws_config::SdkConfig, queue_url: &str) -> Self {
        SqsIntake {
            client: aws_sdk_sqs::Client::new(config),
            queue_url: queue_url.to_string(),
            wait: Duration::from_secs(20),
        }
    }

    /// Receives one batch (long polling, up to 10 messages) and hands the
    /// triggers of all its messages to `handle` at once: one pass answers
    /// the whole batch. The batch's messages are deleted only after
    /// `handle` succeeded (they stay in flight while it runs, and come back
    /// after their visibility timeout if it fails); a message that can
    /// never be handled (malformed, unknown type) is logged with its id and
    /// deleted either way. `handle` is not called for a batch without a
    /// usable message.
    pub async fn receive_once<F, Fut>(&self, handle: F) -> Result<IntakeStats, RegistryError>
    where
        F: FnOnce(Vec<Trigger>) -> Fut,
        Fut: Future<Output = Result<(), String>>,
    {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(self.wait.as_secs().min(20) as i32)
            .send()
            .await
            .map_err(|e| RegistryError::Other(format!("SQS receive: {e}")))?;
        let mut stats = IntakeStats::default();
        let mut triggers = Vec::new();
        let mut usable = Vec::new();
        let mut dropped = Vec::new();
        for m in out.messages() {
            stats.received += 1;
            let id = m.message_id().unwrap_or("?");
            // Without a receipt handle a message cannot be deleted; it
            // comes back by itself.
            let Some(receipt) = m.receipt_handle() else {
                continue;
            };
            match parse_event(m.body().unwrap_or_default()) {
                Err(e) => {
                    tracing::warn!(message_id = id, error = %e, "dropping an event ferry cannot use");
                    stats.dropped += 1;
                    dropped.push(receipt);
                }
                Ok(t) => {
                    triggers.extend(t);
                    usable.push(receipt);
                }
            }
        }
        let mut done = dropped;
        if !usable.is_empty() {
            match handle(triggers).await {
                Ok(()) => {
                    stats.handled = usable.len();
                    done.extend(usable);
                }
                Err(e) => {
                    tracing::warn!(
                        messages = usable.len(),
                        error = %e,
                        "events not handled; they will be redelivered"
                    );
                    stats.failed = usable.len();
                }
            }
        }
        self.delete(&done).await?;
        Ok(stats)
    }

    /// Deletes messages by receipt handle, ten per request (SQS's limit).
    async fn delete(&self, receipts: &[&str]) -> Result<(), RegistryError> {
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, receipt)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(format!("m{i}"))
                        .receipt_handle(*receipt)
                        .build()
                        .map_err(|e| RegistryError::Other(e.to_string()))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| RegistryError::Other(format!("SQS delete: {e}")))?;
            // A message not deleted comes back and triggers one more pass:
            // harmless, but worth a line.
            for failed in out.failed() {
                tracing::warn!(
                    entry = failed.id(),
                    code = failed.code(),
                    "SQS could not delete a handled message"
                );
            }
        }
        Ok(())
    }
}
