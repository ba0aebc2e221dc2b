//! What a register holds, judged from its unit and name, so the realistic signals can serve a
//! plausible value: a voltage around 230 V, a frequency around 50 Hz, a counter that only
//! grows, status bits, a set-point that never changes.

use historian_model::{DataType, RegisterPoint};

/// The physical quantity of a register, with the factor from the signal's base unit to the
/// register's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Quantity {
    /// A voltage; base unit V (line to neutral 230 V, line to line 400 V) or kV on a
    /// medium-voltage feeder (11.5 kV and 20 kV).
    Voltage {
        /// Measured between two phases.
        line_line: bool,
        /// Medium voltage, in kV.
        medium: bool,
    },
    /// A current; base unit A.
    Current(f64),
    /// A 4–20 mA loop current.
    Loop,
    /// The grid frequency in Hz.
    Frequency,
    /// A power factor; base unit 1 (0.9), times 100 for percent.
    PowerFactor(f64),
    /// A power; base unit kW, kvar or kVA.
    Power {
        /// Factor from kW to the register's unit.
        per_kw: f64,
        /// Active, reactive (either sign) or apparent.
        kind: PowerKind,
    },
    /// A temperature in °C, °F or K.
    Temperature(TempUnit),
    /// A percentage (level, humidity, load).
    Percent,
    /// A pressure; base unit bar.
    Pressure(f64),
    /// An energy meter reading; base unit kWh.
    Energy(f64),
    /// Operating hours; base unit h.
    Hours(f64),
    /// Nothing recognised.
    Other,
}

/// Active, reactive or apparent power.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PowerKind {
    /// W.
    Active,
    /// var, either sign.
    Reactive,
    /// VA.
    Apparent,
}

/// A temperature scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TempUnit {
    /// Degrees Celsius.
    Celsius,
    /// Degrees Fahrenheit.
    Fahrenheit,
    /// Kelvin.
    Kelvin,
}

/// What the register's name says it is for, beyond its quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Role {
    /// A measured value.
    Measure,
    /// A value that only counts up (energy, hours, events).
    Counter,
    /// Status, alarm or mode bits.
    Status,
    /// A set-point or identification number: constant.
    Setting,
    /// A SunSpec-style scale-factor register (`*_SF`): a constant power-of-ten exponent.
    ScaleFactor,
}

/// The lowercase alphanumeric words of a name (`PhVphA_SF` → `phvpha`, `sf`).
fn words(name: &str) -> Vec<String> {
    name.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect()
}

fn unit_quantity(unit: &str) -> Option<Quantity> {
    let u: String = unit
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '°' && *c != '_')
        .collect::<String>()
        .to_ascii_lowercase();
    let power = |per_kw, kind| Some(Quantity::Power { per_kw, kind });
    match u.as_str() {
        "v" => Some(Quantity::Voltage {
            line_line: false,
            medium: false,
        }),
        "kv" => Some(Quantity::Voltage {
            line_line: false,
            medium: true,
        }),
        "a" | "amp" | "amps" => Some(Quantity::Current(1.0)),
        "ka" => Some(Quantity::Current(0.001)),
        "ma" => Some(Quantity::Loop),
        "hz" => Some(Quantity::Frequency),
        "pf" | "cosphi" => Some(Quantity::PowerFactor(1.0)),
        "w" => power(1000.0, PowerKind::Active),
        "kw" => power(1.0, PowerKind::Active),
        "mw" => power(0.001, PowerKind::Active),
        "var" => power(1000.0, PowerKind::Reactive),
        "kvar" => power(1.0, PowerKind::Reactive),
        "mvar" => power(0.001, PowerKind::Reactive),
        "va" => power(1000.0, PowerKind::Apparent),
        "kva" => power(1.0, PowerKind::Apparent),
        "mva" => power(0.001, PowerKind::Apparent),
        "wh" | "varh" | "vah" => Some(Quantity::Energy(1000.0)),
        "kwh" | "kvarh" | "kvah" => Some(Quantity::Energy(1.0)),
        "mwh" | "mvarh" | "mvah" => Some(Quantity::Energy(0.001)),
        "c" | "degc" | "cel" | "celsius" => Some(Quantity::Temperature(TempUnit::Celsius)),
        "f" | "degf" | "fahrenheit" => Some(Quantity::Temperature(TempUnit::Fahrenheit)),
        "k" | "kelvin" => Some(Quantity::Temperature(TempUnit::Kelvin)),
        "%" | "pct" | "percent" => Some(Quantity::Percent),
        "bar" => Some(Quantity::Pressure(1.0)),
        "mbar" => Some(Quantity::Pressure(1000.0)),
        "kpa" => Some(Quantity::Pressure(100.0)),
        "mpa" => Some(Quantity::Pressure(0.1)),
        "pa" => Some(Quantity::Pressure(100_000.0)),
        "psi" => Some(Quantity::Pressure(14.503_773_8)),
        "h" | "hr" | "hrs" | "hours" => Some(Quantity::Hours(1.0)),
        _ => None,
    }
}

