//! How keys and values become bytes: keys order-preserving (big-endian, escaped strings) so
//! range scans follow the logical order; values versioned postcard so old records stay readable.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::core::{Id, IdKind, Timestamp};

/// A key or value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// The bytes ended early or had the wrong shape.
    #[error("malformed key bytes")]
    MalformedKey,
    /// postcard could not (de)serialize the record.
    #[error("record encoding: {0}")]
    Postcard(String),
    /// A JSON document stored inside a record (event data, job payload) could not be written.
    #[error("JSON encoding: {0}")]
    Json(String),
    /// A record version this build cannot read (written by a newer shopd, or never defined).
    #[error("record version {found} is not readable by this build (current {current})")]
    UnknownVersion {
        /// Version byte found in the record.
        found: u8,
        /// Version this build writes.
        current: u8,
    },
    /// An empty value where a versioned record was expected.
    #[error("empty record")]
    Empty,
}

/// A type usable as a table key. Encodings of tuples are concatenations, so a prefix of a
/// composite key is a prefix of its bytes and byte order equals logical order.
pub trait Key: Sized {
    /// Appends the order-preserving encoding.
    fn encode_key(&self, out: &mut Vec<u8>);
    /// Consumes this key's bytes from the front of `input`.
    fn decode_key(input: &mut &[u8]) -> Result<Self, CodecError>;

    /// The key as a standalone byte string.
    fn to_key_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(16);
        self.encode_key(&mut v);
        v
    }

    /// Decodes a whole key, rejecting trailing bytes.
    fn from_key_bytes(mut bytes: &[u8]) -> Result<Self, CodecError> {
        let k = Self::decode_key(&mut bytes)?;
        if bytes.is_empty() {
            Ok(k)
        } else {
            Err(CodecError::MalformedKey)
        }
    }
}

fn take<'a>(input: &mut &'a [u8], n: usize) -> Result<&'a [u8], CodecError> {
    if input.len() < n {
        return Err(CodecError::MalformedKey);
    }
    let (head, tail) = input.split_at(n);
    *input = tail;
    Ok(head)
}

macro_rules! uint_key {
    ($($t:ty),*) => {$(
        impl Key for $t {
            fn encode_key(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn decode_key(input: &mut &[u8]) -> Result<Self, CodecError> {
                let b = take(input, std::mem::size_of::<$t>())?;
                let arr = b.try_into().map_err(|_| CodecError::MalformedKey)?;
                Ok(<$t>::from_be_bytes(arr))
            }
        }
    )*};
}
uint_key!(u8, u16, u32, u64);

impl Key for i64 {
    fn encode_key(&self, out: &mut Vec<u8>) {
        // Flipping the sign bit makes negative numbers sort before positive ones.
        out.extend_from_slice(&((*self as u64) ^ (1 << 63)).to_be_bytes());
    }
    fn decode_key(input: &mut &[u8]) -> Result<Self, CodecError> {
        let u = u64::decode_key(input)?;
        Ok((u ^ (1 << 63)) as i64)
    }
}

impl Key for Timestamp {
    fn encode_key(&self, out: &mut Vec<u8>) {
        self.as_millis().encode_key(out)
    }
    fn decode_key(input: &mut &[u8]) -> Result<Self, CodecError> {
        i64::decode_key(input).map(Timestamp::from_millis)
    }
}

impl<K: IdKind> Key for Id<K> {
    fn encode_key(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }
    fn decode_key(input: &mut &[u8]) -> Result<Self, CodecError> {
        let b = take(input, 16)?;
        let arr: [u8; 16] = b.try_into().map_err(|_| CodecError::MalformedKey)?;
        Ok(Id::from_bytes(arr))
    }
}

/// Escapes 0x00 as 0x00 0xFF and terminates with 0x00 0x01, so variable-length byte strings
/// can be followed by further key parts and still compare in lexicographic order.
fn encode_escaped(bytes: &[u8], out: &mut Vec<u8>) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0x00, 0x01]);
}

fn decode_escaped(input: &mut &[u8]) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::new();
    let mut i = 0;
    let b = *input;
    loop {
        let byte = *b.get(i).ok_or(CodecError::MalformedKey)?;
        if byte == 0 {
            match b.get(i + 1) {
                Some(0xFF) => {
                    out.push(0);
                    i += 2;
                }
                Some(0x01) => {
                    *input = &b[i + 2..];
                    return Ok(out);
                }
                _ => return Err(CodecError::MalformedKey),
            }
        } else {
            out.push(byte);
            i += 1;
        }
    }
}

impl Key for String {
    fn encode_key(&self, out: &mut Vec<u8>) {
        encode_escaped(self.as_bytes(), out)
    }
    fn decode_key(input: &mut &[u8]) -> Result<Self, CodecError> {
        String::from_utf8(decode_escaped(input)?).map_err(|_| CodecError::MalformedKey)
    }
}

impl Key for Vec<u8> {
    fn encode_key(&self, out: &mut Vec<u8>) {
        encode_escaped(self, out)
    }
    fn decode_key(input: &mut &[u8]) -> Result<Self, CodecError> {
        decode_escaped(input)
    }
}

impl Key for () {
    fn encode_key(&self, _out: &mut Vec<u8>) {}
    fn decode_key(_input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok(())
    }
}

impl<A: Key, B: Key> Key for (A, B) {
    fn encode_key(&self, out: &mut Vec<u8>) {
        self.0.encode_key(out);
        self.1.encode_key(out);
    }
    fn decode_key(input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok((A::decode_key(input)?, B::decode_key(input)?))
    }
}

