//! The resolver thread: sleeps until a host name is due (its
//! `resolve_interval`, or sooner by the DNS answer's TTL), resolves the due
//! names without holding the publish lock (a slow DNS server delays nothing
//! else), and hands the answers to the publisher. One thread per server;
//! it is not joined at stop (a blocking resolution may take the resolver's
//! own timeout), it ends at its next wake-up.

use std::sync::Arc;

use super::Publisher;
use crate::discovery::resolve;
use crate::Error;

pub fn spawn(p: Arc<Publisher>) -> Result<(), Error> {
    std::thread::Builder::new()
        .name("resolver".into())
        .spawn(move || run(&p))?;
    Ok(())
}

fn run(p: &Publisher) {
    while let Some((due, resolver)) = p.wait_due() {
        let results = due
            .into_iter()
            .map(|host| {
                let outcome = resolve(&resolver, &host);
                (host, outcome)
            })
            .collect();
        p.refreshed(results);
    }
}
