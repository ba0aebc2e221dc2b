//! `--apply`: the proposed map stored as a device, through the same validator and audited
//! write as any other device created from the command line.

use super::error::DiscoverCommandError;
use super::target::check;
use crate::audit::{Actor, BY_CLI, device_change, log};
use historian_model::input::DeviceInput;
use historian_store::Store;

/// Creates or replaces the device `input` describes; returns a one-line report.
pub async fn apply(
    store: &dyn Store,
    target: &str,
    input: DeviceInput,
) -> Result<String, DiscoverCommandError> {
    let spec = check(target, input)?;
    let written = store
        .upsert_device_audited(&spec, device_change(Actor::named(BY_CLI), &spec.name, None))
        .await
        .map_err(DiscoverCommandError::Store)?;
    if let Some(e) = &written.entry {
        log(e);
    }
    Ok(format!(
        "stored device {:?} (id {}) with {} registers, unit {}",
        spec.name,
        written.value.id,
        spec.registers.len(),
        spec.unit_id
    ))
}
