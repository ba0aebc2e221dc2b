//! A deterministic Modbus TCP device simulator.
//!
//! Every device listens on a port of its own (any unit id is answered), so a fleet looks
//! like a fleet of Ethernet devices rather than one gateway. A mapped point's raw value is
//! a pure function of (device index, point, time step), see [`raw_value`]; tests compute
//! what the collector should have stored without asking the simulator. Unmapped addresses
//! answer a pure function of (device, table, address, step), see [`unmapped_word`].

use historian_modbus::client::ReadData;
use historian_modbus::decode::{encode_string, encode_words, scale};
use historian_modbus::{DataType, RegisterPoint, Table};
use std::collections::HashMap;
use std::future::ready;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio_modbus::server::tcp::Server;
use tokio_modbus::{ExceptionCode, Request, Response, SlaveRequest};
use tokio_util::sync::CancellationToken;

use crate::faults::FaultyStream;
use crate::faults::SimFaults;

/// Default length of one simulator time step: values change once a second.
pub const DEFAULT_STEP_MS: u64 = 1000;

/// The time step holding `unix_ms`.
pub fn step_at(unix_ms: i64, step_ms: u64) -> i64 {
    unix_ms.div_euclid(step_ms.max(1) as i64)
}

/// The raw (unscaled) value device `device` serves for `point` during `step`.
///
/// Always exactly representable in the point's data type, so encode-then-decode returns it.
pub fn raw_value(device: u32, point: &RegisterPoint, step: i64) -> f64 {
    let d = i64::from(device);
    let a = i64::from(point.register.address);
    let s = step;
    match point.data_type {
        DataType::Bool => {
            let b = i64::from(point.register.bit.unwrap_or(0));
            f64::from(u8::from((s + a + d + b).rem_euclid(2) == 0))
        }
        // Strings are served by [`text_value`]; as a number they are 0.
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

/// The text device `device` serves for string `point` during `step`: `D<device> S<step>`,
/// cut to what the point's registers hold, without trailing spaces (they read as padding).
pub fn text_value(device: u32, point: &RegisterPoint, step: i64) -> String {
    let mut text = format!("D{device} S{step}");
    text.truncate(usize::from(point.width()) * 2);
    text.truncate(text.trim_end_matches(' ').len());
    text
}

/// The text the collector should store for string `point` of device `device` when the
/// simulator answered at `unix_ms`.
pub fn expected_text(device: u32, point: &RegisterPoint, unix_ms: i64, step_ms: u64) -> String {
    text_value(device, point, step_at(unix_ms, step_ms))
}

/// The engineering value the collector should store for `point` of device `device` when
/// the simulator answered at `unix_ms`.
pub fn expected_value(device: u32, point: &RegisterPoint, unix_ms: i64, step_ms: u64) -> f64 {
    let raw = raw_value(device, point, step_at(unix_ms, step_ms));
    scale(raw, point.scale, point.offset)
}

/// The word an unmapped register answers.
pub fn unmapped_word(device: u32, table: Table, address: u16, step: i64) -> u16 {
    let mix = i64::from(device) * 7 + i64::from(table.prefix()) * 13 + i64::from(address) + step;
    mix.rem_euclid(1 << 16) as u16
}

/// What one address of a simulated device holds.
#[derive(Debug, Clone)]
enum Slot {
    /// Word `k` of point `i`.
    Word(usize, u16),
    /// Bits of a register, one point each (the other bits read 0).
    Bits(Vec<usize>),
}

/// One simulated device: its index (the `device` of [`raw_value`]) and the map it serves.
#[derive(Debug)]
pub struct SimDevice {
    index: u32,
    points: Vec<RegisterPoint>,
    by_address: HashMap<(Table, u16), Slot>,
    step_ms: u64,
    faults: std::sync::Arc<SimFaults>,
}

impl SimDevice {
    /// A device serving `points`; values change every `step_ms` milliseconds.
    pub fn new(index: u32, points: Vec<RegisterPoint>, step_ms: u64) -> Self {
        let mut by_address = HashMap::new();
        for (i, p) in points.iter().enumerate() {
            let key = (p.register.table, p.register.address);
            if p.register.bit.is_some() && !p.register.table.is_bit() {
                match by_address
                    .entry(key)
                    .or_insert_with(|| Slot::Bits(Vec::new()))
                {
                    Slot::Bits(v) => v.push(i),
                    Slot::Word(..) => {}
                }
                continue;
            }
            for k in 0..p.width() {
                let Some(address) = p.register.address.checked_add(k) else {
                    break;
                };
                by_address.insert((p.register.table, address), Slot::Word(i, k));
            }
        }
        Self {
            index,
            points,
            by_address,
            step_ms,
            faults: std::sync::Arc::default(),
        }
    }

    /// The switchboard of this device's faults.
    pub fn faults(&self) -> std::sync::Arc<SimFaults> {
        std::sync::Arc::clone(&self.faults)
    }

    /// Answers a read of `count` values of `table` from `start`, as of `unix_ms`.
    pub fn read(
        &self,
        table: Table,
        start: u16,
        count: u16,
        unix_ms: i64,
    ) -> Result<ReadData, ExceptionCode> {
        self.faults.count_request();
        if self.faults.gateway_target_failed() {
            return Err(ExceptionCode::GatewayTargetDevice);
        }
        let limit = if table.is_bit() { 2000 } else { 125 };
        if count == 0 || count > limit {
            return Err(ExceptionCode::IllegalDataValue);
        }
        if u32::from(start) + u32::from(count) > 65_536 || self.faults.refuses(table, start, count)
        {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        let step = step_at(unix_ms, self.step_ms);
        let mut words = Vec::with_capacity(usize::from(count));
        let mut scratch = Vec::new();
        for address in start..=start + (count - 1) {
            let word = match self.by_address.get(&(table, address)) {
                Some(&Slot::Word(i, k)) => {
                    let p = &self.points[i];
                    scratch.clear();
                    scratch.resize(usize::from(p.width()), 0);
                    if p.data_type == DataType::String {
                        // Even addresses pad with NUL, odd ones with spaces: both are served.
                        let pad = if p.register.address.is_multiple_of(2) {
                            0
                        } else {
                            b' '
                        };
                        let text = text_value(self.index, p, step);
                        encode_string(&text, p.word_order, pad, &mut scratch);
                    } else {
                        let raw = raw_value(self.index, p, step);
                        encode_words(raw, p.data_type, p.word_order, &mut scratch);
                    }
                    scratch[usize::from(k)]
                }
                Some(Slot::Bits(users)) => users.iter().fold(0u16, |word, &i| {
                    let p = &self.points[i];
                    let on = raw_value(self.index, p, step) != 0.0;
                    word | (u16::from(on) << p.register.bit.unwrap_or(0))
                }),
                None => unmapped_word(self.index, table, address, step),
            };
            words.push(word);
        }
        Ok(if table.is_bit() {
            ReadData::Bits(words.into_iter().map(|w| w & 1 == 1).collect())
        } else {
            ReadData::Registers(words)
        })
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[derive(Debug, Clone)]
struct SimService {
    units: Arc<Units>,
}

/// The devices answering on one endpoint: one per listed unit id, the default for the rest.
#[derive(Debug)]
struct Units {
    default: SimDevice,
    by_id: HashMap<u8, SimDevice>,
}

impl Units {
    fn get(&self, unit: u8) -> &SimDevice {
        self.by_id.get(&unit).unwrap_or(&self.default)
    }
}

impl tokio_modbus::server::Service for SimService {
    type Request = SlaveRequest<'static>;
    type Response = Response;
    type Exception = ExceptionCode;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, ExceptionCode>> + Send>,
    >;

    fn call(&self, req: Self::Request) -> Self::Future {
        let now = now_ms();
        let d = self.units.get(req.slave);
        let answer = match req.request {
            Request::ReadCoils(a, n) => d.read(Table::Coil, a, n, now).map(|r| match r {
                ReadData::Bits(b) => Response::ReadCoils(b),
                ReadData::Registers(_) => Response::ReadCoils(Vec::new()),
            }),
            Request::ReadDiscreteInputs(a, n) => {
                d.read(Table::DiscreteInput, a, n, now).map(|r| match r {
                    ReadData::Bits(b) => Response::ReadDiscreteInputs(b),
                    ReadData::Registers(_) => Response::ReadDiscreteInputs(Vec::new()),
                })
            }
            Request::ReadHoldingRegisters(a, n) => {
                d.read(Table::HoldingRegister, a, n, now).map(|r| match r {
                    ReadData::Registers(w) => Response::ReadHoldingRegisters(w),
                    ReadData::Bits(_) => Response::ReadHoldingRegisters(Vec::new()),
                })
            }
            Request::ReadInputRegisters(a, n) => {
                d.read(Table::InputRegister, a, n, now).map(|r| match r {
                    ReadData::Registers(w) => Response::ReadInputRegisters(w),
                    ReadData::Bits(_) => Response::ReadInputRegisters(Vec::new()),
                })
            }
            _ => Err(ExceptionCode::IllegalFunction),
        };
        let delay = d.faults.latency();
        let answer = ready(answer);
        Box::pin(async move {
            // The value is taken when the request arrives; only the answer is late.
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            answer.await
        })
    }
}

/// How the bytes of requests and answers are framed on a TCP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Modbus TCP (MBAP header).
    #[default]
    Tcp,
    /// Modbus RTU frames (unit id, PDU, CRC) carried over TCP, as serial gateways do.
    Rtu,
}

/// What to serve on one port.
#[derive(Debug)]
pub struct SimEndpoint {
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// The device answering there (to every unit id not listed in `units`).
    pub device: SimDevice,
    /// Devices behind a gateway at this port, by unit id.
    pub units: Vec<(u8, SimDevice)>,
    /// Modbus TCP or RTU framing.
    pub framing: Framing,
}

impl SimEndpoint {
    /// `device` answering Modbus TCP on `port`, to every unit id.
    pub fn new(port: u16, device: SimDevice) -> Self {
        Self {
            port,
            device,
            units: Vec::new(),
            framing: Framing::Tcp,
        }
    }

    /// Speaks RTU framing instead of Modbus TCP.
    pub fn rtu(mut self) -> Self {
        self.framing = Framing::Rtu;
        self
    }

    /// Answers unit id `unit` as `device` (a gateway with several units behind it).
    pub fn with_unit(mut self, unit: u8, device: SimDevice) -> Self {
        self.units.push((unit, device));
        self
    }
}

/// A running simulator; dropping it does not stop it, call [`Simulator::shutdown`].
#[derive(Debug)]
pub struct Simulator {
    addrs: Vec<SocketAddr>,
    cancel: CancellationToken,
}

impl Simulator {
    /// Binds every endpoint on `ip` and serves until shut down.
    pub async fn start(ip: IpAddr, endpoints: Vec<SimEndpoint>) -> io::Result<Simulator> {
        let cancel = CancellationToken::new();
        let mut addrs = Vec::with_capacity(endpoints.len());
        for ep in endpoints {
            let listener = TcpListener::bind((ip, ep.port)).await.map_err(|e| {
                io::Error::new(e.kind(), format!("cannot bind {ip}:{}: {e}", ep.port))
            })?;
            addrs.push(listener.local_addr()?);
            let framing = ep.framing;
            let units = Arc::new(Units {
                default: ep.device,
                by_id: ep.units.into_iter().collect(),
            });
            tokio::spawn(serve_tcp(listener, units, framing, cancel.clone()));
        }
        Ok(Simulator { addrs, cancel })
    }

    /// Serves `device` with RTU framing on a serial port (e.g. one end of a pseudo-terminal
    /// pair) until shut down.
    pub fn start_serial(serial: tokio_serial::SerialStream, device: SimDevice) -> Simulator {
        let cancel = CancellationToken::new();
        let units = Arc::new(Units {
            default: device,
            by_id: HashMap::new(),
        });
        let server = tokio_modbus::server::rtu::Server::new(serial);
        let token = cancel.clone();
        tokio::spawn(async move {
            if let Err(e) = server
                .serve_until(SimService { units }, token.cancelled_owned())
                .await
            {
                tracing::warn!("simulated serial device stopped: {e}");
            }
        });
        Simulator {
            addrs: Vec::new(),
            cancel,
        }
    }

    /// The bound address of each endpoint, in the order given to [`Simulator::start`].
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// Stops accepting and closes every connection.
    pub fn shutdown(&self) {
        self.cancel.cancel();
    }
}

/// Accepts connections on `listener` and answers them with `framing` until cancelled.
async fn serve_tcp(
    listener: TcpListener,
    units: Arc<Units>,
    framing: Framing,
    cancel: CancellationToken,
) {
    let on_connected = |stream, _socket_addr| {
        let units = Arc::clone(&units);
        async move {
            // The stream shows the gateway's (default device's) drop and garbage faults.
            let stream = FaultyStream::new(stream, units.default.faults(), framing);
            io::Result::Ok(Some((SimService { units }, stream)))
        }
    };
    let on_error = |err| tracing::debug!("simulator connection ended: {err}");
    let done = match framing {
        Framing::Tcp => {
            Server::new(listener)
                .serve_until(&on_connected, on_error, cancel.cancelled_owned())
                .await
        }
        Framing::Rtu => {
            tokio_modbus::server::rtu_over_tcp::Server::new(listener)
                .serve_until(&on_connected, on_error, cancel.cancelled_owned())
                .await
        }
    };
    if let Err(e) = done {
        tracing::warn!("simulator listener stopped: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::reference_map;
    use historian_modbus::poll::decode_point;
    use historian_modbus::{PlanOptions, ReadPlan};

    #[test]
    fn served_words_decode_to_the_pure_function() {
        let map = reference_map(100);
        let plan = ReadPlan::new(&map, PlanOptions::default());
        let dev = SimDevice::new(7, map.clone(), DEFAULT_STEP_MS);
        let at = 1_790_000_123_456;
        for req in &plan.requests {
            let data = dev
                .read(req.table, req.start, req.count, at)
                .expect("in range");
            for &(i, off) in &req.points {
                let s = decode_point(&map[i], &data, usize::from(off));
                assert_eq!(
                    s.value,
                    Some(expected_value(7, &map[i], at, DEFAULT_STEP_MS)),
                    "{}",
                    map[i].name
                );
            }
        }
    }

    #[test]
    fn out_of_range_reads_are_exceptions() {
        let dev = SimDevice::new(0, Vec::new(), DEFAULT_STEP_MS);
        assert_eq!(
            dev.read(Table::HoldingRegister, 65_530, 10, 0),
            Err(ExceptionCode::IllegalDataAddress)
        );
        assert_eq!(
            dev.read(Table::InputRegister, 0, 126, 0),
            Err(ExceptionCode::IllegalDataValue)
        );
    }
}
