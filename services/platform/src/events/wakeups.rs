//! Cross-replica wake-ups: a relay that positions events announces the new head on a Redis
//! channel, and every replica's live readers wake at once instead of at their next poll.
//! Redis may lose these messages at any time; readers still poll, so nothing depends on them.

use std::time::Duration;

use futures::StreamExt as _;
use tokio_util::sync::CancellationToken;

use super::EventLog;

impl EventLog {
    fn wakeup_channel(&self) -> String {
        format!("kefu:events:{}", self.inner.source)
    }

    /// Best effort: tells other replicas the head moved.
    pub(super) async fn announce_head(&self, head: u64) {
        let Some(redis) = &self.inner.redis else {
            return;
        };
        let mut connection = redis.connection();
        let published: redis::RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(self.wakeup_channel())
            .arg(head)
            .query_async(&mut connection)
            .await;
        if let Err(e) = published {
            tracing::debug!(error = %e, "event wake-up not published; readers elsewhere will poll");
        }
    }

    /// Listens for other replicas' announcements until `stop`, reconnecting after failures.
    /// Returns at once without Redis.
    pub async fn run_wakeups(self, stop: CancellationToken) {
        let Some(redis) = self.inner.redis.clone() else {
            return;
        };
        let mut backoff = Duration::from_millis(200);
        let mut attempt = 0;
        while !stop.is_cancelled() {
            let listened = async {
                let mut pubsub = redis.subscriber(attempt).await?.get_async_pubsub().await?;
                pubsub.subscribe(self.wakeup_channel()).await?;
                backoff = Duration::from_millis(200);
                let mut messages = pubsub.on_message();
                while let Some(message) = messages.next().await {
                    if let Ok(head) = message.get_payload::<u64>() {
                        self.inner.head.send_if_modified(|current| {
                            let moved = head > *current;
                            if moved {
                                *current = head;
                            }
                            moved
                        });
                    }
                }
                Ok::<(), redis::RedisError>(())
            };
            tokio::select! {
                () = stop.cancelled() => return,
                result = listened => {
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "event wake-ups interrupted; readers poll meanwhile");
                    }
                }
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(10));
            // A cluster node that went away: listen at the next.
            attempt += 1;
        }
    }
}
