//! A field of a partial update that may be absent, null, or a value, for clients built without
//! the `openapi` feature (which uses poem-openapi's type of the same name and shape).

#![cfg_attr(feature = "openapi", allow(dead_code))]

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Absent (leave as is), null (clear), or a value (set).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MaybeUndefined<T> {
    /// The field was absent.
    #[default]
    Undefined,
    /// The field was `null`.
    Null,
    /// The field had a value.
    Value(T),
}

impl<T> MaybeUndefined<T> {
    /// Whether the field was absent (skip it when serialising).
    pub fn is_undefined(&self) -> bool {
        matches!(self, Self::Undefined)
    }
}

impl<T: Serialize> Serialize for MaybeUndefined<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Value(v) => s.serialize_some(v),
            Self::Undefined | Self::Null => s.serialize_none(),
        }
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MaybeUndefined<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(match Option::<T>::deserialize(d)? {
            Some(v) => Self::Value(v),
            None => Self::Null,
        })
    }
}
