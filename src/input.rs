//! Object bytes -> decompressed bytes -> a blocking line reader.
//!
//! Decompression is a reader adapter: a body is sniffed for the gzip magic and,
//! when present, wrapped in a decoder that reads every gzip member; anything else
//! is read as plain JSONL. Nothing here holds a whole object.

use std::io::{self, BufReader};
use std::pin::Pin;

use async_compression::tokio::bufread::GzipDecoder;
use tokio::io::{AsyncBufReadExt, AsyncRead};
use tokio_util::io::SyncIoBridge;

use crate::store::ObjectReader;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// A decompressed byte stream.
pub type Decoded = Pin<Box<dyn AsyncRead + Send>>;

/// Wraps `body` in a gzip decoder (all members) when it starts with the gzip
/// magic, else passes it through as plain text.
pub async fn decode(mut body: ObjectReader) -> io::Result<Decoded> {
    let head = body.fill_buf().await?;
    if head.starts_with(&GZIP_MAGIC) {
        let mut decoder = GzipDecoder::new(body);
        decoder.multiple_members(true);
        Ok(Box::pin(decoder))
    } else {
        Ok(Box::pin(body))
    }
}

/// A blocking, buffered view of a decoded stream, for the parser running on a
/// blocking thread. Must be used outside the async runtime's worker threads.
pub fn blocking_lines(decoded: Decoded) -> BufReader<SyncIoBridge<Decoded>> {
    BufReader::with_capacity(256 * 1024, SyncIoBridge::new(decoded))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    use flate2::Compression;
    use flate2::write::GzEncoder;

    fn gzip(text: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::default());
        enc.write_all(text).unwrap();
        enc.finish().unwrap()
    }

    fn reader(bytes: Vec<u8>) -> ObjectReader {
        Box::pin(tokio::io::BufReader::new(std::io::Cursor::new(bytes)))
    }

    async fn read_all(bytes: Vec<u8>) -> io::Result<String> {
        let decoded = decode(reader(bytes)).await?;
        tokio::task::spawn_blocking(move || {
            let mut out = String::new();
            blocking_lines(decoded)
                .read_to_string(&mut out)
                .map(|_| out)
        })
        .await
        .unwrap()
    }

    // REQ-IN-001: gzip with several members, a member boundary mid-line, plain text.
    #[tokio::test]
    async fn gzip_members_and_plain_text() {
        let mut two = gzip(b"{\"a\":1}\n{\"a\"");
        two.extend(gzip(b":2}\n"));
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("one member", gzip(b"x\ny\n"), "x\ny\n"),
            ("member boundary mid-line", two, "{\"a\":1}\n{\"a\":2}\n"),
            ("plain", b"x\ny".to_vec(), "x\ny"),
            ("empty", Vec::new(), ""),
            ("empty gzip", gzip(b""), ""),
        ];
        for (name, bytes, want) in cases {
            assert_eq!(read_all(bytes).await.unwrap(), want, "case {name}");
        }
    }

    // REQ-IN-005: a truncated gzip is an error, never a short read.
    #[tokio::test]
    async fn truncated_gzip_is_an_error() {
        let body: Vec<u8> = (0..20_000)
            .map(|i| format!("line {i}\n"))
            .collect::<String>()
            .into_bytes();
        let mut bytes = gzip(&body);
        bytes.truncate(bytes.len() / 2);
        assert!(read_all(bytes).await.is_err());
        let mut whole = gzip(&body);
        whole.truncate(whole.len() - 4); // the trailer's length field
        assert!(read_all(whole).await.is_err());
    }

    #[tokio::test]
    async fn corrupt_gzip_is_an_error() {
        let mut bytes = gzip(b"hello hello hello\n");
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0xff;
        bytes[mid + 1] ^= 0xff;
        assert!(read_all(bytes).await.is_err());
    }
}
