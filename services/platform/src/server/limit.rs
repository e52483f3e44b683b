//! Concurrency limits learned per method from its latency, so that under overload a method
//! keeps only as many calls in flight as it can serve without queueing, and the rest are
//! refused at once. The rule is TCP Vegas's, as Netflix's concurrency-limits applies it: from
//! the latency without load and the latency now, estimate how many calls are queued, and grow
//! the limit while that queue is short, shrink it while it is long.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

// Tokio's clock, which is the system's in production: on a paused test clock the limit learns
// from simulated time alone, whatever else the machine is doing.
use tokio::time::Instant;

/// Where every method's limit starts: enough for a burst to an idle server.
pub(crate) const INITIAL_LIMIT: f64 = 64.0;

/// The fewest calls a method is ever limited to, however slow it turns.
const MIN_LIMIT: f64 = 8.0;

/// The latency without load is the least seen over the last one or two of these windows, so
/// that it follows a database that has grown slower for good.
const BASELINE_WINDOW: Duration = Duration::from_secs(10);

/// Methods tracked one by one; calls to paths beyond these (a scan of made-up names) share
/// one limit, so that the table cannot grow without end.
const MAX_METHODS: usize = 1024;

/// How a call ended, as far as its method's limit is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Served: its latency is a sample.
    Served,
    /// Ran out of its deadline: the method is overloaded.
    Dropped,
    /// Refused by the handler (bad input, not found, ...): its latency says nothing of load,
    /// and a flood of fast refusals must not teach the limit that calls are fast.
    Ignored,
}

/// Every method's limit.
#[derive(Debug)]
pub(crate) struct Limits {
    max: f64,
    methods: Mutex<HashMap<String, Arc<Mutex<Learned>>>>,
    overflow: Arc<Mutex<Learned>>,
}

impl Limits {
    /// Limits that never exceed `max` calls in flight per method.
    pub(crate) fn new(max: usize) -> Self {
        let max = (max as f64).max(MIN_LIMIT);
        Self {
            max,
            methods: Mutex::new(HashMap::new()),
            overflow: Arc::new(Mutex::new(Learned::new(max))),
        }
    }

    /// A place for a call to `path`; when its method is at its limit, how long the caller
    /// should wait before trying again.
    pub(crate) fn admit(&self, path: &str) -> Result<Admitted, Duration> {
        let method = {
            let mut methods = lock(&self.methods);
            match methods.get(path) {
                Some(method) => method.clone(),
                None if methods.len() < MAX_METHODS => methods
                    .entry(path.to_owned())
                    .or_insert_with(|| Arc::new(Mutex::new(Learned::new(self.max))))
                    .clone(),
                None => self.overflow.clone(),
            }
        };
        let (in_flight, generation) = lock(&method).admit()?;
        Ok(Admitted {
            method,
            in_flight,
            generation,
            started: Instant::now(),
            outcome: Outcome::Ignored,
        })
    }

    /// What the limit of `path` is now; for tests and the retry advice.
    #[cfg(test)]
    pub(crate) fn limit_of(&self, path: &str) -> Option<f64> {
        lock(&self.methods).get(path).map(|m| lock(m).limit)
    }
}

/// A call admitted under its method's limit. Its place comes back when it is dropped, so
/// that a call whose caller went away (its future dropped mid-handler when the stream is
/// reset or the connection closes) cannot keep the place for ever; [`Admitted::finish`] says
/// how it ended first.
#[derive(Debug)]
pub(crate) struct Admitted {
    method: Arc<Mutex<Learned>>,
    /// Calls of the method in flight when this one was admitted, itself included.
    in_flight: usize,
    /// The limit's generation when this call was admitted.
    generation: u64,
    started: Instant,
    /// Until told otherwise, a call that was abandoned: nothing to learn from it.
    outcome: Outcome,
}

impl Admitted {
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let latency = self.started.elapsed();
        lock(&self.method).finish(latency, self.in_flight, self.generation, self.outcome);
    }
}

/// One method's learned limit.
#[derive(Debug)]
struct Learned {
    limit: f64,
    max: f64,
    in_flight: usize,
    /// Counts the limit's changes. A call admitted before the last change measured the old
    /// limit's queue: letting it change the limit again would shrink it once per call of
    /// that queue instead of once, and starve the method.
    generation: u64,
    baseline: Baseline,
}

impl Learned {
    fn new(max: f64) -> Self {
        Self {
            limit: INITIAL_LIMIT.min(max),
            max,
            in_flight: 0,
            generation: 0,
            baseline: Baseline::default(),
        }
    }

    fn admit(&mut self) -> Result<(usize, u64), Duration> {
        if self.in_flight as f64 >= self.limit.floor() {
            // Long enough for the calls in flight to have finished, were they served
            // without a queue.
            let base = self.baseline.least().unwrap_or(Duration::from_millis(10));
            return Err((base * 4).clamp(Duration::from_millis(20), Duration::from_secs(1)));
        }
        self.in_flight += 1;
        Ok((self.in_flight, self.generation))
    }