fn has(words: &[String], any: &[&str]) -> bool {
    words.iter().any(|w| any.contains(&w.as_str()))
}

fn name_quantity(w: &[String], joined: &str) -> Quantity {
    let contains = |any: &[&str]| any.iter().any(|s| joined.contains(s));
    if has(w, &["pf", "cosphi"]) || contains(&["powerfactor", "power_factor", "cos_phi"]) {
        Quantity::PowerFactor(1.0)
    } else if contains(&["energy", "kwh"]) || has(w, &["wh", "varh", "vah"]) {
        let per_kwh = if has(w, &["wh", "varh", "vah"]) {
            1000.0
        } else {
            1.0
        };
        Quantity::Energy(per_kwh)
    } else if contains(&["hours", "runtime", "run_time"]) || has(w, &["hrs", "h"]) {
        Quantity::Hours(1.0)
    } else if contains(&["temp"]) {
        Quantity::Temperature(TempUnit::Celsius)
    } else if contains(&["volt"]) || has(w, &["v", "u"]) || line_line(w, joined) {
        Quantity::Voltage {
            line_line: false,
            medium: false,
        }
    } else if contains(&["current", "amps"])
        || has(w, &["a", "i", "ia", "ib", "ic", "in", "i1", "i2", "i3"])
    {
        Quantity::Current(1.0)
    } else if contains(&["freq"]) || has(w, &["hz", "f"]) {
        Quantity::Frequency
    } else if contains(&["reactive"]) || has(w, &["var", "q", "kvar"]) {
        Quantity::Power {
            per_kw: if has(w, &["var"]) { 1000.0 } else { 1.0 },
            kind: PowerKind::Reactive,
        }
    } else if contains(&["apparent"]) || has(w, &["va", "s", "kva"]) {
        Quantity::Power {
            per_kw: if has(w, &["va"]) { 1000.0 } else { 1.0 },
            kind: PowerKind::Apparent,
        }
    } else if contains(&["power"]) || has(w, &["w", "p", "kw"]) {
        Quantity::Power {
            per_kw: if has(w, &["w"]) { 1000.0 } else { 1.0 },
            kind: PowerKind::Active,
        }
    } else if contains(&["pressure"]) {
        Quantity::Pressure(1.0)
    } else if contains(&["level", "humidity", "percent", "load"]) {
        Quantity::Percent
    } else {
        Quantity::Other
    }
}

/// True for a voltage between two phases (`vab`, `u_l1_l2`, `PPVphAB`, `v_ll`).
fn line_line(w: &[String], joined: &str) -> bool {
    has(
        w,
        &[
            "ll", "vll", "ull", "ab", "bc", "ca", "vab", "vbc", "vca", "uab", "ubc", "uca", "l12",
            "l23", "l31", "l1l2", "l2l3", "l3l1",
        ],
    ) || [
        "l1_l2",
        "l2_l3",
        "l3_l1",
        "line_line",
        "phase_phase",
        "ppvph",
    ]
    .iter()
    .any(|s| joined.contains(s))
}

