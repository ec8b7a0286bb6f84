//! A tonic gRPC service guarded by `SentinelLayer::grpc`, and a tonic client guarded by
//! `SentinelClientLayer::grpc`, over real HTTP/2 on 127.0.0.1. Ends in about a second.
//!
//! ```text
//! cargo run --release --example grpc_service --features grpc
//! ```
//!
//! The `shop.Inventory/Reserve` service is written by hand with prost derives and tonic's
//! generic server and client, so no `protoc` is needed; generated code plugs in the same
//! way (`Server::builder().layer(...)`, a layered `Channel` for the generated client).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::uri::PathAndQuery;
use sentinel_adapters::{SentinelClientLayer, SentinelLayer};
use sentinel_core::Sentinel;
use sentinel_core::flow::FlowRule;
use tokio::net::TcpListener;
use tonic::Status;
use tonic::body::Body;
use tonic::client::GrpcService;
use tonic::server::NamedService;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Endpoint, Server};
use tonic_prost::ProstCodec;
use tower::{Layer, Service};

#[derive(Clone, PartialEq, prost::Message)]
struct ReserveRequest {
    #[prost(uint64, tag = "1")]
    item: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
struct ReserveReply {
    #[prost(string, tag = "1")]
    reservation: String,
}

const RESERVE: &str = "/shop.Inventory/Reserve";

/// The `shop.Inventory` service: `Reserve` answers a reservation id.
#[derive(Clone)]
struct Inventory;

impl NamedService for Inventory {
    const NAME: &'static str = "shop.Inventory";
}

impl Service<http::Request<Body>> for Inventory {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        if request.uri().path() != RESERVE {
            return Box::pin(async { Ok(Status::unimplemented("unknown method").into_http()) });
        }
        let reserve = tower::service_fn(|request: tonic::Request<ReserveRequest>| async move {
            let item = request.into_inner().item;
            let reservation = format!("reservation for item {item}");
            Ok::<_, Status>(tonic::Response::new(ReserveReply { reservation }))
        });
        Box::pin(async move {
            let codec = ProstCodec::<ReserveReply, ReserveRequest>::default();
            Ok(tonic::server::Grpc::new(codec)
                .unary(reserve, request)
                .await)
        })
    }
}

/// Calls `Reserve` through any gRPC client service.
async fn reserve<T>(client: T, item: u64) -> Result<String, Status>
where
    T: GrpcService<Body>,
    T::Error: Into<tonic::codegen::StdError>,
    T::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
    <T::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError>,
{
    let mut grpc = tonic::client::Grpc::new(client);
    grpc.ready()
        .await
        .map_err(|e| Status::unavailable(e.into().to_string()))?;
    let codec = ProstCodec::<ReserveRequest, ReserveReply>::default();
    let path = PathAndQuery::from_static(RESERVE);
    let reply = grpc
        .unary(tonic::Request::new(ReserveRequest { item }), path, codec)
        .await?;
    Ok(reply.into_inner().reservation)
}

fn describe(result: Result<String, Status>) -> String {
    match result {
        Ok(reservation) => format!("OK: {reservation}"),
        Err(status) => format!("{:?}: {}", status.code(), status.message()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The server: 5 reservations a second.
    let server_sentinel = Sentinel::new();
    server_sentinel.load_flow_rules(vec![FlowRule {
        resource: RESERVE.into(),
        threshold: 5.0,
        ..Default::default()
    }])?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let server = Server::builder()
        .layer(SentinelLayer::grpc(server_sentinel.clone()))
        .add_service(Inventory)
        .serve_with_incoming(TcpIncoming::from(listener));
    let server = tokio::spawn(server);
    let channel = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;

    println!("8 reservations against a server limited to 5 a second:");
    for item in 1..=8 {
        println!(
            "  item {item}: {}",
            describe(reserve(channel.clone(), item).await)
        );
    }

    // The client guards its own calls: at most 2 a second to the inventory.
    let client_sentinel = Sentinel::new();
    client_sentinel.load_flow_rules(vec![FlowRule {
        resource: "inventory".into(),
        threshold: 2.0,
        ..Default::default()
    }])?;
    let guarded = SentinelClientLayer::grpc(client_sentinel, "inventory").layer(channel);
    tokio::time::sleep(std::time::Duration::from_secs(1)).await; // a fresh second server-side
    println!("4 reservations through a client layer limited to 2 a second:");
    for item in 11..=14 {
        println!(
            "  item {item}: {}",
            describe(reserve(guarded.clone(), item).await)
        );
    }
    server.abort();
    Ok(())
}