    fn finish(&mut self, latency: Duration, in_flight: usize, generation: u64, outcome: Outcome) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let step = self.limit.log10().max(1.0);
        match outcome {
            Outcome::Ignored => {}
            Outcome::Dropped if generation == self.generation => {
                self.set((self.limit - step).max(MIN_LIMIT));
            }
            Outcome::Dropped => {}
            Outcome::Served => {
                let Some(base) = self.baseline.observe(latency, Instant::now()) else {
                    return;
                };
                if generation != self.generation {
                    return;
                }
                // A method used below half its limit says nothing about where the limit
                // should be: growing it then would only let a later burst queue.
                if (in_flight as f64) * 2.0 < self.limit {
                    return;
                }
                let queued =
                    (self.limit * (1.0 - base.as_secs_f64() / latency.as_secs_f64())).ceil();
                // What the limit learns from, for when a method is held lower than it serves.
                tracing::trace!(
                    limit = self.limit,
                    in_flight,
                    latency_us = latency.as_micros() as u64,
                    base_us = base.as_micros() as u64,
                    queued,
                    "concurrency limit sample"
                );
                let next = if queued <= step {
                    self.limit + 6.0 * step
                } else if queued < 3.0 * step {
                    self.limit + step
                } else if queued > 6.0 * step {
                    self.limit - step
                } else {
                    return;
                };
                self.set(next.clamp(MIN_LIMIT, self.max));
            }
        }
    }

    fn set(&mut self, limit: f64) {
        if limit != self.limit {
            self.limit = limit;
            self.generation += 1;
        }
    }
}

/// The least latency of the current window and the one before.
#[derive(Debug, Default)]
struct Baseline {
    current: Option<Duration>,
    previous: Option<Duration>,
    window_start: Option<Instant>,
}

impl Baseline {
    /// Takes a sample; the baseline now.
    fn observe(&mut self, latency: Duration, now: Instant) -> Option<Duration> {
        let start = *self.window_start.get_or_insert(now);
        if now.duration_since(start) >= BASELINE_WINDOW {
            self.previous = self.current.take();
            self.window_start = Some(now);
        }
        self.current = Some(self.current.map_or(latency, |c| c.min(latency)));
        self.least()
    }

    fn least(&self) -> Option<Duration> {
        match (self.current, self.previous) {
            (Some(c), Some(p)) => Some(c.min(p)),
            (c, p) => c.or(p),
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding a limit leaves numbers, not broken invariants.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queue_shrinks_the_limit_and_no_queue_grows_it() {
        let mut method = Learned::new(512.0);
        method.in_flight = 64;
        // The latency without load: 10 ms.
        method.finish(
            Duration::from_millis(10),
            64,
            method.generation,
            Outcome::Served,
        );
        let start = method.limit;
        for _ in 0..20 {
            method.in_flight += 1;
            method.finish(
                Duration::from_millis(40),
                64,
                method.generation,
                Outcome::Served,
            );
        }
        assert!(
            method.limit < start,
            "four times the latency without load: {} from {start}",
            method.limit
        );
        let shrunk = method.limit;
        for _ in 0..5 {
            method.in_flight += 1;
            method.finish(
                Duration::from_millis(10),
                64,
                method.generation,
                Outcome::Served,
            );
        }
        assert!(method.limit > shrunk, "no queue: the limit grows again");
    }

    #[test]
    fn refusals_teach_nothing_and_idle_methods_do_not_grow() {
        let mut method = Learned::new(512.0);
        method.in_flight = 1;
        method.finish(Duration::from_millis(10), 1, 0, Outcome::Served);
        assert_eq!(method.limit, INITIAL_LIMIT, "one call in flight of 64");
        for _ in 0..100 {
            method.in_flight += 1;
            method.finish(Duration::from_micros(50), 64, 0, Outcome::Ignored);
        }
        assert_eq!(method.baseline.current, Some(Duration::from_millis(10)));
        method.in_flight += 1;
        method.finish(Duration::from_secs(5), 64, 0, Outcome::Dropped);
        assert!(
            method.limit < INITIAL_LIMIT,
            "a call out of time shrinks it"
        );
    }

    #[test]
    fn made_up_paths_share_one_limit_beyond_the_table() {
        let limits = Limits::new(512);
        for n in 0..MAX_METHODS + 10 {
            limits
                .admit(&format!("/x.Y/M{n}"))
                .unwrap()
                .finish(Outcome::Ignored);
        }
        assert_eq!(lock(&limits.methods).len(), MAX_METHODS);
        assert!(limits.limit_of("/x.Y/M0").is_some());
    }
}
