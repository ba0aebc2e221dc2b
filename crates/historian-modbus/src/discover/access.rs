//! The only way discovery reaches a device: a [`ScanLink`] sends [`Probe`]s, and a probe
//! is a read (function codes 1–4) or Read Device Identification (43/14). No other request
//! can be expressed, so discovery can never write to a device it is pointed at.

use super::pace::Pace;
use super::progress::Progress;
use crate::client::{DeviceClient, DeviceIdentity, ReadData, ReadError, Transport};
use crate::plan::ReadRequest;
use std::sync::Arc;
use std::time::Duration;

/// Every function code discovery may send: the four reads and encapsulated interface
/// transport (43) for device identification (MEI 14).
pub const FUNCTION_CODES: [u8; 5] = [1, 2, 3, 4, 43];

/// One request discovery may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// A read of coils, discrete inputs, holding or input registers.
    Read(ReadRequest),
    /// Read Device Identification, basic objects.
    Identify,
}

impl Probe {
    /// The function code this probe goes out with.
    pub fn function_code(&self) -> u8 {
        match self {
            Probe::Read(r) => r.table().read_function_code(),
            Probe::Identify => 43,
        }
    }
}

/// What a probe brought back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The values of a read.
    Data(ReadData),
    /// The identification objects.
    Identity(DeviceIdentity),
}

/// A read-only, paced connection to one endpoint, counting every request it sends.
#[derive(Debug)]
pub struct ScanLink {
    client: DeviceClient,
    pace: Pace,
    progress: Arc<Progress>,
}

impl ScanLink {
    /// A link to `transport` (connected on first use) with a per-request `timeout`.
    pub fn new(
        transport: Transport,
        timeout: Duration,
        pace: Pace,
        progress: Arc<Progress>,
    ) -> Self {
        Self {
            client: DeviceClient::with_transport(transport, 0, timeout),
            pace,
            progress,
        }
    }

    /// Sends `probe` to `unit` once the pace allows, and waits at most the time-out.
    pub async fn send(&mut self, unit: u8, probe: &Probe) -> Result<Answer, ReadError> {
        self.pace.wait().await;
        self.progress.count_request();
        match probe {
            Probe::Read(req) => self.client.read_unit(unit, req).await.map(Answer::Data),
            Probe::Identify => self.client.identify_unit(unit).await.map(Answer::Identity),
        }
    }

    /// Closes the connection (the next probe reconnects).
    pub fn disconnect(&mut self) {
        self.client.disconnect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use historian_model::Table;

    #[test]
    fn every_probe_uses_a_read_only_function_code() {
        let mut probes = vec![Probe::Identify];
        for table in Table::ALL {
            let req = ReadRequest::new(table, 0, 1, Vec::new()).expect("valid");
            probes.push(Probe::Read(req));
        }
        for p in &probes {
            assert!(FUNCTION_CODES.contains(&p.function_code()), "{p:?}");
        }
        let codes: Vec<u8> = probes.iter().map(Probe::function_code).collect();
        assert_eq!(codes, vec![43, 1, 2, 4, 3]);
    }
}
