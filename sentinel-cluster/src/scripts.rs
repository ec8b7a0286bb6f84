//! The two Lua scripts the backend runs in Redis, and their calls.
//!
//! Both read the Redis server's clock (`TIME`) unless a test passes its own "now", so the
//! clients' clocks never matter. `EVALSHA` is tried first and the script is loaded again
//! when Redis answers NOSCRIPT (after a restart or `SCRIPT FLUSH`).

use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;

/// GCRA over one theoretical arrival time (TAT, µs of the Redis clock): first gives back
/// `refund` tokens (never past a full bucket), then grants `min(want, available)` tokens,
/// where `available = floor((now + tau - max(tat, now)) / interval)` (computed on
/// differences, with half a µs of tolerance for the rounding of stored times). Returns the grant,
/// the tokens left, and, when none are left, the µs until the next one.
const LEASE: &str = r"
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local want = tonumber(ARGV[3])
local refund = tonumber(ARGV[4])
local now = tonumber(ARGV[5])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
tat = tat - refund * interval
if tat < now then tat = now end
-- Differences first: near 1.8e15 µs a double holds a quarter µs, so now + tau would lose
-- a sub-µs part of tau; half a µs of tolerance absorbs the rounding of stored times.
local available = math.floor((tau - (tat - now) + 0.5) / interval + 0.000001)
if available < 0 then available = 0 end
local grant = math.min(want, available)
tat = tat + grant * interval
local left = available - grant
local retry = 0
if left == 0 then
  retry = math.max(0, math.ceil((tat - now) + interval - tau))
end
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {grant, left, retry}
";

/// Membership: records this instance's heartbeat (score: ms of the Redis clock), drops
/// entries older than ten live windows, and counts the instances seen within one.
const MEMBERS: &str = r"
local now = tonumber(ARGV[3])
if now == 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local ms = math.floor(now / 1000)
local window = tonumber(ARGV[2])
if ARGV[1] ~= '' then
  redis.call('ZADD', KEYS[1], ms, ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ms - 10 * window)
redis.call('PEXPIRE', KEYS[1], 10 * window)
return redis.call('ZCOUNT', KEYS[1], ms - window, '+inf')
";

/// The answer of one lease call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Tokens granted (at most the tokens asked for).
    pub granted: u64,
    /// Tokens the shared bucket holds after the grant.
    pub left: u64,
    /// When the bucket is empty, the time until it holds a token again; zero otherwise.
    pub retry_after: Duration,
}

/// The compiled scripts (their SHA1 digests are computed once).
pub(crate) struct Scripts {
    lease: Script,
    members: Script,
}

impl Scripts {
    pub(crate) fn new() -> Self {
        Scripts {
            lease: Script::new(LEASE),
            members: Script::new(MEMBERS),
        }
    }

    /// One GCRA call on `key`. `now_us` of 0 means the Redis clock.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn lease(
        &self,
        conn: &mut ConnectionManager,
        key: &str,
        interval_us: f64,
        tau_us: f64,
        want: u64,
        refund: u64,
        now_us: u64,
    ) -> redis::RedisResult<Grant> {
        let (granted, left, retry): (u64, u64, u64) = self
            .lease
            .key(key)
            .arg(interval_us)
            .arg(tau_us)
            .arg(want)
            .arg(refund)
            .arg(now_us)
            .invoke_async(conn)
            .await?;
        Ok(Grant {
            granted,
            left,
            retry_after: Duration::from_micros(retry),
        })
    }

    /// One heartbeat of `instance` into `key` (an empty id only counts); returns the
    /// instances seen within `live_window`.
    pub(crate) async fn heartbeat(
        &self,
        conn: &mut ConnectionManager,
        key: &str,
        instance: &str,
        live_window: Duration,
        now_us: u64,
    ) -> redis::RedisResult<u32> {
        self.members
            .key(key)
            .arg(instance)
            .arg(live_window.as_millis() as u64)
            .arg(now_us)
            .invoke_async(conn)
            .await
    }
}
