//! A lean server-side WebSocket over the raw TCP stream of an upgraded request: frames are decoded
//! with actix-http's codec and written straight to the stream, and no buffer is kept while the
//! socket is idle, so an idle socket costs its TCP stream and a few words rather than the HTTP/1
//! dispatcher's two 8 KiB buffers (see docs/CONSOLE.md, "Socket memory").

use actix_codec::Decoder;
use actix_http::ws::{self, CloseCode, CloseReason, Frame, Item, OpCode, Parser};
use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use std::io::ErrorKind;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

/// How much room a read makes when the buffer has less than [`READ_LOW_WATER`] free.
const READ_CHUNK: usize = 4096;
const READ_LOW_WATER: usize = 512;
/// How long a closing socket waits for the client's close frame.
pub const CLOSE_LINGER: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("websocket protocol error: {0}")]
    Protocol(#[from] ws::ProtocolError),
    #[error("a message may not exceed {0} bytes")]
    TooLarge(usize),
    #[error("a continuation frame came without its first frame, or a new message interrupted one")]
    Continuation,
    #[error("a text message is not valid UTF-8")]
    Utf8,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A whole message from the client (continuations already joined).
#[derive(Debug)]
pub enum Incoming {
    Text(ByteString),
    Binary(Bytes),
    Ping(Bytes),
    Pong,
    Close(Option<CloseReason>),
}

/// One accepted WebSocket connection, owned by the task that serves it.
pub struct WsConn {
    io: TcpStream,
    read: BytesMut,
    codec: ws::Codec,
    /// A message arriving in continuation frames: whether it is text, and its bytes so far.
    partial: Option<(bool, BytesMut)>,
    max_message: usize,
}

impl WsConn {
    /// `leftover` holds whatever the client sent after its handshake that was already read.
    pub fn new(io: TcpStream, leftover: &[u8], max_message: usize) -> Self {
        WsConn {
            io,
            read: BytesMut::from(leftover),
            codec: ws::Codec::new().max_size(max_message),
            partial: None,
            max_message,
        }
    }

    /// The next message, or `None` once the client has gone. Cancel-safe: every byte read stays in
    /// the connection, so a `select!` may drop this future at any await.
    pub async fn next(&mut self) -> Option<Result<Incoming, WireError>> {
        loop {
            match self.decode() {
                Ok(Some(message)) => return Some(Ok(message)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
            if let Err(e) = self.io.readable().await {
                return Some(Err(e.into()));
            }
            if self.read.capacity() - self.read.len() < READ_LOW_WATER {
                self.read.reserve(READ_CHUNK);
            }
            match self.io.try_read_buf(&mut self.read) {
                Ok(0) => return None,
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(e) => return Some(Err(e.into())),
            }
        }
    }

    /// Decodes the next whole message already read, releasing the read buffer once it is empty.
    fn decode(&mut self) -> Result<Option<Incoming>, WireError> {
        loop {
            let frame = self.codec.decode(&mut self.read)?;
            if self.read.is_empty() && self.read.capacity() > 0 {
                self.read = BytesMut::new();
            }
            let Some(frame) = frame else { return Ok(None) };
            let message = match frame {
                Frame::Text(bytes) => {
                    self.no_partial()?;
                    Incoming::Text(ByteString::try_from(bytes).map_err(|_| WireError::Utf8)?)
                }
                Frame::Binary(bytes) => {
                    self.no_partial()?;
                    Incoming::Binary(bytes)
                }
                Frame::Ping(bytes) => Incoming::Ping(bytes),
                Frame::Pong(_) => Incoming::Pong,
                Frame::Close(reason) => Incoming::Close(reason),
                Frame::Continuation(item) => match self.continue_with(item)? {
                    Some(message) => message,
                    None => continue,
                },
            };
            return Ok(Some(message));
        }
    }

    fn no_partial(&self) -> Result<(), WireError> {
        if self.partial.is_some() { Err(WireError::Continuation) } else { Ok(()) }
    }

    fn continue_with(&mut self, item: Item) -> Result<Option<Incoming>, WireError> {
        let (bytes, last) = match item {
            Item::FirstText(_) | Item::FirstBinary(_) if self.partial.is_some() => return Err(WireError::Continuation),
            Item::FirstText(b) => {
                self.partial = Some((true, BytesMut::from(&b[..])));
                return Ok(None);
            }
            Item::FirstBinary(b) => {
                self.partial = Some((false, BytesMut::from(&b[..])));
                return Ok(None);
            }
            Item::Continue(b) => (b, false),
            Item::Last(b) => (b, true),
        };
        let Some((_, so_far)) = self.partial.as_mut() else { return Err(WireError::Continuation) };
        if so_far.len() + bytes.len() > self.max_message {
            return Err(WireError::TooLarge(self.max_message));
        }
        so_far.extend_from_slice(&bytes);
        if !last {
            return Ok(None);
        }
        let Some((is_text, whole)) = self.partial.take() else { return Err(WireError::Continuation) };
        let whole = whole.freeze();
        Ok(Some(if is_text {
            Incoming::Text(ByteString::try_from(whole).map_err(|_| WireError::Utf8)?)
        } else {
            Incoming::Binary(whole)
        }))
    }
}

/// Writing.
impl WsConn {
    pub async fn text(&mut self, text: &str) -> Result<(), WireError> {
        self.write_frame(text.as_bytes(), OpCode::Text).await
    }

    pub async fn ping(&mut self, payload: &[u8]) -> Result<(), WireError> {
        self.write_frame(payload, OpCode::Ping).await
    }

    pub async fn pong(&mut self, payload: &[u8]) -> Result<(), WireError> {
        self.write_frame(payload, OpCode::Pong).await
    }

    /// Sends a close frame, then (RFC 6455 7.1.1) waits up to [`CLOSE_LINGER`] for the client's
    /// own close, discarding what it still sends. Closing the TCP stream at once could answer a
    /// late client frame with a reset, and a reset can discard our close frame before the client
    /// reads it; this way the client sees the close code.
    pub async fn close(&mut self, code: Option<u16>, description: &str) -> Result<(), WireError> {
        let reason = code.map(|c| CloseReason {
            code: CloseCode::from(c),
            description: (!description.is_empty()).then(|| description.to_string()),
        });
        let mut out = BytesMut::new();
        Parser::write_close(&mut out, reason, false);
        self.io.write_all(&out).await?;
        self.io.shutdown().await?;
        let drain = async {
            while let Some(Ok(incoming)) = self.next().await {
                if matches!(incoming, Incoming::Close(_)) {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(CLOSE_LINGER, drain).await;
        Ok(())
    }

    async fn write_frame(&mut self, payload: &[u8], op: OpCode) -> Result<(), WireError> {
        let mut out = BytesMut::with_capacity(payload.len() + 10);
        Parser::write_message(&mut out, payload, op, true, false);
        self.io.write_all(&out).await?;
        Ok(())
    }
}
