//! The field reader: typed access to one JSON object's members, with the dotted
//! path of each in its errors (`order.os_id`).

use super::FieldError;
use super::validate::check_id;
use serde_json::{Map, Value};

/// Typed access to the fields of one JSON object, with dotted paths in errors.
pub(super) struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: Option<&'a str>,
}

impl<'a> Fields<'a> {
    pub(super) fn root(map: &'a Map<String, Value>) -> Self {
        Fields { map, prefix: None }
    }

    pub(super) fn nested(map: &'a Map<String, Value>, prefix: &'a str) -> Self {
        Fields {
            map,
            prefix: Some(prefix),
        }
    }

    pub(super) fn path(&self, name: &str) -> String {
        match self.prefix {
            Some(p) => format!("{p}.{name}"),
            None => name.to_owned(),
        }
    }

    pub(super) fn err(&self, name: &str, message: impl Into<String>) -> FieldError {
        FieldError::new(self.path(name), message)
    }

    pub(super) fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name)
    }

    pub(super) fn present(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    pub(super) fn reject_unknown(&self, allowed: &[&str]) -> Result<(), FieldError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            // An empty name would make an empty (or dangling `order.`) field path:
            // the object holding it is named instead.
            Some(k) if k.is_empty() => Err(FieldError::new(
                self.prefix.unwrap_or("body"),
                "has a member with an empty name",
            )),
            Some(k) => Err(self.err(k, "is not a known field")),
            None => Ok(()),
        }
    }

    pub(super) fn opt_str(&self, name: &str) -> Result<Option<&'a str>, FieldError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(self.err(name, "must be a string")),
        }
    }

    pub(super) fn req_str(&self, name: &str) -> Result<&'a str, FieldError> {
        self.opt_str(name)?
            .ok_or_else(|| self.err(name, "is required"))
    }

    pub(super) fn req_nonempty(&self, name: &str) -> Result<&'a str, FieldError> {
        let s = self.req_str(name)?.trim();
        if s.is_empty() {
            return Err(self.err(name, "must not be empty"));
        }
        Ok(s)
    }

    pub(super) fn opt_u64(&self, name: &str) -> Result<Option<u64>, FieldError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_u64()
                .map(Some)
                .ok_or_else(|| self.err(name, "must be a whole number of 0 or more")),
            Some(_) => Err(self.err(name, "must be a whole number")),
        }
    }

    pub(super) fn req_u64(&self, name: &str) -> Result<u64, FieldError> {
        self.opt_u64(name)?
            .ok_or_else(|| self.err(name, "is required"))
    }

    pub(super) fn req_positive(&self, name: &str) -> Result<u64, FieldError> {
        match self.req_u64(name)? {
            0 => Err(self.err(name, "must be more than 0")),
            n => Ok(n),
        }
    }

    pub(super) fn opt_i64(&self, name: &str) -> Result<Option<i64>, FieldError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.err(name, "must be a whole number")),
            Some(_) => Err(self.err(name, "must be a whole number")),
        }
    }

    pub(super) fn req_f64(&self, name: &str) -> Result<f64, FieldError> {
        match self.present(name) {
            None => Err(self.err(name, "is required")),
            Some(Value::Number(n)) => n.as_f64().ok_or_else(|| self.err(name, "must be a number")),
            Some(_) => Err(self.err(name, "must be a number")),
        }
    }

    pub(super) fn opt_bool(&self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::Number(n)) if n.as_u64() == Some(0) || n.as_u64() == Some(1) => {
                Ok(Some(n.as_u64() == Some(1)))
            }
            Some(_) => Err(self.err(name, "must be true or false")),
        }
    }

    /// An identifier given as a string or a whole number; kept as a string.
    pub(super) fn opt_id(&self, name: &str) -> Result<Option<String>, FieldError> {
        let id = match self.present(name) {
            None => return Ok(None),
            Some(Value::String(s)) => s.trim().to_owned(),
            Some(Value::Number(n)) if n.is_u64() => n.to_string(),
            Some(_) => return Err(self.err(name, "must be a string or a whole number")),
        };
        check_id(&id, &self.path(name)).map(Some)
    }

    pub(super) fn req_id(&self, name: &str) -> Result<String, FieldError> {
        self.opt_id(name)?
            .ok_or_else(|| self.err(name, "is required"))
    }
}
