//! Max-Forwards, right after route (RFC 9110 §7.6.2): an OPTIONS or TRACE
//! request the route would forward is answered by the gateway when its count
//! is zero, and refused (400) when the count is not one number. The count
//! is decremented as the upstream head is written (`shardgate_proxy`).

use shardgate_proxy::{max_forwards, Error, ErrorKind, FinalAnswer};

use super::{Decision, RequestCtx, RequestView};

pub fn apply<'s>(
    rq: &mut RequestCtx,
    view: &RequestView<'_>,
    decision: Decision<'s>,
) -> Result<Decision<'s>, Error> {
    let Decision::Proxy(route, _) = decision else {
        return Ok(decision);
    };
    let Some(answer) = FinalAnswer::for_method(view.method) else {
        return Ok(decision);
    };
    let (mut fields, mut count) = (0u32, None);
    view.headers.find_map("max-forwards", |v| {
        fields += 1;
        count = max_forwards(v);
        // Every field is looked at: two of them are refused.
        None::<()>
    });
    match (fields, count) {
        (0, _) => Ok(decision),
        (1, Some(0)) => {
            // Nothing goes upstream.
            rq.upstream = None;
            Ok(Decision::Final(route, answer))
        }
        (1, Some(_)) => Ok(decision),
        // Apache refuses these too: which count would be meant is a guess.
        _ => Err(Error::new(ErrorKind::ClientMalformed { status: 400 })),
    }
}
