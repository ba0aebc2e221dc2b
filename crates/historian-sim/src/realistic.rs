//! The realistic signals: what a real meter, relay or PLC serves. Measured values drift
//! slowly with a little noise around a level chosen by the register's unit and name,
//! counters only grow (and wrap at their type's end, or reset after about four years of
//! one-second steps), status bits change every few hundred steps, set-points, scale
//! factors and identification strings never change. Each value is a pure function of
//! (device, point, step): periods and levels are drawn from a hash of the device and the
//! register, the noise from a hash of those and the step.

use crate::quantity::{PowerKind, Quantity, Role, TempUnit, classify};
use historian_model::{DataType, RegisterPoint};
use std::collections::HashMap;
use std::f64::consts::TAU;
use std::sync::{Mutex, OnceLock};

/// Counters start over after this many steps (about four years of one-second steps), so
/// they keep clear of their type's end however large the step number.
const COUNTER_RESET_STEPS: i64 = 1 << 27;

/// Integers up to this magnitude are exact in the f64 the store holds.
const EXACT: f64 = 4_503_599_627_370_496.0; // 2^52

/// SplitMix64's finaliser: a well-mixed 64-bit hash of `x`.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A hash of `key` and `salt`.
fn hash(key: u64, salt: u64) -> u64 {
    mix(key ^ mix(salt))
}

/// A number in `lo..hi` drawn from `key` and `salt`.
fn pick(key: u64, salt: u64, lo: f64, hi: f64) -> f64 {
    let u = (hash(key, salt) >> 11) as f64 / (1u64 << 53) as f64;
    lo + (hi - lo) * u
}

/// A whole number of steps in `lo..hi` drawn from `key` and `salt`.
fn pick_steps(key: u64, salt: u64, lo: i32, hi: i32) -> i32 {
    lo + (hash(key, salt) % u64::from((hi - lo).max(1).unsigned_abs())) as i32
}

/// The identity of a register of a device, for the hashes.
fn point_key(device: u32, point: &RegisterPoint) -> u64 {
    let r = &point.register;
    mix(u64::from(device) << 32
        | u64::from(r.table.prefix()) << 24
        | u64::from(r.bit.unwrap_or(0)) << 16
        | u64::from(r.address))
}

/// `sin(2π (step + phase) / period)`, reduced first so that large step numbers keep
/// their precision.
fn wave(step: i64, phase: i32, period: i32) -> f64 {
    let period = i64::from(period.max(1));
    let at = step.wrapping_add(i64::from(phase)).rem_euclid(period);
    (TAU * at as f64 / period as f64).sin()
}

/// How a value moves over the steps, in engineering units.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// A slow drift (two waves, of tens of minutes and of about a day) with noise.
    Level {
        center: f64,
        swing: f64,
        noise: f64,
        low: f64,
        high: f64,
        periods: [i32; 2],
        phases: [i32; 2],
    },
    /// Only grows, by `per_step` on average, a little faster and slower in turn.
    Counter {
        start: f64,
        per_step: f64,
        period: i32,
    },
    /// `count` status bits (raw, unscaled), each mostly at its normal state and flipped
    /// for a window of steps now and then.
    Bits {
        count: u8,
        normal: u16,
        periods: [i32; 4],
    },
    /// A raw value that never changes.
    ConstantRaw(f64),
    /// An engineering value that never changes.
    Constant(f64),
}

/// What one point of one device serves under the realistic signals.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Signal {
    key: u64,
    shape: Shape,
    data_type: DataType,
    /// Engineering value per raw unit: scale times the scale factor's power of ten.
    per_raw: f64,
    offset: f64,
}

