//! [`Driver`]: what an async end keeps between polls, and the loop that
//! drives a blocking end's non-blocking steps — try, look again or sleep
//! on its readiness — for receivers and senders alike.

use std::task::{Context, Poll};

use super::wait::{Again, Patience, Waiter};
use super::{io_fail, STEPS_BEFORE_YIELD};
use crate::endpoint::Endpoint;
use crate::error::Fail;
use crate::link::ready::Armed;
use crate::Stop;

/// What the async ends need of a blocking end: its readiness and stop.
pub(super) trait End {
    /// What an operation would wait on now; undone with [`End::disarm`].
    fn arm(&self) -> Armed;
    fn disarm(&self);
    fn endpoint(&self) -> &Endpoint;
    fn stop_handle(&self) -> Option<Stop>;
}

impl<T> End for crate::Receiver<T> {
    fn arm(&self) -> Armed {
        crate::Receiver::arm(self)
    }
    fn disarm(&self) {
        crate::Receiver::disarm(self);
    }
    fn endpoint(&self) -> &Endpoint {
        crate::Receiver::endpoint(self)
    }
    fn stop_handle(&self) -> Option<Stop> {
        crate::Receiver::stop_handle(self)
    }
}

impl<T> End for crate::Sender<T> {
    fn arm(&self) -> Armed {
        crate::Sender::arm(self)
    }
    fn disarm(&self) {
        crate::Sender::disarm(self);
    }
    fn endpoint(&self) -> &Endpoint {
        crate::Sender::endpoint(self)
    }
    fn stop_handle(&self) -> Option<Stop> {
        crate::Sender::stop_handle(self)
    }
}

/// One async end's state between polls.
#[derive(Debug)]
pub(super) struct Driver {
    waiter: Waiter,
    /// The end announced a sleeper (a ring's doorbell): undone before the
    /// next try, and on drop.
    armed: bool,
    stop: Option<Stop>,
    patience: Patience,
    /// A shared-memory end: worth a few looks in place before yielding.
    ring: bool,
}

impl Driver {
    pub(super) fn new(end: &impl End) -> Driver {
        Driver {
            waiter: Waiter::default(),
            armed: false,
            stop: end.stop_handle(),
            patience: Patience::of(end.endpoint().options().wait),
            ring: end.endpoint().scheme() == crate::Scheme::Shm,
        }
    }

    pub(super) fn set_stop(&mut self, stop: &Stop) {
        self.stop = Some(stop.clone());
    }

    pub(super) fn disarm(&mut self, end: &impl End) {
        if std::mem::take(&mut self.armed) {
            end.disarm();
        }
    }

    /// Tries `attempt` (`Ok(None)`: not now) until it gives an answer,
    /// sleeping in between on what `end` is ready on; `doing` names the
    /// operation in an error.
    pub(super) fn poll<E: End, R>(
        &mut self,
        cx: &mut Context<'_>,
        end: &E,
        doing: &str,
        mut attempt: impl FnMut(&E) -> Result<Option<R>, Fail>,
    ) -> Poll<Result<R, Fail>> {
        for _ in 0..STEPS_BEFORE_YIELD {
            self.disarm(end);
            match attempt(end) {
                Ok(None) => {}
                Ok(Some(got)) => {
                    self.waiter.rest();
                    return Poll::Ready(Ok(got));
                }
                Err(fail) => {
                    self.waiter.rest();
                    return Poll::Ready(Err(fail));
                }
            }
            match self.waiter.next_try(cx, self.patience, self.ring) {
                Again::Now => continue,
                Again::Soon => return Poll::Pending,
                Again::Sleep => {}
            }
            let armed = end.arm();
            self.armed = !matches!(armed, Armed::Now);
            match self.waiter.poll(cx, armed, self.stop.as_ref()) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => {
                    self.disarm(end);
                    return Poll::Ready(Err(io_fail(doing, e)));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        // Ready over and over with nothing to take: let others run.
        self.disarm(end);
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}
