//! Fuzz target: any byte stream, cut into arbitrary reads, through the MLLP decoder: no
//! panic, every frame within the size limit, and the frames decoded do not depend on how
//! the stream was cut.
#![no_main]

use accord_hl7::mllp::{Frame, MllpCodec};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use tokio_util::codec::Decoder;

fn decode(data: &[u8], cut: usize) -> Vec<Frame> {
    let mut codec = MllpCodec::new(256);
    let mut buf = BytesMut::new();
    let mut out = vec![];
    for chunk in data.chunks(cut.max(1)) {
        buf.extend_from_slice(chunk);
        while let Ok(Some(f)) = codec.decode(&mut buf) {
            if let Frame::Message(m) = &f {
                assert!(m.len() <= 256);
            }
            out.push(f);
        }
    }
    out
}

fuzz_target!(|input: (u8, Vec<u8>)| {
    let (cut, data) = input;
    let whole = decode(&data, data.len());
    let pieces = decode(&data, cut as usize % 17 + 1);
    assert_eq!(whole, pieces);
});
