//! The threads jq programs run on: each with a large stack (reserved, not committed), kept
//! for the next program once its own ends, so that a transform step costs no thread spawn
//! (nor the mapping and unmapping of its stack).
//!
//! At most [`MAX_IDLE`] wait idle; more run when more programs run at once (the engine's
//! workers bound that), and end with their program. A thread whose program failed (stopped by
//! the guard, perhaps deep in its stack) or ran long ends too, rather than keep the stack pages
//! that program touched resident.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

/// A program's run, to be done on a jq thread; `true` when it ended well.
pub(crate) type Job = Box<dyn FnOnce() -> bool + Send + 'static>;

/// Threads kept idle at most.
const MAX_IDLE: usize = 16;
/// A program that ran longer than this may have grown its stack: its thread is not kept.
const KEEP_IF_UNDER: Duration = Duration::from_millis(50);

/// Idle jq threads, each waiting on its own channel.
#[derive(Default)]
pub(crate) struct JqThreads {
    idle: std::sync::Arc<Mutex<Vec<Sender<Job>>>>,
}

impl JqThreads {
    /// Runs `job` on an idle thread, or on a new one (of `stack_bytes`) when none is idle.
    pub(crate) fn run(&self, job: Job, stack_bytes: usize) -> std::io::Result<()> {
        let mut job = job;
        loop {
            let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
            let Some(thread) = idle else { break };
            match thread.send(job) {
                Ok(()) => return Ok(()),
                // That thread has ended: try another.
                Err(returned) => job = returned.0,
            }
        }
        let (sender, receiver) = channel();
        let idle = self.idle.clone();
        std::thread::Builder::new()
            .name("baton-jq".into())
            .stack_size(stack_bytes)
            .spawn(move || serve(job, sender, receiver, &idle))
            .map(|_| ())
    }
}

/// Runs `first`, then each job sent to this thread while it is kept idle.
fn serve(first: Job, sender: Sender<Job>, receiver: Receiver<Job>, idle: &Mutex<Vec<Sender<Job>>>) {
    let mut job = first;
    loop {
        let began = Instant::now();
        let ended_well = job();
        if !ended_well || began.elapsed() > KEEP_IF_UNDER {
            return;
        }
        match idle.lock() {
            Ok(mut threads) if threads.len() < MAX_IDLE => threads.push(sender.clone()),
            _ => return,
        }
        match receiver.recv() {
            Ok(next) => job = next,
            Err(_) => return,
        }
    }
}
