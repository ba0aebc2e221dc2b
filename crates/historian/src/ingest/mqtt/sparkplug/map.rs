//! How one device looks in Sparkplug: its device id, and each register as a metric with
//! a name, an alias, a data type and properties; and how a reading becomes a metric value.

use super::proto::{PropertySet, PropertyValue, data_type, metric, property_value};
use crate::registry::DeviceRuntime;
use historian_model::{DataType, Quality, RegisterPoint};
use std::collections::HashMap;
use std::fmt::Write;

/// Quality codes of the Sparkplug `Quality` property (specification 3.0 allows exactly
/// these three; there is no "uncertain").
pub const QUALITY_GOOD: i32 = 192;
/// The `Quality` code for a bad (or doubtful) value.
pub const QUALITY_BAD: i32 = 0;

/// The Sparkplug device id of a device name: the name itself, with the characters
/// Sparkplug forbids in ids (`+ # /`) and the escape character `%` percent-encoded, so two
/// different names never share an id (`line/1` is `line%2F1`). NUL, which MQTT forbids in
/// topics, is encoded too.
pub fn device_id(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '+' | '#' | '/' | '%' | '\0' => {
                let _ = write!(out, "%{:02X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// The alias of a register's metric: the device's database id in the upper 32 bits and the
/// register reference (e.g. 400001, or 40000103 for bit 3) in the lower. Sparkplug wants
/// aliases unique across the whole edge node, and this keeps them so, stable across
/// rebirths and restarts, and readable. Store ids are positive; node metrics use small
/// aliases below 2^32 that no device metric can take.
pub fn alias(device: i64, reference: u32) -> u64 {
    let high = (device as u64 & 0xFFFF_FFFF).max(1);
    (high << 32) | u64::from(reference)
}

/// The Sparkplug data type a register is published as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Coils, discrete inputs and register bits.
    Boolean,
    /// Unscaled int16.
    Int16,
    /// Unscaled uint16.
    UInt16,
    /// Unscaled int32.
    Int32,
    /// Unscaled uint32.
    UInt32,
    /// Unscaled int64.
    Int64,
    /// Unscaled uint64.
    UInt64,
    /// Unscaled float32.
    Float,
    /// float64, and every number with a scale or offset (its engineering value is
    /// fractional in general).
    Double,
    /// Text registers.
    String,
}

impl Kind {
    /// The kind of `point`: its own type when the engineering value is the raw one.
    pub fn of(point: &RegisterPoint) -> Kind {
        let scaled = point.scale != 1.0 || point.offset != 0.0;
        match point.data_type {
            DataType::Bool => Kind::Boolean,
            DataType::String => Kind::String,
            DataType::Float64 => Kind::Double,
            _ if scaled => Kind::Double,
            DataType::Int16 => Kind::Int16,
            DataType::Uint16 => Kind::UInt16,
            DataType::Int32 => Kind::Int32,
            DataType::Uint32 => Kind::UInt32,
            DataType::Int64 => Kind::Int64,
            DataType::Uint64 => Kind::UInt64,
            DataType::Float32 => Kind::Float,
        }
    }

    /// The Sparkplug data type code.
    pub fn code(self) -> u32 {
        match self {
            Kind::Boolean => data_type::BOOLEAN,
            Kind::Int16 => data_type::INT16,
            Kind::UInt16 => data_type::UINT16,
            Kind::Int32 => data_type::INT32,
            Kind::UInt32 => data_type::UINT32,
            Kind::Int64 => data_type::INT64,
            Kind::UInt64 => data_type::UINT64,
            Kind::Float => data_type::FLOAT,
            Kind::Double => data_type::DOUBLE,
            Kind::String => data_type::STRING,
        }
    }

    /// The metric value of an engineering value (or the text of a string register, or the
    /// exact decimal a 64-bit integer reading keeps beside its rounded double); `None`
    /// when there is none or it does not fit the type. Signed integers are sent as two's
    /// complement within their own width (int16 -1 is 0xFFFF), which Eclipse Tahu and
    /// pysparkplug both read back.
    pub fn value(self, value: Option<f64>, text: Option<&str>) -> Option<metric::Value> {
        use metric::Value as V;
        if self == Kind::String {
            return text.map(|t| V::StringValue(t.to_owned()));
        }
        let exact = text.and_then(|t| t.parse::<i128>().ok());
        match (self, exact) {
            (Kind::Int64, Some(n)) => return i64::try_from(n).ok().map(|v| V::LongValue(v as u64)),
            (Kind::UInt64, Some(n)) => return u64::try_from(n).ok().map(V::LongValue),
            _ => {}
        }
        let v = value?;
        // Whole numbers in [lo, hi): powers of two are exact in f64, so the 64-bit bounds
        // are too.
        let whole = |lo: f64, hi: f64| v.fract() == 0.0 && v >= lo && v < hi;
        const TWO_15: f64 = 32_768.0;
        const TWO_16: f64 = 65_536.0;
        const TWO_31: f64 = 2_147_483_648.0;
        const TWO_32: f64 = 4_294_967_296.0;
        const TWO_63: f64 = 9_223_372_036_854_775_808.0;
        const TWO_64: f64 = 18_446_744_073_709_551_616.0;
        Some(match self {
            Kind::Boolean => V::BooleanValue(v != 0.0),
            Kind::Int16 if whole(-TWO_15, TWO_15) => V::IntValue(u32::from(v as i16 as u16)),
            Kind::UInt16 if whole(0.0, TWO_16) => V::IntValue(v as u32),
            Kind::Int32 if whole(-TWO_31, TWO_31) => V::IntValue(v as i32 as u32),
            Kind::UInt32 if whole(0.0, TWO_32) => V::IntValue(v as u32),
            Kind::Int64 if whole(-TWO_63, TWO_63) => V::LongValue(v as i64 as u64),
            Kind::UInt64 if whole(0.0, TWO_64) => V::LongValue(v as u64),
            Kind::Float => V::FloatValue(v as f32),
            Kind::Double => V::DoubleValue(v),
            _ => return None,
        })
    }
}

/// One register as a metric, as announced in a DBIRTH.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricDef {
    /// The register's name.
    pub name: String,
    /// See [`alias`].
    pub alias: u64,
    /// Published data type.
    pub kind: Kind,
    /// The register reference as text (`400001`), the `register` property.
    pub register: String,
    /// The `engUnit` property.
    pub unit: String,
    /// The `engLow` property: the register's expected minimum, when configured.
    pub low: Option<f64>,
    /// The `engHigh` property: the register's expected maximum, when configured.
    pub high: Option<f64>,
}

/// A device as Sparkplug sees it. Two maps that compare equal need no new DBIRTH.
#[derive(Debug, Clone)]
pub struct DeviceMap {
    /// The Sparkplug device id (see [`device_id`]).
    pub device_id: String,
    /// Every register, in map order.
    pub metrics: Vec<MetricDef>,
    /// Metric index by register reference, to place a reading.
    by_reference: HashMap<u32, usize>,
}

impl PartialEq for DeviceMap {
    fn eq(&self, other: &Self) -> bool {
        self.device_id == other.device_id && self.metrics == other.metrics
    }
}

impl DeviceMap {
    /// The map of a configured device.
    pub fn of(device: &DeviceRuntime) -> DeviceMap {
        let spec = &device.config.spec;
        let metrics: Vec<MetricDef> = spec
            .registers
            .iter()
            .map(|p| MetricDef {
                name: p.name.clone(),
                alias: alias(device.id, p.register.reference()),
                kind: Kind::of(p),
                register: p.register.to_string(),
                unit: p.unit.clone(),
                low: p.limits.min,
                high: p.limits.max,
            })
            .collect();
        let by_reference = spec
            .registers
            .iter()
            .enumerate()
            .map(|(i, p)| (p.register.reference(), i))
            .collect();
        DeviceMap {
            device_id: device_id(&spec.name),
            metrics,
            by_reference,
        }
    }

    /// The index of the metric of the register with this reference.
    pub fn index(&self, reference: u32) -> Option<usize> {
        self.by_reference.get(&reference).copied()
    }
}

/// The Sparkplug quality code of a reading's quality. A doubtful (out of range) value is
/// reported bad, and marked `uncertain` in a second property, as Sparkplug has no code
/// for it.
pub fn quality_code(quality: Quality) -> i32 {
    match quality {
        Quality::Good => QUALITY_GOOD,
        Quality::Bad | Quality::Uncertain => QUALITY_BAD,
    }
}

/// A property set builder.
#[derive(Debug, Default)]
pub struct Properties(PropertySet);

impl Properties {
    /// A text property.
    pub fn text(mut self, key: &str, value: &str) -> Self {
        self.push(
            key,
            data_type::STRING,
            property_value::Value::StringValue(value.to_owned()),
        );
        self
    }

    /// A double property, when there is a value.
    pub fn double(mut self, key: &str, value: Option<f64>) -> Self {
        if let Some(v) = value {
            self.push(
                key,
                data_type::DOUBLE,
                property_value::Value::DoubleValue(v),
            );
        }
        self
    }

    /// The `Quality` property (Int32, as Sparkplug requires), and for a doubtful value the
    /// `qualityDetail` text `uncertain`.
    pub fn quality(mut self, quality: Quality) -> Self {
        // Two's complement in the low 32 bits, the encoding for a signed Int32.
        let code = quality_code(quality) as u32;
        self.push(
            "Quality",
            data_type::INT32,
            property_value::Value::IntValue(code),
        );
        if quality == Quality::Uncertain {
            return self.text("qualityDetail", quality.as_str());
        }
        self
    }

    fn push(&mut self, key: &str, r#type: u32, value: property_value::Value) {
        self.0.keys.push(key.to_owned());
        self.0.values.push(PropertyValue {
            r#type: Some(r#type),
            is_null: None,
            value: Some(value),
        });
    }

    /// The finished set.
    pub fn build(self) -> PropertySet {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use metric::Value as V;

    #[test]
    fn device_ids_escape_what_sparkplug_forbids_and_stay_distinct() {
        assert_eq!(device_id("plc-1 main"), "plc-1 main");
        assert_eq!(device_id("line/1"), "line%2F1");
        assert_eq!(device_id("a+b#c"), "a%2Bb%23c");
        assert_eq!(device_id("100%"), "100%25");
        // Without escaping '%' itself these two would collide.
        assert_ne!(device_id("a/b"), device_id("a%2Fb"));
        assert!(!device_id("x/+#/y").contains(['/', '+', '#']));
    }

    #[test]
    fn aliases_are_unique_across_devices_and_readable() {
        assert_eq!(alias(1, 400_001), (1 << 32) + 400_001);
        assert_ne!(alias(1, 400_001), alias(2, 400_001));
        assert_eq!(alias(7, 40_000_103) & 0xFFFF_FFFF, 40_000_103);
        assert!(alias(1, 1) > u64::from(u32::MAX));
    }

    #[test]
    fn values_take_the_field_and_encoding_of_their_type() {
        assert_eq!(
            Kind::Int16.value(Some(-1.0), None),
            Some(V::IntValue(0xFFFF))
        );
        assert_eq!(
            Kind::Int32.value(Some(-2.0), None),
            Some(V::IntValue(0xFFFF_FFFE))
        );
        assert_eq!(
            Kind::Int64.value(Some(-3.0), None),
            Some(V::LongValue(u64::MAX - 2))
        );
        assert_eq!(
            Kind::UInt16.value(Some(65_535.0), None),
            Some(V::IntValue(65_535))
        );
        assert_eq!(Kind::UInt16.value(Some(65_536.0), None), None);
        // Beyond 2^53 the exact decimal is sent, not the rounded double.
        assert_eq!(
            Kind::UInt64.value(Some(u64::MAX as f64), Some(&u64::MAX.to_string())),
            Some(V::LongValue(u64::MAX))
        );
        assert_eq!(
            Kind::Int64.value(Some(9_007_199_254_740_992.0), Some("9007199254740993")),
            Some(V::LongValue(9_007_199_254_740_993))
        );
        assert_eq!(Kind::Int16.value(Some(1.5), None), None);
        assert_eq!(
            Kind::Boolean.value(Some(1.0), None),
            Some(V::BooleanValue(true))
        );
        assert_eq!(Kind::Float.value(Some(0.5), None), Some(V::FloatValue(0.5)));
        assert_eq!(
            Kind::String.value(None, Some("ok")),
            Some(V::StringValue("ok".into()))
        );
        assert_eq!(Kind::Double.value(None, None), None);
    }

    #[test]
    fn a_scaled_integer_is_a_double() {
        let p = RegisterPoint {
            data_type: DataType::Int16,
            scale: 0.1,
            ..RegisterPoint::default()
        };
        assert_eq!(Kind::of(&p), Kind::Double);
        let p = RegisterPoint {
            data_type: DataType::Uint32,
            offset: -40.0,
            ..RegisterPoint::default()
        };
        assert_eq!(Kind::of(&p), Kind::Double);
        let p = RegisterPoint {
            data_type: DataType::Float32,
            ..RegisterPoint::default()
        };
        assert_eq!(Kind::of(&p), Kind::Float);
    }
}
