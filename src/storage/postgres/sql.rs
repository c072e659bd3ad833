//! Every SQL statement the backend sends. One keyed table holds every logical table: `t` names
//! the table, `k` and `v` are the codec's bytes. `bytea` compares bytewise (memcmp, then
//! length), exactly like redb's `&[u8]` keys, so ordered scans and prefixes mean the same on
//! both backends. Only plain SQL is used (no extensions, no stored procedures) so that
//! PostgreSQL-compatible databases can run it; see DESIGN.md beside this file.

use std::ops::Bound;

use crate::storage::Order;

/// The schema, created once (under [`DDL_LOCK`]) by the first node to start.
pub(crate) const CREATE: &str = "CREATE TABLE IF NOT EXISTS shopd_kv (
    t text COLLATE \"C\" NOT NULL,
    k bytea NOT NULL,
    v bytea NOT NULL,
    PRIMARY KEY (t, k)
)";

/// Advisory lock held while the schema is created, so nodes starting together do not race.
pub(crate) const DDL_LOCK: i64 = 0x7368_6f70_6400;

/// Advisory lock every write transaction takes first: writes across the cluster are applied one
/// batch at a time, in one order, as the embedded store's single writer applies them.
pub(crate) const WRITE_LOCK: i64 = 0x7368_6f70_6401;

/// Starts a write batch: READ COMMITTED under the cluster's write lock sees every earlier
/// batch and nothing concurrent (every writer holds the lock until it commits).
pub(crate) fn begin_write() -> String {
    format!("BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITE_LOCK})")
}

/// Starts a read snapshot.
pub(crate) const BEGIN_READ: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

/// Point lookup.
pub(crate) const GET: &str = "SELECT v FROM shopd_kv WHERE t = $1 AND k = $2";

/// Inserts or replaces many rows of one table (arrays of keys and values).
pub(crate) const UPSERT: &str = "INSERT INTO shopd_kv (t, k, v) \
     SELECT $1, k, v FROM unnest($2::bytea[], $3::bytea[]) AS u(k, v) \
     ON CONFLICT (t, k) DO UPDATE SET v = EXCLUDED.v";

/// Channel on which commits name the tables they wrote, so other nodes wake their workers.
pub(crate) const CHANNEL: &str = "shopd_commits";

/// A batch's writes in one statement: rows of any tables inserted or replaced (`$1` tables,
/// `$2` keys, `$3` values), rows deleted (`$4` tables, `$5` keys; never the same row as an
/// upsert), and the tables it wrote named on [`CHANNEL`] (`$6`, `$7`; delivered at commit,
/// repeated names folded into one).
pub(crate) const WRITE: &str = "WITH upserted AS ( \
       INSERT INTO shopd_kv (t, k, v) \
       SELECT * FROM unnest($1::text[], $2::bytea[], $3::bytea[]) \
       ON CONFLICT (t, k) DO UPDATE SET v = EXCLUDED.v \
     ), deleted AS ( \
       DELETE FROM shopd_kv d USING unnest($4::text[], $5::bytea[]) AS g(t, k) \
       WHERE d.t = g.t AND d.k = g.k \
     ) SELECT pg_notify($6, $7)";

/// Every table name in use (a loose index scan: one probe per table, not per row).
pub(crate) const TABLES: &str = "WITH RECURSIVE names(t) AS ( \
       SELECT min(t) FROM shopd_kv \
       UNION ALL \
       SELECT (SELECT min(t) FROM shopd_kv WHERE t > names.t) FROM names WHERE names.t IS NOT NULL \
     ) SELECT t FROM names WHERE t IS NOT NULL";

/// An ordered scan of one table between two bounds: `$1` table, then the bounds that are not
/// unbounded, then the limit.
pub(crate) fn scan(lo: Bound<&[u8]>, hi: Bound<&[u8]>, order: Order) -> String {
    let mut sql = String::from("SELECT k, v FROM shopd_kv WHERE t = $1");
    let mut n = 1;
    for (bound, ops) in [(lo, (">=", ">")), (hi, ("<=", "<"))] {
        let op = match bound {
            Bound::Included(_) => ops.0,
            Bound::Excluded(_) => ops.1,
            Bound::Unbounded => continue,
        };
        n += 1;
        sql.push_str(&format!(" AND k {op} ${n}"));
    }
    let dir = match order {
        Order::Asc => "ASC",
        Order::Desc => "DESC",
    };
    sql.push_str(&format!(" ORDER BY k {dir} LIMIT ${}", n + 1));
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scans_number_only_the_bounds_they_use() {
        let k: &[u8] = b"a";
        assert_eq!(
            scan(Bound::Unbounded, Bound::Unbounded, Order::Asc),
            "SELECT k, v FROM shopd_kv WHERE t = $1 ORDER BY k ASC LIMIT $2"
        );
        assert_eq!(
            scan(Bound::Excluded(k), Bound::Included(k), Order::Desc),
            "SELECT k, v FROM shopd_kv WHERE t = $1 AND k > $2 AND k <= $3 ORDER BY k DESC LIMIT $4"
        );
        assert_eq!(
            scan(Bound::Unbounded, Bound::Excluded(k), Order::Asc),
            "SELECT k, v FROM shopd_kv WHERE t = $1 AND k < $2 ORDER BY k ASC LIMIT $3"
        );
    }
}
