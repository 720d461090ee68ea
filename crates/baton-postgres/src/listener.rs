//! LISTEN on a dedicated connection and hand every notification to a callback, reconnecting
//! after errors. Notifications only speed things up: the executor polls as a fallback.

use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use tokio::task::JoinHandle;

/// Receives `(channel, payload)` for every notification.
pub type OnNotification = Arc<dyn Fn(&str, &str) + Send + Sync>;

/// Listens on `channels` until the returned task is aborted.
pub fn spawn_listener(
    url: String,
    channels: &'static [&'static str],
    on_notification: OnNotification,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(100);
        loop {
            match listen(&url, channels, &on_notification).await {
                Ok(()) => tracing::warn!("notification stream ended; listening again"),
                Err(err) => tracing::warn!(error = %err, "notification listener failed; retrying"),
            }
            // Anything may have been missed meanwhile: let the callback re-check.
            for channel in channels {
                on_notification(channel, "");
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    })
}

async fn listen(
    url: &str,
    channels: &[&str],
    on_notification: &OnNotification,
) -> anyhow::Result<()> {
    let mut conn = AsyncPgConnection::establish(url).await?;
    for channel in channels {
        // Channel names are our own constants, never client input.
        diesel::sql_query(match *channel {
            crate::WORK_CHANNEL => "LISTEN baton_work",
            crate::CANCEL_CHANNEL => "LISTEN baton_cancel",
            crate::EVENTS_CHANNEL => "LISTEN baton_events",
            crate::AUTH_CHANNEL => "LISTEN baton_auth",
            other => anyhow::bail!("unknown channel {other}"),
        })
        .execute(&mut conn)
        .await?;
    }
    let mut notifications = std::pin::pin!(conn.notifications_stream());
    while let Some(notification) = notifications.next().await {
        let notification = notification?;
        on_notification(&notification.channel, &notification.payload);
    }
    Ok(())
}
