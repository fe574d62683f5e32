//! A TCP proxy the test controls, to take the database away from a server without touching
//! the machine's shared PostgreSQL (as crates.io's ChaosProxy does).
use std::{net::SocketAddr, sync::Arc};

use tokio::{
    io::copy_bidirectional,
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// Forwards connections to `target` while up; when cut, closes every connection and refuses
/// new ones until restored.
pub struct ChaosProxy {
    pub addr: SocketAddr,
    up: Arc<watch::Sender<bool>>,
}

impl ChaosProxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (up, _) = watch::channel(true);
        let up = Arc::new(up);
        let state = up.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    return;
                };
                if !*state.borrow() {
                    drop(inbound);
                    continue;
                }
                let mut down = state.subscribe();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = down.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        Self { addr, up }
    }

    /// Takes the target away: open connections close, new ones are refused.
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    /// Brings it back.
    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}
