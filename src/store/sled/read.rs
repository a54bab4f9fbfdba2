//! The ledger's reads: by id, by each index, the due scan, events and listing.
//!
//! Point lookups and the due scan touch only the keys they return. `list` walks the
//! created index newest first and stops at `limit` matches; with a filter it may walk far,
//! so call it via `spawn_blocking`. An index entry whose payment is missing is skipped
//! with a warning (the consistency check reports it); a value that does not decode is an
//! error.

use super::codec;
use super::index::Index;
use super::layout;
use super::{SledStore, StoreError};
use crate::domain::{Payment, PaymentEvent, PaymentStatus, Timestamp};

impl SledStore {
    pub fn get(&self, id: &str) -> Result<Option<Payment>, StoreError> {
        let inner = self.inner()?;
        let t = &inner.trees;
        match t.payments.get(id.as_bytes())? {
            Some(raw) => Ok(Some(codec::decode(layout::PAYMENTS, id.as_bytes(), &raw)?)),
            None => Ok(None),
        }
    }

    pub fn by_token(&self, gateway_token: &str) -> Result<Option<Payment>, StoreError> {
        layout::check_part("the gateway token", gateway_token)?;
        self.unique(Index::Token, &[gateway_token])
    }

    pub fn by_gateway_ref(&self, gateway_ref: &str) -> Result<Option<Payment>, StoreError> {
        layout::check_part("the gateway reference", gateway_ref)?;
        self.unique(Index::GatewayRef, &[gateway_ref])
    }

    pub fn by_reference(&self, reference: &str) -> Result<Option<Payment>, StoreError> {
        layout::check_part("the reference", reference)?;
        self.unique(Index::Reference, &[reference])
    }

    /// The payments for an entity, oldest first.
    pub fn by_entity(
        &self,
        organization: &str,
        entity_id: &str,
    ) -> Result<Vec<Payment>, StoreError> {
        layout::check_part("the organization", organization)?;
        layout::check_part("the entity id", entity_id)?;
        let mut found = self.matching(Index::Entity, &[organization, entity_id])?;
        found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(found)
    }

