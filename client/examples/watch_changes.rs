//! Follows the change feed (`EventService.WatchEventChanges`): status changes and comments
//! from either side, tickets created and unlinked. When the stream breaks (a server restart,
//! a network blip) it reconnects with the last cursor received, so no change is lost or seen
//! twice.
//!
//! ```sh
//! NORTHSTAR_API_KEY=nsj_... cargo run -p northstar-jira-client --example watch_changes
//! ```
//!
//! `NORTHSTAR_ADDR` is the server (default `http://127.0.0.1:50051`); the key needs READER.
//! `WATCH_ORIGIN=jira` shows only what people do in Jira; `WATCH_LIMIT=n` stops after n changes.
use std::time::Duration;

use northstar_jira_client::{
    Client, ClientError,
    proto::{Origin, WatchEventChangesRequest, WatchEventChangesResponse},
    tonic::Code,
};

#[tokio::main]
async fn main() -> Result<(), ClientError> {
    let addr = std::env::var("NORTHSTAR_ADDR").unwrap_or_else(|_| "http://127.0.0.1:50051".into());
    let Ok(key) = std::env::var("NORTHSTAR_API_KEY") else {
        eprintln!("set NORTHSTAR_API_KEY to an API key (READER is enough)");
        std::process::exit(2);
    };
    let origin = match std::env::var("WATCH_ORIGIN").as_deref() {
        Ok("jira") => Origin::Jira,
        Ok("northstar") => Origin::Northstar,
        _ => Origin::Unspecified,
    };
    let limit: Option<usize> = std::env::var("WATCH_LIMIT").ok().and_then(|n| n.parse().ok());
    // Lazy: the channel (re)connects on demand, so a server restart needs no new client.
    // Server streams are bounded by the request timeout only until they start.
    let client = Client::builder(addr).api_key(key).connect_lazy()?;

    let mut cursor = String::new(); // empty: from now on
    let mut seen = 0;
    loop {
        let request = WatchEventChangesRequest::resume_after(cursor.clone()).with_origin(origin);
        let mut stream = match client.events().watch_event_changes(request).await {
            Ok(response) => response.into_inner(),
            Err(status) if status.code() == Code::FailedPrecondition => {
                // The cursor is older than the changes the server keeps (7 days): start over,
                // and re-read the current state with ListEvents if it matters.
                eprintln!("cursor expired; following from now on");
                cursor.clear();
                continue;
            }
            Err(status) if retryable(status.code()) => {
                eprintln!("cannot watch yet ({}); retrying in 2 s", status.message());
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
            Err(status) => return Err(status.into()),
        };
        eprintln!("watching{}", if cursor.is_empty() { " from now on".into() } else { format!(" after {cursor}") });
        loop {
            match stream.message().await {
                Ok(Some(change)) => {
                    print_change(&change);
                    cursor = change.cursor; // resume right after this one
                    seen += 1;
                    if limit.is_some_and(|limit| seen >= limit) {
                        return Ok(());
                    }
                }
                Ok(None) => break, // the server closed the stream (for example shutting down)
                Err(status) if retryable(status.code()) => break,
                Err(status) => return Err(status.into()),
            }
        }
        eprintln!("stream ended; resuming in 1 s");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn retryable(code: Code) -> bool {
    matches!(code, Code::Unavailable | Code::Unknown | Code::Internal | Code::Cancelled | Code::DeadlineExceeded)
}

fn print_change(change: &WatchEventChangesResponse) {
    // Timestamps print in RFC 3339, for example 2026-12-01T07:46:50.123Z.
    let when = change.change_time.as_ref().map_or_else(|| "?".into(), ToString::to_string);
    let what = match (&change.comment, &change.ticket) {
        (Some(comment), _) => format!("{:?} by {}", comment.body, comment.author),
        (_, Some(ticket)) => format!("ticket {} ({})", ticket.jira_issue_key, ticket.configuration_name),
        _ => change.event.as_ref().map(|e| e.status().as_str_name().to_owned()).unwrap_or_default(),
    };
    println!(
        "[{when}] {} {} from {}: {what}",
        change.external_id,
        change.change_type().as_str_name(),
        change.origin().as_str_name()
    );
}
