//! Body transforms used by response masking: content-encoding decode and
//! re-encode (gzip, br) with a decoded-size limit (zip bombs), body kind
//! classification (JSON, NDJSON, image, other, with optional JSON sniffing),
//! image pixelation, and the ETag of a masked body.

use std::io::{Read, Write};

use bytes::Bytes;
use sha2::{Digest, Sha256};

/// A content coding the gateway can decode and re-encode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// No coding.
    Identity,
    /// gzip.
    Gzip,
    /// Brotli.
    Br,
}

/// A transform failed.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The upstream used a coding the gateway cannot decode.
    #[error("unsupported content-encoding `{0}`")]
    UnsupportedCoding(String),
    /// Decoding failed.
    #[error("cannot decode {coding:?} body: {reason}")]
    Decode {
        /// The coding.
        coding: Coding,
        /// Why.
        reason: String,
    },
    /// The decoded body is over the limit.
    #[error("decoded body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: usize,
    },
    /// Encoding failed.
    #[error("cannot encode body: {0}")]
    Encode(String),
    /// The image cannot be pixelated.
    #[error("cannot pixelate image: {0}")]
    Image(String),
}

/// The coding named by a `Content-Encoding` header value.
pub fn coding_of(header: Option<&str>) -> Result<Coding, TransformError> {
    match header.map(|h| h.trim().to_ascii_lowercase()) {
        None => Ok(Coding::Identity),
        Some(h) if h.is_empty() || h == "identity" => Ok(Coding::Identity),
        Some(h) if h == "gzip" || h == "x-gzip" => Ok(Coding::Gzip),
        Some(h) if h == "br" => Ok(Coding::Br),
        Some(h) => Err(TransformError::UnsupportedCoding(h)),
    }
}

/// Decodes `body`, refusing to produce more than `limit` bytes.
pub fn decode(coding: Coding, body: &[u8], limit: usize) -> Result<Bytes, TransformError> {
    let reader: Box<dyn Read + '_> = match coding {
        Coding::Identity => {
            if body.len() > limit {
                return Err(TransformError::TooLarge { limit });
            }
            return Ok(Bytes::copy_from_slice(body));
        }
        Coding::Gzip => Box::new(flate2::read::MultiGzDecoder::new(body)),
        Coding::Br => Box::new(brotli::Decompressor::new(body, 4096)),
    };
    let mut out = Vec::new();
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| TransformError::Decode {
            coding,
            reason: e.to_string(),
        })?;
    if out.len() > limit {
        return Err(TransformError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}

/// Encodes `body` with `coding`.
pub fn encode(coding: Coding, body: &[u8]) -> Result<Bytes, TransformError> {
    match coding {
        Coding::Identity => Ok(Bytes::copy_from_slice(body)),
        Coding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(body)
                .map_err(|e| TransformError::Encode(e.to_string()))?;
            e.finish()
                .map(Bytes::from)
                .map_err(|e| TransformError::Encode(e.to_string()))
        }
        Coding::Br => {
            let mut out = Vec::new();
            {
                // Quality 4: a good ratio at a small fraction of quality 11's cost.
                let mut w = brotli::CompressorWriter::new(&mut out, 4096, 4, 22);
                w.write_all(body)
                    .map_err(|e| TransformError::Encode(e.to_string()))?;
                w.flush()
                    .map_err(|e| TransformError::Encode(e.to_string()))?;
            }
            Ok(Bytes::from(out))
        }
    }
}

/// What a body is, for the masking policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One JSON document.
    Json,
    /// Newline-delimited JSON.
    Ndjson,
    /// `image/*`.
    Image,
    /// Anything else.
    Other,
}

