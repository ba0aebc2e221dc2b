//! A connection to one device or gateway, over Modbus TCP, RTU over TCP or RTU on a serial
//! port: per-request time-outs and reconnect on failure.

use crate::plan::ReadRequest;
use historian_model::Table;
use historian_retry::{Backoff, RetryPolicy};
use std::future::Future;
use std::io;
use std::time::Duration;
use thiserror::Error;
use tokio::time::Instant;
use tokio_modbus::Slave;
use tokio_modbus::client::{Context, Reader, rtu, tcp};
use tokio_modbus::prelude::SlaveContext;

/// A Modbus exception a device answered, by name (tokio-modbus's type, kept as is).
pub use tokio_modbus::ExceptionCode;

use historian_model::{Parity, SerialSettings};

/// The tokio-serial builder for a serial link's settings.
fn serial_builder(s: &SerialSettings) -> tokio_serial::SerialPortBuilder {
    tokio_serial::new(&s.path, s.baud_rate)
        .parity(match s.parity {
            Parity::None => tokio_serial::Parity::None,
            Parity::Even => tokio_serial::Parity::Even,
            Parity::Odd => tokio_serial::Parity::Odd,
        })
        .stop_bits(if s.stop_bits == 2 {
            tokio_serial::StopBits::Two
        } else {
            tokio_serial::StopBits::One
        })
        .data_bits(if s.data_bits == 7 {
            tokio_serial::DataBits::Seven
        } else {
            tokio_serial::DataBits::Eight
        })
}

/// How a device (or the gateway in front of it) is reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Transport {
    /// Modbus TCP to `host:port`.
    Tcp(String),
    /// RTU frames over a TCP connection to `host:port` (serial-to-Ethernet gateways in
    /// transparent mode).
    RtuOverTcp(String),
    /// RTU on a local serial port.
    RtuSerial(SerialSettings),
}

impl Transport {
    /// Where it leads, for messages: `host:port` or the serial port's path.
    pub fn endpoint(&self) -> &str {
        match self {
            Transport::Tcp(e) | Transport::RtuOverTcp(e) => e,
            Transport::RtuSerial(s) => &s.path,
        }
    }
}

/// Sends read requests to one unit: a client of its own, or a unit's share of a link.
pub trait UnitReader: Send {
    /// Sends one read request and waits at most the time-out for its answer.
    fn read(
        &mut self,
        req: &ReadRequest,
    ) -> impl Future<Output = Result<ReadData, ReadError>> + Send;

    /// True when other units wait on the same link (units behind one gateway), so a unit
    /// that times out should stand aside rather than hold the link on every poll.
    fn shares_link(&self) -> bool {
        false
    }
}

/// What one read request returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadData {
    /// Words of an FC3/FC4 read.
    Registers(Vec<u16>),
    /// Bits of an FC1/FC2 read.
    Bits(Vec<bool>),
}

/// Why a read request produced no data.
#[derive(Debug, Error)]
pub enum ReadError {
    /// The device answered with a Modbus exception (a value, not a broken link).
    #[error("device answered exception {byte:#04x} ({0})", byte = u8::from(*.0))]
    Exception(ExceptionCode),
    /// No answer within the time-out; the connection was dropped so a late answer can never
    /// be mistaken for the reply to the next request.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// Connecting failed.
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        /// host:port.
        endpoint: String,
        /// The cause.
        source: io::Error,
    },
    /// The device (or a gateway or firewall on the way) closed the connection.
    #[error("connection closed by the device")]
    Closed,
    /// The link broke or the reply was malformed; the connection was dropped.
    #[error("transport error: {0}")]
    Transport(String),
    /// Connecting failed recently; no new attempt until the back-off ends.
    #[error("device unreachable; next connection attempt in {0:?}")]
    BackingOff(Duration),
    /// The reply had the wrong length for the request.
    #[error("reply holds {got} values, request asked for {want}")]
    ShortReply {
        /// Values received.
        got: usize,
        /// Values requested.
        want: usize,
    },
}

impl ReadError {
    /// True when the connection itself failed (as opposed to the device refusing one read).
    pub fn is_link_failure(&self) -> bool {
        !matches!(self, ReadError::Exception(_) | ReadError::ShortReply { .. })
    }
}

