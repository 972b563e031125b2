//! The fake tenant's listener: plain TCP whose connections a handler can cut.
//!
//! A handler cannot "not answer" in axum, so each accepted stream carries a kill switch the
//! handler can reach through `ConnectInfo<ConnHandle>`. Once it is flipped every read and
//! write on the stream fails: the response the handler returns is never written, hyper
//! drops the connection, and the client sees it closed with no response (as after a proxy
//! reset or a load-balancer timeout).
//!
//! This is also where TLS goes when the fake tenant learns to serve HTTPS: the listener
//! would run the handshake in `accept` and wrap the TLS stream in [`KillableStream`] instead
//! of the TCP one; the router and handlers do not change.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// What a handler knows about its connection, and the switch that cuts it.
#[derive(Clone, Debug)]
pub struct ConnHandle {
    pub peer: SocketAddr,
    killed: Arc<AtomicBool>,
}

impl ConnHandle {
    /// Make every further read and write on this connection fail.
    pub fn kill(&self) {
        self.killed.store(true, Ordering::SeqCst);
    }
}

/// A stream whose I/O fails once its connection has been killed.
pub struct KillableStream<S> {
    inner: S,
    killed: Arc<AtomicBool>,
}

fn aborted() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionAborted,
        "connection dropped by the fake tenant's fault injection",
    )
}

impl<S: AsyncRead + Unpin> AsyncRead for KillableStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for KillableStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.killed.load(Ordering::SeqCst) {
            return Poll::Ready(Err(aborted()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A TCP listener handing out [`KillableStream`]s.
pub struct FaultListener {
    inner: TcpListener,
}

impl FaultListener {
    pub fn new(inner: TcpListener) -> Self {
        FaultListener { inner }
    }
}

impl Listener for FaultListener {
    type Io = KillableStream<TcpStream>;
    type Addr = ConnHandle;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    // Small request/response exchanges: don't let Nagle add 40 ms to each.
                    let _ = stream.set_nodelay(true);
                    let killed = Arc::new(AtomicBool::new(false));
                    let handle = ConnHandle {
                        peer,
                        killed: killed.clone(),
                    };
                    return (
                        KillableStream {
                            inner: stream,
                            killed,
                        },
                        handle,
                    );
                }
                Err(e) => {
                    // Per-connection errors (reset before accept) are the client's problem;
                    // anything else (out of file descriptors) deserves a pause, not a spin.
                    tracing::debug!("fake tenant: accept failed: {e}");
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
                    ) {
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnHandle {
            peer: self.inner.local_addr()?,
            killed: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, FaultListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, FaultListener>) -> Self {
        stream.remote_addr().clone()
    }
}
