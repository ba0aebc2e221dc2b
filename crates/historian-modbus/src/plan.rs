//! Read planning: coalesce a register map into the fewest Modbus requests, once per map.

use historian_model::RegisterPoint;
use historian_model::Table;
use thiserror::Error;

use historian_model::{MAX_BITS_PER_READ, MAX_REGISTERS_PER_READ, PlanOptions};

/// Why a read request cannot be built: the protocol forbids it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum RequestError {
    /// A read must ask for at least one register or bit.
    #[error("a read of {table} must ask for at least one value")]
    Empty {
        /// The table read.
        table: Table,
    },
    /// More values than one request may carry.
    #[error("{count} values of {table} in one read; the protocol allows at most {max}")]
    TooMany {
        /// The table read.
        table: Table,
        /// Values asked for.
        count: u16,
        /// The protocol's ceiling for that table.
        max: u16,
    },
    /// The read would run past the last wire address.
    #[error("a read of {count} values from wire address {start} runs past address 65535")]
    PastEnd {
        /// First wire address.
        start: u16,
        /// Values asked for.
        count: u16,
    },
}

/// One Modbus read request and the points it carries. Built only through
/// [`ReadRequest::new`] (or [`ReadRequest::single`]), so it fits the protocol; its fields
/// are read through accessors, and a request is changed only by building a new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadRequest {
    table: Table,
    start: u16,
    count: u16,
    points: Vec<(usize, u16)>,
}

impl ReadRequest {
    /// The table read (decides the function code).
    pub fn table(&self) -> Table {
        self.table
    }

    /// First wire address.
    pub fn start(&self) -> u16 {
        self.start
    }

    /// Registers (or bits) requested.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// `(index into the map, offset of its first word in the response)` per point.
    pub fn points(&self) -> &[(usize, u16)] {
        &self.points
    }

    /// A read of `count` values of `table` from wire address `start`, carrying `points`;
    /// refused when it asks for nothing, for more than 125 registers or 2000 bits, or
    /// for addresses past 65535.
    pub fn new(
        table: Table,
        start: u16,
        count: u16,
        points: Vec<(usize, u16)>,
    ) -> Result<Self, RequestError> {
        check(table, start, count)?;
        Ok(Self {
            table,
            start,
            count,
            points,
        })
    }

    /// A request reading only point `index` of `points`.
    pub fn single(points: &[RegisterPoint], index: usize) -> Result<Self, RequestError> {
        let p = &points[index];
        Self::new(
            p.register.table,
            p.register.address,
            p.width(),
            vec![(index, 0)],
        )
    }

    /// Stretches the read to `count` values, within the same limits.
    fn grow_to(&mut self, count: u16) -> Result<(), RequestError> {
        check(self.table, self.start, count)?;
        self.count = count;
        Ok(())
    }
}

/// The protocol's limits on one read: some values, not too many, none past the last address.
fn check(table: Table, start: u16, count: u16) -> Result<(), RequestError> {
    let max = if table.is_bit() {
        MAX_BITS_PER_READ
    } else {
        MAX_REGISTERS_PER_READ
    };
    if count == 0 {
        Err(RequestError::Empty { table })
    } else if count > max {
        Err(RequestError::TooMany { table, count, max })
    } else if u32::from(start) + u32::from(count) > 65_536 {
        Err(RequestError::PastEnd { start, count })
    } else {
        Ok(())
    }
}

/// The requests that read a whole map, computed once when the map loads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReadPlan {
    /// Requests in send order (table, then address).
    pub requests: Vec<ReadRequest>,
}

impl ReadPlan {
    /// Plans reads for `points` (checked by [`historian_model::check_map`]; a point no request
    /// can read, which that check refuses, is left out with a warning and stays `bad`).
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
                if gap <= u32::from(opts.max_gap)
                    && new_count <= u32::from(limit)
                    && let Ok(new_count) = u16::try_from(new_count)
                    && last.grow_to(last.count.max(new_count)).is_ok()
                {
                    last.points.push((i, start - last.start));
                    continue;
                }
            }
            match ReadRequest::new(table, start, width, vec![(i, 0)]) {
                Ok(req) => requests.push(req),
                Err(e) => tracing::warn!(
                    point = %p.name,
                    error = %e,
                    "register left out of the read plan: no request can read it"
                ),
            }
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
    use historian_model::{DataType, RegisterRef};

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

    #[test]
    fn requests_are_refused_past_the_protocol_limits() {
        use RequestError::*;
        use Table::*;
        let new = |table, start, count| ReadRequest::new(table, start, count, Vec::new());
        assert!(new(HoldingRegister, 0, 125).is_ok());
        assert_eq!(
            new(InputRegister, 0, 126),
            Err(TooMany {
                table: InputRegister,
                count: 126,
                max: 125
            })
        );
        assert!(new(Coil, 0, 2000).is_ok());
        assert_eq!(
            new(DiscreteInput, 0, 2001),
            Err(TooMany {
                table: DiscreteInput,
                count: 2001,
                max: 2000
            })
        );
        assert_eq!(new(Coil, 7, 0), Err(Empty { table: Coil }));
    }

    #[test]
    fn requests_never_wrap_past_the_last_address() {
        use Table::*;
        let new = |table, start, count| ReadRequest::new(table, start, count, Vec::new());
        assert!(new(HoldingRegister, 65_535, 1).is_ok());
        assert!(new(HoldingRegister, 65_411, 125).is_ok());
        assert_eq!(
            new(HoldingRegister, 65_412, 125),
            Err(RequestError::PastEnd {
                start: 65_412,
                count: 125
            })
        );
        assert!(new(Coil, 63_536, 2000).is_ok());
        assert!(new(Coil, 63_537, 2000).is_err());
        let mut req = new(InputRegister, 65_530, 4).expect("fits");
        assert!(req.grow_to(7).is_err());
        assert_eq!(
            req.count, 4,
            "a refused stretch leaves the request as it was"
        );
        assert!(req.grow_to(6).is_ok());
    }

    #[test]
    fn a_point_no_request_can_read_is_left_out_of_the_plan() {
        let map = vec![
            p(Table::HoldingRegister, 65_534, DataType::Uint16),
            p(Table::HoldingRegister, 65_535, DataType::Float32),
        ];
        let plan = ReadPlan::new(&map, PlanOptions::default());
        assert_eq!(shape(&plan), vec![(Table::HoldingRegister, 65_534, 1)]);
        assert_eq!(plan.requests[0].points, vec![(0, 0)]);
        assert!(ReadRequest::single(&map, 1).is_err());
        assert!(ReadRequest::single(&map, 0).is_ok());
    }
}
