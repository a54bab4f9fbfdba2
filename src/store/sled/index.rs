//! The secondary indexes: which keys a payment has in each, and which payment a key names.
//!
//! Every index key ends with the payment id and has an empty value, so a key alone says
//! which payment it belongs to, and the consistency check can recompute each payment's
//! keys with [`Index::key_for`] and compare.

use super::layout;
use crate::domain::Payment;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Index {
    Token,
    GatewayRef,
    Reference,
    Entity,
    Created,
    Due,
}

impl Index {
    pub const ALL: [Index; 6] = [
        Index::Token,
        Index::GatewayRef,
        Index::Reference,
        Index::Entity,
        Index::Created,
        Index::Due,
    ];

    /// The position of this index in `Trees::indexes` and in a transaction's view.
    pub fn slot(self) -> usize {
        match self {
            Index::Token => 0,
            Index::GatewayRef => 1,
            Index::Reference => 2,
            Index::Entity => 3,
            Index::Created => 4,
            Index::Due => 5,
        }
    }

    pub fn tree_name(self) -> &'static str {
        match self {
            Index::Token => layout::TOKEN_INDEX,
            Index::GatewayRef => layout::GATEWAY_REF_INDEX,
            Index::Reference => layout::REFERENCE_INDEX,
            Index::Entity => layout::ENTITY_INDEX,
            Index::Created => layout::CREATED_INDEX,
            Index::Due => layout::DUE_INDEX,
        }
    }

    /// The key `p` has in this index, if it has one.
    pub fn key_for(self, p: &Payment) -> Option<Vec<u8>> {
        let id = p.id.as_str();
        match self {
            Index::Token => p.gateway_token.as_deref().map(|t| layout::joined(&[t, id])),
            Index::GatewayRef => p.gateway_ref.as_deref().map(|r| layout::joined(&[r, id])),
            Index::Reference => Some(layout::joined(&[&p.reference, id])),
            Index::Entity => p
                .entity_id
                .as_deref()
                .map(|e| layout::joined(&[&p.organization, e, id])),
            Index::Created => Some(layout::timed(p.created_at, id)),
            Index::Due => p.next_check_at.map(|t| layout::timed(t, id)),
        }
    }

    /// The payment id a key of this index points at.
    pub fn id_of(self, key: &[u8]) -> Option<&str> {
        match self {
            Index::Token | Index::GatewayRef | Index::Reference | Index::Entity => {
                layout::split_last(key).map(|(_, id)| id)
            }
            Index::Created | Index::Due => layout::split_timed(key).map(|(_, id)| id),
        }
    }
}
