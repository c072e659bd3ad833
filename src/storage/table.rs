//! Typed table handles. Each module declares its own `Table` constants and owns them; storage
//! only sees names and bytes.

use std::marker::PhantomData;

use super::codec::{Key, Value};

/// A named, ordered map from `K` to `V` inside the store.
pub struct Table<K, V> {
    name: &'static str,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K: Key, V: Value> Table<K, V> {
    /// Declares a table; the name must be unique across the program and never reused for
    /// a different type (a test lists every table name).
    pub const fn new(name: &'static str) -> Self {
        Table {
            name,
            _types: PhantomData,
        }
    }

    /// The table's stored name.
    pub const fn name(&self) -> &'static str {
        self.name
    }
}

impl<K, V> Clone for Table<K, V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K, V> Copy for Table<K, V> {}
