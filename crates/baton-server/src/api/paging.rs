//! List query strings: `limit`, `cursor`, `status` and `name`, checked into the store's types.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use baton_domain::ports::{PageLimit, PageRequest};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct ListParams {
    pub status: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
    pub workflow_id: Option<String>,
    pub collection: Option<String>,
    pub name: Option<String>,
}

/// The longest `name` filter accepted.
pub const MAX_NAME_FILTER: usize = 200;

/// What a cursor continues: a cursor from one list is refused by another.
#[derive(Debug, Clone, Copy)]
pub enum CursorKind {
    Workflows,
    Tasks,
    Documents,
    Users,
    ApiKeys,
    Secrets,
    Definitions,
    DefinitionVersions,
    Schedules,
}

impl CursorKind {
    fn prefix(self) -> &'static str {
        match self {
            Self::Workflows => "w1:",
            Self::Tasks => "t1:",
            Self::Documents => "d1:",
            Self::Users => "u1:",
            Self::ApiKeys => "k1:",
            Self::Secrets => "s1:",
            Self::Definitions => "f1:",
            Self::DefinitionVersions => "v1:",
            Self::Schedules => "c1:",
        }
    }
}

pub fn encode_cursor(kind: CursorKind, after: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(format!("{}{after}", kind.prefix()))
}

fn decode_cursor(kind: CursorKind, cursor: &str) -> Option<Uuid> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    text.strip_prefix(kind.prefix())?.parse().ok()
}

impl ListParams {
    pub fn page(&self, kind: CursorKind) -> Result<PageRequest, ApiError> {
        let limit = match self.limit.as_deref() {
            None => PageLimit::default(),
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .and_then(|n| PageLimit::new(n).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "limit must be a whole number between 1 and {}",
                        PageLimit::MAX
                    ))
                })?,
        };
        let after = match self.cursor.as_deref() {
            None | Some("") => None,
            Some(raw) => Some(decode_cursor(kind, raw).ok_or_else(|| {
                ApiError::bad_request(
                    "cursor is not valid for this list; pass next_cursor as it was returned",
                )
            })?),
        };
        Ok(PageRequest { limit, after })
    }

    /// The `name` filter: a non-empty substring to look for, of at most [`MAX_NAME_FILTER`]
    /// characters.
    pub fn name(&self) -> Result<Option<String>, ApiError> {
        match self.name.as_deref() {
            None | Some("") => Ok(None),
            Some(name) if name.chars().count() > MAX_NAME_FILTER => Err(ApiError::bad_request(
                format!("name must be at most {MAX_NAME_FILTER} characters"),
            )),
            Some(name) => Ok(Some(name.to_owned())),
        }
    }

    /// The `status` filter, parsed by the domain's status type.
    pub fn status<S>(&self) -> Result<Option<S>, ApiError>
    where
        S: std::str::FromStr<Err = baton_domain::DomainError>,
    {
        self.status
            .as_deref()
            .map(|s| {
                s.parse::<S>()
                    .map_err(|e| ApiError::bad_request(e.to_string()))
            })
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_are_kind_specific() {
        let id = Uuid::now_v7();
        let c = encode_cursor(CursorKind::Workflows, id);
        assert_eq!(decode_cursor(CursorKind::Workflows, &c), Some(id));
        assert_eq!(decode_cursor(CursorKind::Tasks, &c), None);
        assert_eq!(decode_cursor(CursorKind::Tasks, "!!"), None);
    }
}
