//! Map files: a valid file in each format, each kind of mistake with its exact message and
//! position, and export followed by import giving back the same map.

use super::*;
use historian_model::{DataType, RegisterRef, Table, WordOrder};

fn errors(text: &str, format: MapFormat) -> Vec<String> {
    match parse(text, format, Addressing::Wire) {
        Ok(points) => vec![format!("unexpectedly valid: {} points", points.len())],
        Err(e) => e.iter().map(ToString::to_string).collect(),
    }
}

const CSV_OK: &str = "\
# a relay, modicon addresses would need --addressing modicon
address,table,name,data_type,byte_order,scale,offset,unit,min,max,not_available,bit,length
0,input_register,current_a,float32,CDAB,,,A,0,5000,,,
2,input_register,freq,uint16,,0.01,,Hz,,,0xFFFF,,
10,holding_register,model,string,BADC,,,,,,,,8
20,holding_register,breaker_closed,bool,,,,,,,,0,
20,holding_register,breaker_tripped,bool,,,,,,,,1,
\"5\",coil,\"reset, latched\",bool,,,,,,,,,
";

#[test]
fn a_valid_csv_map_reads_every_column() {
    let map = parse(CSV_OK, MapFormat::Csv, Addressing::Wire).expect("valid");
    assert_eq!(map.len(), 6);
    assert_eq!(map[0].word_order, WordOrder::Cdab);
    assert_eq!(
        (map[0].limits.min, map[0].limits.max),
        (Some(0.0), Some(5000.0))
    );
    assert_eq!(map[1].limits.not_available, Some(0xFFFF));
    assert_eq!(map[1].scale, 0.01);
    assert_eq!(
        (map[2].data_type, map[2].length),
        (DataType::String, Some(8))
    );
    assert_eq!(
        map[4].register,
        RegisterRef::new(Table::HoldingRegister, 20).with_bit(1)
    );
    assert_eq!(map[5].name, "reset, latched");
}

#[test]
fn csv_cell_errors_carry_line_and_column() {
    let text = "\
address,table,name,data_type,scale
0,hr,a,uint16,x
1,holdng,b,flaot,1
two,hr,c,uint16,1
3,hr,,uint16,1
";
    assert_eq!(
        errors(text, MapFormat::Csv),
        vec![
            "2:15: scale: \"x\" is not a number",
            "3:3: table: unknown table \"holdng\" (expected one of: coil, discrete_input, input_register, holding_register)",
            "3:12: data_type: unknown data type \"flaot\" (expected one of: bool, int16, uint16, int32, uint32, int64, uint64, float32, float64, string)",
            "4:1: address: \"two\" is not a whole number",
            "5:6: name: is required",
        ]
    );
}

#[test]
fn csv_row_and_map_errors() {
    let text = "\
address,table,name,data_type,length,bit
0,hr,a,uint32,,
1,hr,b,uint16,,
2,hr,a,string,,
9,hr,d,bool,,16
10,hr,e,uint16
";
    assert_eq!(
        errors(text, MapFormat::Csv),
        vec![
            "3:1: register \"b\" overlaps \"a\", which also uses holding_register address 1",
            "4:1: string needs a length of 1-125 registers (two characters each)",
            "4:1: duplicate register name \"a\"",
            "5:14: bit: 16 is out of range 0-15",
            "6:1: this row has 4 fields, the header has 6",
        ]
    );
}

#[test]
fn register_intervals_are_durations() {
    let text = "address,table,name,data_type,interval\n0,hr,a,uint16,5m\n1,hr,b,uint16,soon\n2,hr,c,uint16,0s\n";
    assert_eq!(
        errors(text, MapFormat::Csv),
        vec![
            "3:15: interval: \"soon\" is not a duration; write a whole number and one unit (ms, s, m, h or d), e.g. \"500ms\", \"5s\" or \"1m\"",
            "4:15: interval: \"0s\" is zero; give a positive duration",
        ]
    );
    let ok = parse(
        &text.lines().take(2).collect::<Vec<_>>().join("\n"),
        MapFormat::Csv,
        Addressing::Wire,
    );
    assert_eq!(ok.map(|m| m[0].interval_ms), Ok(Some(300_000)));
}

