//! What a simulated device answers beyond its values: which addresses it serves (the rest
//! answer exception 02, as a real device's unmapped addresses do) and the identification
//! objects it gives for Read Device Identification (FC 43/14).

use historian_model::{RegisterPoint, Table};
use std::collections::HashMap;
use tokio_modbus::bytes::Bytes;
use tokio_modbus::prelude::{
    ConformityLevel, DeviceIdObject, ReadCode, ReadDeviceIdentificationResponse,
};

/// The readable addresses of each table, as sorted, merged inclusive ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressSpace {
    ranges: HashMap<Table, Vec<(u16, u16)>>,
}

impl AddressSpace {
    /// Exactly the addresses `points` occupy (register bits count as their register).
    pub fn of_map(points: &[RegisterPoint]) -> Self {
        let mut space = Self::default();
        for p in points {
            let first = p.register.address;
            let last = first.saturating_add(p.width().saturating_sub(1));
            space = space.with_range(p.register.table, first, last);
        }
        space
    }

    /// Also serves `first..=last` of `table`.
    pub fn with_range(mut self, table: Table, first: u16, last: u16) -> Self {
        let list = self.ranges.entry(table).or_default();
        list.push((first.min(last), first.max(last)));
        list.sort_unstable();
        let mut merged: Vec<(u16, u16)> = Vec::with_capacity(list.len());
        for &(a, b) in list.iter() {
            match merged.last_mut() {
                Some(last) if u32::from(a) <= u32::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => merged.push((a, b)),
            }
        }
        *list = merged;
        self
    }

    /// The readable ranges of `table`.
    pub fn ranges(&self, table: Table) -> &[(u16, u16)] {
        self.ranges.get(&table).map_or(&[], Vec::as_slice)
    }

    /// True when every address of the read lies in one readable range.
    pub fn covers(&self, table: Table, start: u16, count: u16) -> bool {
        let last = u32::from(start) + u32::from(count.max(1)) - 1;
        self.ranges(table)
            .iter()
            .any(|&(a, b)| a <= start && last <= u32::from(b))
    }
}

/// The basic identification objects a simulated device reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimIdentity {
    /// VendorName (object 0).
    pub vendor: String,
    /// ProductCode (object 1).
    pub product: String,
    /// MajorMinorRevision (object 2).
    pub revision: String,
}

impl SimIdentity {
    /// The answer to a basic stream request (objects 0 to 2).
    pub(crate) fn response(&self) -> ReadDeviceIdentificationResponse {
        let object = |id: u8, text: &str| DeviceIdObject {
            id,
            value: Bytes::copy_from_slice(text.as_bytes()),
        };
        ReadDeviceIdentificationResponse {
            read_code: ReadCode::Basic,
            conformity_level: ConformityLevel::BasicIdentificationStreamOnly,
            more_follows: false,
            next_object_id: 0,
            device_id_objects: vec![
                object(0, &self.vendor),
                object(1, &self.product),
                object(2, &self.revision),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_and_cover_whole_reads_only() {
        let space = AddressSpace::default()
            .with_range(Table::HoldingRegister, 10, 19)
            .with_range(Table::HoldingRegister, 20, 29)
            .with_range(Table::HoldingRegister, 40, 40);
        assert_eq!(space.ranges(Table::HoldingRegister), &[(10, 29), (40, 40)]);
        assert!(space.covers(Table::HoldingRegister, 10, 20));
        assert!(!space.covers(Table::HoldingRegister, 10, 21));
        assert!(space.covers(Table::HoldingRegister, 40, 1));
        assert!(!space.covers(Table::InputRegister, 10, 1));
    }
}
