//! The whole admission and exit path, top to bottom: find the resource's node, run its
//! checks with one clock reading, count the pass or the block; at exit, count the
//! completion and its RT and run the exit hooks of the checks that admitted the entry.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Engine, ResourceNode};
use crate::block::BlockError;
use crate::param::ParamValue;
use crate::pipeline::{CheckContext, CheckList, ExitContext, Tokens};
use crate::traffic::{ResourceType, TrafficType};

/// An entry's arguments: up to two are stored inline, so most entries with arguments do
/// not allocate for them.
pub(crate) type Args = smallvec::SmallVec<[ParamValue; 2]>;

/// An entry's keyed attachments.
pub(crate) type Attachments = Vec<(Cow<'static, str>, ParamValue)>;

/// How an entry names its resource: by name, or by a pre-resolved node.
pub(crate) enum NodeKey<'a> {
    Name(&'a str),
    Node(u32),
}

/// What an entry asks for.
pub(crate) struct Request<'a> {
    pub resource: NodeKey<'a>,
    pub traffic: TrafficType,
    pub batch: u32,
    pub resource_type: ResourceType,
    pub args: Args,
    pub attachments: Attachments,
}

/// What admission hands to the guard, and exit reads back.
pub(crate) struct Admitted {
    pub node: u32,
    pub stripe: u16,
    pub inbound_stripe: u16,
    pub traffic: TrafficType,
    pub batch: u32,
    pub start_ns: u64,
    pub wait_ns: u64,
    /// The checks that admitted the entry, when some of them must hear of its exit.
    pub hooks: Option<Arc<CheckList>>,
    /// Arguments (up to two inline, so hot-parameter entries need no allocation for
    /// them); `None` when there are none, so that the guard's drop has nothing to call.
    pub args: Option<Args>,
    /// Attachments and check tokens: boxed, and only when there are any, so that the
    /// guard stays small (it is moved several times per entry).
    pub extras: Option<Box<Extras>>,
}

/// The parts of an entry most entries do not have.
#[derive(Default)]
pub(crate) struct Extras {
    pub attachments: Attachments,
    /// Tokens checks attached to this entry (see `Verdict::PassWith`).
    pub tokens: Tokens,
}

impl Admitted {
    /// An empty state left behind when a guard's state moves elsewhere.
    pub(crate) fn moved_out() -> Self {
        Admitted {
            node: 0,
            stripe: 0,
            inbound_stripe: 0,
            traffic: TrafficType::Outbound,
            batch: 0,
            start_ns: 0,
            wait_ns: 0,
            hooks: None,
            args: None,
            extras: None,
        }
    }