/// Classifies a body by its Content-Type, and by its first byte when
/// `sniff` is on (so JSON mislabelled as text cannot slip through unmasked).
pub fn classify(content_type: Option<&str>, body: &[u8], sniff: bool) -> Kind {
    let ct = content_type
        .and_then(|c| c.split(';').next())
        .map(|c| c.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if ct == "application/x-ndjson"
        || ct == "application/ndjson"
        || ct == "application/jsonl"
        || ct == "application/jsonlines"
        || ct == "application/x-jsonlines"
    {
        return Kind::Ndjson;
    }
    if ct == "application/json" || ct.ends_with("+json") || ct == "text/json" {
        return Kind::Json;
    }
    if ct.starts_with("image/") {
        return Kind::Image;
    }
    if sniff
        && let Some(first) = body.iter().find(|b| !b.is_ascii_whitespace())
        && (*first == b'{' || *first == b'[')
    {
        // Several top-level values on separate lines: NDJSON.
        let lines = body
            .split(|b| *b == b'\n')
            .filter(|l| !l.trim_ascii().is_empty())
            .count();
        let one_doc = serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok();
        return if !one_doc && lines > 1 {
            Kind::Ndjson
        } else {
            Kind::Json
        };
    }
    Kind::Other
}

/// Pixelates a PNG or JPEG image with square blocks of `block` pixels,
/// re-encoded in its own format.
pub fn pixelate(body: &[u8], block: u32) -> Result<Bytes, TransformError> {
    let format = image::guess_format(body).map_err(|e| TransformError::Image(e.to_string()))?;
    if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
        return Err(TransformError::Image(format!(
            "format {format:?} not supported (PNG and JPEG are)"
        )));
    }
    let img = image::load_from_memory_with_format(body, format)
        .map_err(|e| TransformError::Image(e.to_string()))?;
    let (w, h) = (img.width(), img.height());
    let small = img.resize_exact(
        w.div_ceil(block).max(1),
        h.div_ceil(block).max(1),
        image::imageops::FilterType::Triangle,
    );
    let out = small.resize_exact(w, h, image::imageops::FilterType::Nearest);
    let mut buf = std::io::Cursor::new(Vec::new());
    let out = if format == image::ImageFormat::Jpeg {
        image::DynamicImage::ImageRgb8(out.to_rgb8())
    } else {
        out
    };
    out.write_to(&mut buf, format)
        .map_err(|e| TransformError::Image(e.to_string()))?;
    Ok(Bytes::from(buf.into_inner()))
}

/// A strong ETag for a masked body (a hash of the bytes sent, so it changes
/// whenever the masked content does and never equals the upstream's).
pub fn etag_of(body: &[u8]) -> String {
    let h = Sha256::digest(body);
    format!("\"shroud-{}\"", hex::encode(&h[..12]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codings_round_trip() {
        let data = br#"{"name":"Ada","ssn":"123-45-6789"}"#.repeat(50);
        for c in [Coding::Identity, Coding::Gzip, Coding::Br] {
            let enc = encode(c, &data).unwrap();
            assert_eq!(decode(c, &enc, 1 << 20).unwrap(), Bytes::from(data.clone()));
        }
        assert!(coding_of(Some("zstd")).is_err());
        assert_eq!(coding_of(Some("GZIP")).unwrap(), Coding::Gzip);
    }

    #[test]
    fn decode_limit_stops_bombs() {
        let bomb = encode(Coding::Gzip, &vec![0u8; 1 << 20]).unwrap();
        assert!(bomb.len() < 10_000);
        assert!(matches!(
            decode(Coding::Gzip, &bomb, 1000),
            Err(TransformError::TooLarge { .. })
        ));
    }

    #[test]
    fn classification() {
        assert_eq!(
            classify(Some("application/json; charset=utf-8"), b"{}", false),
            Kind::Json
        );
        assert_eq!(
            classify(Some("application/vnd.api+json"), b"{}", false),
            Kind::Json
        );
        assert_eq!(
            classify(Some("application/x-ndjson"), b"{}\n{}", false),
            Kind::Ndjson
        );
        assert_eq!(classify(Some("image/png"), b"", true), Kind::Image);
        assert_eq!(
            classify(Some("text/plain"), b"  {\"a\":1}", true),
            Kind::Json
        );
        assert_eq!(
            classify(Some("text/plain"), b"{\"a\":1}\n{\"a\":2}\n", true),
            Kind::Ndjson
        );
        assert_eq!(
            classify(Some("text/plain"), b"{\"a\":1}", false),
            Kind::Other
        );
        assert_eq!(classify(None, b"hello", true), Kind::Other);
    }

    #[test]
    fn pixelation_changes_pixels_keeps_size() {
        let mut img = image::RgbImage::new(32, 32);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgb([(x * 8) as u8, (y * 8) as u8, ((x ^ y) * 8) as u8]);
        }
        let mut png = std::io::Cursor::new(Vec::new());
        img.write_to(&mut png, image::ImageFormat::Png).unwrap();
        let out = pixelate(png.get_ref(), 8).unwrap();
        let back = image::load_from_memory(&out).unwrap().to_rgb8();
        assert_eq!(back.dimensions(), (32, 32));
        // Inside one 8x8 block every pixel is the same.
        assert_eq!(back.get_pixel(0, 0), back.get_pixel(7, 7));
        assert_ne!(back.get_pixel(0, 0), img.get_pixel(7, 7));
        assert!(pixelate(b"not an image", 8).is_err());
    }
}
