//! The API's JSON Schema of a device as sent (`DeviceInput`), stating every rule of the one
//! validator that a schema can state, so that a request the schema allows is accepted and
//! one it refuses is refused: which fields go with which transport, the address range of
//! each table in each addressing, which fields apply to which data type, the number ranges,
//! the duration grammar, and the character rule of names. Patterns and bounds come from the
//! same tables and constants the validator uses.
//!
//! Three rules need more than one register, or the file system, and a schema cannot state
//! them; they are in the descriptions: register names are unique and registers do not
//! overlap; `min` is at most `max`; a string ends inside the address space (address plus
//! `length`); and a serial port under `/dev/serial/` is not a directory.
//!
//! utoipa's schema model has no `const`, `false` or `dependentSchemas`-style keywords, so
//! the schema is written as JSON Schema 2020-12 and carried in an object schema's
//! extension map, which utoipa serializes verbatim.

use super::device::{DEFAULT_PORT, DEFAULT_UNIT_ID, DeviceInput, TRANSPORTS};
use super::duration::{self, Bounds};
use super::host::{
    MAX_HOST_LENGTH, host_name_pattern, ipv4_pattern, ipv6_pattern, label_lengths_pattern,
};
use super::pattern::keyword_pattern;
use super::serial::serial_port_pattern;
use super::text::text_pattern;
use crate::device::{MAX_REGISTERS_PER_READ, Parity};
use crate::point::Addressing;
use crate::types::{DataType, Table, WordOrder};
use serde_json::{Value, json};
use std::borrow::Cow;
use utoipa::openapi::RefOr;
use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{Object, Schema, SchemaType};
use utoipa::{PartialSchema, ToSchema};

