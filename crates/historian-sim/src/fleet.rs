//! The reference fleet: 30 devices with a 100-point map each, used by the demo, the
//! tests and the benchmarks.

use historian_model::{DataType, RegisterPoint, RegisterRef, Table};

/// Devices in the reference fleet.
pub const REFERENCE_DEVICES: usize = 30;
/// Points per device in the reference fleet.
pub const REFERENCE_POINTS: usize = 100;

/// A map of `n` points shaped like a power meter: two of every five are float32 input
/// registers (currents, voltages), the rest are holding registers (uint32 energy counters,
/// int16 temperatures in hundredths, uint16 voltages in tenths). Each table is contiguous,
/// so the planner reads a 100-point map in two requests.
pub fn reference_map(n: usize) -> Vec<RegisterPoint> {
    let mut next_input: u32 = 0;
    let mut next_holding: u32 = 0;
    let mut points = Vec::with_capacity(n);
    for i in 0..n {
        let (table, data_type, scale, unit, stem) = match i % 5 {
            0 | 1 => (Table::InputRegister, DataType::Float32, 1.0, "A", "current"),
            2 => (
                Table::HoldingRegister,
                DataType::Uint32,
                1.0,
                "Wh",
                "energy",
            ),
            3 => (
                Table::HoldingRegister,
                DataType::Int16,
                0.01,
                "degC",
                "temperature",
            ),
            _ => (
                Table::HoldingRegister,
                DataType::Uint16,
                0.1,
                "V",
                "voltage",
            ),
        };
        let next = if table == Table::InputRegister {
            &mut next_input
        } else {
            &mut next_holding
        };
        let Ok(address) = u16::try_from(*next) else {
            break; // a map larger than the address space: stop at its end
        };
        *next += u32::from(data_type.width());
        if *next > 65_536 {
            break;
        }
        points.push(RegisterPoint {
            name: format!("{stem}_{i:03}"),
            register: RegisterRef::new(table, address),
            data_type,
            scale,
            unit: unit.to_string(),
            ..RegisterPoint::default()
        });
    }
    points
}

/// The name of reference device `index` (`sim-000`, `sim-001`, ...).
pub fn device_name(index: usize) -> String {
    format!("sim-{index:03}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use historian_modbus::ReadPlan;
    use historian_model::PlanOptions;
    use historian_model::check_map;

    #[test]
    fn reference_map_is_valid_and_reads_in_two_requests() {
        let map = reference_map(REFERENCE_POINTS);
        assert_eq!(map.len(), 100);
        assert!(check_map(&map).is_empty());
        let plan = ReadPlan::new(&map, PlanOptions::default());
        assert_eq!(plan.requests.len(), 2);
        assert_eq!(plan.total_count(), 160);
    }
}
