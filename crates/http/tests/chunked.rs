//! Chunked framing tracker through the public API.

use shardgate_http::{ChunkedDecoder, Error, Feed};

/// Feeds the whole input at once; returns (consumed, done) or the error.
fn feed_all(input: &[u8]) -> Result<Feed, Error> {
    ChunkedDecoder::new().feed(input)
}

/// Feeds one byte at a time; returns where the message ended, if it did.
fn feed_bytewise(input: &[u8]) -> Result<Option<usize>, Error> {
    let mut dec = ChunkedDecoder::new();
    for (i, b) in input.iter().enumerate() {
        let feed = dec.feed(std::slice::from_ref(b))?;
        assert_eq!(feed.consumed, 1, "byte {i} belongs to the message");
        if feed.done {
            assert!(dec.is_done());
            return Ok(Some(i + 1));
        }
        assert!(!dec.is_done());
    }
    Ok(None)
}

const VALID: &[&[u8]] = &[
    b"0\r\n\r\n",
    b"5\r\nhello\r\n0\r\n\r\n",
    b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    b"A\r\n0123456789\r\n0\r\n\r\n",
    b"a\r\n0123456789\r\n00\r\n\r\n",
    b"5;name=value\r\nhello\r\n0;last\r\n\r\n",
    b"5 ;name\r\nhello\r\n0\t; x=\"quoted; \\\" str\"\r\n\r\n",
    b"5; a = b ;c;d=\"\"\r\nhello\r\n0;n=\"\\\\\\\"\"\r\n\r\n",
    b"1;a=\"\x80\tq\"\r\nx\r\n0\r\n\r\n",
    b"5\r\nhello\r\n0\r\nExpires: never\r\nX-Checksum: abc\r\n\r\n",
    b"0\r\nEmpty:\r\n\r\n",
    b"0000000000000010\r\n0123456789abcdef\r\n0\r\n\r\n",
];

#[test]
fn valid_bodies_end_exactly() {
    for body in VALID {
        let mut with_next = body.to_vec();
        with_next.extend_from_slice(b"GET / HTTP/1.1\r\n");
        let feed = feed_all(&with_next).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        assert_eq!(
            feed,
            Feed {
                consumed: body.len(),
                done: true
            },
            "{:?}",
            String::from_utf8_lossy(body)
        );
        assert_eq!(feed_bytewise(body), Ok(Some(body.len())));
    }
}

#[test]
fn every_split_point_gives_the_same_result() {
    let body = b"5;e=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nT: v\r\n\r\nNEXT";
    let end = body.len() - 4;
    for split in 0..=body.len() {
        let mut dec = ChunkedDecoder::new();
        let first = dec.feed(&body[..split]).unwrap();
        if split < end {
            assert_eq!(
                first,
                Feed {
                    consumed: split,
                    done: false
                }
            );
            let second = dec.feed(&body[split..]).unwrap();
            assert_eq!(
                second,
                Feed {
                    consumed: end - split,
                    done: true
                }
            );
        } else {
            assert_eq!(
                first,
                Feed {
                    consumed: end,
                    done: true
                }
            );
        }
        assert!(dec.is_done());
        assert_eq!(dec.data_len(), 5 + 26);
        // once done, nothing more belongs to the message
        assert_eq!(
            dec.feed(b"more").unwrap(),
            Feed {
                consumed: 0,
                done: true
            }
        );
    }
}

#[test]
fn partial_body_consumes_everything() {
    let mut dec = ChunkedDecoder::new();
    assert_eq!(
        dec.feed(b"").unwrap(),
        Feed {
            consumed: 0,
            done: false
        }
    );
    assert_eq!(
        dec.feed(b"10\r\nabc").unwrap(),
        Feed {
            consumed: 7,
            done: false
        }
    );
    assert_eq!(dec.data_len(), 3);
    assert!(!dec.is_done());
}