/// The exponent a scale-factor register named `name` serves: what suits the quantity its
/// name's stem measures (`V_SF` → -1, `A_SF` → -2, `W_SF` → 0).
pub(crate) fn scale_factor_exponent(name: &str) -> i32 {
    let stem = name
        .strip_suffix("_SF")
        .or_else(|| name.strip_suffix("_sf"))
        .unwrap_or(name);
    let stem_point = RegisterPoint {
        name: stem.to_string(),
        data_type: DataType::Float32,
        ..RegisterPoint::default()
    };
    match classify(&stem_point).0 {
        Quantity::Voltage { .. } | Quantity::Temperature(_) | Quantity::Percent => -1,
        Quantity::Current(_)
        | Quantity::Frequency
        | Quantity::PowerFactor(_)
        | Quantity::Loop
        | Quantity::Pressure(_) => -2,
        _ => 0,
    }
}

/// Level, swing, noise and bounds of a measured quantity, in the register's unit.
fn level(quantity: Quantity, key: u64, point: &RegisterPoint) -> (f64, f64, f64, f64, f64) {
    let inf = f64::INFINITY;
    let (c, swing, noise, low, high, factor, shift) = match quantity {
        Quantity::Voltage { line_line, medium } => {
            let nominal = match (medium, line_line) {
                (false, false) => 230.0,
                (false, true) => 400.0,
                (true, false) => 11.547,
                (true, true) => 20.0,
            };
            let c = nominal * (1.0 + pick(key, 1, -0.01, 0.01));
            let (s, n) = (0.015 * nominal, 0.0012 * nominal);
            (c, s, n, 0.9 * nominal, 1.1 * nominal, 1.0, 0.0)
        }
        Quantity::Current(f) => {
            let c = pick(key, 1, 20.0, 150.0);
            (c, 0.35 * c, 0.015 * c, 0.0, inf, f, 0.0)
        }
        Quantity::Loop => (pick(key, 1, 8.0, 16.0), 3.0, 0.05, 4.0, 20.0, 1.0, 0.0),
        Quantity::Frequency => (
            50.0 + pick(key, 1, -0.02, 0.02),
            0.04,
            0.005,
            49.8,
            50.2,
            1.0,
            0.0,
        ),
        Quantity::PowerFactor(f) => (pick(key, 1, 0.9, 0.97), 0.03, 0.004, 0.0, 1.0, f, 0.0),
        Quantity::Power { per_kw, kind } => match kind {
            PowerKind::Active => {
                let c = pick(key, 1, 5.0, 60.0);
                (c, 0.4 * c, 0.02 * c, 0.0, inf, per_kw, 0.0)
            }
            PowerKind::Apparent => {
                let c = pick(key, 1, 6.0, 65.0);
                (c, 0.4 * c, 0.02 * c, 0.0, inf, per_kw, 0.0)
            }
            PowerKind::Reactive => (pick(key, 1, -5.0, 15.0), 8.0, 0.5, -inf, inf, per_kw, 0.0),
        },
        Quantity::Temperature(unit) => {
            let (f, shift) = match unit {
                TempUnit::Celsius => (1.0, 0.0),
                TempUnit::Fahrenheit => (1.8, 32.0),
                TempUnit::Kelvin => (1.0, 273.15),
            };
            (pick(key, 1, 30.0, 65.0), 6.0, 0.05, 20.0, 80.0, f, shift)
        }
        Quantity::Percent => (pick(key, 1, 30.0, 70.0), 15.0, 0.3, 0.0, 100.0, 1.0, 0.0),
        Quantity::Pressure(f) => (pick(key, 1, 2.0, 8.0), 0.5, 0.02, 0.0, 16.0, f, 0.0),
        Quantity::Energy(_) | Quantity::Hours(_) | Quantity::Other => {
            match (point.limits.min, point.limits.max) {
                (Some(lo), Some(hi)) if hi > lo => {
                    let span = hi - lo;
                    let c = lo + span * pick(key, 1, 0.3, 0.7);
                    (c, 0.15 * span, 0.005 * span, lo, hi, 1.0, 0.0)
                }
                _ => {
                    let c = pick(key, 1, 100.0, 1000.0);
                    (c, 0.1 * c, 0.005 * c, 0.0, inf, 1.0, 0.0)
                }
            }
        }
    };
    let at = |v: f64| v * factor + shift;
    let mut low = at(low);
    let mut high = at(high);
    if let Some(min) = point.limits.min {
        low = low.max(min);
    }
    if let Some(max) = point.limits.max {
        high = high.min(max);
    }
    if low > high {
        (low, high) = (high, low);
    }
    (
        at(c).clamp(low, high),
        swing * factor,
        noise * factor,
        low,
        high,
    )
}

