//! `GET api/v1/stream`: server-sent events, one frame per recorded second.

use std::convert::Infallible;
use std::sync::Arc;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt};
use serde::Serialize;

use super::Dashboard;
use super::api::Figures;

#[derive(Serialize)]
struct Row {
    name: String,
    #[serde(flatten)]
    figures: Figures,
}

#[derive(Serialize)]
struct Frame {
    second: u64,
    inbound: Figures,
    resources: Vec<Row>,
}

/// The frame of second `ms`: inbound traffic and every kept resource that saw anything.
fn frame(d: &Dashboard, ms: u64) -> Option<String> {
    let (inbound, busy) = d.history.second(ms)?;
    let frame = Frame {
        second: ms,
        inbound: inbound.into(),
        resources: busy
            .into_iter()
            .map(|(name, p)| Row {
                name,
                figures: p.into(),
            })
            .collect(),
    };
    serde_json::to_string(&frame).ok()
}

/// Streams `event: second` frames as the history records seconds, until the client goes
/// or the dashboard's own server shuts down.
pub(super) async fn stream(
    State(d): State<Arc<Dashboard>>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let seconds = d.history.subscribe();
    let closed = d.closed.subscribe();
    let frames = futures_util::stream::unfold(
        (d, seconds, closed),
        |(d, mut seconds, mut closed)| async move {
            loop {
                tokio::select! {
                    changed = seconds.changed() => changed.ok()?,
                    _ = closed.wait_for(|c| *c) => return None,
                }
                let latest = *seconds.borrow_and_update();
                if let Some(data) = latest.and_then(|ms| frame(&d, ms)) {
                    let event = Event::default().event("second").data(data);
                    return Some((Ok(event), (d, seconds, closed)));
                }
            }
        },
    );
    // A comment first, so the page knows at once that the stream is open.
    let opened = futures_util::stream::once(async { Ok(Event::default().comment("ok")) });
    Sse::new(opened.chain(frames)).keep_alive(KeepAlive::default())
}