/// A lazily connected Modbus client for one endpoint (reading one unit id by default).
pub struct DeviceClient {
    transport: Transport,
    unit_id: u8,
    timeout: Duration,
    ctx: Option<Context>,
    /// After a failed connect: no attempt before this instant, and the waits still to come.
    backoff: Option<(Instant, Backoff)>,
    /// After an RTU time-out: the line must stay quiet until then before it is reopened.
    quiet_until: Option<Instant>,
}

/// Waits between connection attempts: 500 ms doubling up to 30 s, each spread by ±50 % so a
/// fleet that lost its network together does not reconnect in lock-step.
pub const RECONNECT: RetryPolicy =
    RetryPolicy::exponential(Duration::from_millis(500), Duration::from_secs(30))
        .with_jitter_percent(50);

impl std::fmt::Debug for DeviceClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceClient")
            .field("transport", &self.transport)
            .field("unit_id", &self.unit_id)
            .field("connected", &self.ctx.is_some())
            .finish()
    }
}

impl DeviceClient {
    /// A Modbus TCP client for `endpoint` (host:port) and `unit_id`; it connects on first use.
    pub fn new(endpoint: impl Into<String>, unit_id: u8, timeout: Duration) -> Self {
        Self::with_transport(Transport::Tcp(endpoint.into()), unit_id, timeout)
    }

    /// A client over `transport` for `unit_id`; it connects on first use.
    pub fn with_transport(transport: Transport, unit_id: u8, timeout: Duration) -> Self {
        Self {
            transport,
            unit_id,
            timeout,
            ctx: None,
            backoff: None,
            quiet_until: None,
        }
    }

    /// True while a connection is open.
    pub fn is_connected(&self) -> bool {
        self.ctx.is_some()
    }

    /// Changes the per-request time-out (units sharing a link each bring their own).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Closes the connection, if any; the next read reconnects.
    pub fn disconnect(&mut self) {
        self.ctx = None;
    }

    async fn context(&mut self) -> Result<&mut Context, ReadError> {
        if self.ctx.is_none() {
            if let Some(&(until, _)) = self.backoff.as_ref() {
                let now = Instant::now();
                if now < until {
                    return Err(ReadError::BackingOff(until - now));
                }
            }
            if let Some(until) = self.quiet_until.take() {
                // RTU frames carry no transaction id: give a late answer to the request that
                // timed out the time to arrive, so the reopened link discards it instead of
                // taking it for the next answer.
                tokio::time::sleep_until(until).await;
            }
            // Only owned values cross the await: the client (not Sync) is not borrowed.
            let attempt = connect(self.transport.clone(), self.unit_id, self.timeout).await;
            match attempt {
                Ok(ctx) => {
                    self.ctx = Some(ctx);
                    self.backoff = None;
                }
                Err(e) => {
                    let mut waits = self
                        .backoff
                        .take()
                        .map_or_else(|| RECONNECT.backoff(), |(_, w)| w);
                    self.backoff = Some((Instant::now() + waits.next_delay(), waits));
                    return Err(e);
                }
            }
        }
        self.ctx
            .as_mut()
            .ok_or_else(|| ReadError::Transport("connection vanished".into()))
    }

    /// Sends one read request to the client's unit and waits at most the time-out.
    pub async fn read(&mut self, req: &ReadRequest) -> Result<ReadData, ReadError> {
        self.read_unit(self.unit_id, req).await
    }

