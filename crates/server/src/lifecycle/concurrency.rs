//! The select phase's admission under the upstream's adaptive concurrency
//! limit (`[upstream.adaptive_concurrency]`, per shard): once per request,
//! before its first attempt; over the limit the request is shed at once with
//! the configured status, never queued. The RTT sample is the time from the
//! last attempt's request sent to its response head (`sent`, then
//! `Attempts::answered`); failures, timeouts, 5xx and 429 give none.

use shardgate_proxy::{Error, ErrorKind, Shed};

use super::Attempts;

impl Attempts<'_> {
    /// Takes a place under the upstream's limit, if it has one.
    pub fn admit(&mut self) -> Result<(), Error> {
        let ust = self.ust;
        let Some(adaptive) = ust.adaptive.as_deref() else {
            return Ok(());
        };
        match adaptive.try_acquire() {
            Some(slot) => {
                self.slot = Some(slot);
                Ok(())
            }
            None => Err(Error::new(ErrorKind::Shed {
                reason: Shed::Concurrency,
                status: adaptive.status(),
            })),
        }
    }

    /// An attempt's request went out: its RTT starts now (a clock read
    /// only when the upstream has a limit).
    pub fn sent(&mut self) {
        if let Some(slot) = &mut self.slot {
            slot.sent();
        }
    }
}
