//! Money in the API: a JSON string with exactly two decimals (`"12.50"`).
//! poem-openapi's own `Decimal` accepts JSON numbers (lossy) and prints `10.50` as
//! `"10.5"`; this type does neither.

use kttipay_domain::Money;
use poem_openapi::registry::{MetaSchema, MetaSchemaRef};
use poem_openapi::types::{ParseError, ParseFromJSON, ParseResult, ToJSON, Type};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Amount(pub Money);

impl From<Money> for Amount {
    fn from(m: Money) -> Self {
        Amount(m)
    }
}

impl Type for Amount {
    const IS_REQUIRED: bool = true;
    type RawValueType = Self;
    type RawElementValueType = Self;

    fn name() -> Cow<'static, str> {
        "Money".into()
    }

    fn schema_ref() -> MetaSchemaRef {
        MetaSchemaRef::Inline(Box::new(MetaSchema {
            description: Some("An amount with exactly two decimals, as a string"),
            pattern: Some(Money::PATTERN.into()),
            example: Some(Value::String("12.50".into())),
            ..MetaSchema::new_with_format("string", "decimal")
        }))
    }

    fn as_raw_value(&self) -> Option<&Self> {
        Some(self)
    }

    fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
        Box::new(self.as_raw_value().into_iter())
    }
}

impl ToJSON for Amount {
    fn to_json(&self) -> Option<Value> {
        Some(Value::String(self.0.to_string()))
    }
}

impl ParseFromJSON for Amount {
    fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
        match value {
            Some(Value::String(s)) => Money::parse_exact(&s).map(Amount).map_err(ParseError::custom),
            other => Err(ParseError::expected_type(other.unwrap_or_default())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_with_two_decimals_only() {
        let a = Amount("10.5".parse().unwrap());
        assert_eq!(a.to_json(), Some(Value::String("10.50".into())));
        assert!(
            Amount::parse_from_json(Some(serde_json::json!(10.5))).is_err(),
            "numbers are refused"
        );
        assert_eq!(serde_json::to_string(&a).unwrap(), "\"10.50\"");
    }
}