/// `v` to two significant digits (a set-point someone typed: 55, 0.92, 230).
fn typed(v: f64) -> f64 {
    if v == 0.0 || !v.is_finite() {
        return v;
    }
    let p = 10f64.powf(v.abs().log10().floor() - 1.0);
    (v / p).round() * p
}

/// The normal state of a flag named `name`: off for alarms and faults, on for "closed",
/// "enabled", "run" and the like; `None` when the name does not say (then it is drawn per
/// device).
fn normal_flag(point: &RegisterPoint) -> Option<u16> {
    let name = point.name.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| name.contains(w));
    if any(&[
        "alarm",
        "fault",
        "trip",
        "error",
        "warning",
        "emergency",
        "stop",
        "horn",
        "open",
        "high",
        "low",
    ]) {
        Some(0)
    } else if any(&[
        "closed", "enabled", "run", "auto", "remote", "ok", "ready", "on",
    ]) {
        Some(1)
    } else {
        None
    }
}

/// What a point's type, unit and name say about its signal, the same on every device.
#[derive(Debug, Clone, Copy)]
struct Profile {
    quantity: Quantity,
    role: Role,
    /// A flag's normal state, when its name tells.
    flag: Option<u16>,
    /// The exponent of the point's scale-factor register, if it has one.
    exponent: i32,
}

/// The profile of `point`, worked out once per distinct point: telling what a register
/// holds is string work, and a fleet repeats one map on every device.
fn profile(point: &RegisterPoint) -> Profile {
    static SEEN: OnceLock<Mutex<HashMap<String, Profile>>> = OnceLock::new();
    let id = format!(
        "{}\0{}\0{}\0{}",
        point.name,
        point.unit,
        point.data_type,
        point.scale_factor.as_deref().unwrap_or("")
    );
    let seen = SEEN.get_or_init(Mutex::default);
    if let Some(p) = seen.lock().ok().and_then(|m| m.get(&id).copied()) {
        return p;
    }
    let (quantity, role) = classify(point);
    let p = Profile {
        quantity,
        role,
        flag: normal_flag(point),
        exponent: point
            .scale_factor
            .as_deref()
            .map_or(0, scale_factor_exponent),
    };
    if let Ok(mut m) = seen.lock() {
        m.insert(id, p);
    }
    p
}

