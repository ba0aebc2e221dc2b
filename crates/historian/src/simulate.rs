//! The `simulate` subcommand: serve simulated devices, either the reference fleet or the
//! devices of a config file.

use crate::config::Config;
use clap::Args;
use historian_sim::fleet::reference_map;
use historian_sim::{Signals, SimDevice, SimEndpoint};
use std::collections::HashMap;
use thiserror::Error;

/// Which values the simulated devices serve (`--signals`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignalsArg {
    /// What real devices serve: slow drifts with a little noise around 230 V, 50 Hz,
    /// 20-80 °C and the like (by unit and name), counters that only grow, status bits
    /// that rarely change, constant set-points and identification strings.
    #[default]
    Realistic,
    /// For stress runs: every value jumps every step over its type's whole range.
    WorstCase,
}

impl From<SignalsArg> for Signals {
    fn from(arg: SignalsArg) -> Self {
        match arg {
            SignalsArg::Realistic => Signals::Realistic,
            SignalsArg::WorstCase => Signals::WorstCase,
        }
    }
}

impl std::fmt::Display for SignalsArg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(Signals::from(*self).name())
    }
}

/// Why a config file's devices cannot be simulated.
#[derive(Debug, Error)]
pub enum SimulateError {
    /// Two devices share one port; the simulator serves one device per port.
    #[error(
        "devices {first:?} and {second:?} share port {port} and unit id {unit}; behind one \
         port (a gateway) each device needs a unit id of its own"
    )]
    SharedPort {
        /// The unit id both use.
        unit: u8,
        /// First device on the port.
        first: String,
        /// Second device on the port.
        second: String,
        /// The port.
        port: u16,
    },
    /// A device on a serial port: `simulate` serves TCP ports only.
    #[error(
        "device {0:?} uses a serial port; simulate serves TCP ports only (the simulator \
         library serves RTU on a serial port or pseudo-terminal, see Simulator::start_serial)"
    )]
    Serial(String),
    /// A base port so high that the fleet would run past port 65535.
    #[error("{devices} devices from port {base_port} run past port 65535")]
    PortRange {
        /// Devices asked for.
        devices: usize,
        /// First port.
        base_port: u16,
    },
}

/// Endpoints for `devices` reference devices of `registers` points each, serving
/// `signals`, on consecutive ports from `base_port` (0 = let the OS pick each port). Device
/// `i` has index `i`.
pub fn fleet_endpoints(
    devices: usize,
    registers: usize,
    base_port: u16,
    step_ms: u64,
    signals: Signals,
) -> Result<Vec<SimEndpoint>, SimulateError> {
    let map = reference_map(registers);
    (0..devices)
        .map(|i| {
            let port = if base_port == 0 {
                Ok(0)
            } else {
                u16::try_from(usize::from(base_port) + i)
                    .map_err(|_| SimulateError::PortRange { devices, base_port })
            }?;
            Ok(SimEndpoint::new(
                port,
                SimDevice::new(i as u32, map.clone(), step_ms).with_signals(signals),
            ))
        })
        .collect()
}

/// Collector configs for simulated devices listening at `addrs`, named `sim-000`, ...,
/// each polling `map` every `interval`.
pub fn device_configs(
    addrs: &[std::net::SocketAddr],
    map: &[historian_model::RegisterPoint],
    interval: std::time::Duration,
    timeout: std::time::Duration,
) -> Vec<crate::config::DeviceConfig> {
    addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| crate::config::DeviceConfig {
            spec: historian_model::DeviceSpec {
                name: historian_sim::fleet::device_name(i),
                host: addr.ip().to_string(),
                port: addr.port(),
                unit_id: 1,
                poll_interval_ms: u64::try_from(interval.as_millis())
                    .unwrap_or(u64::MAX)
                    .max(1),
                enabled: true,
                registers: map.to_vec(),
                access: Default::default(),
            },
            timeout,
        })
        .collect()
}

