//! The upstream providers this service knows.

use serde::{Deserialize, Serialize};
use std::fmt;

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(as = Provider))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Hostkey,
    Klikk,
    Inferno,
    Idcloudhost,
    /// A built-in provider that answers at once: smoke tests and benchmarks.
    Noop,
}

impl ProviderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::Hostkey => "hostkey",
            ProviderKind::Klikk => "klikk",
            ProviderKind::Inferno => "inferno",
            ProviderKind::Idcloudhost => "idcloudhost",
            ProviderKind::Noop => "noop",
        }
    }
}

impl fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
