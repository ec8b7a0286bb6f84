//! The Rate Limit Service through a tonic client on loopback: answers, hits, several
//! descriptors, shadow mode, overrides, odd requests (local store, manual clock), two
//! replicas on one real Redis, fail-open and fail-closed, a decoded Envoy request.

#![cfg(feature = "rls")]

mod rls_support;
mod support;

use std::time::Duration;

use prost::Message;
use rls_support::{Client, SHOP, Served, descriptor, request};
use sentinel_cluster::RedisBackend;
use sentinel_cluster::rls::proto::{
    Code, DescriptorStatus, RateLimit, RateLimitOverride, RateLimitRequest, RateLimitResponse, Unit,
};
use sentinel_cluster::rls::{
    MAX_DESCRIPTORS, MAX_ENTRIES, MAX_REQUEST_BYTES, RateLimitService, RlsConfig,
};
use sentinel_core::ManualClock;

fn local(yaml: &str) -> (RateLimitService, ManualClock) {
    let clock = ManualClock::new();
    let service = RateLimitService::builder(RlsConfig::from_yaml(yaml, "test.yaml").unwrap())
        .clock(clock.clone())
        .build();
    (service, clock)
}

fn code(r: &RateLimitResponse) -> Code {
    Code::try_from(r.overall_code).unwrap()
}

fn codes(r: &RateLimitResponse) -> Vec<Code> {
    r.statuses
        .iter()
        .map(|s| Code::try_from(s.code).unwrap())
        .collect()
}

fn reset(s: &DescriptorStatus) -> Duration {
    s.duration_until_reset.expect("duration_until_reset").into()
}

#[tokio::test]
async fn alice_gets_three_a_second_then_over_limit_while_bob_passes() {
    let (service, _clock) = local(SHOP);
    let served = Served::start(service).await;
    let mut client = served.client().await;
    let alice = || request("shop", &[&[("user", "alice")]]);
    for left in [2, 1, 0] {
        let r = client.ask(alice()).await.unwrap();
        assert_eq!(code(&r), Code::Ok);
        let s = &r.statuses[0];
        assert_eq!(s.limit_remaining, left);
        assert_eq!(
            s.current_limit,
            Some(RateLimit {
                requests_per_unit: 3,
                unit: Unit::Second as i32,
                name: String::new(),
            })
        );
        // Rounded up to whole seconds, as Envoy keeps only those.
        assert_eq!(reset(s), Duration::from_secs(1));
    }
    let r = client.ask(alice()).await.unwrap();
    assert_eq!(code(&r), Code::OverLimit);
    assert_eq!(codes(&r), [Code::OverLimit]);
    let s = &r.statuses[0];
    assert_eq!(s.limit_remaining, 0);
    assert_eq!(reset(s), Duration::from_secs(1));
    let r = client
        .ask(request("shop", &[&[("user", "bob")]]))
        .await
        .unwrap();
    assert_eq!(code(&r), Code::Ok);
    assert_eq!(r.statuses[0].limit_remaining, 2);
}

#[tokio::test]
async fn the_budget_comes_back_one_token_at_a_time() {
    let (service, clock) = local(SHOP);
    let alice = || request("shop", &[&[("user", "alice")]]);
    for _ in 0..3 {
        service.should_rate_limit(alice()).await.unwrap();
    }
    clock.advance(Duration::from_millis(340));
    let r = service.should_rate_limit(alice()).await.unwrap();
    assert_eq!((code(&r), r.statuses[0].limit_remaining), (Code::Ok, 0));
    assert_eq!(
        code(&service.should_rate_limit(alice()).await.unwrap()),
        Code::OverLimit
    );
    clock.advance(Duration::from_secs(1));
    let r = service.should_rate_limit(alice()).await.unwrap();
    assert_eq!((code(&r), r.statuses[0].limit_remaining), (Code::Ok, 2));
}

