//! The MLLP frame codec: `0x0B message 0x1C 0x0D`. Handles split reads and several frames
//! per read, skips stray bytes between frames (keep-alives, line breaks), and bounds
//! frame size: an oversized frame is discarded up to its end and reported with its first
//! bytes, so the server can still NACK it by its MSH and carry on with the connection.

use bytes::{Buf, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

pub const START: u8 = 0x0B;
pub const END: [u8; 2] = [0x1C, 0x0D];

/// How much of an oversized frame is kept for the NACK (at most the frame limit, so the
/// head is the same however the stream was cut into reads).
const HEAD_KEPT: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    Message(Bytes),
    /// A frame over the size limit: its first bytes and its total size.
    Oversized {
        head: Bytes,
        size: usize,
    },
}

#[derive(Debug)]
pub struct MllpCodec {
    max_frame: usize,
    /// Inside an oversized frame: bytes discarded so far, and its head.
    discarding: Option<(usize, Bytes)>,
    /// Bytes skipped outside frames since the last frame (for logging).
    pub stray_bytes: usize,
    /// How much of the frame being read (from its start byte) has been searched for the
    /// end marker already: each read searches only the bytes it brought, so a frame that
    /// arrives a byte at a time costs linear time, not quadratic.
    scanned: usize,
}

impl MllpCodec {
    fn head_len(&self) -> usize {
        HEAD_KEPT.min(self.max_frame)
    }

    pub fn new(max_frame: usize) -> MllpCodec {
        MllpCodec {
            max_frame,
            discarding: None,
            stray_bytes: 0,
            scanned: 0,
        }
    }
}

impl Default for MllpCodec {
    fn default() -> Self {
        MllpCodec::new(16 << 20)
    }
}

fn find_end(buf: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(p) = memchr::memchr(END[0], &buf[i..]) {
        let at = i + p;
        match buf.get(at + 1) {
            Some(&b) if b == END[1] => return Some(at),
            Some(_) => i = at + 1,
            None => return None,
        }
    }
    None
}

impl Decoder for MllpCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, std::io::Error> {
        if let Some((discarded, head)) = self.discarding.take() {
            match find_end(buf, 0) {
                Some(end) => {
                    buf.advance(end + 2);
                    return Ok(Some(Frame::Oversized {
                        head,
                        size: discarded + end,
                    }));
                }
                None => {
                    // Keep the last byte: it may be the 0x1C of a split end marker.
                    let drop = buf.len().saturating_sub(1);
                    buf.advance(drop);
                    self.discarding = Some((discarded + drop, head));
                    return Ok(None);
                }
            }
        }
        let Some(start) = memchr::memchr(START, buf) else {
            self.stray_bytes += buf.len();
            buf.clear();
            self.scanned = 0;
            return Ok(None);
        };
        if start > 0 {
            self.stray_bytes += start;
            buf.advance(start);
            self.scanned = 0;
        }
        // A 0x1C last searched may be the first half of an end marker whose 0x0D came now.
        let from = self.scanned.saturating_sub(1).max(1);
        let found = find_end(buf, from);
        self.scanned = match found {
            Some(_) => 0,
            None => buf.len(),
        };
        match found {
            Some(end) if end - 1 <= self.max_frame => {
                let frame = buf.split_to(end + 2);
                Ok(Some(Frame::Message(frame.freeze().slice(1..end))))
            }
            Some(end) => {
                let head = Bytes::copy_from_slice(&buf[1..1 + self.head_len().min(end - 1)]);
                buf.advance(end + 2);
                Ok(Some(Frame::Oversized {
                    head,
                    size: end - 1,
                }))
            }
            // A trailing 0x1C may be the first half of the end marker: it does not count yet.
            None if buf.len() - 1 - usize::from(buf.last() == Some(&END[0])) > self.max_frame => {
                // More than `max_frame` bytes are buffered, so the whole head is here.
                let head = Bytes::copy_from_slice(&buf[1..1 + self.head_len()]);
                let drop = buf.len() - 1;
                buf.advance(drop);
                self.discarding = Some((drop - 1, head));
                self.scanned = 0;
                Ok(None)
            }
            // The read buffer grows with what arrives (the framed reader reserves as it
            // reads); nothing is reserved here ahead of the bytes.
            None => Ok(None),
        }
    }
}

impl Encoder<&[u8]> for MllpCodec {
    type Error = std::io::Error;

