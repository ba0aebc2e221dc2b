//! Read planning: coalesce a register map into the fewest Modbus requests, once per map.

use crate::map::RegisterPoint;
use crate::types::Table;

pub use historian_model::{MAX_BITS_PER_READ, MAX_REGISTERS_PER_READ, PlanOptions};

impl ReadRequest {
    /// A request reading only point `index` of `points`.
    pub fn single(points: &[RegisterPoint], index: usize) -> Self {
        let p = &points[index];
        Self {
            table: p.register.table,
            start: p.register.address,
            count: p.width(),
            points: vec![(index, 0)],
        }
    }
}

/// One Modbus read request and the points it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    /// The table read (decides the function code).
    pub table: Table,
    /// First wire address.
    pub start: u16,
    /// Registers (or bits) requested.
    pub count: u16,
    /// `(index into the map, offset of its first word in the response)` per point.
    pub points: Vec<(usize, u16)>,
}

/// The requests that read a whole map, computed once when the map loads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadPlan {
    /// Requests in send order (table, then address).
    pub requests: Vec<ReadRequest>,
}

impl ReadPlan {
    /// Plans reads for `points` (assumed valid, see [`crate::map::check_map`]).
    pub fn new(points: &[RegisterPoint], opts: PlanOptions) -> Self {
        Self::for_subset(points, |_| true, opts)
    }

    /// Plans reads for the points whose index `include` accepts; indices in the plan
    /// still refer to `points`.
    pub fn for_subset(
        points: &[RegisterPoint],
        include: impl Fn(usize) -> bool,
        opts: PlanOptions,
    ) -> Self {
        let mut order: Vec<usize> = (0..points.len()).filter(|&i| include(i)).collect();
        order.sort_by_key(|&i| (points[i].register.table, points[i].register.address));

        let mut requests: Vec<ReadRequest> = Vec::new();
        for i in order {
            let p = &points[i];
            let table = p.register.table;
            let start = p.register.address;
            let width = p.width();
            let limit = if table.is_bit() {
                opts.max_bits.clamp(1, MAX_BITS_PER_READ)
            } else {
                opts.max_registers.clamp(1, MAX_REGISTERS_PER_READ)
            };
            if let Some(last) = requests.last_mut()
                && last.table == table
            {
                let end = u32::from(last.start) + u32::from(last.count);
                let gap = u32::from(start).saturating_sub(end);
                let new_count = u32::from(start) + u32::from(width) - u32::from(last.start);
                if gap <= u32::from(opts.max_gap) && new_count <= u32::from(limit) {
                    last.count = last.count.max(new_count as u16);
                    last.points.push((i, start - last.start));
                    continue;
                }
            }
            requests.push(ReadRequest {
                table,
                start,
                count: width,
                points: vec![(i, 0)],
            });
        }
        Self { requests }
    }

    /// Total registers and bits requested per poll.
    pub fn total_count(&self) -> u32 {
        self.requests.iter().map(|r| u32::from(r.count)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{DataType, RegisterRef};

    fn p(table: Table, address: u16, data_type: DataType) -> RegisterPoint {
        RegisterPoint {
            name: format!("{table}{address}"),
            register: RegisterRef::new(table, address),
            data_type,
            ..RegisterPoint::default()
        }
    }

    fn shape(plan: &ReadPlan) -> Vec<(Table, u16, u16)> {
        plan.requests
            .iter()
            .map(|r| (r.table, r.start, r.count))
            .collect()
    }

    #[test]
    fn contiguous_registers_coalesce_per_table() {
        use DataType::*;
        use Table::*;
        let map = vec![
            p(HoldingRegister, 2, Float32),
            p(InputRegister, 0, Uint16),
            p(HoldingRegister, 0, Uint32),
            p(InputRegister, 1, Int16),
            p(Coil, 5, Bool),
            p(Coil, 6, Bool),
        ];
        let plan = ReadPlan::new(&map, PlanOptions::default());
        assert_eq!(
            shape(&plan),
            vec![(Coil, 5, 2), (InputRegister, 0, 2), (HoldingRegister, 0, 4)]
        );
        // point 0 (float at 2) sits at offset 2 of the holding read
        assert_eq!(plan.requests[2].points, vec![(2, 0), (0, 2)]);
    }

    #[test]
    fn gaps_split_unless_bridged() {
        let map = vec![
            p(Table::HoldingRegister, 0, DataType::Uint16),
            p(Table::HoldingRegister, 4, DataType::Uint16),
        ];
        let strict = ReadPlan::new(&map, PlanOptions::default());
        assert_eq!(strict.requests.len(), 2);
        let bridged = ReadPlan::new(
            &map,
            PlanOptions {
                max_gap: 3,
                ..PlanOptions::default()
            },
        );
        assert_eq!(shape(&bridged), vec![(Table::HoldingRegister, 0, 5)]);
    }

    #[test]
    fn requests_respect_the_protocol_limit_and_never_split_a_value() {
        // 70 float32 = 140 registers: must split, and never between a value's two words
        let map: Vec<_> = (0..70)
            .map(|i| p(Table::InputRegister, i * 2, DataType::Float32))
            .collect();
        let plan = ReadPlan::new(&map, PlanOptions::default());
        assert_eq!(
            shape(&plan),
            vec![
                (Table::InputRegister, 0, 124),
                (Table::InputRegister, 124, 16)
            ]
        );
        let bits: Vec<_> = (0..2500)
            .map(|i| p(Table::Coil, i, DataType::Bool))
            .collect();
        let plan = ReadPlan::new(&bits, PlanOptions::default());
        assert_eq!(
            shape(&plan),
            vec![(Table::Coil, 0, 2000), (Table::Coil, 2000, 500)]
        );
        let small = ReadPlan::new(
            &map,
            PlanOptions {
                max_registers: 10,
                ..PlanOptions::default()
            },
        );
        assert!(small.requests.iter().all(|r| r.count <= 10));
        assert_eq!(small.total_count(), 140);
    }

    #[test]
    fn bits_of_one_register_share_a_read_and_strings_take_their_length() {
        let bit = |address, b| RegisterPoint {
            name: format!("b{address}_{b}"),
            register: RegisterRef::new(Table::HoldingRegister, address).with_bit(b),
            data_type: DataType::Bool,
            ..RegisterPoint::default()
        };
        let text = RegisterPoint {
            name: "model".into(),
            register: RegisterRef::new(Table::HoldingRegister, 11),
            data_type: DataType::String,
            length: Some(8),
            ..RegisterPoint::default()
        };
        let map = vec![bit(10, 0), bit(10, 7), bit(10, 15), text];
        let plan = ReadPlan::new(&map, PlanOptions::default());
        assert_eq!(shape(&plan), vec![(Table::HoldingRegister, 10, 9)]);
        assert_eq!(
            plan.requests[0].points,
            vec![(0, 0), (1, 0), (2, 0), (3, 1)]
        );
    }
}
