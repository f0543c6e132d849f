//! Paginated lists (`limit` / `continue`).
//!
//! The first page takes a consistent snapshot of the selection at the current
//! resourceVersion; later pages are cut from that same snapshot, so a client
//! paging through a collection that changes underneath sees one point in time,
//! and every page reports the snapshot's resourceVersion — exactly what a
//! reflector needs in order to watch from there without gaps.

use std::sync::Arc;

use crate::encode::{self, Shape};
use crate::filter::Filter;
use crate::status::ApiError;
use crate::store::{Snapshot, Store};

/// The pagination part of a list request.
#[derive(Clone, Debug, Default)]
pub(crate) struct Page {
    /// `limit`; `None` or 0 means everything.
    pub limit: Option<usize>,
    /// `continue`.
    pub token: Option<String>,
}

/// Answers a list request with the body of a `...List` object.
pub(crate) fn respond(
    store: &Store,
    filter: &Filter,
    shape: Shape,
    page: &Page,
) -> Result<Vec<u8>, ApiError> {
    let limit = page.limit.filter(|&l| l > 0);
    let (id, snapshot, offset) = match &page.token {
        Some(token) => {
            let expired = || {
                ApiError::expired(format!(
                    "The provided continue parameter is too old to display a consistent list \
                     result. You can start a new list without the continue parameter. ({token})"
                ))
            };
            let (id, offset) = parse_token(token).ok_or_else(expired)?;
            let snapshot = store.find_snapshot(id).ok_or_else(expired)?;
            if offset > snapshot.items.len() {
                return Err(expired());
            }
            (id, snapshot, offset)
        }
        None => {
            let (rv, items) = store.select(filter);
            match limit {
                Some(limit) if items.len() > limit => {
                    let snapshot = Arc::new(Snapshot { rv, items });
                    (store.save_snapshot(snapshot.clone()), snapshot, 0)
                }
                _ => {
                    let body = encode::list(
                        filter.kind,
                        shape,
                        rv,
                        None,
                        None,
                        items.iter().map(|o| &**o),
                    );
                    return Ok(body);
                }
            }
        }
    };
    let len = snapshot.items.len();
    let end = limit.map_or(len, |l| offset.saturating_add(l).min(len));
    let (token, remaining) = if end < len {
        (Some(format!("{id}-{end}")), Some(len - end))
    } else {
        (None, None)
    };
    Ok(encode::list(
        filter.kind,
        shape,
        snapshot.rv,
        token.as_deref(),
        remaining,
        snapshot.items[offset..end].iter().map(|o| &**o),
    ))
}

fn parse_token(token: &str) -> Option<(u64, usize)> {
    let (id, offset) = token.split_once('-')?;
    Some((id.parse().ok()?, offset.parse().ok()?))
}