/// Carries a JSON Schema written as JSON through utoipa unchanged.
fn raw(schema: Value) -> RefOr<Schema> {
    let mut object = Object::new();
    object.schema_type = SchemaType::AnyValue;
    if let Value::Object(keywords) = schema {
        object.extensions = Some(Extensions::from_iter(keywords));
    }
    RefOr::T(Schema::Object(object))
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn nullable(schema: Value) -> Value {
    json!({ "anyOf": [schema, { "type": "null" }] })
}

fn null_only(why: &str) -> Value {
    json!({ "type": "null", "description": why })
}

fn integer(min: i64, max: i64) -> Value {
    json!({ "type": "integer", "minimum": min, "maximum": max })
}

/// An integer in any of `ranges` (inclusive).
fn integer_in(ranges: &[(i64, i64)]) -> Value {
    match ranges {
        [(lo, hi)] => integer(*lo, *hi),
        _ => json!({ "anyOf": ranges.iter().map(|&(lo, hi)| integer(lo, hi)).collect::<Vec<_>>() }),
    }
}

/// The spellings that parse to one of `wanted`, as a lenient parser reads them.
fn words<T: PartialEq + Copy>(table: &[(&'static str, T)], wanted: &[T]) -> Vec<&'static str> {
    table
        .iter()
        .filter(|(_, v)| wanted.contains(v))
        .map(|(w, _)| *w)
        .collect()
}

fn keyword(words: &[&str], separators: &str, description: &str) -> Value {
    json!({
        "type": "string",
        "pattern": keyword_pattern(words, separators),
        "description": format!("{description} Letter case and surrounding white space are ignored."),
        "examples": [words[0]],
    })
}

fn table_keyword(tables: &[Table]) -> Value {
    let w = words(&Table::WORDS, tables);
    keyword(
        &w,
        "_- ",
        &format!(
            "One of: {} (`-` or a space may stand for `_`).",
            w.join(", ")
        ),
    )
}

fn type_keyword(types: &[DataType]) -> Value {
    let w = words(&DataType::WORDS, types);
    keyword(&w, "", &format!("One of: {}.", w.join(", ")))
}

fn order_keyword(orders: &[WordOrder]) -> Value {
    let w = words(&WordOrder::WORDS, orders);
    keyword(
        &w,
        "-_ ",
        &format!(
            "One of: {} (`_` or a space may stand for `-`).",
            w.join(", ")
        ),
    )
}

fn duration_schema(bounds: Bounds, what: &str) -> Value {
    json!({
        "description": format!(
            "{what}: whole milliseconds, or a whole number and one unit (ms, s, m, h, d), from {} to {}.",
            duration::format_millis(bounds.min_ms),
            duration::format_millis(bounds.max_ms)
        ),
        "oneOf": [
            { "type": "integer", "minimum": bounds.min_ms, "maximum": bounds.max_ms },
            { "type": "string", "pattern": bounds.text_pattern(), "examples": ["5s"] },
        ],
    })
}

/// `a` and its older spelling `b` are one field: at most one of them is given.
fn one_spelling(a: &str, b: &str, required: bool) -> Value {
    let mut choices = vec![json!({ "required": [a] }), json!({ "required": [b] })];
    if !required {
        let mut neither = serde_json::Map::new();
        neither.insert(a.into(), Value::Bool(false));
        neither.insert(b.into(), Value::Bool(false));
        choices.push(json!({ "properties": neither }));
    }
    json!({ "oneOf": choices })
}

/// The register families a schema can tell apart: each has its tables, data types and the
/// fields that apply to it.
#[derive(Clone, Copy, PartialEq)]
enum Family {
    /// A coil or discrete input.
    BitTable,
    /// A bool in one bit of a register.
    RegisterBit,
    /// A number of 1, 2 or 4 registers.
    Number(u16),
    /// Text over `length` registers.
    Text,
}

impl Family {
    const ALL: [Family; 6] = [
        Family::BitTable,
        Family::RegisterBit,
        Family::Number(1),
        Family::Number(2),
        Family::Number(4),
        Family::Text,
    ];

    fn title(self) -> &'static str {
        match self {
            Family::BitTable => "a coil or discrete input (bool)",
            Family::RegisterBit => "one bit of a register (bool with bit)",
            Family::Number(1) => "a 16-bit number",
            Family::Number(2) => "a 32-bit number",
            Family::Number(_) => "a 64-bit number",
            Family::Text => "a string",
        }
    }

    /// The component holding this family's data type spellings.
    fn type_component(self) -> &'static str {
        match self {
            Family::BitTable | Family::RegisterBit => "BoolType",
            Family::Number(1) => "Number16Type",
            Family::Number(2) => "Number32Type",
            Family::Number(_) => "Number64Type",
            Family::Text => "StringType",
        }
    }

    fn types(self) -> Vec<DataType> {
        match self {
            Family::BitTable | Family::RegisterBit => vec![DataType::Bool],
            Family::Text => vec![DataType::String],
            Family::Number(w) => DataType::numeric()
                .filter(|t| *t != DataType::Bool && t.width() == w)
                .collect(),
        }
    }

    fn tables(self) -> Vec<Table> {
        match self {
            Family::BitTable => vec![Table::Coil, Table::DiscreteInput],
            _ => vec![Table::InputRegister, Table::HoldingRegister],
        }
    }

    /// Registers the value spans (a string: at least one).
    fn width(self) -> i64 {
        match self {
            Family::Number(w) => i64::from(w),
            _ => 1,
        }
    }

    /// The properties of such a register, but `table` and `address`.
    fn properties(self) -> serde_json::Map<String, Value> {
        let data_type = reference(self.type_component());
        let mut p = serde_json::Map::new();
        p.insert("name".into(), reference("Name"));
        p.insert("data_type".into(), data_type.clone());
        p.insert(
            "type".into(),
            json!({ "allOf": [data_type], "deprecated": true, "description": "Older name of data_type; give one of the two." }),
        );
        let order = if self == Family::Text {
            nullable(reference("StringByteOrder"))
        } else {
            nullable(reference("ByteOrder"))
        };
        p.insert("byte_order".into(), order.clone());
        p.insert(
            "word_order".into(),
            json!({ "allOf": [order], "deprecated": true, "description": "Older name of byte_order; give one of the two." }),
        );
        p.insert("unit".into(), nullable(reference("Unit")));
        p.insert("interval".into(), nullable(reference("RegisterInterval")));
        if self == Family::Text {
            let unused = "Does not apply to a string.";
            p.insert("scale".into(), json!({ "anyOf": [{ "const": 1 }, { "type": "null" }], "description": "Only 1 (no scaling) for a string." }));
            p.insert("offset".into(), json!({ "anyOf": [{ "const": 0 }, { "type": "null" }], "description": "Only 0 for a string." }));
            for f in ["min", "max", "not_available"] {
                p.insert(f.into(), null_only(unused));
            }
            p.insert(
                "length".into(),
                json!({ "type": "integer", "minimum": 1, "maximum": MAX_REGISTERS_PER_READ,
                        "description": "Registers the string spans, two characters each; address plus length stays within the table (65536 registers)." }),
            );
        } else {
            p.insert(
                "scale".into(),
                nullable(json!({ "type": "number", "anyOf": [{ "exclusiveMinimum": 0 }, { "exclusiveMaximum": 0 }], "description": "Multiplier, not zero (default 1)." })),
            );
            p.insert(
                "offset".into(),
                nullable(
                    json!({ "type": "number", "description": "Added after scaling (default 0)." }),
                ),
            );
            p.insert("min".into(), nullable(json!({ "type": "number", "description": "Lowest expected engineering value; at most max." })));
            p.insert("max".into(), nullable(json!({ "type": "number", "description": "Highest expected engineering value; at least min." })));
            p.insert(
                "not_available".into(),
                match self {
                    Family::Number(w) => nullable(json!({
                        "type": "integer", "minimum": 0,
                        "maximum": if w >= 4 { i64::MAX } else { (1i64 << (16 * i64::from(w))) - 1 },
                        "description": "Raw value the device sends for \"no measurement\", compared before scaling.",
                    })),
                    _ => null_only("Does not apply to a bool."),
                },
            );
            p.insert("length".into(), null_only("Applies to a string only."));
        }
        p.insert(
            "scale_factor".into(),
            if matches!(self, Family::Number(_)) {
                nullable(json!({
                    "anyOf": [reference("Name"), { "type": "integer", "minimum": 0 }],
                    "description": "Register of the same map holding this one's power-of-ten exponent (SunSpec *_SF), by name or by address (the map's addressing, this register's table); it must be an integer register without a scale_factor of its own. Value = raw x 10^exponent x scale + offset; an exponent outside -10..10 leaves the reading uncertain, one not read bad.",
                }))
            } else {
                null_only("Applies to a number only.")
            },
        );
        p.insert(
            "bit".into(),
            if self == Family::RegisterBit {
                json!({ "type": "integer", "minimum": 0, "maximum": 15, "description": "Which bit of the register holds the bool (0 = least significant)." })
            } else {
                null_only("Applies to a bool in a register table only.")
            },
        );
        p
    }

    fn required(self) -> Vec<&'static str> {
        let mut r = vec!["name", "address"];
        match self {
            Family::RegisterBit => r.push("bit"),
            Family::Text => r.push("length"),
            _ => {}
        }
        r
    }
}

/// The component holding the spellings of `tables`.
fn table_component(tables: &[Table]) -> &'static str {
    match tables {
        [Table::Coil] => "CoilTable",
        [Table::DiscreteInput] => "DiscreteInputTable",
        [Table::InputRegister] => "InputRegisterTable",
        [Table::HoldingRegister] => "HoldingRegisterTable",
        [Table::Coil, Table::DiscreteInput] => "BitTable",
        _ => "RegisterTable",
    }
}