#[tokio::test]
async fn hits_addend_consumes_that_many_and_a_descriptor_zero_only_checks() {
    let (service, _clock) = local(SHOP);
    let served = Served::start(service).await;
    let mut client = served.client().await;
    let mut three = request("shop", &[&[("user", "carol")]]);
    three.hits_addend = 3;
    let r = client.ask(three.clone()).await.unwrap();
    assert_eq!((code(&r), r.statuses[0].limit_remaining), (Code::Ok, 0));
    // A check without spending: no token left, so over.
    let mut check = request("shop", &[&[("user", "carol")]]);
    check.descriptors[0].hits_addend = Some(0);
    assert_eq!(code(&client.ask(check).await.unwrap()), Code::OverLimit);

    // A batch larger than what is left is refused whole.
    let mut two = request("shop", &[&[("user", "dave")]]);
    two.hits_addend = 2;
    client.ask(two.clone()).await.unwrap();
    let r = client.ask(two).await.unwrap();
    assert_eq!(
        (code(&r), r.statuses[0].limit_remaining),
        (Code::OverLimit, 1)
    );
    // The descriptor's own count overrides the request's.
    let mut one = request("shop", &[&[("user", "dave")]]);
    one.hits_addend = 5;
    one.descriptors[0].hits_addend = Some(1);
    let r = client.ask(one).await.unwrap();
    assert_eq!((code(&r), r.statuses[0].limit_remaining), (Code::Ok, 0));
}

#[tokio::test]
async fn one_descriptor_over_makes_the_answer_over_and_spends_nothing() {
    let (service, _clock) = local(
        "domain: shop
descriptors:
  - key: user
    rate_limit: {unit: second, requests_per_unit: 3}
  - key: path
    rate_limit: {unit: minute, requests_per_unit: 1, name: checkout}
",
    );
    let served = Served::start(service).await;
    let mut client = served.client().await;
    let both = || {
        request(
            "shop",
            &[&[("user", "erin")], &[("path", "/pay")], &[("other", "x")]],
        )
    };
    let r = client.ask(both()).await.unwrap();
    assert_eq!(codes(&r), [Code::Ok, Code::Ok, Code::Ok]);
    assert_eq!(r.statuses[0].limit_remaining, 2);
    let r = client.ask(both()).await.unwrap();
    assert_eq!(code(&r), Code::OverLimit);
    assert_eq!(codes(&r), [Code::Ok, Code::OverLimit, Code::Ok]);
    assert_eq!(
        r.statuses[0].limit_remaining, 2,
        "the refused request spent nothing"
    );
    assert_eq!(
        r.statuses[1].current_limit.as_ref().map(|l| (
            l.requests_per_unit,
            l.unit,
            l.name.as_str()
        )),
        Some((1, Unit::Minute as i32, "checkout"))
    );
    assert!(reset(&r.statuses[1]) > Duration::from_secs(59));
    assert_eq!(
        r.statuses[2],
        DescriptorStatus {
            code: Code::Ok as i32,
            ..Default::default()
        }
    );
}

/// `shop`'s user bucket (3 a second) named by two descriptors of 2 hits: 4 > 3, so both
/// are OVER_LIMIT and report 3 left (nothing spent); of 1 hit each, both OK with 1 left.
async fn assert_one_bucket_named_twice_reports_it_as_it_stays(client: &mut Client, name: &str) {
    let user = format!("{name}-{}", std::process::id());
    let mut twice = request("shop", &[&[("user", &user)], &[("user", &user)]]);
    twice.hits_addend = 2;
    let r = client.ask(twice.clone()).await.unwrap();
    assert_eq!(codes(&r), [Code::OverLimit, Code::OverLimit]);
    let left: Vec<u32> = r.statuses.iter().map(|s| s.limit_remaining).collect();
    assert_eq!(left, [3, 3]);
    twice.hits_addend = 1;
    let r = client.ask(twice).await.unwrap();
    assert_eq!(codes(&r), [Code::Ok, Code::Ok]);
    let left: Vec<u32> = r.statuses.iter().map(|s| s.limit_remaining).collect();
    assert_eq!(left, [1, 1]);
}

