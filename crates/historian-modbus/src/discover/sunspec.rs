//! SunSpec detection: the `SunS` marker at one of the usual base addresses (40000, 50000,
//! 0, and their 1-based forms 40001, 50001, 1), then the chain of model headers (model id
//! and length) up to the end marker (id 0xFFFF).

use super::space::Prober;
use crate::client::{ReadData, ReadError};
use historian_model::Table;

/// Where devices put the SunSpec marker, most common first.
pub const BASES: [u16; 6] = [40_000, 50_000, 0, 40_001, 50_001, 1];

/// "SunS" as two big-endian registers.
pub const MARKER: [u16; 2] = [0x5375, 0x6E53];

/// The model id that ends the chain.
pub const END: u16 = 0xFFFF;

/// More models than any device holds: a chain this long is taken as garbage.
const MAX_MODELS: usize = 512;

/// One model of the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SunSpecModel {
    /// Model id (1 common, 101–103 inverters, 201–204 meters, ...).
    pub id: u16,
    /// Wire address of the model's id register.
    pub address: u16,
    /// Registers of the model's body, after its two header registers.
    pub len: u16,
}

/// A SunSpec device's layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SunSpecMap {
    /// Wire address of the marker.
    pub base: u16,
    /// The models in chain order.
    pub models: Vec<SunSpecModel>,
    /// False when the chain broke off (a read failed, or it ran past the address space)
    /// before the end marker.
    pub complete: bool,
}

async fn words<P: Prober>(
    prober: &mut P,
    start: u16,
    count: u16,
) -> Result<Option<Vec<u16>>, ReadError> {
    if u32::from(start) + u32::from(count) > 65_536 {
        return Ok(None);
    }
    match prober.read(Table::HoldingRegister, start, count).await {
        Ok(ReadData::Registers(w)) => Ok(Some(w)),
        Ok(ReadData::Bits(_)) | Err(ReadError::Exception(_) | ReadError::ShortReply { .. }) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Looks for the marker at each base in turn and walks the chain from the first found;
/// `None` when no base holds it. Reads holding registers only.
pub async fn detect<P: Prober>(prober: &mut P) -> Result<Option<SunSpecMap>, ReadError> {
    for base in BASES {
        if words(prober, base, 2).await?.as_deref() != Some(&MARKER[..]) {
            continue;
        }
        let mut models = Vec::new();
        let mut at = u32::from(base) + 2;
        let mut complete = false;
        while models.len() < MAX_MODELS {
            let Ok(address) = u16::try_from(at) else {
                break;
            };
            let Some(header) = words(prober, address, 2).await? else {
                break;
            };
            if header[0] == END {
                complete = true;
                break;
            }
            models.push(SunSpecModel {
                id: header[0],
                address,
                len: header[1],
            });
            at += 2 + u32::from(header[1]);
        }
        return Ok(Some(SunSpecMap {
            base,
            models,
            complete,
        }));
    }
    Ok(None)
}
