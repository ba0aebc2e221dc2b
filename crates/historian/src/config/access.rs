//! Checks of the fields that say how a device is reached and read, shared by the config
//! file and the device API so both accept and refuse the same values with the same words.

use super::Link;
use historian_modbus::PlanOptions;
use historian_modbus::client::SerialSettings;
use historian_modbus::plan::MAX_REGISTERS_PER_READ;

/// The link fields as given (a config table or an API body), before checking.
#[derive(Debug, Default, Clone, Copy)]
pub struct LinkFields<'a> {
    /// `tcp` (default), `rtu_over_tcp` or `rtu`.
    pub transport: Option<&'a str>,
    /// Serial port path, for `rtu`.
    pub serial_port: Option<&'a str>,
    /// Bits per second, for `rtu`.
    pub baud_rate: Option<i64>,
    /// `none`, `even` or `odd`, for `rtu`.
    pub parity: Option<&'a str>,
    /// 1 or 2, for `rtu`.
    pub stop_bits: Option<i64>,
    /// 7 or 8, for `rtu`.
    pub data_bits: Option<i64>,
}

impl LinkFields<'_> {
    /// The link these fields describe; each mistake goes to `problem(field, what)`.
    pub fn check(&self, problem: &mut dyn FnMut(&'static str, String)) -> Link {
        let kind = self
            .transport
            .map(|t| t.trim().to_ascii_lowercase().replace('-', "_"));
        let serial_fields = [
            ("serial_port", self.serial_port.is_some()),
            ("baud_rate", self.baud_rate.is_some()),
            ("parity", self.parity.is_some()),
            ("stop_bits", self.stop_bits.is_some()),
            ("data_bits", self.data_bits.is_some()),
        ];
        match kind.as_deref() {
            None | Some("tcp") | Some("rtu_over_tcp") => {
                for (field, given) in serial_fields {
                    if given {
                        problem(
                            field,
                            "applies to transport = \"rtu\" (a serial port) only".into(),
                        );
                    }
                }
                if kind.as_deref() == Some("rtu_over_tcp") {
                    Link::RtuOverTcp
                } else {
                    Link::Tcp
                }
            }
            Some("rtu") => Link::Serial(self.serial(problem)),
            Some(other) => {
                problem(
                    "transport",
                    format!("unknown transport {other:?} (expected tcp, rtu_over_tcp or rtu)"),
                );
                Link::Tcp
            }
        }
    }

    fn serial(&self, problem: &mut dyn FnMut(&'static str, String)) -> SerialSettings {
        let mut s = SerialSettings::new(self.serial_port.unwrap_or_default());
        if self.serial_port.is_none_or(|p| p.trim().is_empty()) {
            problem(
                "serial_port",
                "is required with transport = \"rtu\" (e.g. \"/dev/ttyUSB0\")".into(),
            );
        }
        if let Some(b) = self.baud_rate {
            match u32::try_from(b) {
                Ok(b @ 300..=4_000_000) => s.baud_rate = b,
                _ => problem("baud_rate", format!("{b} is out of range 300-4000000")),
            }
        }
        if let Some(p) = self.parity {
            match p.parse() {
                Ok(p) => s.parity = p,
                Err(e) => problem("parity", e),
            }
        }
        match self.stop_bits {
            None => {}
            Some(b @ (1 | 2)) => s.stop_bits = b as u8,
            Some(b) => problem("stop_bits", format!("{b} is not 1 or 2")),
        }
        match self.data_bits {
            None => {}
            Some(b @ (7 | 8)) => s.data_bits = b as u8,
            Some(b) => problem("data_bits", format!("{b} is not 7 or 8")),
        }
        s
    }
}

/// Read-planning limits from a device's `max_gap` and `max_registers_per_read`; each
/// mistake goes to `problem(field, what)`.
pub fn plan_options(
    max_gap: Option<i64>,
    max_registers_per_read: Option<i64>,
    problem: &mut dyn FnMut(&'static str, String),
) -> PlanOptions {
    let mut plan = PlanOptions::default();
    if let Some(g) = max_gap {
        match u16::try_from(g) {
            Ok(g) if g < MAX_REGISTERS_PER_READ => plan.max_gap = g,
            _ => problem("max_gap", format!("{g} is out of range 0-124")),
        }
    }
    if let Some(m) = max_registers_per_read {
        match u16::try_from(m) {
            Ok(m @ 1..=MAX_REGISTERS_PER_READ) => plan.max_registers = m,
            _ => problem(
                "max_registers_per_read",
                format!("{m} is out of range 1-125"),
            ),
        }
    }
    plan
}