    /// Payments whose `next_check_at` is at or before `now`, earliest first, at most
    /// `limit`: a range scan of the due index, whatever the size of the ledger.
    pub fn due(&self, now: Timestamp, limit: usize) -> Result<Vec<Payment>, StoreError> {
        let inner = self.inner()?;
        let due = inner.trees.index(Index::Due);
        let mut found = Vec::with_capacity(limit.min(1024));
        for key in due.range(..layout::timed_upper_bound(now)).keys() {
            if found.len() >= limit {
                break;
            }
            let key = key?;
            let id = Index::Due.id_of(&key).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{}[{}] is not a due key",
                    layout::DUE_INDEX,
                    layout::show(&key)
                ))
            })?;
            if let Some(p) = self.pointed(Index::Due, id)? {
                found.push(p);
            }
        }
        Ok(found)
    }

    /// The payment's events in seq order.
    pub fn events(&self, id: &str) -> Result<Vec<PaymentEvent>, StoreError> {
        layout::check_part("the payment id", id)?;
        let inner = self.inner()?;
        let events = &inner.trees.events;
        events
            .scan_prefix(layout::prefix(&[id]))
            .map(|item| {
                let (key, value) = item?;
                codec::decode(layout::EVENTS, &key, &value)
            })
            .collect()
    }

    /// Newest first (by `created_at`), optionally filtered, at most `limit`.
    pub fn list(
        &self,
        organization: Option<&str>,
        status: Option<PaymentStatus>,
        limit: usize,
    ) -> Result<Vec<Payment>, StoreError> {
        let inner = self.inner()?;
        let created = inner.trees.index(Index::Created);
        let mut found = Vec::new();
        for key in created.iter().keys().rev() {
            if found.len() >= limit {
                break;
            }
            let key = key?;
            let Some(id) = Index::Created.id_of(&key) else {
                return Err(StoreError::Corrupt(format!(
                    "{}[{}] is not a created key",
                    layout::CREATED_INDEX,
                    layout::show(&key)
                )));
            };
            let Some(p) = self.pointed(Index::Created, id)? else {
                continue;
            };
            let org_ok = organization.is_none_or(|o| o == p.organization);
            let status_ok = status.is_none_or(|s| s == p.status);
            if org_ok && status_ok {
                found.push(p);
            }
        }
        Ok(found)
    }

    /// A page of payments newest first (see [`crate::store::ListQuery`]). With an entity,
    /// its index gives the candidates; otherwise the created index is walked backwards
    /// from the page position and stops at `limit` matches or before `created_from`.
    pub fn query(&self, q: &crate::store::ListQuery) -> Result<Vec<Payment>, StoreError> {
        if let (Some(org), Some(entity)) = (&q.organization, &q.entity_id) {
            let mut found: Vec<Payment> = self
                .by_entity(org, entity)?
                .into_iter()
                .filter(|p| q.matches(p) && q.is_after_position(p))
                .collect();
            found.sort_by(|a, b| {
                (b.created_at, b.id.as_bytes()).cmp(&(a.created_at, a.id.as_bytes()))
            });
            found.truncate(q.limit);
            return Ok(found);
        }
        let inner = self.inner()?;
        let created = inner.trees.index(Index::Created);
        let upper = match (&q.after, q.created_to) {
            (Some((t, id)), _) => layout::timed(*t, id),
            (None, Some(to)) => layout::timed(to, ""),
            (None, None) => layout::timed_upper_bound(Timestamp(i64::MAX)),
        };
        let mut found = Vec::new();
        for key in created.range(..upper).keys().rev() {
            if found.len() >= q.limit {
                break;
            }
            let key = key?;
            let Some((at, id)) = layout::split_timed(&key) else {
                return Err(StoreError::Corrupt(format!(
                    "{}[{}] is not a created key",
                    layout::CREATED_INDEX,
                    layout::show(&key)
                )));
            };
            if q.created_from.is_some_and(|from| at < from) {
                break;
            }
            let Some(p) = self.pointed(Index::Created, id)? else {
                continue;
            };
            if q.matches(&p) && q.is_after_position(&p) {
                found.push(p);
            }
        }
        Ok(found)
    }

    /// The payment an index entry points at, or None (with a warning) when it is missing.
    fn pointed(&self, index: Index, id: &str) -> Result<Option<Payment>, StoreError> {
        let p = self.get(id)?;
        if p.is_none() {
            tracing::warn!(
                index = index.tree_name(),
                payment = id,
                "index entry points at a missing payment"
            );
        }
        Ok(p)
    }

    /// Every payment under `parts 00` in an index.
    fn matching(&self, index: Index, parts: &[&str]) -> Result<Vec<Payment>, StoreError> {
        let inner = self.inner()?;
        let tree = inner.trees.index(index);
        let mut found = Vec::new();
        for key in tree.scan_prefix(layout::prefix(parts)).keys() {
            let key = key?;
            let id = index.id_of(&key).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "{}[{}] does not end with an id",
                    index.tree_name(),
                    layout::show(&key)
                ))
            })?;
            if let Some(p) = self.pointed(index, id)? {
                found.push(p);
            }
        }
        Ok(found)
    }

    /// The payment with this value in a lookup index. Two payments may share a value
    /// (see [`layout`]); then the newest wins and the ambiguity is logged.
    fn unique(&self, index: Index, parts: &[&str]) -> Result<Option<Payment>, StoreError> {
        let mut found = self.matching(index, parts)?;
        if found.len() > 1 {
            tracing::warn!(
                index = index.tree_name(),
                matches = found.len(),
                "several payments share one lookup value; using the newest"
            );
            found.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        }
        Ok(found.pop())
    }
}