/// Faults the simulator injects, per device (each device counts its own answers).
#[derive(Debug, Args, Clone, Copy, PartialEq)]
pub struct SimFaultArgs {
    /// Close the connection instead of sending every Nth answer.
    #[arg(long, value_name = "N", conflicts_with = "drop_chance", value_parser = clap::value_parser!(u64).range(1..))]
    pub drop_every: Option<u64>,
    /// Close the connection instead of answering, with this probability (0-1).
    #[arg(long, value_name = "P", value_parser = probability)]
    pub drop_chance: Option<f64>,
    /// Answer every Nth request with bytes that are not a Modbus frame.
    #[arg(long, value_name = "N", conflicts_with = "garbage_chance", value_parser = clap::value_parser!(u64).range(1..))]
    pub garbage_every: Option<u64>,
    /// Answer with garbage with this probability (0-1).
    #[arg(long, value_name = "P", value_parser = probability)]
    pub garbage_chance: Option<f64>,
    /// Exception code answered instead of values (hex: 05 acknowledge, 06 busy, 0A/0B
    /// gateway), on every Nth read (`--exception-every`) or by chance (`--exception-chance`).
    #[arg(long, value_name = "CODE", value_parser = exception_code)]
    pub exception: Option<u8>,
    /// Answer every Nth read with `--exception`.
    #[arg(long, value_name = "N", requires = "exception", conflicts_with = "exception_chance", value_parser = clap::value_parser!(u64).range(1..))]
    pub exception_every: Option<u64>,
    /// Answer reads with `--exception` with this probability (0-1).
    #[arg(long, value_name = "P", requires = "exception", value_parser = probability)]
    pub exception_chance: Option<f64>,
    /// Seed of the random faults; device i uses seed + i, so a run can be repeated.
    #[arg(long, default_value_t = 1)]
    pub fault_seed: u64,
}

/// A Modbus exception code a server may answer to a read, in hex (`0A`, `0x0B`, `5`).
fn exception_code(s: &str) -> Result<u8, String> {
    let digits = s.trim_start_matches("0x").trim_start_matches("0X");
    match u8::from_str_radix(digits, 16) {
        Ok(code @ (0x01..=0x06 | 0x08 | 0x0A | 0x0B)) => Ok(code),
        _ => Err(format!(
            "{s:?} is not a Modbus exception code (hex: 01-06, 08, 0A, 0B)"
        )),
    }
}

fn probability(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a probability between 0 and 1")),
    }
}

/// Switches on `faults` for every endpoint's device; device `i` seeds its random faults
/// with `fault_seed + i`.
pub fn apply_faults(endpoints: &[SimEndpoint], faults: &SimFaultArgs) {
    use historian_sim::FaultRate;
    for (i, ep) in endpoints.iter().enumerate() {
        let seed = faults.fault_seed.wrapping_add(i as u64);
        let rate = |every: Option<u64>, chance: Option<f64>, salt: u64| {
            every
                .map(FaultRate::Every)
                .or(chance.map(|probability| FaultRate::Random {
                    probability,
                    seed: seed ^ salt,
                }))
        };
        let f = ep.device.faults();
        f.set_drops(rate(faults.drop_every, faults.drop_chance, 0));
        // A different stream for garbage, so the two faults do not strike together.
        f.set_garbage(rate(faults.garbage_every, faults.garbage_chance, 0x5EED));
        let exceptions = faults.exception.and_then(|code| {
            // Every exception only when neither rate is given.
            let every = faults
                .exception_every
                .or(faults.exception_chance.is_none().then_some(1));
            rate(every, faults.exception_chance, 0xE8C)
                .map(|r| (historian_modbus::client::ExceptionCode::new(code), r))
        });
        for device in std::iter::once(&ep.device).chain(ep.units.iter().map(|(_, d)| d)) {
            device.faults().set_exceptions(exceptions);
        }
    }
}