    /// Sends one read request to `unit` (behind a gateway, several units share one link)
    /// and waits at most the time-out for its answer.
    pub async fn read_unit(&mut self, unit: u8, req: &ReadRequest) -> Result<ReadData, ReadError> {
        let timeout = self.timeout;
        let ctx = self.context().await?;
        ctx.set_slave(Slave(unit));
        let (start, count) = (req.start(), req.count());
        let call = async {
            match req.table() {
                Table::Coil => ctx
                    .read_coils(start, count)
                    .await
                    .map(|r| r.map(ReadData::Bits)),
                Table::DiscreteInput => ctx
                    .read_discrete_inputs(start, count)
                    .await
                    .map(|r| r.map(ReadData::Bits)),
                Table::HoldingRegister => ctx
                    .read_holding_registers(start, count)
                    .await
                    .map(|r| r.map(ReadData::Registers)),
                Table::InputRegister => ctx
                    .read_input_registers(start, count)
                    .await
                    .map(|r| r.map(ReadData::Registers)),
            }
        };
        let outcome = match tokio::time::timeout(timeout, call).await {
            Err(_) => Err(ReadError::Timeout(timeout)),
            Ok(Err(e)) => Err(transport_error(e)),
            Ok(Ok(Err(code))) => Err(exception(code)),
            Ok(Ok(Ok(data))) => {
                // Bit replies are padded to whole bytes; trim to what was asked.
                let data = match data {
                    ReadData::Bits(mut bits) if bits.len() >= usize::from(count) => {
                        bits.truncate(usize::from(count));
                        ReadData::Bits(bits)
                    }
                    other => other,
                };
                let got = match &data {
                    ReadData::Registers(w) => w.len(),
                    ReadData::Bits(b) => b.len(),
                };
                if got == usize::from(count) {
                    Ok(data)
                } else {
                    Err(ReadError::ShortReply {
                        got,
                        want: usize::from(count),
                    })
                }
            }
        };
        if let Err(e) = &outcome
            && e.is_link_failure()
        {
            self.ctx = None;
            if matches!(e, ReadError::Timeout(_)) && !matches!(self.transport, Transport::Tcp(_)) {
                self.quiet_until = Some(Instant::now() + timeout);
            }
        }
        outcome
    }
}

/// What a device tells about itself through Read Device Identification (FC 43/14): the
/// basic objects, each `None` when the device left it out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// Object 0x00, VendorName.
    pub vendor: Option<String>,
    /// Object 0x01, ProductCode.
    pub product: Option<String>,
    /// Object 0x02, MajorMinorRevision.
    pub revision: Option<String>,
}

impl DeviceClient {
    /// Asks `unit` for its basic identification (FC 43 / MEI 14, read code 01: stream
    /// access from object 0) and waits at most the time-out. Reads only; changes nothing.
    pub async fn identify_unit(&mut self, unit: u8) -> Result<DeviceIdentity, ReadError> {
        use tokio_modbus::prelude::ReadCode;
        let timeout = self.timeout;
        let ctx = self.context().await?;
        ctx.set_slave(Slave(unit));
        let call = ctx.read_device_identification(ReadCode::Basic, 0x00);
        let outcome = match tokio::time::timeout(timeout, call).await {
            Err(_) => Err(ReadError::Timeout(timeout)),
            Ok(Err(e)) => Err(transport_error(e)),
            Ok(Ok(Err(code))) => Err(exception(code)),
            Ok(Ok(Ok(r))) => {
                let text = |id: u8| {
                    r.device_id_objects
                        .iter()
                        .find(|o| o.id == id)
                        .map(|o| String::from_utf8_lossy(&o.value).trim().to_string())
                };
                Ok(DeviceIdentity {
                    vendor: text(0x00),
                    product: text(0x01),
                    revision: text(0x02),
                })
            }
        };
        if let Err(e) = &outcome
            && e.is_link_failure()
        {
            self.ctx = None;
        }
        outcome
    }
}

/// EINPROGRESS on Linux: a left-over errno of the non-blocking connect.
const EINPROGRESS: i32 = 115;

/// tokio-modbus reports the end of the stream with `io::Error::last_os_error()`, whatever
/// errno the thread last saw ("Success (os error 0)", "Operation now in progress (os error
/// 115)"): those, and the kinds a peer's close produces, are a closed connection.
fn transport_error(e: tokio_modbus::Error) -> ReadError {
    use io::ErrorKind::{
        BrokenPipe, ConnectionAborted, ConnectionReset, NotConnected, UnexpectedEof, WouldBlock,
    };
    match &e {
        tokio_modbus::Error::Transport(io)
            if matches!(io.raw_os_error(), Some(0 | EINPROGRESS))
                || matches!(
                    io.kind(),
                    BrokenPipe
                        | ConnectionAborted
                        | ConnectionReset
                        | NotConnected
                        | UnexpectedEof
                        | WouldBlock
                ) =>
        {
            ReadError::Closed
        }
        _ => ReadError::Transport(e.to_string()),
    }
}

