//! SQL for KEDA's `postgresql` scaler: each query returns one number, the work waiting, which
//! KEDA divides by `targetQueryValue` to choose the replica count.

/// A SQL string literal (queue and hub names are checked already; this keeps any text safe).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Counts the messages of `queue` that a host could take now: visible and not expired.
pub fn visible_messages_query(queue: &str) -> String {
    format!(
        "SELECT COUNT(*) FROM fnwire_messages WHERE queue = {} \
         AND visible_ms <= (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint \
         AND expires_ms > (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint",
        literal(queue)
    )
}