#[test]
fn invalid_framing_is_rejected() {
    let invalid: &[&[u8]] = &[
        b"\r\n",                         // no size
        b"g\r\n",                        // not hex
        b"0x5\r\nhello\r\n0\r\n\r\n",    // prefix
        b"+5\r\nhello\r\n0\r\n\r\n",     // sign
        b"-5\r\n",                       //
        b" 5\r\nhello\r\n0\r\n\r\n",     // leading space
        b"5 \r\nhello\r\n0\r\n\r\n",     // trailing BWS without extension
        b"5\nhello\r\n0\r\n\r\n",        // bare LF after size
        b"5\r\rhello",                   // CR CR
        b"5;a\nb\r\nhello\r\n0\r\n\r\n", // bare LF in extension
        b"5;a\0\r\nhello\r\n0\r\n\r\n",  // NUL in extension
        // RFC 9112 §7.1.1's grammar, not just its alphabet:
        b"5;\r\nhello\r\n0\r\n\r\n",           // no name
        b"5;=v\r\nhello\r\n0\r\n\r\n",         // no name before =
        b"5;a=\r\nhello\r\n0\r\n\r\n",         // no value after =
        b"5;a b\r\nhello\r\n0\r\n\r\n",        // two names
        b"5;a \r\nhello\r\n0\r\n\r\n",         // BWS before CRLF
        b"5;a=b c\r\nhello\r\n0\r\n\r\n",      // two values
        b"5;a=b \r\nhello\r\n0\r\n\r\n",       // BWS after a value
        b"5;a=\"b\r\nhello\r\n0\r\n\r\n",      // unterminated quote
        b"5;a=\"b\"c\r\nhello\r\n0\r\n\r\n",   // junk after a quote
        b"5;a=\"\r\n\"\r\nhello\r\n0\r\n\r\n", // CRLF in a quote
        b"5;a=\"\\\n\"\r\nhello\r\n0\r\n\r\n", // escaped LF
        b"5;a=b=c\r\nhello\r\n0\r\n\r\n",      // = in a token
        b"5;a(b)\r\nhello\r\n0\r\n\r\n",       // delimiter in a name
        b"5;a=\x80\r\nhello\r\n0\r\n\r\n",     // obs-text outside quotes
        b"5\r\nhelloX\r\n0\r\n\r\n",           // data longer than size
        b"5\r\nhello\n0\r\n\r\n",              // bare LF after data
        b"5\r\nhello\r0\r\n\r\n",              // CR without LF after data
        b"0\r\n\n",                            // bare LF final line
        b"0\r\n\rX",                           // CR not followed by LF
        b"0\r\nX: y\n\r\n",                    // bare LF in trailer
        b"0\r\n X: y\r\n\r\n",                 // obs-fold in trailer
        b"0\r\nX : y\r\n\r\n",                 // space before colon
        b"0\r\n: y\r\n\r\n",                   // empty name
        b"0\r\nNoColon\r\n\r\n",               // no colon
        b"0\r\nX: a\x01b\r\n\r\n",             // control char in trailer
        b"10000000000000000\r\n",              // 17 hex digits
        b"00000000000000000\r\n",              // 17 digits even if zero
    ];
    for input in invalid {
        let whole = feed_all(input);
        assert!(
            whole.is_err(),
            "{:?} accepted: {whole:?}",
            String::from_utf8_lossy(input)
        );
        assert!(
            feed_bytewise(input).is_err(),
            "{:?} accepted bytewise",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn errors_are_sticky() {
    let mut dec = ChunkedDecoder::new();
    let err = dec.feed(b"z").unwrap_err();
    assert_eq!(err.status(), 400);
    assert_eq!(dec.feed(b"0\r\n\r\n"), Err(err));
    assert!(!dec.is_done());
}

#[test]
fn largest_chunk_size_is_accepted() {
    let mut dec = ChunkedDecoder::new();
    let feed = dec.feed(b"FFFFFFFFFFFFFFFF\r\nabc").unwrap();
    assert_eq!(
        feed,
        Feed {
            consumed: 21,
            done: false
        }
    );
    assert_eq!(dec.data_len(), 3);
}

#[test]
fn size_line_is_bounded() {
    let mut ok = b"1;".to_vec();
    ok.extend(std::iter::repeat_n(b'x', 4096 - 2));
    ok.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
    assert!(feed_all(&ok).unwrap().done);

    let mut long = b"1;".to_vec();
    long.extend(std::iter::repeat_n(b'x', 4096 - 1));
    long.extend_from_slice(b"\r\na\r\n0\r\n\r\n");
    assert_eq!(
        feed_all(&long),
        Err(Error::Chunked("chunk-size line too long"))
    );
    // the bound is per line, not per body
    let mut many = Vec::new();
    for _ in 0..3 {
        many.extend_from_slice(b"1;");
        many.extend(std::iter::repeat_n(b'x', 4000));
        many.extend_from_slice(b"\r\na\r\n");
    }
    many.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        feed_all(&many).unwrap(),
        Feed {
            consumed: many.len(),
            done: true
        }
    );
}

#[test]
fn trailers_are_bounded() {
    let mut ok = b"0\r\n".to_vec();
    // 16 KiB total: one field line of 16 KiB - 2 (final CRLF) bytes incl. its CRLF
    ok.extend_from_slice(b"X: ");
    ok.extend(std::iter::repeat_n(b'v', 16 * 1024 - 2 - 2 - 3));
    ok.extend_from_slice(b"\r\n\r\n");
    assert_eq!(
        feed_all(&ok).unwrap(),
        Feed {
            consumed: ok.len(),
            done: true
        }
    );

    let mut big = b"0\r\n".to_vec();
    big.extend_from_slice(b"X: ");
    big.extend(std::iter::repeat_n(b'v', 16 * 1024 - 2 - 2 - 3 + 1));
    big.extend_from_slice(b"\r\n\r\n");
    assert_eq!(
        feed_all(&big),
        Err(Error::Chunked("trailer section too large"))
    );
}