#[tokio::test]
async fn one_bucket_named_twice_reports_it_as_the_request_leaves_it() {
    let (service, _clock) = local(SHOP);
    let served = Served::start(service).await;
    assert_one_bucket_named_twice_reports_it_as_it_stays(&mut served.client().await, "max").await;
}

#[tokio::test]
async fn unmatched_unlimited_and_odd_requests() {
    let (service, _clock) = local(
        "domain: shop
descriptors:
  - key: user
    rate_limit: {unit: second, requests_per_unit: 3}
  - key: user
    value: admin
    rate_limit: {unlimited: true}
",
    );
    let served = Served::start(service.clone()).await;
    let mut client = served.client().await;
    let without_limit = DescriptorStatus {
        code: Code::Ok as i32,
        ..Default::default()
    };
    for r in [
        request("shop", &[&[("path", "/")]]),
        request("shop", &[&[("user", "a"), ("path", "/")]]),
        request("mail", &[&[("user", "a")]]),
        request("shop", &[&[]]),
    ] {
        let answer = client.ask(r.clone()).await.unwrap();
        assert_eq!(
            answer.statuses,
            std::slice::from_ref(&without_limit),
            "{r:?}"
        );
    }
    for _ in 0..10 {
        let r = client
            .ask(request("shop", &[&[("user", "admin")]]))
            .await
            .unwrap();
        assert_eq!(r.statuses, std::slice::from_ref(&without_limit));
    }
    let r = client.ask(request("shop", &[])).await.unwrap();
    assert_eq!((code(&r), r.statuses.len()), (Code::Ok, 0));
    let e = client
        .ask(request("", &[&[("user", "a")]]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    // Values of any length and any UTF-8 are their own buckets.
    let long = "ü".repeat(10_000);
    for value in [long.as_str(), "ü", "", "a|b:c"] {
        let r = client
            .ask(request("shop", &[&[("user", value)]]))
            .await
            .unwrap();
        assert_eq!(r.statuses[0].limit_remaining, 2, "{}", value.len());
    }
    // At most MAX_DESCRIPTORS descriptors, MAX_ENTRIES entries each.
    let one: &[(&str, &str)] = &[("user", "many")];
    let e = client
        .ask(request("shop", &vec![one; MAX_DESCRIPTORS + 1]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    assert!(e.message().contains("at most 256 per request"), "{e:?}");
    let wide = vec![("user", "wide"); MAX_ENTRIES + 1];
    let e = client.ask(request("shop", &[&wide])).await.unwrap_err();
    assert!(e.message().contains("at most 64 per descriptor"), "{e:?}");
    let huge = "x".repeat(MAX_REQUEST_BYTES);
    let e = client
        .ask(request("shop", &[&[("user", huge.as_str())]]))
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::OutOfRange, "{e:?}");
    let r = client
        .ask(request("shop", &vec![one; MAX_DESCRIPTORS]))
        .await
        .unwrap();
    assert_eq!((code(&r), r.statuses.len()), (Code::OverLimit, 256));
    let stats = service.stats();
    assert_eq!(stats.invalid, 3);
    assert_eq!(stats.keys, 4);
}

#[tokio::test]
async fn shadow_mode_counts_but_answers_ok() {
    let (service, _clock) = local(
        "domain: shop
descriptors:
  - key: user
    shadow_mode: true
    rate_limit: {unit: second, requests_per_unit: 2}
",
    );
    let served = Served::start(service.clone()).await;
    let mut client = served.client().await;
    let left: Vec<u32> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            let r = client
                .ask(request("shop", &[&[("user", "frank")]]))
                .await
                .unwrap();
            assert_eq!(code(&r), Code::Ok);
            v.push(r.statuses[0].limit_remaining);
        }
        v
    };
    assert_eq!(left, [1, 0, 0, 0]);
    assert_eq!(service.stats().shadow_over_limit, 2);
    assert_eq!(service.stats().over_limit, 0);
}

#[tokio::test]
async fn an_override_in_the_request_is_the_limit_with_its_own_bucket() {
    let (service, _clock) = local(SHOP);
    let served = Served::start(service).await;
    let mut client = served.client().await;
    let mut over = request("shop", &[&[("user", "gina")]]);
    over.descriptors[0].limit = Some(RateLimitOverride {
        requests_per_unit: 1,
        unit: Unit::Minute as i32,
    });
    let r = client.ask(over.clone()).await.unwrap();
    assert_eq!(
        r.statuses[0]
            .current_limit
            .as_ref()
            .unwrap()
            .requests_per_unit,
        1
    );
    assert_eq!(
        code(&client.ask(over.clone()).await.unwrap()),
        Code::OverLimit
    );
    // The configured bucket of the same descriptor is untouched.
    let r = client
        .ask(request("shop", &[&[("user", "gina")]]))
        .await
        .unwrap();
    assert_eq!(r.statuses[0].limit_remaining, 2);
    over.descriptors[0].limit = Some(RateLimitOverride {
        requests_per_unit: 1,
        unit: Unit::Unknown as i32,
    });
    let e = client.ask(over.clone()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e.message().contains("descriptors[0].limit"), "{e:?}");
    // The same in a domain not configured.
    over.domain = "mail".into();
    let e = client.ask(over.clone()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::InvalidArgument, "{e:?}");
    // A rate faster than one per microsecond.
    over.descriptors[0].limit = Some(RateLimitOverride {
        requests_per_unit: u32::MAX,
        unit: Unit::Second as i32,
    });
    let e = client.ask(over).await.unwrap_err();
    assert!(
        e.message()
            .contains("faster than one request per microsecond"),
        "{e:?}"
    );
}

#[tokio::test]
async fn a_new_configuration_applies_to_the_next_call() {
    let (service, _clock) = local(SHOP);
    let ask = || service.should_rate_limit(request("shop", &[&[("user", "hank")]]));
    assert_eq!(ask().await.unwrap().statuses[0].limit_remaining, 2);
    service.set_config(
        RlsConfig::from_yaml(
            &SHOP.replace("requests_per_unit: 3", "requests_per_unit: 10"),
            "t",
        )
        .unwrap(),
    );
    let r = ask().await.unwrap();
    assert_eq!(
        r.statuses[0]
            .current_limit
            .as_ref()
            .unwrap()
            .requests_per_unit,
        10
    );
    assert_eq!(r.statuses[0].limit_remaining, 9);
    assert_eq!(service.stats().reloads, 1);
}

/// The message of the first `ShouldRateLimit` call Envoy 1.40.0 sent in `tests/envoy.rs`
/// (printed there; the gRPC frame's 5 bytes removed): domain `shop`, one descriptor from
/// the route's `request_headers` action (`x-user: alice` → `user: alice`).
const ENVOY_REQUEST_HEX: &str = "0a0473686f70120f0a0d0a04757365721205616c696365";

#[test]
fn a_request_captured_from_envoy_decodes() {
    let bytes: Vec<u8> = (0..ENVOY_REQUEST_HEX.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&ENVOY_REQUEST_HEX[i..i + 2], 16).unwrap())
        .collect();
    let r = RateLimitRequest::decode(bytes.as_slice()).unwrap();
    assert_eq!(r.domain, "shop");
    assert_eq!(r.descriptors, [descriptor(&[("user", "alice")])]);
    assert_eq!(r.hits_addend, 0, "absent: 1 hit");
    assert_eq!(
        r.encode_to_vec(),
        bytes,
        "our messages write the same bytes"
    );
}