impl Signal {
    /// The signal device `device` serves for `point`.
    pub(crate) fn new(device: u32, point: &RegisterPoint) -> Self {
        let key = point_key(device, point);
        let Profile {
            quantity,
            role,
            flag,
            exponent,
        } = profile(point);
        let per_raw = point.scale * 10f64.powi(exponent);
        let shape = match role {
            _ if point.data_type == DataType::Bool => Shape::Bits {
                count: 1,
                normal: flag.unwrap_or((hash(key, 7) & 1) as u16),
                periods: [pick_steps(key, 2, 200, 800), 0, 0, 0],
            },
            Role::ScaleFactor => Shape::ConstantRaw(f64::from(scale_factor_exponent(&point.name))),
            Role::Status => Shape::Bits {
                count: 4,
                normal: (hash(key, 7) & 0b1111) as u16,
                periods: [2, 3, 4, 5].map(|salt| pick_steps(key, salt, 200, 800)),
            },
            Role::Counter => {
                let (start, per_step) = match quantity {
                    Quantity::Energy(per_kwh) => (
                        pick(key, 1, 1_000.0, 100_000.0).round() * per_kwh,
                        pick(key, 2, 5.0, 60.0) / 3600.0 * per_kwh,
                    ),
                    Quantity::Hours(per_hour) => (
                        pick(key, 1, 100.0, 20_000.0).round() * per_hour,
                        per_hour / 3600.0,
                    ),
                    _ => (
                        pick(key, 1, 0.0, 500.0).round(),
                        1.0 / pick(key, 2, 300.0, 3000.0),
                    ),
                };
                Shape::Counter {
                    start,
                    per_step,
                    period: pick_steps(key, 3, 1800, 7200),
                }
            }
            Role::Setting => {
                let (c, ..) = level(quantity, key, point);
                Shape::Constant(typed(c))
            }
            Role::Measure => {
                let (center, swing, noise, low, high) = level(quantity, key, point);
                Shape::Level {
                    center,
                    swing,
                    noise,
                    low,
                    high,
                    periods: [
                        pick_steps(key, 4, 600, 3600),
                        pick_steps(key, 5, 20_000, 90_000),
                    ],
                    phases: [pick_steps(key, 6, 0, 90_000), pick_steps(key, 7, 0, 90_000)],
                }
            }
        };
        Signal {
            key,
            shape,
            data_type: point.data_type,
            per_raw,
            offset: point.offset,
        }
    }

    /// The raw value served at `step`, exactly representable in the point's type.
    pub(crate) fn raw(&self, step: i64) -> f64 {
        match &self.shape {
            Shape::Level {
                center,
                swing,
                noise,
                low,
                high,
                periods,
                phases,
            } => {
                let drift = 0.6 * wave(step, phases[0], periods[0])
                    + 0.4 * wave(step, phases[1], periods[1]);
                let jitter = pick(self.key, step as u64, -1.0, 1.0);
                let v = (center + swing * drift + noise * jitter).clamp(*low, *high);
                self.to_raw(v, false)
            }
            Shape::Counter {
                start,
                per_step,
                period,
            } => {
                let t = step.rem_euclid(COUNTER_RESET_STEPS);
                // The wave's slope stays under half the mean rate: the sum never falls.
                let amplitude = f64::from(*period) / (4.0 * std::f64::consts::PI);
                let v = start + per_step * (t as f64 + amplitude * wave(t, 0, *period));
                self.to_raw(v, true)
            }
            Shape::Bits {
                count,
                normal,
                periods,
            } => {
                let mut word = 0u16;
                for b in 0..*count {
                    let period = i64::from(periods[usize::from(b)].max(1));
                    let bit_key = self.key ^ u64::from(b) << 56;
                    let window = step
                        .wrapping_add((hash(bit_key, 8) % period as u64) as i64)
                        .div_euclid(period);
                    let flipped = hash(bit_key, window as u64).is_multiple_of(8);
                    let on = (normal >> b) & 1 == 1;
                    word |= u16::from(on != flipped) << b;
                }
                f64::from(word)
            }
            Shape::ConstantRaw(raw) => self.bound(*raw, false),
            Shape::Constant(v) => self.to_raw(*v, false),
        }
    }

    /// The raw value whose engineering value is nearest `v`.
    fn to_raw(&self, v: f64, wraps: bool) -> f64 {
        let raw = if self.per_raw == 0.0 || !self.per_raw.is_finite() {
            0.0
        } else {
            (v - self.offset) / self.per_raw
        };
        self.bound(raw, wraps)
    }

