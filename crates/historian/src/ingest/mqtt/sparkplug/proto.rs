//! The Sparkplug B payload (`org.eclipse.tahu.protobuf.Payload`), written out by hand from
//! the field numbers the Sparkplug 3.0 specification publishes, so no schema file or
//! protobuf compiler is needed at build time. Only the parts an edge node that publishes
//! scalar metrics uses are declared: data sets, templates and extensions are absent, and a
//! received payload that carries them still decodes (protobuf skips unknown fields).

/// A Sparkplug B payload: the body of every `spBv1.0` message but STATE.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Payload {
    /// Milliseconds since the Unix epoch at which the message was made.
    #[prost(uint64, optional, tag = "1")]
    pub timestamp: Option<u64>,
    /// The metrics.
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
    /// Message sequence number, 0-255 (absent on NDEATH).
    #[prost(uint64, optional, tag = "3")]
    pub seq: Option<u64>,
    /// Optional payload identifier.
    #[prost(string, optional, tag = "4")]
    pub uuid: Option<String>,
    /// Optional opaque body.
    #[prost(bytes = "vec", optional, tag = "5")]
    pub body: Option<Vec<u8>>,
}

/// One metric: a named (or aliased) typed value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Metric {
    /// Name; present in births, left out of data messages in favour of the alias.
    #[prost(string, optional, tag = "1")]
    pub name: Option<String>,
    /// Number standing for the name after a birth.
    #[prost(uint64, optional, tag = "2")]
    pub alias: Option<u64>,
    /// Milliseconds since the Unix epoch at which the value was taken.
    #[prost(uint64, optional, tag = "3")]
    pub timestamp: Option<u64>,
    /// One of [`data_type`]'s codes; required in births only.
    #[prost(uint32, optional, tag = "4")]
    pub datatype: Option<u32>,
    /// Set for values older than the live ones.
    #[prost(bool, optional, tag = "5")]
    pub is_historical: Option<bool>,
    /// Set for values a host should not keep as tags.
    #[prost(bool, optional, tag = "6")]
    pub is_transient: Option<bool>,
    /// Set when there is no value.
    #[prost(bool, optional, tag = "7")]
    pub is_null: Option<bool>,
    /// Key/value properties (unit, register, quality).
    #[prost(message, optional, tag = "9")]
    pub properties: Option<PropertySet>,
    /// The value, absent when `is_null`.
    #[prost(oneof = "metric::Value", tags = "10, 11, 12, 13, 14, 15, 16")]
    pub value: Option<metric::Value>,
}

/// The value variants of [`Metric`].
pub mod metric {
    /// A metric's value, in the field its data type prescribes.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// Int8/16/32 (two's complement within the type's width) and UInt8/16/32.
        #[prost(uint32, tag = "10")]
        IntValue(u32),
        /// Int64 (two's complement), UInt64 and DateTime.
        #[prost(uint64, tag = "11")]
        LongValue(u64),
        /// Float.
        #[prost(float, tag = "12")]
        FloatValue(f32),
        /// Double.
        #[prost(double, tag = "13")]
        DoubleValue(f64),
        /// Boolean.
        #[prost(bool, tag = "14")]
        BooleanValue(bool),
        /// String, Text and UUID.
        #[prost(string, tag = "15")]
        StringValue(String),
        /// Bytes, File and the array types.
        #[prost(bytes = "vec", tag = "16")]
        BytesValue(Vec<u8>),
    }
}

/// Properties of a metric: parallel lists of keys and values.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertySet {
    /// Property names.
    #[prost(string, repeated, tag = "1")]
    pub keys: Vec<String>,
    /// Property values, one per key.
    #[prost(message, repeated, tag = "2")]
    pub values: Vec<PropertyValue>,
}

/// One property's typed value.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PropertyValue {
    /// One of [`data_type`]'s codes.
    #[prost(uint32, optional, tag = "1")]
    pub r#type: Option<u32>,
    /// Set when there is no value.
    #[prost(bool, optional, tag = "2")]
    pub is_null: Option<bool>,
    /// The value, absent when `is_null`.
    #[prost(oneof = "property_value::Value", tags = "3, 4, 5, 6, 7, 8")]
    pub value: Option<property_value::Value>,
}

/// The value variants of [`PropertyValue`].
pub mod property_value {
    /// A property's value.
    #[derive(Clone, PartialEq, prost::Oneof)]
    pub enum Value {
        /// Int8/16/32 and UInt8/16/32.
        #[prost(uint32, tag = "3")]
        IntValue(u32),
        /// Int64, UInt64 and DateTime.
        #[prost(uint64, tag = "4")]
        LongValue(u64),
        /// Float.
        #[prost(float, tag = "5")]
        FloatValue(f32),
        /// Double.
        #[prost(double, tag = "6")]
        DoubleValue(f64),
        /// Boolean.
        #[prost(bool, tag = "7")]
        BooleanValue(bool),
        /// String and Text.
        #[prost(string, tag = "8")]
        StringValue(String),
    }
}

/// Sparkplug B data type codes (the `DataType` enum of the specification) this edge node
/// uses.
pub mod data_type {
    /// Signed 16-bit integer, in `int_value`.
    pub const INT16: u32 = 2;
    /// Signed 32-bit integer, in `int_value`.
    pub const INT32: u32 = 3;
    /// Signed 64-bit integer, in `long_value`.
    pub const INT64: u32 = 4;
    /// Unsigned 16-bit integer, in `int_value`.
    pub const UINT16: u32 = 6;
    /// Unsigned 32-bit integer, in `int_value`.
    pub const UINT32: u32 = 7;
    /// Unsigned 64-bit integer, in `long_value`.
    pub const UINT64: u32 = 8;
    /// IEEE-754 single precision, in `float_value`.
    pub const FLOAT: u32 = 9;
    /// IEEE-754 double precision, in `double_value`.
    pub const DOUBLE: u32 = 10;
    /// Boolean, in `boolean_value`.
    pub const BOOLEAN: u32 = 11;
    /// UTF-8 text, in `string_value`.
    pub const STRING: u32 = 12;
}
