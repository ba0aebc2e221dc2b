//! `devices import` and `devices export`: register map files into and out of the store.

use crate::config::{Config, ConfigError, DEFAULT_STORAGE_URL};
use historian_modbus::mapfile::{self, MapFileError, MapFormat};
use historian_model::DeviceSpec;
use historian_model::{Addressing, RegisterPoint};
use historian_store::{StorageUrl, Store, StoreError};
use std::path::Path;
use thiserror::Error;

/// Why a map could not be imported or exported.
#[derive(Debug, Error)]
pub enum MapCommandError {
    /// The map file could not be read.
    #[error("cannot read {path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        reason: String,
    },
    /// The file name says neither CSV nor TOML.
    #[error("{0}: a register map file must end in .csv or .toml")]
    Format(String),
    /// The map holds mistakes; all of them are listed and nothing was written.
    #[error("{}", render(.file, .errors, .addressing))]
    Invalid {
        /// The file.
        file: String,
        /// Every mistake, in file order.
        errors: Vec<MapFileError>,
        /// The addressing the file was read with, and where it came from.
        addressing: String,
    },
    /// The device is neither stored nor in the given config.
    #[error(
        "no device named {name:?} in the store{}; add it to the config (and run once) or to the database first",
        if *.in_config { " or the config" } else { "" }
    )]
    NoDevice {
        /// The name asked for.
        name: String,
        /// Whether a config was searched too.
        in_config: bool,
    },
    /// The configuration could not be loaded.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The storage URL is not valid.
    #[error("invalid storage URL {url:?}: {reason}")]
    Url {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn render(file: &str, errors: &[MapFileError], addressing: &str) -> String {
    let mut out = format!(
        "{file}: {} problem{}, nothing was imported (addresses read as {addressing}; \
         --addressing wire|one_based|modicon reads them otherwise):",
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    for e in errors {
        out.push_str(&format!("\n  {file}:{e}"));
    }
    out
}

/// Where the store is: `--database-url`, else the config's storage, else the default.
pub(crate) async fn open_store(
    config: Option<&Config>,
    database_url: Option<&str>,
) -> Result<std::sync::Arc<dyn Store>, MapCommandError> {
    let url = match (database_url, config) {
        (Some(url), _) => url.to_string(),
        (None, Some(c)) => c.storage.to_string(),
        (None, None) => DEFAULT_STORAGE_URL.to_string(),
    };
    let parsed = StorageUrl::parse(&url).map_err(|e| MapCommandError::Url {
        url: url.clone(),
        reason: e.to_string(),
    })?;
    let options = config
        .map(|c| c.storage_options.clone())
        .unwrap_or_default();
    Ok(historian_store::open(&parsed, &options).await?)
}

/// The word a config or `--addressing` uses for `a`.
fn addressing_word(a: Addressing) -> &'static str {
    match a {
        Addressing::Wire => "wire",
        Addressing::OneBased => "one_based",
        Addressing::Modicon => "modicon",
    }
}

/// The addressing a map file for device `name` is read with: `--addressing`, else the
/// device's `addressing` in the config file, else wire; with where it came from.
pub fn import_addressing(
    given: Option<Addressing>,
    config: Option<&Config>,
    name: &str,
) -> (Addressing, String) {
    if let Some(a) = given {
        return (a, format!("{} (--addressing)", addressing_word(a)));
    }
    match config.and_then(|c| Some((c, *c.map_addressing.get(name)?))) {
        Some((c, a)) => (
            a,
            format!("{} (device {name:?} in {})", addressing_word(a), c.source),
        ),
        None => (Addressing::Wire, "wire (the default)".to_string()),
    }
}

/// Reads and checks a map file; every mistake is reported with its line and column.
pub fn read_map(
    path: &Path,
    addressing: Addressing,
) -> Result<Vec<RegisterPoint>, MapCommandError> {
    read_map_described(path, addressing, addressing_word(addressing).to_string())
}

fn read_map_described(
    path: &Path,
    addressing: Addressing,
    described: String,
) -> Result<Vec<RegisterPoint>, MapCommandError> {
    let file = path.display().to_string();
    let format = MapFormat::of_path(path).ok_or_else(|| MapCommandError::Format(file.clone()))?;
    let text = std::fs::read_to_string(path).map_err(|e| MapCommandError::Read {
        path: file.clone(),
        reason: e.to_string(),
    })?;
    mapfile::parse(&text, format, addressing).map_err(|errors| MapCommandError::Invalid {
        file,
        errors,
        addressing: described,
    })
}

/// The device named `name`: as stored, else as configured.
async fn find_device(
    store: &dyn Store,
    config: Option<&Config>,
    name: &str,
) -> Result<DeviceSpec, MapCommandError> {
    let stored = store.list_devices().await?;
    if let Some(r) = stored.into_iter().find(|r| r.spec.name == name) {
        return Ok(r.spec);
    }
    config
        .and_then(|c| c.devices.iter().find(|d| d.spec.name == name))
        .map(|d| d.spec.clone())
        .ok_or_else(|| MapCommandError::NoDevice {
            name: name.to_string(),
            in_config: config.is_some(),
        })
}

/// Validates the whole map file first; only then replaces device `name`'s map in the store
/// (other devices and every stored reading stay). Returns a one-line summary. Without
/// `addressing`, the device's `addressing` in `config` applies, else wire.
pub async fn import(
    file: &Path,
    name: &str,
    addressing: Option<Addressing>,
    config: Option<&Config>,
    database_url: Option<&str>,
) -> Result<String, MapCommandError> {
    let (addressing, described) = import_addressing(addressing, config, name);
    let points = read_map_described(file, addressing, described)?;
    let store = open_store(config, database_url).await?;
    let mut spec = find_device(&*store, config, name).await?;
    spec.registers = points;
    let change = crate::audit::device_change(
        crate::audit::Actor::named(crate::audit::BY_CLI),
        name,
        Some(crate::audit::action::DEVICE_REGISTER_MAP),
    );
    let written = store.upsert_device_audited(&spec, change).await?;
    if let Some(e) = &written.entry {
        crate::audit::log(e);
    }
    let record = written.value;
    Ok(format!(
        "imported {} registers from {} into device {:?} (id {})",
        record.spec.registers.len(),
        file.display(),
        name,
        record.id
    ))
}

/// The device named `name`, as stored or else as configured (for `devices plan`).
pub async fn device(
    name: &str,
    config: Option<&Config>,
    database_url: Option<&str>,
) -> Result<DeviceSpec, MapCommandError> {
    let store = open_store(config, database_url).await?;
    find_device(&*store, config, name).await
}

/// Device `name`'s map as a file of `format` (wire addressing).
pub async fn export(
    name: &str,
    format: MapFormat,
    config: Option<&Config>,
    database_url: Option<&str>,
) -> Result<String, MapCommandError> {
    let store = open_store(config, database_url).await?;
    let spec = find_device(&*store, config, name).await?;
    Ok(mapfile::write(&spec.registers, format))
}
