//! The configuration file: any text. Nothing panics, and a refusal always says something.

use modbus_historian::config::Config;

/// The bytes as the text of a config file (no environment variables set).
pub fn check(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let no_env = |_: &str| None;
    if let Err(e) = Config::parse(text, "fuzz.toml", &no_env) {
        let message = e.to_string();
        assert!(
            message.contains("fuzz.toml"),
            "an error that names no file: {message}"
        );
    }
}
