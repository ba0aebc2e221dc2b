//! What a simulated device serves: every mapped value is a pure function of (device index,
//! point, time step), see [`raw_value`], and every unmapped address of (device, table,
//! address, step), see [`unmapped_word`]. Tests compute from these what the collector should
//! have stored without asking the simulator.

use historian_modbus::decode::scale;
use historian_model::{DataType, RegisterPoint, Table};

/// Default length of one simulator time step: values change once a second.
pub const DEFAULT_STEP_MS: u64 = 1000;

/// The time step holding `unix_ms`.
pub fn step_at(unix_ms: i64, step_ms: u64) -> i64 {
    unix_ms.div_euclid(step_ms.max(1) as i64)
}

/// The raw (unscaled) value device `device` serves for `point` during `step`.
///
/// Always exactly representable in the point's data type, so encode-then-decode returns it.
pub fn raw_value(device: u32, point: &RegisterPoint, step: i64) -> f64 {
    let d = i64::from(device);
    let a = i64::from(point.register.address);
    let s = step;
    match point.data_type {
        DataType::Bool => {
            let b = i64::from(point.register.bit.unwrap_or(0));
            f64::from(u8::from((s + a + d + b).rem_euclid(2) == 0))
        }
        // Strings are served by [`text_value`]; as a number they are 0.
        DataType::String => 0.0,
        DataType::Uint16 => (d * 131 + a * 17 + s).rem_euclid(1 << 16) as f64,
        DataType::Int16 => ((d * 131 + a * 17 + s * 3).rem_euclid(1 << 16) - (1 << 15)) as f64,
        DataType::Uint32 => (d * 1_000_003 + a * 1009 + s * 7).rem_euclid(1 << 32) as f64,
        DataType::Int32 => {
            ((d * 1_000_003 + a * 1009 + s * 7).rem_euclid(1 << 32) - (1 << 31)) as f64
        }
        // Kept below 2^53 so the f64 the store holds is exact.
        DataType::Uint64 => (d * 1_000_000_007 + a * 1_000_003 + s).rem_euclid(1 << 52) as f64,
        DataType::Int64 => -((d * 1_000_000_007 + a * 1_000_003 + s).rem_euclid(1 << 52)) as f64,
        DataType::Float32 => {
            let phase = (s + a) as f64 * 0.1;
            f64::from((100.0 + 10.0 * d as f64 + 50.0 * phase.sin()) as f32)
        }
        DataType::Float64 => {
            let phase = (s + a) as f64 * 0.05;
            1000.0 + d as f64 + 250.0 * phase.cos()
        }
    }
}

/// The text device `device` serves for string `point` during `step`: `D<device> S<step>`,
/// cut to what the point's registers hold, without trailing spaces (they read as padding).
pub fn text_value(device: u32, point: &RegisterPoint, step: i64) -> String {
    let mut text = format!("D{device} S{step}");
    text.truncate(usize::from(point.width()) * 2);
    text.truncate(text.trim_end_matches(' ').len());
    text
}

/// The text the collector should store for string `point` of device `device` when the
/// simulator answered at `unix_ms`.
pub fn expected_text(device: u32, point: &RegisterPoint, unix_ms: i64, step_ms: u64) -> String {
    text_value(device, point, step_at(unix_ms, step_ms))
}

/// The engineering value the collector should store for `point` of device `device` when
/// the simulator answered at `unix_ms`.
pub fn expected_value(device: u32, point: &RegisterPoint, unix_ms: i64, step_ms: u64) -> f64 {
    let raw = raw_value(device, point, step_at(unix_ms, step_ms));
    scale(raw, point.scale, point.offset)
}

/// The word an unmapped register answers.
pub fn unmapped_word(device: u32, table: Table, address: u16, step: i64) -> u16 {
    let mix = i64::from(device) * 7 + i64::from(table.prefix()) * 13 + i64::from(address) + step;
    mix.rem_euclid(1 << 16) as u16
}