    fn encode(&mut self, msg: &[u8], dst: &mut BytesMut) -> Result<(), std::io::Error> {
        dst.reserve(msg.len() + 3);
        dst.extend_from_slice(&[START]);
        dst.extend_from_slice(msg);
        dst.extend_from_slice(&END);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(codec: &mut MllpCodec, chunks: &[&[u8]]) -> Vec<Frame> {
        let mut buf = BytesMut::new();
        let mut out = vec![];
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
        }
        out
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn split_reads_and_several_frames_per_read() {
        let mut c = MllpCodec::default();
        let frames = decode_all(
            &mut c,
            &[
                b"\x0bMSH|A",
                b"|B\r\x1c",
                b"\r\x0bMSH|C\r\x1c\r\x0bMSH|D\r\x1c\r",
            ],
        );
        assert_eq!(
            frames,
            vec![msg("MSH|A|B\r"), msg("MSH|C\r"), msg("MSH|D\r")]
        );
    }

    #[test]
    fn stray_bytes_between_frames_are_skipped() {
        let mut c = MllpCodec::default();
        let frames = decode_all(&mut c, &[b"\r\n\x0bMSH|A\x1c\r junk \n\x0bMSH|B\x1c\r"]);
        assert_eq!(frames, vec![msg("MSH|A"), msg("MSH|B")]);
        assert_eq!(c.stray_bytes, 2 + 7);
    }

    #[test]
    fn security_a_trickled_frame_is_searched_once() {
        // 0x1C bytes that are not end markers, a byte a read: each read searches only what
        // it brought (the whole buffer each time was quadratic), and the frames are those
        // of one read.
        let stream = format!("\x0bMSH|{}\x1c\r\x0bMSH|B\x1c\r", "\x1cA".repeat(2000));
        let whole = decode_all(&mut MllpCodec::default(), &[stream.as_bytes()]);
        let mut c = MllpCodec::default();
        let mut buf = BytesMut::new();
        let mut frames = vec![];
        for b in stream.as_bytes() {
            buf.extend_from_slice(&[*b]);
            while let Some(f) = c.decode(&mut buf).unwrap() {
                frames.push(f);
            }
            assert!(c.scanned == buf.len() || c.scanned == 0);
        }
        assert_eq!(frames, whole);
        assert_eq!(frames.len(), 2);
        // The end marker split over two reads, after a stretch already searched.
        let split = decode_all(&mut MllpCodec::default(), &[b"\x0bAB\x1c", b"\r"]);
        assert_eq!(split, vec![msg("AB")]);
    }

    #[test]
    fn a_lone_1c_inside_a_message_is_data() {
        let mut c = MllpCodec::default();
        assert_eq!(
            decode_all(&mut c, &[b"\x0bA\x1cB\x1c\r"]),
            vec![msg("A\x1cB")]
        );
    }

    #[test]
    fn oversized_frames_are_reported_and_the_stream_goes_on() {
        let mut c = MllpCodec::new(10);
        let big = format!("\x0bMSH|{}\x1c\r", "X".repeat(50));
        let frames = decode_all(
            &mut c,
            &[
                &big.as_bytes()[..20],
                &big.as_bytes()[20..],
                b"\x0bMSH|ok\x1c\r",
            ],
        );
        assert_eq!(frames.len(), 2, "{frames:?}");
        match &frames[0] {
            Frame::Oversized { head, size } => {
                assert_eq!(*size, 54);
                assert!(head.starts_with(b"MSH|XXXX"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(frames[1], msg("MSH|ok"));
        let mut one_read = MllpCodec::new(10);
        let frames = decode_all(&mut one_read, &[big.as_bytes()]);
        assert!(
            matches!(frames[0], Frame::Oversized { size: 54, .. }),
            "{frames:?}"
        );
    }

    #[test]
    fn the_head_of_an_oversized_frame_does_not_depend_on_reads() {
        let big = format!("\x0bMSH|{}\x1c\r", "Y".repeat(300));
        let whole = decode_all(&mut MllpCodec::new(100), &[big.as_bytes()]);
        let pieces: Vec<&[u8]> = big.as_bytes().chunks(7).collect();
        assert_eq!(decode_all(&mut MllpCodec::new(100), &pieces), whole);
        assert!(matches!(&whole[0], Frame::Oversized { head, size: 304 } if head.len() == 100));
    }

    #[test]
    fn a_frame_of_exactly_the_limit_with_a_split_end_marker_is_not_oversized() {
        let frame = format!("\x0b{}\x1c\r", "Z".repeat(100));
        let bytes = frame.as_bytes();
        let split = bytes.len() - 1; // the 0x0D arrives in a read of its own
        let frames = decode_all(
            &mut MllpCodec::new(100),
            &[&bytes[..split], &bytes[split..]],
        );
        assert_eq!(frames, vec![msg(&"Z".repeat(100))]);
    }

    #[test]
    fn encode_frames() {
        let mut c = MllpCodec::default();
        let mut out = BytesMut::new();
        c.encode(b"MSH|A".as_slice(), &mut out).unwrap();
        assert_eq!(&out[..], b"\x0bMSH|A\x1c\r");
    }
}