async fn connect(
    transport: Transport,
    unit_id: u8,
    timeout: Duration,
) -> Result<Context, ReadError> {
    let endpoint = transport.endpoint().to_string();
    let connect_err = |source| ReadError::Connect {
        endpoint: endpoint.clone(),
        source,
    };
    let slave = Slave(unit_id);
    match &transport {
        Transport::Tcp(e) | Transport::RtuOverTcp(e) => {
            let addr = tokio::time::timeout(timeout, tokio::net::lookup_host(e.as_str()))
                .await
                .map_err(|_| ReadError::Timeout(timeout))?
                .map_err(connect_err)?
                .next()
                .ok_or_else(|| {
                    connect_err(io::Error::new(
                        io::ErrorKind::NotFound,
                        "host name resolved to no address",
                    ))
                })?;
            if matches!(transport, Transport::Tcp(_)) {
                tokio::time::timeout(timeout, tcp::connect_slave(addr, slave))
                    .await
                    .map_err(|_| ReadError::Timeout(timeout))?
                    .map_err(connect_err)
            } else {
                let stream = tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr))
                    .await
                    .map_err(|_| ReadError::Timeout(timeout))?
                    .map_err(connect_err)?;
                // A gateway may pass on bytes still under way from before: drop them.
                let mut stale = [0u8; 256];
                while matches!(stream.try_read(&mut stale), Ok(n) if n > 0) {}
                Ok(rtu::attach_slave(stream, slave))
            }
        }
        Transport::RtuSerial(settings) => {
            use tokio_serial::SerialPort;
            let port = tokio_serial::SerialStream::open(&serial_builder(settings))
                .map_err(|e| connect_err(io::Error::other(e.to_string())))?;
            // Bytes still queued from before (a late answer to a request that timed out)
            // must not be read as the answer to the next one.
            port.clear(tokio_serial::ClearBuffer::All)
                .map_err(|e| connect_err(io::Error::other(e.to_string())))?;
            Ok(rtu::attach_slave(port, slave))
        }
    }
}

impl UnitReader for DeviceClient {
    async fn read(&mut self, req: &ReadRequest) -> Result<ReadData, ReadError> {
        DeviceClient::read(self, req).await
    }
}

/// Normalised through the byte, so a code built as `Custom(0x02)` still matches by name.
fn exception(code: ExceptionCode) -> ReadError {
    ReadError::Exception(ExceptionCode::new(u8::from(code)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn closed_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    #[tokio::test]
    async fn a_failed_connect_backs_off_within_the_reconnect_bounds() {
        let mut client = DeviceClient::new(
            format!("127.0.0.1:{}", closed_port()),
            1,
            Duration::from_millis(500),
        );
        let req = ReadRequest::new(Table::HoldingRegister, 0, 1, Vec::new()).expect("valid");
        let first = client.read(&req).await.expect_err("nothing listens");
        assert!(first.is_link_failure(), "{first}");
        let Err(ReadError::BackingOff(wait)) = client.read(&req).await else {
            panic!("the second read must not try to connect again");
        };
        let nominal = RECONNECT.first();
        assert!(wait < nominal.mul_f64(1.5), "{wait:?}");
        // The jitter may shorten the first wait to half; a little of it has passed since.
        assert!(
            wait > nominal.mul_f64(0.5) - Duration::from_millis(100),
            "{wait:?}"
        );
    }

    #[test]
    fn exceptions_keep_their_name_and_their_wire_code() {
        let e = exception(ExceptionCode::Custom(0x02));
        assert!(
            matches!(e, ReadError::Exception(ExceptionCode::IllegalDataAddress)),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "device answered exception 0x02 (Illegal data address)"
        );
        assert!(!e.is_link_failure());
        assert_eq!(
            exception(ExceptionCode::Custom(0x42)).to_string(),
            "device answered exception 0x42 (Custom)"
        );
    }
}
