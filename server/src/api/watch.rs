//! `EventService.WatchEventChanges`: a tenant's change feed (`event_changes`), streamed.
//!
//! The feed is read in `(txid, seq)` order and only below the snapshot's xmin (see
//! [`db::changes::feed_head`]): a change whose transaction commits late, after a younger one
//! was already sent, still sorts after everything sent, so a cursor never skips it. Watchers
//! are woken by `NOTIFY northstar_changes` through one LISTEN connection per process and
//! database, and poll as well, because a notification can be missed and a row only becomes
//! readable once older transactions of the whole cluster have ended.
use std::{collections::HashMap, sync::Arc, time::Duration};

use base64::Engine as _;
use diesel_async::AsyncPgConnection;
use secrecy::ExposeSecret as _;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use uuid::Uuid;

use super::{
    AppState, convert,
    events::{comment_to_proto, event_to_proto, origin_to_proto, status_to_proto, ticket_to_proto},
};
use crate::{
    db::{
        self,
        changes::{FeedChange, FeedFilter, FeedPosition, kind, origin},
    },
    error::{ApiError, ApiResult},
    notify::Notifier,
    proto,
};

/// Changes read per query; a watcher far behind catches up in pages of this size.
const PAGE: i64 = 500;
/// Messages buffered per stream: a slow client holds the query loop back instead of growing
/// memory.
const BUFFER: usize = 64;
/// Poll interval when no notification arrives.
const POLL: Duration = Duration::from_secs(1);
/// Consecutive failed reads (the database unreachable) a stream rides out before it ends with
/// UNAVAILABLE; the client then resumes from its cursor.
const MAX_FAILED_READS: u32 = 10;
/// Version prefix of cursors, so that their format can change without misreading old ones.
const CURSOR_VERSION: &str = "c1";

/// The stream the generated trait expects.
pub type ChangeStream = tonic::codegen::BoxStream<proto::WatchEventChangesResponse>;

/// Starts a watch for `tenant`. Everything the caller can get wrong is checked here, before the
/// stream opens, so it fails the call rather than the stream. An empty cursor starts at the
/// current head: once this returns, every later change is sent.
pub async fn start(
    state: &AppState,
    tenant: Uuid,
    request: proto::WatchEventChangesRequest,
) -> ApiResult<ChangeStream> {
    let filter = filter_of(&request)?;
    let cursor = (!request.cursor.is_empty()).then(|| decode_cursor(&request.cursor)).transpose()?;
    let notifier = Notifier::for_channel(state.config.database_url.expose_secret(), db::changes::CHANNEL);
    let mut conn = state.pool.get().await?;
    let head = db::changes::feed_head(&mut conn).await?;
    drop(conn);
    let start = match cursor {
        None => FeedPosition { txid: head, seq: 0 },
        // Every change sent was below the head of its time, and heads never decrease.
        Some(position) if position.txid >= head => {
            return Err(ApiError::invalid("cursor", "is not a cursor of this change feed"));
        }
        // Changes are kept indefinitely for now, so every cursor issued is still resumable. Once
        // old changes are purged, a cursor older than the oldest kept change must fail with
        // FAILED_PRECONDITION here (the proto documents it), not silently skip what was purged.
        Some(position) => position,
    };
    let (tx, rx) = mpsc::channel(BUFFER);
    let watcher = Watcher { state: state.clone(), tenant, filter, position: start, tx };
    let span = tracing::info_span!("watch_event_changes", tenant_id = %tenant);
    tokio::spawn(tracing::Instrument::instrument(watcher.run(notifier), span));
    Ok(Box::pin(ReceiverStream::new(rx)))
}

/// The change kinds each change type stands for. Kinds not listed (submitted, updated,
/// delivery_failed) are never sent.
const CHANGE_TYPES: [(proto::EventChangeType, &[&str]); 6] = [
    (proto::EventChangeType::StatusChanged, &[kind::STATUS_CHANGED]),
    (proto::EventChangeType::CommentAdded, &[kind::COMMENT_ADDED]),
    (proto::EventChangeType::CommentUpdated, &[kind::COMMENT_UPDATED]),
    (proto::EventChangeType::CommentDeleted, &[kind::COMMENT_DELETED]),
    (proto::EventChangeType::TicketCreated, &[kind::TICKET_CREATED]),
    (proto::EventChangeType::TicketUnlinked, &[kind::TICKET_UNLINKED, kind::DUPLICATE_CLOSED]),
];

fn change_type_of(change_kind: &str) -> Option<proto::EventChangeType> {
    CHANGE_TYPES.iter().find(|(_, kinds)| kinds.contains(&change_kind)).map(|(t, _)| *t)
}