/// The components of the keyword fields of registers: tables, data types, byte orders.
fn keyword_components() -> Vec<(&'static str, Value)> {
    let mut out = Vec::new();
    for tables in [
        &[Table::Coil][..],
        &[Table::DiscreteInput],
        &[Table::InputRegister],
        &[Table::HoldingRegister],
        &[Table::Coil, Table::DiscreteInput],
        &[Table::InputRegister, Table::HoldingRegister],
    ] {
        out.push((table_component(tables), table_keyword(tables)));
    }
    for family in [
        Family::BitTable,
        Family::Number(1),
        Family::Number(2),
        Family::Number(4),
        Family::Text,
    ] {
        out.push((family.type_component(), type_keyword(&family.types())));
    }
    out.push((
        "ByteOrder",
        order_keyword(&[
            WordOrder::Abcd,
            WordOrder::Cdab,
            WordOrder::Badc,
            WordOrder::Dcba,
        ]),
    ));
    let mut text_order = order_keyword(&[WordOrder::Abcd, WordOrder::Badc]);
    text_order["description"] = json!(format!(
        "A string keeps its registers in order: ABCD (first character in the high byte) or \
         BADC (in the low byte). {}",
        text_order["description"].as_str().unwrap_or_default()
    ));
    out.push(("StringByteOrder", text_order));
    out
}