    /// `raw` made a value of the point's type: integers rounded and wrapped (counters) or
    /// held at the type's ends, floats rounded to their width.
    fn bound(&self, raw: f64, wraps: bool) -> f64 {
        let raw = if raw.is_nan() { 0.0 } else { raw };
        let int = |lo: f64, hi: f64| {
            let r = raw.round();
            if wraps && r > hi {
                r.rem_euclid(hi + 1.0)
            } else {
                r.clamp(lo, hi)
            }
        };
        match self.data_type {
            DataType::Bool => f64::from(u8::from(raw != 0.0)),
            DataType::String => 0.0,
            DataType::Uint16 => int(0.0, 65_535.0),
            DataType::Int16 => int(-32_768.0, 32_767.0),
            DataType::Uint32 => int(0.0, 4_294_967_295.0),
            DataType::Int32 => int(-2_147_483_648.0, 2_147_483_647.0),
            DataType::Uint64 => int(0.0, EXACT - 1.0),
            DataType::Int64 => int(-EXACT, EXACT - 1.0),
            DataType::Float32 => {
                f64::from(raw.clamp(-f64::from(f32::MAX), f64::from(f32::MAX)) as f32)
            }
            DataType::Float64 => raw,
        }
    }
}

/// The identification text device `device` serves for string `point`: a serial number, a
/// firmware version or a model name, by the point's name; it never changes.
pub(crate) fn text(device: u32, point: &RegisterPoint) -> String {
    let key = point_key(device, point);
    let name = point.name.to_ascii_lowercase();
    let h = hash(key, 9);
    if name.contains("serial") || name.split('_').any(|w| w == "sn") {
        format!("SN{:09}", h % 1_000_000_000)
    } else if ["firmware", "version", "revision", "fw"]
        .iter()
        .any(|w| name.contains(w))
    {
        format!("FW {}.{:02}", 1 + h % 4, (h >> 8) % 100)
    } else {
        format!("SIM-{device:03}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::reference_map;
    use historian_modbus::decode::{decode_words, encode_words, scale};
    use historian_model::{RegisterRef, Table, WordOrder};

    const NOW: i64 = 1_790_000_000; // a step of 1 s in 2026

    fn point(name: &str, unit: &str, data_type: DataType, scale: f64) -> RegisterPoint {
        RegisterPoint {
            name: name.into(),
            register: RegisterRef::new(Table::HoldingRegister, 10),
            unit: unit.into(),
            data_type,
            scale,
            ..RegisterPoint::default()
        }
    }

    fn series(p: &RegisterPoint, steps: std::ops::Range<i64>) -> Vec<f64> {
        let s = Signal::new(3, p);
        steps.map(|t| scale(s.raw(t), p.scale, p.offset)).collect()
    }

    #[test]
    fn measured_values_stay_in_plausible_ranges_and_move_slowly() {
        for (p, lo, hi, max_step) in [
            (
                point("voltage", "V", DataType::Uint16, 0.1),
                207.0,
                253.0,
                2.0,
            ),
            (
                point("v_l1_l2", "V", DataType::Float32, 1.0),
                360.0,
                440.0,
                3.0,
            ),
            (
                point("frequency", "Hz", DataType::Uint16, 0.01),
                49.8,
                50.2,
                0.02,
            ),
            (
                point("temperature", "degC", DataType::Int16, 0.01),
                20.0,
                80.0,
                0.2,
            ),
            (
                point("current", "A", DataType::Float32, 1.0),
                0.0,
                300.0,
                10.0,
            ),
            (
                point("power_factor", "", DataType::Int16, 0.001),
                0.0,
                1.0,
                0.02,
            ),
        ] {
            let v = series(&p, NOW..NOW + 5000);
            for w in v.windows(2) {
                assert!(
                    (lo..=hi).contains(&w[0]),
                    "{} {} out of range",
                    p.name,
                    w[0]
                );
                assert!((w[1] - w[0]).abs() <= max_step, "{} jumps {w:?}", p.name);
            }
        }
    }

    #[test]
    fn counters_only_grow_and_status_bits_change_rarely() {
        let energy = point("energy", "Wh", DataType::Uint32, 1.0);
        let v = series(&energy, NOW..NOW + 10_000);
        assert!(v.windows(2).all(|w| w[1] >= w[0]), "energy falls");
        assert!(v[0] >= 65_536.0, "the upper word is in use");
        assert!(v[9_999] - v[0] > 5_000.0, "5 kW or more for 10,000 s");
        let status = point("status", "", DataType::Uint16, 1.0);
        let v = series(&status, NOW..NOW + 10_000);
        let changes = v.windows(2).filter(|w| w[0] != w[1]).count();
        assert!((1..=100).contains(&changes), "{changes} changes");
        assert!(v.iter().all(|&w| w < 16.0));
        let setpoint = point("level_setpoint", "%", DataType::Uint16, 0.1);
        let v = series(&setpoint, NOW..NOW + 100);
        assert!(v.iter().all(|&x| x == v[0]));
    }

    #[test]
    fn every_value_encodes_exactly_into_its_type() {
        let mut map = reference_map(100);
        for (i, t) in [
            DataType::Int16,
            DataType::Uint16,
            DataType::Int32,
            DataType::Uint32,
            DataType::Int64,
            DataType::Uint64,
            DataType::Float32,
            DataType::Float64,
        ]
        .into_iter()
        .enumerate()
        {
            // A scale so small that the level overflows the type: held at its end.
            map.push(RegisterPoint {
                name: format!("power_{i}"),
                data_type: t,
                scale: 1e-9,
                unit: "kW".into(),
                ..RegisterPoint::default()
            });
            map.push(RegisterPoint {
                name: format!("energy_{i}"),
                data_type: t,
                scale: 1e-6,
                unit: "kWh".into(),
                ..RegisterPoint::default()
            });
        }
        for p in &map {
            let s = Signal::new(5, p);
            for step in [0, -7, NOW, NOW * 50, i64::MAX / 2] {
                let raw = s.raw(step);
                let mut words = vec![0; usize::from(p.data_type.width())];
                encode_words(raw, p.data_type, WordOrder::Cdab, &mut words);
                assert_eq!(
                    decode_words(&words, p.data_type, WordOrder::Cdab),
                    Some(raw),
                    "{} at {step}",
                    p.name
                );
            }
        }
    }

    #[test]
    fn values_stay_within_the_map_limits() {
        let mut level = point("tank_level", "m", DataType::Uint16, 0.01);
        level.limits.min = Some(0.5);
        level.limits.max = Some(10.0);
        let mut volts = point("voltage", "V", DataType::Uint16, 0.1);
        volts.limits.max = Some(231.0);
        for p in [level, volts] {
            let v = series(&p, NOW..NOW + 5000);
            let (lo, hi) = (
                p.limits.min.unwrap_or(0.0),
                p.limits.max.unwrap_or(f64::MAX),
            );
            assert!(v.iter().all(|x| (lo..=hi).contains(x)), "{}", p.name);
            assert!(v.iter().any(|&x| x != v[0]), "{} moves", p.name);
        }
    }

    #[test]
    fn identification_text_is_constant() {
        let mut serial = point("serial_number", "", DataType::String, 1.0);
        serial.length = Some(6);
        assert_eq!(text(1, &serial), text(1, &serial));
        assert!(text(1, &serial).starts_with("SN"));
        assert_ne!(text(1, &serial), text(2, &serial));
    }

    #[test]
    fn scale_factor_registers_and_their_points_agree() {
        let sf = point("ac_V_SF", "", DataType::Int16, 1.0);
        assert_eq!(Signal::new(0, &sf).raw(NOW), -1.0);
        let mut v = point("ac_V", "", DataType::Uint16, 1.0);
        v.scale_factor = Some("ac_V_SF".into());
        let raw = Signal::new(0, &v).raw(NOW);
        assert!((2070.0..=2530.0).contains(&raw), "{raw}");
    }
}