/// Endpoints serving every device of `config` with `signals` on its configured port, with
/// RTU framing for
/// `rtu_over_tcp` devices; device `i` (file order) has index `i`. Devices sharing a port
/// are served as units behind one gateway, each answering its own unit id (the first
/// device of the port also answers unit ids nobody maps).
pub fn config_endpoints(
    config: &Config,
    step_ms: u64,
    signals: Signals,
) -> Result<Vec<SimEndpoint>, SimulateError> {
    let mut by_port: HashMap<u16, (usize, HashMap<u8, &str>)> = HashMap::new();
    let mut out: Vec<SimEndpoint> = Vec::new();
    for (i, d) in config.devices.iter().enumerate() {
        let device =
            SimDevice::new(i as u32, d.spec.registers.clone(), step_ms).with_signals(signals);
        let rtu = match d.spec.access.link {
            crate::config::Link::Tcp => false,
            crate::config::Link::RtuOverTcp => true,
            crate::config::Link::Serial(_) => {
                return Err(SimulateError::Serial(d.spec.name.clone()));
            }
        };
        let unit = d.spec.unit_id;
        match by_port.get_mut(&d.spec.port) {
            Some((at, units)) => {
                if let Some(first) = units.insert(unit, &d.spec.name) {
                    return Err(SimulateError::SharedPort {
                        unit,
                        first: first.to_string(),
                        second: d.spec.name.clone(),
                        port: d.spec.port,
                    });
                }
                let endpoint = &mut out[*at];
                endpoint.units.push((unit, device));
            }
            None => {
                let mut endpoint = SimEndpoint::new(d.spec.port, device);
                if rtu {
                    endpoint = endpoint.rtu();
                }
                // The first device answers its own unit id as well as any other.
                endpoint.units.push((
                    unit,
                    SimDevice::new(i as u32, d.spec.registers.clone(), step_ms)
                        .with_signals(signals),
                ));
                by_port.insert(
                    d.spec.port,
                    (out.len(), HashMap::from([(unit, d.spec.name.as_str())])),
                );
                out.push(endpoint);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn config_devices_are_served_with_their_framing() {
        let text = "[[devices]]\nname = \"tcp\"\nhost = \"h\"\nport = 1502\n\
                    [[devices]]\nname = \"gw\"\nhost = \"h\"\nport = 1503\ntransport = \"rtu_over_tcp\"\n";
        let config = Config::parse(text, "s.toml", &no_env).expect("valid");
        let framing: Vec<_> = config_endpoints(&config, 1000, Signals::Realistic)
            .expect("servable")
            .iter()
            .map(|e| (e.port, e.framing))
            .collect();
        use historian_sim::Framing;
        assert_eq!(framing, [(1502, Framing::Tcp), (1503, Framing::Rtu)]);
        let gateway = "[[devices]]\nname = \"u1\"\nhost = \"h\"\nport = 1502\nunit_id = 1\n\
                       [[devices]]\nname = \"u2\"\nhost = \"h\"\nport = 1502\nunit_id = 2\n\
                       [[devices]]\nname = \"again\"\nhost = \"h\"\nport = 1502\nunit_id = 2\n";
        let config = Config::parse(gateway, "s.toml", &no_env).expect("valid");
        let err = config_endpoints(&config, 1000, Signals::Realistic).expect_err("same unit twice");
        assert_eq!(
            err.to_string(),
            "devices \"u2\" and \"again\" share port 1502 and unit id 2; behind one port (a gateway) each device needs a unit id of its own"
        );
        let two = Config::parse(
            &gateway.lines().take(10).collect::<Vec<_>>().join("\n"),
            "s.toml",
            &no_env,
        )
        .expect("valid");
        let endpoints = config_endpoints(&two, 1000, Signals::Realistic).expect("one gateway");
        assert_eq!(endpoints.len(), 1);
        let units: Vec<u8> = endpoints[0].units.iter().map(|(u, _)| *u).collect();
        assert_eq!(units, [1, 2]);
        let serial =
            "[[devices]]\nname = \"rs485\"\ntransport = \"rtu\"\nserial_port = \"/dev/ttyUSB0\"\n";
        let config = Config::parse(serial, "s.toml", &no_env).expect("valid");
        assert!(matches!(
            config_endpoints(&config, 1000, Signals::Realistic),
            Err(SimulateError::Serial(name)) if name == "rs485"
        ));
    }
}
