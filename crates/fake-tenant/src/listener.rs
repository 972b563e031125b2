//! The fake tenant's listener: plain TCP or TLS, whose connections a handler can cut.
//!
//! A handler cannot "not answer" in axum, so each accepted stream carries a kill switch the
//! handler can reach through `ConnectInfo<ConnHandle>`. Once it is flipped every read and
//! write on the stream fails: the response the handler returns is never written, hyper
//! drops the connection, and the client sees it closed with no response (as after a proxy
//! reset or a load-balancer timeout).
//!
//! With TLS, the handshake happens before the connection reaches the server, so the
//! router and handlers do not know the difference; killing a TLS connection cuts it
//! without a `close_notify`, as a reset would.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

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

/// An accepted connection: plain TCP, or TLS over it once the handshake is done.
pub enum ServerStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for ServerStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ServerStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            ServerStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ServerStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// Longest a client may take to finish its TLS handshake before the connection is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Handshakes done but not yet handed to the server.
const HANDSHAKE_QUEUE: usize = 64;

/// A listener handing out [`KillableStream`]s, over plain TCP or TLS.
pub struct FaultListener {
    incoming: Incoming,
    local: SocketAddr,
}

enum Incoming {
    Plain(TcpListener),
    /// TLS handshakes run in their own tasks (a client that stalls mid-handshake must not
    /// hold up everyone else's `accept`); finished ones arrive here.
    Tls {
        handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
        /// Held only for its `Drop`, which ends the accept loop.
        _accept_loop: AbortOnDrop,
    },
}

/// Stops the TLS accept loop when the listener goes away (the server stopped).
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl FaultListener {
    /// Serve plain HTTP on `inner`.
    pub fn plain(inner: TcpListener) -> io::Result<Self> {
        let local = inner.local_addr()?;
        Ok(FaultListener {
            incoming: Incoming::Plain(inner),
            local,
        })
    }

    /// Serve HTTPS on `inner` with `config`.
    pub fn tls(inner: TcpListener, config: Arc<ServerConfig>) -> io::Result<Self> {
        let local = inner.local_addr()?;
        let (tx, rx) = mpsc::channel(HANDSHAKE_QUEUE);
        let acceptor = tokio::spawn(tls_accept_loop(inner, TlsAcceptor::from(config), tx));
        Ok(FaultListener {
            incoming: Incoming::Tls {
                handshaken: rx,
                _accept_loop: AbortOnDrop(acceptor),
            },
            local,
        })
    }

    fn wrap(stream: ServerStream, peer: SocketAddr) -> (KillableStream<ServerStream>, ConnHandle) {
        let killed = Arc::new(AtomicBool::new(false));
        let handle = ConnHandle {
            peer,
            killed: killed.clone(),
        };
        (
            KillableStream {
                inner: stream,
                killed,
            },
            handle,
        )
    }
}

/// Accept TCP connections and hand each one's TLS handshake to a task of its own; send the
/// finished ones to the server. Ends when the server is gone (the channel is closed).
async fn tls_accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    done: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        let Some((stream, peer)) = accept_tcp(&listener).await else {
            continue;
        };
        if done.is_closed() {
            return;
        }
        let acceptor = acceptor.clone();
        let done = done.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let _ = done.send((tls, peer)).await;
                }
                // A client that does not trust our certificate ends up here: that is
                // its decision to report, not ours.
                Ok(Err(e)) => tracing::debug!("fake tenant: TLS handshake with {peer} failed: {e}"),
                Err(_) => tracing::debug!("fake tenant: TLS handshake with {peer} timed out"),
            }
        });
    }
}

/// One accepted TCP connection with Nagle off, or `None` after a failed accept.
async fn accept_tcp(listener: &TcpListener) -> Option<(TcpStream, SocketAddr)> {
    match listener.accept().await {
        Ok((stream, peer)) => {
            // Small request/response exchanges: don't let Nagle add 40 ms to each.
            let _ = stream.set_nodelay(true);
            Some((stream, peer))
        }
        Err(e) => {
            // Per-connection errors (reset before accept) are the client's problem;
            // anything else (out of file descriptors) deserves a pause, not a spin.
            tracing::debug!("fake tenant: accept failed: {e}");
            if !matches!(
                e.kind(),
                io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
            ) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            None
        }
    }
}

impl Listener for FaultListener {
    type Io = KillableStream<ServerStream>;
    type Addr = ConnHandle;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match &mut self.incoming {
                Incoming::Plain(listener) => {
                    if let Some((stream, peer)) = accept_tcp(listener).await {
                        return Self::wrap(ServerStream::Plain(stream), peer);
                    }
                }
                Incoming::Tls { handshaken, .. } => match handshaken.recv().await {
                    Some((tls, peer)) => {
                        return Self::wrap(ServerStream::Tls(Box::new(tls)), peer);
                    }
                    // The accept loop ended (it only does when the runtime shuts down):
                    // there will be no more connections.
                    None => std::future::pending::<()>().await,
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(ConnHandle {
            peer: self.local,
            killed: Arc::new(AtomicBool::new(false)),
        })
    }
}

impl Connected<IncomingStream<'_, FaultListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, FaultListener>) -> Self {
        stream.remote_addr().clone()
    }
}
