//! The device a `discover` command points at: `host[:port]` or a serial port, with the
//! link flags, checked by the same validator as every other device input.

use crate::discover::args::DiscoverArgs;
use historian_model::input::{DeviceInput, InputSource, Period};
use historian_model::{DeviceSpec, RegisterInput, RegisterPoint};
use std::time::Duration;
use thiserror::Error;

/// Why the target or its flags are not a device.
#[derive(Debug, Error)]
#[error("{target}: {}", .problems.join("; "))]
pub struct TargetError {
    /// The target as given.
    pub target: String,
    /// Every problem found.
    pub problems: Vec<String>,
}

/// True when `target` names a local serial port rather than a host.
fn is_serial(target: &str) -> bool {
    target.starts_with('/') || target.to_ascii_uppercase().starts_with("COM")
}

/// `host`, `host:port`, `[v6]` or `[v6]:port` split into host and port (502 by default).
fn host_port(target: &str) -> (String, Option<i64>) {
    if let Some(rest) = target.strip_prefix('[')
        && let Some((host, tail)) = rest.split_once(']')
    {
        let port = tail.strip_prefix(':').and_then(|p| p.parse().ok());
        return (host.to_string(), port);
    }
    match target.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => match port.parse::<i64>() {
            Ok(p) => (host.to_string(), Some(p)),
            Err(_) => (target.to_string(), None),
        },
        _ => (target.to_string(), None),
    }
}

/// The device input the command's target and flags describe, named `name`, holding
/// `registers`.
pub fn device_input(args: &DiscoverArgs, name: &str, registers: &[RegisterPoint]) -> DeviceInput {
    let serial = is_serial(&args.target);
    let mut input = DeviceInput {
        name: Some(name.to_string()),
        transport: args
            .transport
            .clone()
            .or_else(|| serial.then(|| "rtu".to_string())),
        interval: Some(Period::Millis(
            i64::try_from(args.interval.as_millis()).unwrap_or(i64::MAX),
        )),
        timeout: Some(Period::Millis(
            i64::try_from(args.timeout.as_millis()).unwrap_or(i64::MAX),
        )),
        registers: registers.iter().map(RegisterInput::of).collect(),
        ..DeviceInput::default()
    };
    if serial {
        input.serial_port = Some(args.target.clone());
        input.baud_rate = args.baud_rate.map(i64::from);
        input.parity = args.parity.clone();
        input.stop_bits = args.stop_bits.map(i64::from);
        input.data_bits = args.data_bits.map(i64::from);
    } else {
        let (host, port) = host_port(&args.target);
        input.host = Some(host);
        input.port = port;
    }
    input
}

/// Checks `input` as a device (host or serial port, link flags, map).
pub fn check(target: &str, input: DeviceInput) -> Result<DeviceSpec, TargetError> {
    input
        .check(InputSource {
            default_interval: Duration::from_secs(5),
            extra_serial_ports: &[],
            map_files: None,
        })
        .map_err(|errors| TargetError {
            target: target.to_string(),
            problems: errors.iter().map(ToString::to_string).collect(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_ports_and_serial_ports_are_told_apart() {
        assert_eq!(host_port("10.0.0.5"), ("10.0.0.5".into(), None));
        assert_eq!(
            host_port("plc.local:1502"),
            ("plc.local".into(), Some(1502))
        );
        assert_eq!(host_port("[::1]:5020"), ("::1".into(), Some(5020)));
        assert_eq!(host_port("::1"), ("::1".into(), None));
        assert!(is_serial("/dev/ttyUSB0"));
        assert!(is_serial("COM3"));
        assert!(!is_serial("10.0.0.5:502"));
    }
}
