//! The bytes on the wire: how an endpoint frames its answers, and the connection that shows
//! a device's drop and garbage faults on them, below the Modbus layer.

use crate::connections::OpenConnection;
use crate::faults::{AnswerFault, SimFaults};
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// How the bytes of requests and answers are framed on a TCP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Framing {
    /// Modbus TCP (MBAP header).
    #[default]
    Tcp,
    /// Modbus RTU frames (unit id, PDU, CRC) carried over TCP, as serial gateways do.
    Rtu,
}

/// Length of the Modbus TCP (MBAP) header in front of each frame's unit id and PDU.
const MBAP_PREFIX: usize = 6;

/// A server-side connection that shows the device's drop and garbage faults on the bytes
/// of each answer: one Modbus TCP frame (6 header bytes, then `length` more), or with RTU
/// framing one write (the server writes each RTU answer whole).
#[derive(Debug)]
pub(crate) struct FaultyStream {
    inner: TcpStream,
    faults: Arc<SimFaults>,
    framing: Framing,
    /// Position in the answer being written, and its total length (0: between answers).
    frame: (usize, usize),
    garble: bool,
    closed: bool,
    /// Counted as open at its endpoint while the stream lives.
    _open: OpenConnection,
}

impl FaultyStream {
    pub(crate) fn new(
        inner: TcpStream,
        faults: Arc<SimFaults>,
        framing: Framing,
        open: OpenConnection,
    ) -> Self {
        faults.count_connection();
        Self {
            inner,
            faults,
            framing,
            frame: (0, 0),
            garble: false,
            closed: false,
            _open: open,
        }
    }
}

impl AsyncRead for FaultyStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultyStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "simulated dropped connection",
            )));
        }
        if this.frame.0 >= this.frame.1 {
            // Between answers: if this write starts one, decide its fate once.
            this.frame = (0, 0);
            this.garble = false;
            let len = match this.framing {
                Framing::Tcp if buf.len() >= MBAP_PREFIX => {
                    MBAP_PREFIX + usize::from(u16::from_be_bytes([buf[4], buf[5]]))
                }
                Framing::Tcp => 0,
                Framing::Rtu => buf.len(),
            };
            if len > 0 {
                this.frame = (0, len);
                match this.faults.answer_fault() {
                    Some(AnswerFault::Drop) => {
                        this.closed = true;
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "simulated dropped connection",
                        )));
                    }
                    Some(AnswerFault::Garbage) => this.garble = true,
                    None => {}
                }
            }
        }
        let (pos, len) = this.frame;
        // Never write past the answer, so the next one starts a write of its own.
        let n = if pos < len {
            buf.len().min(len - pos)
        } else {
            buf.len()
        };
        let written = if this.garble {
            // Protocol id 0xFFFF and a PDU of 0xFF bytes: the length still frames it, so
            // the client reads the whole answer and rejects it at once.
            let junk: Vec<u8> = buf[..n]
                .iter()
                .enumerate()
                .map(|(i, &b)| match pos + i {
                    // RTU: every byte inverted, so the CRC cannot match.
                    _ if this.framing == Framing::Rtu => !b,
                    2 | 3 => 0xFF,
                    // after the unit id (the byte at MBAP_PREFIX)
                    p if p > MBAP_PREFIX => 0xFF,
                    _ => b,
                })
                .collect();
            Pin::new(&mut this.inner).poll_write(cx, &junk)
        } else {
            Pin::new(&mut this.inner).poll_write(cx, &buf[..n])
        };
        if let Poll::Ready(Ok(k)) = written
            && pos < len
        {
            this.frame.0 = pos + k;
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
