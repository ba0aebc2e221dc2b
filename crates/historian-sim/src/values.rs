//! What a simulated device serves: every mapped value is a pure function of (signals,
//! device index, point, time step), see [`Signals::raw_value`], and every unmapped address
//! of (device, table, address, step), see [`unmapped_word`]. Tests compute from these what
//! the collector should have stored without asking the simulator.

use crate::{realistic, worst_case};
use historian_modbus::decode::scale;
use historian_model::{RegisterPoint, Table};
use std::fmt;
use std::str::FromStr;

/// Default length of one simulator time step: values change once a second.
pub const DEFAULT_STEP_MS: u64 = 1000;

/// Which values a simulated device serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum Signals {
    /// What real devices serve: slow drifts with a little noise in a range chosen by the
    /// register's unit and name (230 V, 50 Hz, 20–80 °C, ...), counters that only grow,
    /// status bits that change every few hundred steps, constant set-points and
    /// identification strings.
    #[default]
    Realistic,
    /// For stress runs: every value jumps every step over its type's whole range, every
    /// string changes.
    WorstCase,
}

/// A signals name other than `realistic` or `worst-case`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSignals(pub String);

impl fmt::Display for UnknownSignals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown signals {:?}: expected realistic or worst-case",
            self.0
        )
    }
}

impl std::error::Error for UnknownSignals {}

impl Signals {
    /// The name used on the command line and in reports (`realistic`, `worst-case`).
    pub const fn name(self) -> &'static str {
        match self {
            Signals::Realistic => "realistic",
            Signals::WorstCase => "worst-case",
        }
    }

    /// The raw (unscaled) value device `device` serves for `point` during `step`.
    ///
    /// Always exactly representable in the point's data type, so encode-then-decode
    /// returns it.
    pub fn raw_value(self, device: u32, point: &RegisterPoint, step: i64) -> f64 {
        match self {
            Signals::Realistic => realistic::Signal::new(device, point).raw(step),
            Signals::WorstCase => worst_case::raw(device, point, step),
        }
    }

    /// The text device `device` serves for string `point` during `step`, cut to what the
    /// point's registers hold, without trailing spaces (they read as padding).
    pub fn text_value(self, device: u32, point: &RegisterPoint, step: i64) -> String {
        let mut text = match self {
            Signals::Realistic => realistic::text(device, point),
            Signals::WorstCase => worst_case::text(device, step),
        };
        text.truncate(usize::from(point.width()) * 2);
        text.truncate(text.trim_end_matches(' ').len());
        text
    }

    /// The text the collector should store for string `point` of device `device` when the
    /// simulator answered at `unix_ms`.
    pub fn expected_text(
        self,
        device: u32,
        point: &RegisterPoint,
        unix_ms: i64,
        step_ms: u64,
    ) -> String {
        self.text_value(device, point, step_at(unix_ms, step_ms))
    }

    /// The engineering value the collector should store for `point` of device `device`
    /// when the simulator answered at `unix_ms`: raw × scale + offset, and for a point with
    /// a `scale_factor` under the realistic signals, × 10^exponent of that register (the
    /// worst-case signals' exponents are rarely plausible; their points are left unscaled).
    pub fn expected_value(
        self,
        device: u32,
        point: &RegisterPoint,
        unix_ms: i64,
        step_ms: u64,
    ) -> f64 {
        let mut raw = self.raw_value(device, point, step_at(unix_ms, step_ms));
        if let (Signals::Realistic, Some(factor)) = (self, point.scale_factor.as_deref()) {
            // As the collector applies it: dividing keeps decimal results exact.
            let e = realistic::scale_factor_exponent(factor);
            raw = if e < 0 {
                raw / 10f64.powi(-e)
            } else {
                raw * 10f64.powi(e)
            };
        }
        scale(raw, point.scale, point.offset)
    }
}

impl fmt::Display for Signals {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Signals {
    type Err = UnknownSignals;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "realistic" => Ok(Signals::Realistic),
            "worst-case" => Ok(Signals::WorstCase),
            other => Err(UnknownSignals(other.to_string())),
        }
    }
}

/// The time step holding `unix_ms`.
pub fn step_at(unix_ms: i64, step_ms: u64) -> i64 {
    unix_ms.div_euclid(step_ms.max(1) as i64)
}

/// [`Signals::raw_value`] of the default (realistic) signals.
pub fn raw_value(device: u32, point: &RegisterPoint, step: i64) -> f64 {
    Signals::default().raw_value(device, point, step)
}

/// [`Signals::text_value`] of the default (realistic) signals.
pub fn text_value(device: u32, point: &RegisterPoint, step: i64) -> String {
    Signals::default().text_value(device, point, step)
}

/// [`Signals::expected_text`] of the default (realistic) signals.
pub fn expected_text(device: u32, point: &RegisterPoint, unix_ms: i64, step_ms: u64) -> String {
    Signals::default().expected_text(device, point, unix_ms, step_ms)
}

/// [`Signals::expected_value`] of the default (realistic) signals.
pub fn expected_value(device: u32, point: &RegisterPoint, unix_ms: i64, step_ms: u64) -> f64 {
    Signals::default().expected_value(device, point, unix_ms, step_ms)
}

/// The word an unmapped register answers.
pub fn unmapped_word(device: u32, table: Table, address: u16, step: i64) -> u16 {
    let mix = i64::from(device) * 7 + i64::from(table.prefix()) * 13 + i64::from(address) + step;
    mix.rem_euclid(1 << 16) as u16
}