impl<A: Key, B: Key, C: Key> Key for (A, B, C) {
    fn encode_key(&self, out: &mut Vec<u8>) {
        self.0.encode_key(out);
        self.1.encode_key(out);
        self.2.encode_key(out);
    }
    fn decode_key(input: &mut &[u8]) -> Result<Self, CodecError> {
        Ok((
            A::decode_key(input)?,
            B::decode_key(input)?,
            C::decode_key(input)?,
        ))
    }
}

/// Reads an older record through the shape `Old` spelled out for it and converts it: the one
/// way [`Value::upgrade`] implementations decode a previous version (postcard is positional, so
/// the old shape must be written down to be read).
pub fn upgrade_from<Old: DeserializeOwned, T>(
    bytes: &[u8],
    convert: impl FnOnce(Old) -> T,
) -> Result<T, CodecError> {
    postcard::from_bytes::<Old>(bytes)
        .map(convert)
        .map_err(|e| CodecError::Postcard(e.to_string()))
}

/// The refusal of a record version `T` cannot read (newer, or older than any upgrade path).
pub fn unknown_version<T: Value>(found: u8) -> CodecError {
    CodecError::UnknownVersion {
        found,
        current: T::VERSION,
    }
}

/// A type storable as a table value. The first byte of every stored record is its version;
/// when a record's shape changes, bump `VERSION` and teach `upgrade` to read the old bytes.
pub trait Value: Serialize + DeserializeOwned {
    /// Version written with new records.
    const VERSION: u8 = 1;

    /// Reads a record stored with an older `version`.
    fn upgrade(version: u8, _bytes: &[u8]) -> Result<Self, CodecError> {
        Err(unknown_version::<Self>(version))
    }

    /// Versioned postcard encoding.
    fn encode_value(&self) -> Result<Vec<u8>, CodecError> {
        let mut out = vec![Self::VERSION];
        postcard::to_io(self, &mut out).map_err(|e| CodecError::Postcard(e.to_string()))?;
        Ok(out)
    }

    /// Decodes the current version, upgrades older ones, refuses newer ones.
    fn decode_value(bytes: &[u8]) -> Result<Self, CodecError> {
        let (&version, body) = bytes.split_first().ok_or(CodecError::Empty)?;
        if version == Self::VERSION {
            postcard::from_bytes(body).map_err(|e| CodecError::Postcard(e.to_string()))
        } else if version < Self::VERSION {
            Self::upgrade(version, body)
        } else {
            Err(unknown_version::<Self>(version))
        }
    }
}

macro_rules! plain_value {
    ($($t:ty),*) => {$( impl Value for $t {} )*};
}
plain_value!(u8, u32, u64, i64, bool, String, Vec<u8>, (), Timestamp);

impl<K: IdKind> Value for Id<K> {}

/// The smallest byte string greater than every string starting with `prefix`, if any.
pub(crate) fn prefix_successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut p = prefix.to_vec();
    while let Some(last) = p.pop() {
        if last != 0xFF {
            p.push(last + 1);
            return Some(p);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn versioned_values() {
        #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
        struct V2 {
            a: u32,
            b: String,
        }
        impl Value for V2 {
            const VERSION: u8 = 2;
            fn upgrade(version: u8, bytes: &[u8]) -> Result<Self, CodecError> {
                assert_eq!(version, 1);
                let a: u32 =
                    postcard::from_bytes(bytes).map_err(|e| CodecError::Postcard(e.to_string()))?;
                Ok(V2 {
                    a,
                    b: "default".into(),
                })
            }
        }
        let old = 7u32.encode_value().expect("encode");
        assert_eq!(old[0], 1);
        assert_eq!(
            V2::decode_value(&old),
            Ok(V2 {
                a: 7,
                b: "default".into()
            })
        );
        let mut newer = old.clone();
        newer[0] = 9;
        assert!(matches!(
            V2::decode_value(&newer),
            Err(CodecError::UnknownVersion {
                found: 9,
                current: 2
            })
        ));
    }

    proptest! {
        #[test]
        fn i64_order_preserved(a: i64, b: i64) {
            prop_assert_eq!(a.cmp(&b), a.to_key_bytes().cmp(&b.to_key_bytes()));
            prop_assert_eq!(i64::from_key_bytes(&a.to_key_bytes()), Ok(a));
        }

        #[test]
        fn tuple_string_order_preserved(a: (String, u64), b: (String, u64)) {
            prop_assert_eq!(a.cmp(&b), a.to_key_bytes().cmp(&b.to_key_bytes()));
            prop_assert_eq!(<(String, u64)>::from_key_bytes(&a.to_key_bytes()), Ok(a.clone()));
        }

        #[test]
        fn bytes_order_preserved(a: (Vec<u8>, u8), b: (Vec<u8>, u8)) {
            prop_assert_eq!(a.cmp(&b), a.to_key_bytes().cmp(&b.to_key_bytes()));
            prop_assert_eq!(<(Vec<u8>, u8)>::from_key_bytes(&a.to_key_bytes()), Ok(a.clone()));
        }
    }

    #[test]
    fn successor() {
        assert_eq!(prefix_successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_successor(&[1, 0xFF]), Some(vec![2]));
        assert_eq!(prefix_successor(&[0xFF, 0xFF]), None);
    }
}
