//! Azure Tables for fnwire, without I/O: the entity model ([`Entity`], typed values as the
//! Table service has them, its JSON forms) and the OData filter subset Azure apps use
//! ([`Filter`]: parsed with `winnow`, evaluated against entities). The stores
//! (`fnwire-storage`, `fnwire-storage-postgres`) keep entities; the host's `table` bindings and
//! `fnwire table` read and write them through the stores.

pub mod entity;
pub mod filter;

pub use entity::{EdmValue, Entity, EntityError, OutputWrite, TableNameError, etag_for, validate_table_name};
pub use filter::{CompareOp, FILTER_HELP, Filter, FilterError, Operand, check_filter_template};

/// What a table query asks for: entities passing `filter`, at most `take` of them, in
/// `PartitionKey`, `RowKey` order (the service's order).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableQuery {
    pub filter: Option<Filter>,
    pub take: Option<usize>,
}