/// The address ranges of `table` in Modicon addressing for a value `width` registers wide.
fn modicon_ranges(table: Table, width: i64) -> Vec<(i64, i64)> {
    let prefix = i64::from(table.prefix());
    let five = (prefix * 10_000 + 1, prefix * 10_000 + 9_999);
    match table {
        Table::Coil => vec![five],
        _ => vec![
            five,
            (prefix * 100_000 + 1, prefix * 100_000 + 65_537 - width),
        ],
    }
}

/// One register of a map written with `addressing`: one schema per family and, in Modicon
/// addressing (where the address names the table), per table.
fn register_schema(addressing: Addressing) -> Value {
    let mut variants = Vec::new();
    for family in Family::ALL {
        let width = family.width();
        // Each case: the title, the tables, the address ranges; a table is required where
        // the address does not name it.
        let cases = match addressing {
            Addressing::Wire | Addressing::OneBased => {
                let first = i64::from(addressing == Addressing::OneBased);
                vec![(
                    family.title().to_string(),
                    family.tables(),
                    vec![(first, first + 65_536 - width)],
                )]
            }
            Addressing::Modicon => family
                .tables()
                .into_iter()
                .map(|t| {
                    let title = format!("{}, {t}", family.title());
                    (title, vec![t], modicon_ranges(t, width))
                })
                .collect(),
        };
        for (title, tables, ranges) in cases {
            let mut properties = family.properties();
            let mut required = family.required();
            let table = reference(table_component(&tables));
            if addressing == Addressing::Modicon {
                properties.insert("table".into(), nullable(table));
            } else {
                properties.insert("table".into(), table);
                required.push("table");
            }
            properties.insert("address".into(), integer_in(&ranges));
            variants.push(json!({
                "title": title,
                "type": "object",
                "additionalProperties": false,
                "required": required,
                "properties": properties,
            }));
        }
    }
    let how = match addressing {
        Addressing::Wire => "wire addressing: 0-based, with a table",
        Addressing::OneBased => "one_based addressing: 1-based register numbers, with a table",
        Addressing::Modicon => {
            "modicon addressing: reference numbers that name the table (00001-09999, \
             10001-19999, 30001-39999, 40001-49999, 100001-165536, 300001-365536, \
             400001-465536); a table, if given, must be that one"
        }
    };
    json!({
        "description": format!(
            "A register in {how}. In one map, register names are unique and registers do \
             not overlap."
        ),
        "allOf": [
            one_spelling("data_type", "type", true),
            one_spelling("byte_order", "word_order", false),
            { "oneOf": variants },
        ],
    })
}

fn addressing_words(a: Addressing) -> Vec<&'static str> {
    words(&Addressing::WORDS, &[a])
}