#[test]
fn duplicate_names_and_shared_bits_are_map_errors() {
    let text = "address,table,name,data_type,bit\n0,hr,a,bool,3\n0,hr,b,bool,3\n5,ir,a,uint16,\n";
    assert_eq!(
        errors(text, MapFormat::Csv),
        vec![
            "3:1: register \"b\" overlaps \"a\", which also uses bit 3 of holding_register address 0",
            "4:1: duplicate register name \"a\"",
        ]
    );
}

#[test]
fn a_duplicate_name_is_reported_beside_other_mistakes() {
    let text = "address,table,name,data_type\n0,hr,a,uint16\n1,hr,a,flaot32\n";
    assert_eq!(
        errors(text, MapFormat::Csv),
        vec![
            "3:1: duplicate register name \"a\"",
            "3:8: data_type: unknown data type \"flaot32\" (expected one of: bool, int16, \
             uint16, int32, uint32, int64, uint64, float32, float64, string)",
        ]
    );
}

#[test]
fn csv_header_errors_stop_before_the_rows() {
    assert_eq!(
        errors("address,tabel,name,name\n0,hr,a,b\n", MapFormat::Csv),
        vec![
            "1:1: the header has no \"data_type\" column",
            "1:9: unknown column \"tabel\" (expected: address, table, name, data_type, byte_order, scale, offset, unit, min, max, not_available, bit, length, interval, scale_factor)",
            "1:20: column \"name\" appears twice",
        ]
    );
    assert_eq!(
        errors("# only a comment\n", MapFormat::Csv),
        vec![
            "1:1: the file is empty: it needs a header row (address, table, name, data_type, byte_order, scale, offset, unit, min, max, not_available, bit, length, interval, scale_factor)"
        ]
    );
}

#[test]
fn csv_with_modicon_addressing() {
    let text = "address,name,data_type\n40001,a,uint16\n30010,b,int16\n";
    let map = parse(text, MapFormat::Csv, Addressing::Modicon).expect("valid");
    assert_eq!(map[0].register, RegisterRef::new(Table::HoldingRegister, 0));
    assert_eq!(map[1].register, RegisterRef::new(Table::InputRegister, 9));
    assert_eq!(
        errors(text, MapFormat::Csv),
        vec![
            "2:1: address: a table is needed with this addressing (coil, discrete_input, input_register or holding_register)",
            "3:1: address: a table is needed with this addressing (coil, discrete_input, input_register or holding_register)",
        ]
    );
}

const TOML_OK: &str = r#"
addressing = "modicon"

[[registers]]
name = "current_a"
address = 30001
data_type = "float32"
byte_order = "CDAB"
unit = "A"
max = 5000

[[registers]]
name = "breaker_closed"
address = 40021
type = "bool"
bit = 0
"#;

#[test]
fn a_valid_toml_map_sets_its_own_addressing() {
    let map = parse(TOML_OK, MapFormat::Toml, Addressing::Wire).expect("valid");
    assert_eq!(map[0].register, RegisterRef::new(Table::InputRegister, 0));
    assert_eq!(map[0].limits.max, Some(5000.0));
    assert_eq!(
        map[1].register,
        RegisterRef::new(Table::HoldingRegister, 20).with_bit(0)
    );
}