fn filter_of(r: &proto::WatchEventChangesRequest) -> ApiResult<FeedFilter> {
    let mut wanted = Vec::new();
    for &value in &r.change_types {
        match proto::EventChangeType::try_from(value) {
            // UNSPECIFIED means "any change", in a list as on its own.
            Ok(proto::EventChangeType::Unspecified) => {
                wanted.clear();
                break;
            }
            Ok(t) => wanted.push(t),
            Err(_) => return Err(ApiError::invalid("change_types", format!("unknown value {value}"))),
        }
    }
    let kinds = CHANGE_TYPES
        .iter()
        .filter(|(t, _)| wanted.is_empty() || wanted.contains(t))
        .flat_map(|(_, kinds)| kinds.iter().copied())
        .collect();
    let origin = match proto::Origin::try_from(r.origin) {
        Ok(proto::Origin::Unspecified) => None,
        Ok(proto::Origin::Northstar) => Some(origin::NORTHSTAR),
        Ok(proto::Origin::Jira) => Some(origin::JIRA),
        Ok(proto::Origin::System) => Some(origin::SYSTEM),
        Err(_) => return Err(ApiError::invalid("origin", format!("unknown value {}", r.origin))),
    };
    let event_kind = if r.kind == 0 { None } else { Some(convert::trigger(r.kind, "kind")?.as_str()) };
    Ok(FeedFilter { kinds, origin, event_kind })
}

fn encode_cursor(p: FeedPosition) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{CURSOR_VERSION}:{}:{}", p.txid, p.seq))
}

fn decode_cursor(cursor: &str) -> ApiResult<FeedPosition> {
    let malformed = || ApiError::invalid("cursor", "is malformed: pass a cursor from a previous message unchanged");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(cursor).map_err(|_| malformed())?;
    let text = String::from_utf8(bytes).map_err(|_| malformed())?;
    let mut parts = text.split(':');
    let (Some(CURSOR_VERSION), Some(txid), Some(seq), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed());
    };
    let txid: u64 = txid.parse().map_err(|_| malformed())?;
    let seq: i64 = seq.parse().map_err(|_| malformed())?;
    if seq < 1 {
        return Err(malformed());
    }
    Ok(FeedPosition { txid, seq })
}

/// One open stream.
struct Watcher {
    state: AppState,
    tenant: Uuid,
    filter: FeedFilter,
    /// Everything up to here has been sent or filtered out.
    position: FeedPosition,
    tx: mpsc::Sender<Result<proto::WatchEventChangesResponse, tonic::Status>>,
}

