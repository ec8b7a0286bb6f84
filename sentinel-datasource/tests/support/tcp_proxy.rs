//! A loopback TCP proxy that a test can cut: open connections are closed and new ones are
//! refused until it is resumed. It breaks a client's connection at a chosen moment while
//! the server stays up for other clients.
// Each user needs a different subset of these functions.
#![allow(dead_code)]

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

/// Forwards connections from a loopback port to `upstream`; stops when dropped.
pub struct TcpProxy {
    port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    upstream: String,
    cut: AtomicBool,
    stopped: AtomicBool,
    /// Both sockets of every forwarded connection, to close them on a cut.
    open: Mutex<Vec<TcpStream>>,
}

impl TcpProxy {
    /// Starts forwarding to `upstream` (`127.0.0.1:PORT`).
    pub fn start(upstream: &str) -> TcpProxy {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("proxy port");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            upstream: upstream.to_string(),
            cut: AtomicBool::new(false),
            stopped: AtomicBool::new(false),
            open: Mutex::new(Vec::new()),
        });
        let accepting = shared.clone();
        thread::spawn(move || {
            for client in listener.incoming() {
                if accepting.stopped.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(client) = client {
                    accepting.forward(client);
                }
            }
        });
        TcpProxy { port, shared }
    }

    /// The proxy's URL (`http://127.0.0.1:PORT`).
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.shared.cut.store(true, Ordering::SeqCst);
        self.shared.close_all();
    }

    /// Accepts and forwards connections again.
    pub fn resume(&self) {
        self.shared.cut.store(false, Ordering::SeqCst);
    }
}

impl Shared {
    fn forward(&self, client: TcpStream) {
        if self.cut.load(Ordering::SeqCst) {
            let _ = client.shutdown(Shutdown::Both);
            return;
        }
        let Ok(server) = TcpStream::connect(&self.upstream) else {
            let _ = client.shutdown(Shutdown::Both);
            return;
        };
        let pair = (client.try_clone(), server.try_clone());
        let (Ok(client_copy), Ok(server_copy)) = pair else {
            return;
        };
        self.open.lock().unwrap().extend([client_copy, server_copy]);
        copy_in_background(&client, &server);
        copy_in_background(&server, &client);
    }

    fn close_all(&self) {
        for socket in self.open.lock().unwrap().drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
    }
}

fn copy_in_background(from: &TcpStream, to: &TcpStream) {
    let (Ok(mut from), Ok(mut to)) = (from.try_clone(), to.try_clone()) else {
        return;
    };
    thread::spawn(move || {
        let _ = copy(&mut from, &mut to);
        let _ = to.shutdown(Shutdown::Write);
    });
}

fn copy(from: &mut TcpStream, to: &mut TcpStream) -> io::Result<()> {
    let mut buffer = [0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buffer)?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buffer[..n])?;
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        self.shared.close_all();
        // Wakes the accepting thread so that it sees `stopped` and ends.
        let _ = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port));
    }
}
