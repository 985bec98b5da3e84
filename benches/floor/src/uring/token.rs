//! `user_data`: which connection, which incarnation of its slot, which
//! operation and, for sends, which buffer a completion belongs to.
//!
//! The generation turns completions that arrive after a connection closed
//! (the kernel may already have given its file slot to a new connection)
//! into stale ones instead of misrouted ones; the buffer id lets even a stale
//! send completion return its buffer to the ring.

/// One side of a proxied connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    Client,
    Upstream,
}

impl Peer {
    pub fn other(self) -> Peer {
        match self {
            Peer::Client => Peer::Upstream,
            Peer::Upstream => Peer::Client,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Accept,
    Connect,
    Recv(Peer),
    Send(Peer),
    Cancel,
    Close,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub op: Op,
    pub slot: u16,
    pub gen: u16,
    pub bid: u16,
}

impl Token {
    pub fn new(op: Op, slot: u16, gen: u16) -> Token {
        Token {
            op,
            slot,
            gen,
            bid: 0,
        }
    }

    pub fn with_bid(self, bid: u16) -> Token {
        Token { bid, ..self }
    }

    /// Op codes start at 1, so a zeroed `user_data` never decodes.
    pub fn encode(self) -> u64 {
        let op: u64 = match self.op {
            Op::Accept => 1,
            Op::Connect => 2,
            Op::Recv(Peer::Client) => 3,
            Op::Recv(Peer::Upstream) => 4,
            Op::Send(Peer::Client) => 5,
            Op::Send(Peer::Upstream) => 6,
            Op::Cancel => 7,
            Op::Close => 8,
        };
        op | u64::from(self.bid) << 8 | u64::from(self.gen) << 24 | u64::from(self.slot) << 40
    }

    pub fn decode(v: u64) -> Option<Token> {
        let op = match v & 0xff {
            1 => Op::Accept,
            2 => Op::Connect,
            3 => Op::Recv(Peer::Client),
            4 => Op::Recv(Peer::Upstream),
            5 => Op::Send(Peer::Client),
            6 => Op::Send(Peer::Upstream),
            7 => Op::Cancel,
            8 => Op::Close,
            _ => return None,
        };
        Some(Token {
            op,
            bid: (v >> 8) as u16,
            gen: (v >> 24) as u16,
            slot: (v >> 40) as u16,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{Op, Peer, Token};

    #[test]
    fn every_field_round_trips() {
        let ops = [
            Op::Accept,
            Op::Connect,
            Op::Recv(Peer::Client),
            Op::Recv(Peer::Upstream),
            Op::Send(Peer::Client),
            Op::Send(Peer::Upstream),
            Op::Cancel,
            Op::Close,
        ];
        for op in ops {
            for (slot, gen, bid) in [(0, 0, 0), (u16::MAX, u16::MAX, u16::MAX), (4095, 1, 511)] {
                let t = Token::new(op, slot, gen).with_bid(bid);
                assert_eq!(Token::decode(t.encode()), Some(t));
            }
        }
        assert_eq!(Token::decode(0), None);
    }
}
