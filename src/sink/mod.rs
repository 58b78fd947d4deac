//! Where kept messages go: the local agent over TCP or UDP ([`agent`]) and the HTTP sinks
//! ([`http`]), each behind its own bounded [`crate::buffer`]. Every kept message goes to every sink.

pub mod agent;
pub mod encode;
pub mod http;
pub mod records;
mod tcp_queues;

use crate::buffer::{Batch, BufferWriter, NotBuffered};

/// The listener side of every sink's buffer, in sink order (the order of the pipeline's encoders).
pub struct Sinks {
    writers: Vec<BufferWriter>,
}

impl Sinks {
    pub fn new(writers: Vec<BufferWriter>) -> Self {
        Sinks { writers }
    }

    /// One empty batch per sink.
    pub fn batches(&self) -> Vec<Batch> {
        self.writers.iter().map(|_| Batch::default()).collect()
    }

    /// Hands each sink its batch, waiting for room where a sink's buffer blocks (this is the
    /// backpressure on TCP readers). False once every sink has stopped.
    pub async fn send(&self, batches: &mut [Batch]) -> bool {
        let mut any_open = false;
        for (writer, batch) in self.writers.iter().zip(batches) {
            let batch = std::mem::take(batch);
            if batch.events == 0 {
                any_open = true;
                continue;
            }
            // A batch dropped under `drop_newest` is counted; only a stopped sink ends the reader.
            any_open |= writer.push(batch).await != Err(NotBuffered::Closed);
        }
        any_open
    }

    /// Never waits (UDP): returns how many events the fullest sink had to drop.
    pub fn try_send(&self, batches: &mut [Batch]) -> u64 {
        let mut dropped = 0;
        for (writer, batch) in self.writers.iter().zip(batches) {
            let batch = std::mem::take(batch);
            let events = batch.events;
            if events > 0 && writer.try_push(batch).is_err() {
                dropped = dropped.max(events);
            }
        }
        dropped
    }
}

impl Drop for Sinks {
    /// The last listener task is gone: the sinks drain what is buffered and stop.
    fn drop(&mut self) {
        for writer in &self.writers {
            writer.close();
        }
    }
}
