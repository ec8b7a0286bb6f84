//! A Rate Limit Service on a loopback port and a tonic client for it.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use http::uri::PathAndQuery;
use sentinel_cluster::rls::RateLimitService;
use sentinel_cluster::rls::proto::{
    Entry, RateLimitDescriptor, RateLimitRequest, RateLimitResponse, SHOULD_RATE_LIMIT,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic_prost::ProstCodec;

/// A service served on a free loopback port; stopped when dropped.
pub struct Served {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Served {
    pub async fn start(service: RateLimitService) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpIncoming::from(listener))
                .await
                .expect("serve");
        });
        Served { addr, task }
    }

    pub async fn client(&self) -> Client {
        Client::connect(self.addr).await
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A tonic client of `ShouldRateLimit`.
#[derive(Clone)]
pub struct Client(tonic::client::Grpc<Channel>);

impl Client {
    pub async fn connect(addr: SocketAddr) -> Self {
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .expect("connect");
        Client(tonic::client::Grpc::new(channel))
    }

    pub async fn ask(
        &mut self,
        request: RateLimitRequest,
    ) -> Result<RateLimitResponse, tonic::Status> {
        self.0
            .ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let codec = ProstCodec::<RateLimitRequest, RateLimitResponse>::default();
        self.0
            .unary(
                tonic::Request::new(request),
                PathAndQuery::from_static(SHOULD_RATE_LIMIT),
                codec,
            )
            .await
            .map(tonic::Response::into_inner)
    }
}

/// A descriptor of `(key, value)` entries.
pub fn descriptor(pairs: &[(&str, &str)]) -> RateLimitDescriptor {
    RateLimitDescriptor {
        entries: pairs
            .iter()
            .map(|(k, v)| Entry {
                key: (*k).into(),
                value: (*v).into(),
            })
            .collect(),
        ..Default::default()
    }
}

/// A request of `domain` with one descriptor per entry list.
pub fn request(domain: &str, descriptors: &[&[(&str, &str)]]) -> RateLimitRequest {
    RateLimitRequest {
        domain: domain.into(),
        descriptors: descriptors.iter().map(|d| descriptor(d)).collect(),
        hits_addend: 0,
    }
}

/// `shop`: `user` at 3 per second.
pub const SHOP: &str = "domain: shop
descriptors:
  - key: user
    rate_limit:
      unit: second
      requests_per_unit: 3
";