impl Watcher {
    async fn run(mut self, notifier: Arc<Notifier>) {
        let mut wake = notifier.subscribe();
        let mut failed_reads = 0;
        loop {
            // Marked seen before reading, so a notification that arrives during the read
            // triggers another one.
            wake.borrow_and_update();
            match self.read().await {
                Ok((messages, full)) => {
                    failed_reads = 0;
                    for message in messages {
                        if self.tx.send(Ok(message)).await.is_err() {
                            return;
                        }
                    }
                    if full {
                        continue;
                    }
                }
                Err(ApiError::Unavailable(message)) if failed_reads < MAX_FAILED_READS => {
                    failed_reads += 1;
                    tracing::debug!(%message, failed_reads, "watch read failed; retrying");
                }
                Err(err) => {
                    let _ = self.tx.send(Err(err.into())).await;
                    return;
                }
            }
            tokio::select! {
                () = self.tx.closed() => return,
                () = self.state.shutdown.cancelled() => {
                    // The client resumes from its last cursor on another replica.
                    let _ = self.tx.send(Err(tonic::Status::unavailable("the server is shutting down; resume with the last cursor"))).await;
                    return;
                }
                changed = wake.changed() => {
                    // The listener is gone (its runtime is shutting down): poll only.
                    if changed.is_err() {
                        tokio::time::sleep(POLL).await;
                    }
                }
                () = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Reads the next page and turns it into messages; `true` when the page was full (more may
    /// be waiting). The connection is returned before anything is sent, so a slow client never
    /// holds one.
    async fn read(&mut self) -> ApiResult<(Vec<proto::WatchEventChangesResponse>, bool)> {
        let mut conn = self.state.pool.get().await?;
        let head = db::changes::feed_head(&mut conn).await?;
        let rows = db::changes::feed(&mut conn, self.tenant, self.position, head, &self.filter, PAGE).await?;
        let full = rows.len() as i64 == PAGE;
        let messages = if rows.is_empty() { Vec::new() } else { self.enrich(&mut conn, &rows).await? };
        drop(conn);
        self.position = match rows.last() {
            Some(last) if full => last.position,
            // Everything below the head was seen, matching or not: the next read starts there
            // rather than rescanning what the filter dropped.
            _ => self.position.max(FeedPosition { txid: head, seq: 0 }),
        };
        Ok((messages, full))
    }

    async fn enrich(
        &self,
        conn: &mut AsyncPgConnection,
        rows: &[FeedChange],
    ) -> ApiResult<Vec<proto::WatchEventChangesResponse>> {
        let mut event_ids: Vec<Uuid> = rows.iter().map(|r| r.event_id).collect();
        event_ids.sort_unstable();
        event_ids.dedup();
        let comment_ids: Vec<Uuid> = rows.iter().filter_map(|r| r.comment_id).collect();
        let events = db::changes::events_by_ids(conn, self.tenant, &event_ids).await?;
        let tickets = db::changes::tickets_of_events(conn, self.tenant, &event_ids).await?;
        let (comments, copies) = if comment_ids.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            let comments = db::changes::comments_by_ids(conn, self.tenant, &comment_ids).await?;
            (comments, db::changes::jira_copies(conn, &comment_ids).await?)
        };
        let routing = self.state.routing.tenant(self.tenant).await?;
        let name = |id: Uuid| routing.configurations.get(&id).map(|c| c.name.clone()).unwrap_or_default();

        let mut current: HashMap<Uuid, proto::Event> = HashMap::with_capacity(events.len());
        for event in &events {
            current.insert(event.id, event_to_proto(event)?);
        }
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(change_type) = change_type_of(&row.kind) else { continue };
            // Changes go with their event (ON DELETE CASCADE); one deleted meanwhile is gone.
            let Some(event) = current.get(&row.event_id) else { continue };
            let event_tickets: Vec<_> = tickets.iter().filter(|t| t.event_id == row.event_id).cloned().collect();
            let comment = match row.kind.as_str() {
                kind::COMMENT_ADDED | kind::COMMENT_UPDATED | kind::COMMENT_DELETED => comments
                    .iter()
                    .find(|c| Some(c.id) == row.comment_id)
                    .map(|c| comment_to_proto(c, &copies, &event_tickets)),
                _ => None,
            };
            let ticket = match row.kind.as_str() {
                kind::TICKET_CREATED | kind::TICKET_UNLINKED | kind::DUPLICATE_CLOSED => {
                    ticket_of(row, &event_tickets, &name)
                }
                _ => None,
            };
            out.push(proto::WatchEventChangesResponse {
                cursor: encode_cursor(row.position),
                change_type: change_type as i32,
                change_time: Some(convert::timestamp(row.occurred_at)),
                origin: origin_to_proto(&row.origin) as i32,
                event_id: row.event_id.to_string(),
                external_id: event.external_id.clone(),
                // The event is read as it is now; only its status is known as of the change.
                event: Some(proto::Event { status: status_to_proto(&row.status) as i32, ..event.clone() }),
                previous_status: row.previous_status.as_deref().map(|s| status_to_proto(s) as i32).unwrap_or_default(),
                comment,
                ticket,
            });
        }
        Ok(out)
    }
}

/// The ticket a change names, by configuration and Jira key. A key no ticket row holds any more
/// is an issue that was replaced (closed as a duplicate of the one kept): it is reported as
/// unlinked, with what the change recorded of it.
fn ticket_of(
    row: &FeedChange,
    tickets: &[db::events::Ticket],
    name: &impl Fn(Uuid) -> String,
) -> Option<proto::Ticket> {
    let (configuration, key) = (row.configuration_id?, row.jira_issue_key.as_deref()?);
    // Ordered by generation: the newest ticket of that issue.
    let found = tickets.iter().rev().find(|t| t.configuration_id == configuration && t.jira_key == key);
    Some(match found {
        Some(t) => ticket_to_proto(t, name(configuration)),
        None => proto::Ticket {
            configuration_id: configuration.to_string(),
            configuration_name: name(configuration),
            jira_issue_key: key.to_owned(),
            state: proto::TicketState::Unlinked as i32,
            ..Default::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let p = FeedPosition { txid: 123_456_789_012, seq: 42 };
        assert_eq!(decode_cursor(&encode_cursor(p)).unwrap(), p);
        let b64 = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        for bad in ["", "%%", &b64("c1:1"), &b64("c1:1:2:3"), &b64("c2:1:2"), &b64("c1:-1:2"), &b64("c1:1:0")] {
            let err = decode_cursor(bad).unwrap_err();
            assert!(err.to_string().starts_with("cursor:"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn change_types_select_kinds() {
        let request = |types: &[proto::EventChangeType]| proto::WatchEventChangesRequest {
            change_types: types.iter().map(|t| *t as i32).collect(),
            ..Default::default()
        };
        let all = filter_of(&request(&[])).unwrap().kinds;
        assert_eq!(all.len(), 7);
        assert!(!all.contains(&kind::SUBMITTED) && !all.contains(&kind::DELIVERY_FAILED));
        assert_eq!(filter_of(&request(&[proto::EventChangeType::Unspecified])).unwrap().kinds, all);
        assert_eq!(
            filter_of(&request(&[proto::EventChangeType::TicketUnlinked])).unwrap().kinds,
            [kind::TICKET_UNLINKED, kind::DUPLICATE_CLOSED]
        );
        let bad = proto::WatchEventChangesRequest { change_types: vec![99], ..Default::default() };
        assert!(filter_of(&bad).unwrap_err().to_string().starts_with("change_types"));
        let bad = proto::WatchEventChangesRequest { origin: 99, ..Default::default() };
        assert!(filter_of(&bad).unwrap_err().to_string().starts_with("origin"));
    }
}
