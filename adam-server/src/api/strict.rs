//! `Strict<T>`: a JSON request body whose parse errors name the field at fault.
//!
//! poem-openapi's own object parser reports *which type* failed ("occurred while parsing
//! LoginRequest") but not which field. `Strict` keeps the documented schema of `T` and parses
//! with serde, tracking the path, so a client reads "email: invalid type: integer, expected a
//! string" or "missing field `password`".

use std::borrow::Cow;

use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, Type};
use serde::de::DeserializeOwned;

/// A request body parsed strictly (unknown fields refused) with field-naming errors.
#[derive(Debug)]
pub(crate) struct Strict<T>(pub T);

impl<T: Type> Type for Strict<T> {
    const IS_REQUIRED: bool = T::IS_REQUIRED;
    type RawValueType = T::RawValueType;
    type RawElementValueType = T::RawElementValueType;

    fn name() -> Cow<'static, str> {
        T::name()
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        self.0.as_raw_value()
    }

    fn raw_element_iter<'a>(
        &'a self,
    ) -> Box<dyn Iterator<Item = &'a Self::RawElementValueType> + 'a> {
        self.0.raw_element_iter()
    }
}

impl<T: Type + DeserializeOwned> ParseFromJSON for Strict<T> {
    fn parse_from_json(value: Option<serde_json::Value>) -> ParseResult<Self> {
        let value = value.unwrap_or_default();
        // serde reads a struct from an array too (`[null, null]` as a patch of nothing): every
        // body of this API is an object.
        if !value.is_object() {
            return Err(ParseError::custom("the body must be a JSON object"));
        }
        serde_path_to_error::deserialize(value)
            .map(Strict)
            .map_err(|e| {
                let path = e.path().to_string();
                if path == "." {
                    ParseError::custom(e.inner().to_string())
                } else {
                    ParseError::custom(format!("{path}: {}", e.inner()))
                }
            })
    }
}
