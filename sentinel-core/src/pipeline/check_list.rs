//! The checks of one resource in pipeline order, and the walk over them that admits,
//! cancels and exits an entry.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Check, CheckContext, ExitContext, Verdict};
use crate::block::BlockError;

/// Tokens that checks attached to one entry: (position of the check, token).
pub(crate) type Tokens = Vec<(u32, u64)>;

fn token_of(tokens: &[(u32, u64)], index: usize) -> Option<u64> {
    tokens
        .iter()
        .find(|(i, _)| *i as usize == index)
        .map(|(_, t)| *t)
}

/// The checks of one resource, in pipeline order, with their hook needs precomputed.
#[derive(Default)]
pub(crate) struct CheckList {
    checks: Box<[Arc<dyn Check>]>,
    /// The positions of the checks that need `on_exit` (asked once, not at every exit).
    exits: Box<[u32]>,
    cancel_hooks: bool,
    admitted_hooks: bool,
}

impl CheckList {
    pub(crate) fn new(mut checks: Vec<Arc<dyn Check>>) -> Self {
        checks.sort_by_key(|c| c.order());
        CheckList {
            exits: (0..checks.len() as u32)
                .filter(|&i| checks[i as usize].needs_exit())
                .collect(),
            cancel_hooks: checks.iter().any(|c| c.needs_cancel()),
            admitted_hooks: checks.iter().any(|c| c.needs_admitted()),
            checks: checks.into(),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.checks.is_empty()
    }

    /// Whether admitted entries must keep this list to run exit hooks.
    pub(crate) fn has_exit_hooks(&self) -> bool {
        !self.exits.is_empty()
    }

    /// Runs the checks in order. Returns the wait (nanoseconds) of an admitted entry;
    /// tokens checks attach to it are pushed onto `tokens`.
    #[inline(always)]
    pub(crate) fn admit(
        &self,
        ctx: &CheckContext<'_>,
        tokens: &mut Tokens,
    ) -> Result<u64, BlockError> {
        let mut wait = 0u64;
        // The waits of throttling checks, for their `on_cancel` if a later check refuses.
        let mut waits: smallvec::SmallVec<[(u32, u64); 2]> = smallvec::SmallVec::new();
        for (i, c) in self.checks.iter().enumerate() {
            match guarded(ctx.panics, || c.check(ctx)) {
                Some(Verdict::Pass) | None => {}
                Some(Verdict::PassWith(t)) => tokens.push((i as u32, t)),
                Some(Verdict::Wait(d)) => {
                    let ns = d.as_nanos().min(u64::MAX as u128) as u64;
                    wait = wait.max(ns);
                    if self.cancel_hooks {
                        waits.push((i as u32, ns));
                    }
                }
                Some(Verdict::Block(e)) => {
                    if self.cancel_hooks && i > 0 {
                        self.cancel(ctx, &self.checks[..i], tokens, &waits);
                    }
                    return Err(self.longest_wait(ctx, i, e));
                }
            }
        }
        Ok(wait)
    }

    /// Tells the checks that want to know that the entry passed and is counted.
    #[inline(always)]
    pub(crate) fn admitted(&self, ctx: &CheckContext<'_>) {
        if self.admitted_hooks {
            for c in self.checks.iter().filter(|c| c.needs_admitted()) {
                guarded(ctx.panics, || c.on_admitted(ctx));
            }
        }
    }

    /// The refusal of check `refused`, with the longest wait any other check hints at (a
    /// client told to wait for one limit must not meet another one still closed).
    #[inline]
    fn longest_wait(&self, ctx: &CheckContext<'_>, refused: usize, e: BlockError) -> BlockError {
        let Some(mut wait) = e.retry_after() else {
            return e;
        };
        if self.checks.len() == 1 {
            return e;
        }
        for (j, c) in self.checks.iter().enumerate() {
            if j != refused
                && let Some(Some(hint)) = guarded(ctx.panics, || c.retry_hint(ctx))
            {
                wait = wait.max(hint);
            }
        }
        e.with_retry_after(wait)
    }

    /// Lets the checks that passed a refused entry give back what they took, latest first.
    #[cold]
    fn cancel(
        &self,
        ctx: &CheckContext<'_>,
        passed: &[Arc<dyn Check>],
        tokens: &[(u32, u64)],
        waits: &[(u32, u64)],
    ) {
        for (j, earlier) in passed.iter().enumerate().rev() {
            if earlier.needs_cancel() {
                let token = token_of(tokens, j).or_else(|| token_of(waits, j));
                guarded(ctx.panics, || earlier.on_cancel(ctx, token));
            }
        }
    }

    /// Runs the exit hooks of an admitted entry.
    pub(crate) fn exit(&self, ctx: &mut ExitContext<'_>, tokens: &[(u32, u64)]) {
        for &i in self.exits.iter() {
            let Some(c) = self.checks.get(i as usize) else {
                continue;
            };
            ctx.token = token_of(tokens, i as usize);
            let ctx = &*ctx;
            guarded(ctx.check.panics, || c.on_exit(ctx));
        }
    }
}

/// Runs a hook of a check; a panic is counted, logged, and treated as "no objection".
#[inline]
fn guarded<R>(panics: &AtomicU64, f: impl FnOnce() -> R) -> Option<R> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => Some(r),
        Err(payload) => {
            panics.fetch_add(1, Ordering::Relaxed);
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".into());
            tracing::error!(panic = %crate::text::Escaped(&msg), "a sentinel check panicked; failing open");
            None
        }
    }
}