#[test]
fn toml_errors_carry_line_and_column() {
    let text = r#"addressing = "weird"
colour = 1

[[registers]]
name = "a"
address = "zero"
data_type = "uint16"
scael = 2

[[registers]]
name = "b"
table = "hr"
address = 0
data_type = "float64"
max = "high"
"#;
    assert_eq!(
        errors(text, MapFormat::Toml),
        vec![
            "1:14: addressing: unknown addressing \"weird\" (expected wire, one_based or modicon)",
            "2:1: unknown key \"colour\" (expected addressing or [[registers]])",
            "6:11: address: expected a whole number, found string",
            "8:1: unknown key \"scael\" (expected: address, table, name, data_type, byte_order, scale, offset, unit, min, max, not_available, bit, length, interval, scale_factor)",
            "15:7: max: expected a number, found string",
        ]
    );
    assert_eq!(
        errors("[[registers]\n", MapFormat::Toml).len(),
        1,
        "a syntax error is one error"
    );
    assert_eq!(
        errors("addressing = \"wire\"\n", MapFormat::Toml),
        vec!["1:1: the file has no [[registers]]"]
    );
}

fn every_kind() -> Vec<RegisterPoint> {
    let text = "\
address,table,name,data_type,byte_order,scale,offset,unit,min,max,not_available,bit,length
0,input_register,f,float64,DCBA,0.5,-3,kW,-100,100,,,
4,input_register,i,int32,CDAB,1,0,,,,0x80000000,,
6,holding_register,s,string,BADC,,,,,,,,3
9,holding_register,b3,bool,,,,,,,,3,
9,holding_register,b15,bool,,,,,,,,15,
7,discrete_input,di,bool,,,,,,,,,
10,holding_register,i_sf,int16,,,,,,,,,
";
    let mut map = parse(text, MapFormat::Csv, Addressing::Wire).expect("valid");
    map[1].interval_ms = Some(90_000);
    map[1].scale_factor = Some("i_sf".into());
    map
}

#[test]
fn export_then_import_gives_the_same_map_in_both_formats() {
    let map = every_kind();
    // A CSV map is read with the addressing it is given; a TOML map says its own.
    for (format, addressing) in [
        (MapFormat::Csv, Addressing::Wire),
        (MapFormat::Toml, Addressing::Modicon),
    ] {
        let text = write(&map, format);
        let back = parse(&text, format, addressing);
        assert_eq!(back.as_ref(), Ok(&map), "{format:?}:\n{text}");
    }
    assert!(to_csv(&map).starts_with(&CSV_COLUMNS.join(",")));
}

#[test]
fn a_scale_factor_is_named_or_addressed_and_checked_against_the_map() {
    let csv = "\
address,table,name,data_type,scale_factor
40084,holding_register,w,int16,w_sf
40085,holding_register,w_sf,int16,
40086,holding_register,va,uint16,40087
40087,holding_register,va_sf,int16,
";
    let map = parse(csv, MapFormat::Csv, Addressing::OneBased).expect("valid");
    assert_eq!(map[0].scale_factor.as_deref(), Some("w_sf"));
    // Address 40087, one-based, is the register named va_sf.
    assert_eq!(map[2].scale_factor.as_deref(), Some("va_sf"));

    let toml = r#"
[[registers]]
table = "holding_register"
address = 0
name = "w"
data_type = "uint16"
scale_factor = 1
[[registers]]
table = "holding_register"
address = 1
name = "w_sf"
data_type = "float32"
[[registers]]
table = "holding_register"
address = 3
name = "a"
data_type = "uint16"
scale_factor = "nowhere"
[[registers]]
table = "holding_register"
address = 4
name = "b"
data_type = "uint16"
scale_factor = 9
[[registers]]
table = "holding_register"
address = 5
name = "c"
data_type = "uint16"
scale_factor = "a"
"#;
    assert_eq!(
        errors(toml, MapFormat::Toml),
        [
            "2:1: register \"w\" scale_factor \"w_sf\" is float32; an exponent register must be an integer type",
            "13:1: register \"a\" scale_factor \"nowhere\" is not a register of this map",
            "24:16: scale_factor: no register of this map is at address 9 of this register's table",
            "25:1: register \"c\" scale_factor \"a\" has a scale_factor of its own; an exponent must be read as it is",
        ]
    );
}