fn redis_service(url: &str, fail_closed: bool) -> RateLimitService {
    let backend = RedisBackend::builder(url)
        .request_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    RateLimitService::builder(RlsConfig::from_yaml(SHOP, "shop.yaml").unwrap())
        .redis(backend)
        .fail_closed(fail_closed)
        .build()
}

#[tokio::test]
async fn two_replicas_on_one_redis_share_the_limit_and_fail_open_or_closed() {
    let Some(mut redis) = support::redis() else {
        return;
    };
    let a = Served::start(redis_service(&redis.url(), false)).await;
    let b = Served::start(redis_service(&redis.url(), true)).await;
    let (mut ca, mut cb) = (a.client().await, b.client().await);
    let user = format!("ivy-{}", std::process::id());
    let ivy = || request("shop", &[&[("user", user.as_str())]]);
    // The whole budget may be spent in well under a second; each answer is from one
    // shared bucket, whichever replica gives it.
    let mut left = Vec::new();
    for client in [&ca, &cb, &ca] {
        let r = client.clone().ask(ivy()).await.unwrap();
        assert_eq!(code(&r), Code::Ok);
        left.push(r.statuses[0].limit_remaining);
    }
    assert_eq!(left, [2, 1, 0]);
    let r = cb.ask(ivy()).await.unwrap();
    assert_eq!(code(&r), Code::OverLimit);
    let d = reset(&r.statuses[0]);
    assert!(d > Duration::ZERO && d <= Duration::from_secs(1), "{d:?}");

    // All or nothing: the second descriptor is over, the first is refunded.
    let other = format!("jay-{}", std::process::id());
    let r = ca
        .ask(request(
            "shop",
            &[&[("user", other.as_str())], &[("user", user.as_str())]],
        ))
        .await
        .unwrap();
    assert_eq!(codes(&r), [Code::Ok, Code::OverLimit]);
    let r = cb
        .ask(request("shop", &[&[("user", other.as_str())]]))
        .await
        .unwrap();
    assert_eq!(r.statuses[0].limit_remaining, 2, "refunded");

    // A failure on the second descriptor (its key holds a list): the first is refunded.
    let broken = format!("kim-{}", std::process::id());
    redis
        .command(&[
            "LPUSH",
            // The cluster backend's key of the bucket: `{<prefix length>:<prefix>:<flow id>}`.
            &format!(
                "{{{}:sentinel:rls:4:shop|4:user{}:{broken}|3/1s/3}}:gcra",
                "sentinel".len(),
                broken.len()
            ),
            "x",
        ])
        .unwrap();
    let lee = format!("lee-{}", std::process::id());
    let r = ca
        .ask(request(
            "shop",
            &[&[("user", lee.as_str())], &[("user", broken.as_str())]],
        ))
        .await
        .unwrap();
    assert_eq!(code(&r), Code::Ok, "fail-open");
    let r = cb
        .ask(request("shop", &[&[("user", lee.as_str())]]))
        .await
        .unwrap();
    assert_eq!(
        r.statuses[0].limit_remaining, 2,
        "refunded after the failure"
    );

    assert_one_bucket_named_twice_reports_it_as_it_stays(&mut ca, "max").await;

    redis.kill();
    let r = ca.ask(ivy()).await.unwrap();
    assert_eq!(code(&r), Code::Ok, "fail-open");
    assert_eq!(r.statuses[0].limit_remaining, 3, "nothing counted");
    assert_eq!(r.statuses[0].duration_until_reset, None);
    assert_eq!(
        r.statuses[0]
            .current_limit
            .as_ref()
            .unwrap()
            .requests_per_unit,
        3
    );
    let e = cb.ask(ivy()).await.unwrap_err();
    assert_eq!(e.code(), tonic::Code::Unavailable, "fail-closed: {e:?}");
}