/// What `point` holds: its quantity (from the unit, else the name) and its role (from the
/// name and type).
pub(crate) fn classify(point: &RegisterPoint) -> (Quantity, Role) {
    let w = words(&point.name);
    let joined = w.join("_");
    let integer = point.data_type.is_integer();
    if integer && w.last().is_some_and(|l| l == "sf") {
        return (Quantity::Other, Role::ScaleFactor);
    }
    let mut quantity = if point.unit.trim().is_empty() {
        // A unit left in the name (`power_W`, `A`): the last word may be one.
        w.last()
            .and_then(|l| unit_quantity(l))
            .unwrap_or_else(|| name_quantity(&w, &joined))
    } else {
        // A unit nobody listed (m, m3/h, rpm) says more than any word of the name.
        unit_quantity(&point.unit).unwrap_or(Quantity::Other)
    };
    if let Quantity::Voltage { medium, .. } = quantity {
        quantity = Quantity::Voltage {
            line_line: line_line(&w, &joined),
            medium,
        };
    }
    if quantity == Quantity::Percent
        && (has(&w, &["pf"]) || joined.contains("power_factor") || joined.contains("powerfactor"))
    {
        quantity = Quantity::PowerFactor(100.0);
    }
    let contains = |any: &[&str]| any.iter().any(|s| joined.contains(s));
    let role = if point.data_type == DataType::Bool
        || contains(&[
            "status", "state", "alarm", "fault", "flag", "warning", "error", "event", "bits",
        ])
        || has(&w, &["mode"])
    {
        if contains(&["count", "counter"]) {
            Role::Counter
        } else {
            Role::Status
        }
    } else if contains(&[
        "count",
        "counter",
        "cycles",
        "starts",
        "operations",
        "trips",
    ]) || matches!(quantity, Quantity::Energy(_) | Quantity::Hours(_))
    {
        Role::Counter
    } else if contains(&[
        "setpoint",
        "set_point",
        "limit",
        "threshold",
        "rated",
        "nominal",
        "ratio",
        "address",
        "baud",
        "config",
        "version",
        "firmware",
        "serial",
        "model",
        "year",
    ]) || has(&w, &["sp", "id", "ct", "pt", "type", "code"])
    {
        Role::Setting
    } else {
        Role::Measure
    };
    (quantity, role)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(name: &str, unit: &str, data_type: DataType) -> RegisterPoint {
        RegisterPoint {
            name: name.into(),
            unit: unit.into(),
            data_type,
            ..RegisterPoint::default()
        }
    }

    #[test]
    fn units_and_names_tell_the_quantity_and_role() {
        use DataType::*;
        let cases = [
            (
                point("voltage_004", "V", Uint16),
                Quantity::Voltage {
                    line_line: false,
                    medium: false,
                },
                Role::Measure,
            ),
            (
                point("vab", "kV", Uint16),
                Quantity::Voltage {
                    line_line: true,
                    medium: true,
                },
                Role::Measure,
            ),
            (
                point("u_l1_l2", "V", Float32),
                Quantity::Voltage {
                    line_line: true,
                    medium: false,
                },
                Role::Measure,
            ),
            (
                point("current_000", "A", Float32),
                Quantity::Current(1.0),
                Role::Measure,
            ),
            (
                point("energy_002", "Wh", Uint32),
                Quantity::Energy(1000.0),
                Role::Counter,
            ),
            (
                point("total_kwh", "", Float32),
                Quantity::Energy(1.0),
                Role::Counter,
            ),
            (
                point("temperature_003", "degC", Int16),
                Quantity::Temperature(TempUnit::Celsius),
                Role::Measure,
            ),
            (
                point("power_factor", "", Int16),
                Quantity::PowerFactor(1.0),
                Role::Measure,
            ),
            (
                point("frequency", "Hz", Uint16),
                Quantity::Frequency,
                Role::Measure,
            ),
            (
                point("q_3ph", "Mvar", Int32),
                Quantity::Power {
                    per_kw: 0.001,
                    kind: PowerKind::Reactive,
                },
                Role::Measure,
            ),
            (
                point("pump_1_hours", "h", Uint32),
                Quantity::Hours(1.0),
                Role::Counter,
            ),
            (
                point("trip_count", "", Uint32),
                Quantity::Other,
                Role::Counter,
            ),
            (
                point("breaker_closed", "", Bool),
                Quantity::Other,
                Role::Status,
            ),
            (
                point("status_word", "", Uint16),
                Quantity::Other,
                Role::Status,
            ),
            (
                point("level_setpoint", "m", Uint16),
                Quantity::Other,
                Role::Setting,
            ),
            (
                point("inverter_W_SF", "", Int16),
                Quantity::Other,
                Role::ScaleFactor,
            ),
            (
                point("inverter_W", "", Int16),
                Quantity::Power {
                    per_kw: 1000.0,
                    kind: PowerKind::Active,
                },
                Role::Measure,
            ),
        ];
        for (p, quantity, role) in cases {
            assert_eq!(classify(&p), (quantity, role), "{}", p.name);
        }
    }
}