    /// The entry's attachments.
    fn attachments(&self) -> &[(Cow<'static, str>, ParamValue)] {
        self.extras.as_ref().map_or(&[], |x| &x.attachments)
    }
}

/// Whatever gives access to an engine (a borrowed or owned `Sentinel` handle).
pub(crate) trait HoldsEngine {
    fn engine(&self) -> &Engine;
}

/// Admits or refuses one entry; `guard` makes the caller's guard from the holder and the
/// admitted state (built in place, without another move of either).
#[inline(always)]
pub(crate) fn admit<H: HoldsEngine, G>(
    holder: H,
    request: Request<'_>,
    guard: impl FnOnce(H, Admitted) -> G,
) -> Result<G, BlockError> {
    let engine = holder.engine();
    let Request {
        resource,
        traffic,
        batch,
        resource_type,
        args,
        attachments,
    } = request;
    let (index, node) = match resource {
        NodeKey::Name(name) => engine.node_of(name),
        NodeKey::Node(i) => (i, engine.registry.node_or_overflow(i)),
    };
    node.note_type(resource_type);
    let now_ns = engine.now_nanos();
    node.note_entry(now_ns);
    let mut tokens = Vec::new();
    let count = || {
        let stripe = node.stats.on_pass(now_ns, batch);
        let inbound_stripe = match traffic {
            TrafficType::Inbound => engine.inbound.on_pass(now_ns, batch),
            TrafficType::Outbound => 0,
        };
        (stripe, inbound_stripe)
    };
    let mut stripes = (0, 0);
    let mut admitted: Result<_, BlockError> = Ok((0, None));
    let checked = node.with_checks(&mut |checks| {
        let ctx = context(engine, node, now_ns, batch, traffic, &args, &attachments);
        admitted = checks.admit(&ctx, &mut tokens).map(|wait| {
            // Counted before the checks hear of it: a check that reserved room for the
            // entry gives the reservation back only once the entry is counted in flight.
            stripes = count();
            checks.admitted(&ctx);
            (wait, checks.has_exit_hooks().then(|| checks.clone()))
        });
    });
    if !checked {
        stripes = count();
    }
    let (wait_ns, hooks) = match admitted {
        Ok(a) => a,
        Err(e) => {
            node.stats.on_block(now_ns, batch);
            if engine.count_block_types.load(Ordering::Relaxed) {
                node.stats.count_block_type(e.block_type(), batch);
            }
            if traffic == TrafficType::Inbound {
                engine.inbound.on_block(now_ns, batch);
            }
            discard(attachments);
            drop(kept(args));
            return Err(e);
        }
    };
    let (stripe, inbound_stripe) = stripes;
    if wait_ns > 0 {
        node.stats.count_throttled(stripe, wait_ns);
    }
    // Not `bool::then` with a closure: the closure would own both lists and its drop,
    // when the lists are empty, costs the entry an out-of-line call.
    let extras = if attachments.is_empty() && tokens.is_empty() {
        discard(attachments);
        None
    } else {
        Some(Box::new(Extras {
            attachments,
            tokens,
        }))
    };
    let state = Admitted {
        node: index,
        stripe: stripe as u16,
        inbound_stripe: inbound_stripe as u16,
        traffic,
        batch,
        start_ns: now_ns.saturating_add(wait_ns),
        wait_ns,
        hooks,
        args: kept(args),
        extras,
    };
    Ok(guard(holder, state))
}

/// Drops an entry's attachments. Most entries have none: an empty list that never
/// allocated owns nothing, and forgetting it skips its drop (an out-of-line call that
/// walks no elements).
#[inline(always)]
fn discard(attachments: Attachments) {
    if attachments.capacity() == 0 {
        std::mem::forget(attachments);
    }
}

/// An entry's arguments when it has any. An empty list held inline owns nothing: it is
/// forgotten, like empty attachments, rather than dropped.
#[inline(always)]
fn kept(args: Args) -> Option<Args> {
    if args.is_empty() && !args.spilled() {
        std::mem::forget(args);
        None
    } else {
        Some(args)
    }
}

/// What the checks of `node` are lent about one entry.
#[inline(always)]
fn context<'a>(
    engine: &'a Engine,
    node: &'a ResourceNode,
    now_ns: u64,
    batch: u32,
    traffic: TrafficType,
    args: &'a [ParamValue],
    attachments: &'a [(Cow<'static, str>, ParamValue)],
) -> CheckContext<'a> {
    CheckContext {
        resource: &node.name,
        stats: &node.stats,
        inbound: &engine.inbound,
        nodes: &engine.registry,
        system: engine.system.as_ref(),
        panics: &engine.check_panics,
        now_ns,
        batch,
        traffic,
        args,
        attachments,
    }
}

/// Records the exit of an admitted entry: the completion, its RT on the instance clock,
/// whether it failed, and the exit hooks of the checks that admitted it (releasing
/// isolation slots, reporting breaker probes). An abandoned entry exits without a result.
#[inline]
pub(crate) fn exit(engine: &Engine, st: &Admitted, error: bool, abandoned: bool) {
    let node = engine.registry.node_or_overflow(st.node);
    let now_ns = engine.now_nanos();
    let rt_ns = now_ns.saturating_sub(st.start_ns);
    let rt_us = rt_ns / 1000;
    node.stats
        .on_complete(st.stripe as usize, now_ns, st.batch, rt_us, error);
    if st.traffic == TrafficType::Inbound {
        engine
            .inbound
            .on_complete(st.inbound_stripe as usize, now_ns, st.batch, rt_us, error);
    }
    if let Some(hooks) = &st.hooks {
        let mut ctx = ExitContext {
            check: context(
                engine,
                node,
                now_ns,
                st.batch,
                st.traffic,
                st.args.as_deref().unwrap_or_default(),
                st.attachments(),
            ),
            rt_ns,
            error,
            abandoned,
            token: None,
        };
        hooks.exit(&mut ctx, st.extras.as_ref().map_or(&[], |x| &x.tokens));
    }
}
