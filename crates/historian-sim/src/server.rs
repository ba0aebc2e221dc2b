//! Serving simulated devices: every endpoint is a port of its own (any unit id is answered,
//! or one device per unit id behind a gateway), so a fleet looks like a fleet of Ethernet
//! devices rather than one gateway; or one device on a serial port.

use crate::connections::ConnectionGauge;
use crate::device::SimDevice;
use crate::wire::{FaultyStream, Framing};
use historian_modbus::client::ReadData;
use historian_model::Table;
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
            Request::ReadDeviceIdentification(..) => d
                .identity()
                .map(|id| Response::ReadDeviceIdentification(id.response()))
                .ok_or(ExceptionCode::IllegalFunction),
            _ => Err(ExceptionCode::IllegalFunction),
        };
        let delay = d.latency();
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
    connections: Vec<Arc<ConnectionGauge>>,
}

impl Simulator {
    /// Binds every endpoint on `ip` and serves until shut down.
    pub async fn start(ip: IpAddr, endpoints: Vec<SimEndpoint>) -> io::Result<Simulator> {
        let cancel = CancellationToken::new();
        let mut addrs = Vec::with_capacity(endpoints.len());
        let mut connections = Vec::with_capacity(endpoints.len());
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
            let gauge = Arc::new(ConnectionGauge::default());
            connections.push(Arc::clone(&gauge));
            tokio::spawn(serve_tcp(listener, units, framing, gauge, cancel.clone()));
        }
        Ok(Simulator {
            addrs,
            cancel,
            connections,
        })
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
            connections: Vec::new(),
        }
    }

    /// The bound address of each endpoint, in the order given to [`Simulator::start`].
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// The client connections of each endpoint (open now, and the most at once), in the
    /// order given to [`Simulator::start`].
    pub fn connections(&self) -> &[Arc<ConnectionGauge>] {
        &self.connections
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
    gauge: Arc<ConnectionGauge>,
    cancel: CancellationToken,
) {
    let on_connected = |stream, _socket_addr| {
        let units = Arc::clone(&units);
        let open = gauge.connect();
        async move {
            // The stream shows the gateway's (default device's) drop and garbage faults.
            let stream = FaultyStream::new(stream, units.default.faults(), framing, open);
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