fn device_schema() -> Value {
    let transport_words = |wanted: &[&str]| -> Vec<&'static str> {
        TRANSPORTS
            .iter()
            .copied()
            .filter(|t| wanted.contains(t))
            .collect()
    };
    let all_addressing: Vec<&str> = Addressing::WORDS.iter().map(|(w, _)| *w).collect();
    let parity: Vec<&str> = Parity::WORDS.iter().map(|(w, _)| *w).collect();
    let interval = nullable(reference("Interval"));
    let timeout = nullable(reference("Timeout"));
    let pause = nullable(reference("Pause"));
    let older = |of: &str, schema: &Value| json!({ "allOf": [schema], "deprecated": true, "description": format!("Older name of {of}; give one of the two.") });
    let serial_only = "Applies to transport rtu only.";
    let tcp = json!({
        "title": "Modbus TCP, or RTU frames over TCP to a serial gateway",
        "required": ["host"],
        "properties": {
            "transport": nullable(keyword(&transport_words(&["tcp", "rtu_over_tcp"]), "_-", "tcp (default) or rtu_over_tcp (`-` may stand for `_`).")),
            "host": reference("Host"),
            "serial_port": null_only(serial_only),
            "baud_rate": null_only(serial_only),
            "parity": null_only(serial_only),
            "stop_bits": null_only(serial_only),
            "data_bits": null_only(serial_only),
        },
    });
    let rtu = json!({
        "title": "Modbus RTU on a local serial port",
        "required": ["transport", "serial_port"],
        "properties": {
            "transport": keyword(&transport_words(&["rtu"]), "_-", "rtu."),
            "host": null_only("Does not apply to a serial port."),
            "serial_port": reference("SerialPort"),
        },
    });
    let map = |a: Addressing, register: &str, required: bool| {
        let words = keyword(
            &addressing_words(a),
            "_-",
            &format!("{}.", addressing_words(a).join(" or ")),
        );
        json!({
            "required": if required { vec!["addressing"] } else { vec![] },
            "properties": {
                "addressing": if required { words } else { nullable(words) },
                "registers": { "items": reference(register) },
            },
        })
    };
    json!({
        "type": "object",
        "description": "A device and its register map, checked by the same rules as a config \
            file's [[devices]] table. Devices are unique by name.",
        "additionalProperties": false,
        "required": ["name"],
        "properties": {
            "name": reference("Name"),
            "host": nullable(reference("Host")),
            "port": nullable(json!({ "type": "integer", "minimum": 1, "maximum": 65535, "description": format!("TCP port (default {DEFAULT_PORT}).") })),
            "unit_id": nullable(json!({ "type": "integer", "minimum": 0, "maximum": 255, "description": format!("Modbus unit id (default {DEFAULT_UNIT_ID}).") })),
            "interval": interval.clone(),
            "interval_ms": older("interval", &interval),
            "timeout": timeout.clone(),
            "timeout_ms": older("timeout", &timeout),
            "enabled": { "type": ["boolean", "null"], "description": "Whether the device is polled (default true)." },
            "addressing": nullable(keyword(&all_addressing, "_-", "How registers[].address is written: wire (0-based, default), one_based or modicon; also zero_based, 0, 1, reference.")),
            "max_gap": nullable(json!({ "type": "integer", "minimum": 0, "maximum": MAX_REGISTERS_PER_READ - 1, "description": "Unmapped registers one read may bridge (default 0)." })),
            "max_registers_per_read": nullable(json!({ "type": "integer", "minimum": 1, "maximum": MAX_REGISTERS_PER_READ, "description": "Most registers in one read request (default 125)." })),
            "pause_between_requests": pause.clone(),
            "pause_between_requests_ms": older("pause_between_requests", &pause),
            "transport": nullable(keyword(&TRANSPORTS, "_-", "tcp (default), rtu_over_tcp or rtu (`-` may stand for `_`).")),
            "serial_port": nullable(reference("SerialPort")),
            "baud_rate": nullable(json!({ "type": "integer", "minimum": 300, "maximum": 4_000_000, "description": "Bits per second (default 19200)." })),
            "parity": nullable(keyword(&parity, "", "none, even (default) or odd; also n, e, o.")),
            "stop_bits": nullable(json!({ "enum": [1, 2], "description": "1 (default) or 2." })),
            "data_bits": nullable(json!({ "enum": [7, 8], "description": "7 or 8 (default)." })),
            "registers": { "type": "array", "items": { "type": "object" }, "description": "The register map, one entry per register." },
        },
        "allOf": [
            { "oneOf": [tcp, rtu] },
            { "oneOf": [
                map(Addressing::Wire, "WireRegister", false),
                map(Addressing::OneBased, "OneBasedRegister", true),
                map(Addressing::Modicon, "ModiconRegister", true),
            ] },
            one_spelling("interval", "interval_ms", false),
            one_spelling("timeout", "timeout_ms", false),
            one_spelling("pause_between_requests", "pause_between_requests_ms", false),
        ],
    })
}

