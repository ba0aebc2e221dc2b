//! Parsing the storage URL and opening the matching backend.

use crate::options::StoreOptions;
use crate::postgres::PostgresStore;
use crate::sqlite::SqliteStore;
use crate::store::{Store, StoreError};
use std::path::PathBuf;
use std::sync::Arc;

/// Where readings go, parsed from `sqlite://PATH` or `postgres://...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageUrl {
    /// A SQLite file (created if missing, with its parent folders).
    Sqlite(PathBuf),
    /// A PostgreSQL connection string.
    Postgres(String),
}

impl StorageUrl {
    /// Parses a storage URL; `sqlite://data/h.db` is relative, `sqlite:///var/h.db` absolute.
    /// A PostgreSQL URL is checked as far as it can be without connecting (its syntax and
    /// `sslmode`), so a configuration check reports it.
    pub fn parse(url: &str) -> Result<Self, String> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err("sqlite:// needs a file path, e.g. sqlite://data/historian.db".into());
            }
            Ok(StorageUrl::Sqlite(PathBuf::from(path)))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            crate::postgres::tls::Target::parse(url)?;
            Ok(StorageUrl::Postgres(url.to_string()))
        } else {
            Err("expected sqlite://PATH or postgres://USER@HOST:PORT/DB".into())
        }
    }
}

impl std::fmt::Display for StorageUrl {
    /// Shows the URL with any password replaced by `***`, safe for logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            StorageUrl::Postgres(u) => f.write_str(&masked_url(u)),
        }
    }
}

/// `url` with the password of its user-info replaced by `***`, for logs and error messages:
/// `postgres://user:secret@host/db` becomes `postgres://user:***@host/db`.
pub fn masked_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let rest = &url[scheme_end..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let Some(at) = authority.rfind('@') else {
        return url.to_string();
    };
    match authority[..at].find(':') {
        Some(colon) => format!(
            "{}:***{}",
            &url[..scheme_end + colon],
            &url[scheme_end + at..]
        ),
        None => url.to_string(),
    }
}

/// Opens the store a URL names and applies its migrations and schema settings.
pub async fn open(url: &StorageUrl, options: &StoreOptions) -> Result<Arc<dyn Store>, StoreError> {
    match url {
        StorageUrl::Sqlite(path) => Ok(Arc::new(SqliteStore::open(path, options).await?)),
        StorageUrl::Postgres(u) => Ok(Arc::new(PostgresStore::open(u, options).await?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_wherever_the_user_info_has_one() {
        assert_eq!(
            masked_url("postgres://u:p@ss@db:5432/h?sslmode=require"),
            "postgres://u:***@db:5432/h?sslmode=require"
        );
        assert_eq!(
            masked_url("redis://:secret@cache/0"),
            "redis://:***@cache/0"
        );
        assert_eq!(masked_url("redis://cache/0#a@b:c"), "redis://cache/0#a@b:c");
        assert_eq!(masked_url("postgres://u@db/h"), "postgres://u@db/h");
        assert_eq!(masked_url("not a url"), "not a url");
    }

    #[test]
    fn parses_both_schemes() {
        assert_eq!(
            StorageUrl::parse("sqlite://data/h.db"),
            Ok(StorageUrl::Sqlite("data/h.db".into()))
        );
        assert_eq!(
            StorageUrl::parse("sqlite:///var/lib/h.db"),
            Ok(StorageUrl::Sqlite("/var/lib/h.db".into()))
        );
        assert!(matches!(
            StorageUrl::parse("postgres://u@localhost/db"),
            Ok(StorageUrl::Postgres(_))
        ));
        assert!(StorageUrl::parse("mysql://x").is_err());
        assert_eq!(
            StorageUrl::parse("postgres://u@h/db?sslmode=verify"),
            Err(
                "unknown sslmode \"verify\": expected one of disable, prefer, require, \
                 verify-ca, verify-full"
                    .into()
            )
        );
        assert!(StorageUrl::parse("sqlite://").is_err());
        let pg = StorageUrl::parse("postgres://u:secret@db:5432/h").expect("valid");
        assert_eq!(pg.to_string(), "postgres://u:***@db:5432/h");
    }
}
