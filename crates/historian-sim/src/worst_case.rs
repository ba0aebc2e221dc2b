//! The worst-case signals, for stress runs: every value jumps every step, over its type's
//! whole range (integers count through it, floats swing by ±50), and every string changes.

use historian_model::{DataType, RegisterPoint};

/// The raw (unscaled) value device `device` serves for `point` during `step`.
pub(crate) fn raw(device: u32, point: &RegisterPoint, step: i64) -> f64 {
    let d = i64::from(device);
    let a = i64::from(point.register.address);
    let s = step;
    match point.data_type {
        DataType::Bool => {
            let b = i64::from(point.register.bit.unwrap_or(0));
            f64::from(u8::from((s + a + d + b).rem_euclid(2) == 0))
        }
        // Strings are served by [`text`]; as a number they are 0.
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

/// The text device `device` serves for string `point` during `step`: `D<device> S<step>`.
pub(crate) fn text(device: u32, step: i64) -> String {
    format!("D{device} S{step}")
}