/// The components the device schema refers to, by name.
fn components() -> Vec<(&'static str, Value)> {
    let mut all = keyword_components();
    let host = json!({
        "type": "string",
        "maxLength": MAX_HOST_LENGTH,
        "description": "An IP address (IPv6 without brackets), or a host name: letters, \
            digits, '-' and '_' in labels of 1-63 characters joined by dots, not all of them \
            digits.",
        "anyOf": [
            { "pattern": ipv4_pattern() },
            { "pattern": ipv6_pattern() },
            { "allOf": [{ "pattern": host_name_pattern() }, { "pattern": label_lengths_pattern() }] },
        ],
        "examples": ["10.0.0.5"],
    });
    all.extend([
        (
            "Name",
            json!({
                "type": "string",
                "pattern": text_pattern(true),
                "description": "Not empty; no white space at either end; no control characters \
                    (U+0000-U+001F, U+007F-U+009F), line or paragraph separators, bidirectional \
                    marks, embeddings, overrides or isolates, or zero-width characters.",
                "examples": ["main-meter"],
            }),
        ),
        (
            "Unit",
            json!({
                "type": "string",
                "pattern": text_pattern(false),
                "description": "Engineering unit; may be empty; the character rule of names.",
                "examples": ["kWh"],
            }),
        ),
        ("Host", host),
        (
            "SerialPort",
            json!({
                "type": "string",
                "pattern": serial_port_pattern(),
                "description": "A serial adapter: /dev/ttyS<N>, /dev/ttyUSB<N>, /dev/ttyACM<N>, \
                    /dev/ttyAMA<N>, /dev/ttyXRUSB<N>, /dev/ttymxc<N>, /dev/ttyO<N>, /dev/ttySC<N> \
                    (N 0-9999), /dev/serial/by-id/<name> or /dev/serial/by-path/<name> (not a \
                    directory), or COM1-COM256.",
                "examples": ["/dev/ttyUSB0"],
            }),
        ),
        (
            "Interval",
            duration_schema(
                duration::INTERVAL,
                "Poll interval (default: the historian's polling.interval)",
            ),
        ),
        (
            "Timeout",
            duration_schema(
                duration::TIMEOUT,
                "Per-request time-out (default: the historian's polling.timeout)",
            ),
        ),
        (
            "Pause",
            duration_schema(
                duration::PAUSE,
                "Wait between two requests of one poll (default 0)",
            ),
        ),
        (
            "RegisterInterval",
            json!({
                "type": "string",
                "pattern": duration::INTERVAL.text_pattern(),
                "description": "Poll this register less often: a whole number and one unit (ms, \
                    s, m, h, d), at most 7d, rounded up to whole device polls.",
                "examples": ["1m"],
            }),
        ),
        ("WireRegister", register_schema(Addressing::Wire)),
        ("OneBasedRegister", register_schema(Addressing::OneBased)),
        ("ModiconRegister", register_schema(Addressing::Modicon)),
    ]);
    all
}

impl PartialSchema for DeviceInput {
    fn schema() -> RefOr<Schema> {
        raw(device_schema())
    }
}

impl ToSchema for DeviceInput {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DeviceInput")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.extend(
            components()
                .into_iter()
                .map(|(name, schema)| (name.to_string(), raw(schema))),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk<'a>(v: &'a Value, found: &mut Vec<(&'a str, &'a str)>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    if let ("$ref" | "pattern", Value::String(s)) = (k.as_str(), v) {
                        found.push((k.as_str(), s.as_str()));
                    }
                    walk(v, found);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_every_pattern_compiles() {
        let components = components();
        let names: Vec<&str> = components.iter().map(|(n, _)| *n).collect();
        let device = device_schema();
        let mut found = Vec::new();
        walk(&device, &mut found);
        for (_, schema) in &components {
            walk(schema, &mut found);
        }
        assert!(found.len() > 100, "{}", found.len());
        for (keyword, text) in found {
            if keyword == "$ref" {
                let name = text.trim_start_matches("#/components/schemas/");
                assert!(names.contains(&name), "{text} is not a component");
            } else {
                regex::Regex::new(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            }
        }
    }

    #[test]
    fn the_schema_travels_through_utoipa_unchanged() {
        let through = serde_json::to_value(DeviceInput::schema()).expect("json");
        assert_eq!(through, device_schema());
        let mut listed = Vec::new();
        DeviceInput::schemas(&mut listed);
        assert_eq!(listed.len(), components().len());
    }
}
