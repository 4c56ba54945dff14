//! The sources of pass triggers besides webhooks: the SQS consumer and
//! the cron poll, started when the config has them.

use std::time::Duration;

use time::OffsetDateTime;
use tokio::sync::{mpsc, oneshot};

use super::Trigger;
use crate::config::Config;
use crate::registry::intake::{PollSchedule, SqsIntake};

/// Starts the SQS consumer and the cron poll when the config has them.
pub async fn spawn(config: &Config, tx: mpsc::Sender<Trigger>) {
    let Some(reg) = config.registry.clone() else {
        return;
    };
    if let (Some(url), Some(region)) = (reg.sqs_queue_url.clone(), reg.region.clone()) {
        let intake = SqsIntake::connect(&region, reg.endpoint.as_deref(), &url).await;
        let tx = tx.clone();
        tokio::spawn(async move {
            loop {
                // One batch, one pass: the triggers of every message in it
                // go into a single event, and the batch is deleted once the
                // pass that saw it succeeded.
                let res = intake
                    .receive_once(|triggers| {
                        let tx = tx.clone();
                        async move {
                            tracing::info!(count = triggers.len(), "events received");
                            let (ack, done) = oneshot::channel();
                            tx.send(Trigger::Event(ack))
                                .await
                                .map_err(|e| e.to_string())?;
                            match done.await {
                                Ok(true) => Ok(()),
                                _ => Err("the pass failed".to_string()),
                            }
                        }
                    })
                    .await;
                if let Err(e) = res {
                    tracing::warn!(error = %e, "SQS receive failed");
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
            }
        });
    }
    if let Some(expr) = reg.poll.clone() {
        match expr.parse::<PollSchedule>() {
            Ok(schedule) => {
                tokio::spawn(async move {
                    loop {
                        let now = OffsetDateTime::now_utc();
                        let Some(next) = schedule.next_after(now) else {
                            return;
                        };
                        let wait = (next - now).try_into().unwrap_or(Duration::from_secs(60));
                        tokio::time::sleep(wait).await;
                        if tx.send(Trigger::Poll).await.is_err() {
                            return;
                        }
                    }
                });
            }
            Err(e) => tracing::error!(error = %e, "registry.poll"),
        }
    }
}
