//! Profile photos: a user's JPEG or PNG, decoded, cropped to a square and kept as
//! two fresh JPEGs (256 and 64 px) in the file store, so nothing of the uploaded
//! file (EXIF, location, an appended payload) survives.
//!
//! Bytes go to the file store before the row that names them, and a refused row
//! removes them again; a replaced or deleted photo's bytes are removed after the
//! commit, as an attachment's are.

use std::io::Cursor;

use axum::body::Bytes;
use carebook_domain::attachment::FileType;
use carebook_domain::{Action, Actor, Subject, UserId, authorize};
use image::codecs::jpeg::JpegEncoder;
use image::imageops::FilterType;
use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader, Limits, RgbImage};

use super::clinical::has_care;
use super::{App, AppError, audit, hex, random_bytes};
use crate::store::{PhotoRecord, Role, UserStatus};

/// The largest photo accepted: 5 MiB.
pub const PHOTO_MAX_BYTES: usize = 5 * 1024 * 1024;
/// Decoder limits, so a small file that claims a huge picture (a decompression
/// bomb) is refused before its pixels are allocated.
const PHOTO_MAX_SIDE: u32 = 10_000;
const PHOTO_MAX_PIXELS: u64 = 50_000_000;
const JPEG_QUALITY: u8 = 85;

/// The two renditions kept of every photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PhotoSize {
    /// 256 × 256, for profiles.
    Large,
    /// 64 × 64, for lists and cards.
    Small,
}

impl PhotoSize {
    /// `256` or `64`; anything else is not a size carebook keeps.
    pub fn from_pixels(pixels: u32) -> Option<PhotoSize> {
        match pixels {
            256 => Some(PhotoSize::Large),
            64 => Some(PhotoSize::Small),
            _ => None,
        }
    }

    pub fn pixels(self) -> u32 {
        match self {
            PhotoSize::Large => 256,
            PhotoSize::Small => 64,
        }
    }
}

/// A photo to send: a JPEG of the asked size.
pub struct PhotoDownload {
    pub bytes: Bytes,
    pub version: String,
    /// A doctor's photo, which anyone may see (and caches may share).
    pub public: bool,
}

/// Why an upload's bytes make no photo.
#[derive(Debug)]
enum PhotoRefusal {
    TooBig,
    Undecodable,
}

impl App {
    /// Sets the actor's own photo (any role), replacing the one they had.
    pub async fn set_photo(&self, actor: &Actor, bytes: Bytes) -> Result<PhotoRecord, AppError> {
        if bytes.len() > PHOTO_MAX_BYTES {
            return Err(AppError::TooLarge {
                max_bytes: PHOTO_MAX_BYTES,
            });
        }
        let format = match FileType::sniff(&bytes) {
            Some(FileType::Png) => ImageFormat::Png,
            Some(FileType::Jpeg) => ImageFormat::Jpeg,
            Some(FileType::Pdf) | None => return Err(AppError::UnsupportedPhotoType),
        };
        // Decoding and resizing take tens of milliseconds of CPU: off the async
        // workers.
        let (large, small) = tokio::task::spawn_blocking(move || render(&bytes, format))
            .await
            .map_err(|e| AppError::Internal(format!("photo rendering stopped: {e}")))?
            .map_err(|refusal| match refusal {
                PhotoRefusal::TooBig => AppError::invalid(
                    "file",
                    "is too large a picture: at most 10000 pixels a side and 50 megapixels",
                ),
                PhotoRefusal::Undecodable => {
                    AppError::invalid("file", "is not a PNG or JPEG image that can be read")
                }
            })?;
        let files = self.files()?;
        let photo = PhotoRecord {
            user_id: actor.user_id.clone(),
            large_key: photo_key(),
            small_key: photo_key(),
            version: hex(&random_bytes::<8>()),
            updated_at: self.now(),
        };
        for (key, bytes) in [(&photo.large_key, large), (&photo.small_key, small)] {
            if let Err(error) = files.put(key, Bytes::from(bytes)).await {
                self.remove_photo_bytes(&photo).await;
                return Err(AppError::FileStoreUnavailable(error.to_string()));
            }
        }
        let row = photo.clone();
        let written = self
            .store
            .write(move |tx| {
                let replaced = tx.put_photo(&row)?;
                audit(
                    tx,
                    row.updated_at,
                    Some(&row.user_id),
                    "photo.set",
                    ("user", Some(row.user_id.as_str())),
                    serde_json::json!({}),
                )?;
                Ok::<_, AppError>(replaced)
            })
            .await;
        match written {
            Ok(replaced) => {
                if let Some(old) = replaced {
                    self.remove_photo_bytes(&old).await;
                }
                Ok(photo)
            }
            Err(error) => {
                self.remove_photo_bytes(&photo).await;
                Err(error)
            }
        }
    }

    /// Removes the actor's own photo; 404 when they have none.
    pub async fn delete_photo(&self, actor: &Actor) -> Result<(), AppError> {
        let user = actor.user_id.clone();
        let now = self.now();
        let removed = self
            .store
            .write(move |tx| {
                let removed = tx.delete_photo(&user)?.ok_or(AppError::NotFound("photo"))?;
                audit(
                    tx,
                    now,
                    Some(&user),
                    "photo.delete",
                    ("user", Some(user.as_str())),
                    serde_json::json!({}),
                )?;
                Ok::<_, AppError>(removed)
            })
            .await?;
        self.remove_photo_bytes(&removed).await;
        Ok(())
    }

    /// A user's photo, for those who may see it (see `Action::ViewPhoto`): an
    /// active doctor's to anyone, signed in or not. Whoever may not see it is told
    /// there is none.
    pub async fn photo(
        &self,
        actor: Option<&Actor>,
        user: UserId,
        size: PhotoSize,
    ) -> Result<PhotoDownload, AppError> {
        let actor = actor.cloned();
        let (photo, public) = self
            .store
            .read(move |tx| {
                let hidden = AppError::NotFound("photo");
                let subject = tx.find_user(&user)?.ok_or(AppError::NotFound("photo"))?;
                let public = subject.role == Role::Doctor && subject.status == UserStatus::Active;
                if !public {
                    let actor = actor.as_ref().ok_or(AppError::NotFound("photo"))?;
                    let care = subject.role == Role::Patient && has_care(tx, actor, &subject.id)?;
                    let subject = Subject::User {
                        id: &subject.id,
                        role: subject.role,
                        treated_by_actor: care,
                    };
                    authorize(actor, Action::ViewPhoto, subject).map_err(|_| hidden)?;
                }
                let photo = tx.find_photo(&user)?.ok_or(AppError::NotFound("photo"))?;
                Ok::<_, AppError>((photo, public))
            })
            .await?;
        let key = match size {
            PhotoSize::Large => &photo.large_key,
            PhotoSize::Small => &photo.small_key,
        };
        let bytes = self
            .files()?
            .get(key)
            .await
            .map_err(|e| AppError::FileStoreUnavailable(e.to_string()))?;
        Ok(PhotoDownload {
            bytes,
            version: photo.version,
            public,
        })
    }

    /// The photo versions of those of `users` who have a photo, for `photo_url`s.
    pub(crate) async fn photo_versions(
        &self,
        users: Vec<UserId>,
    ) -> Result<Vec<(UserId, String)>, AppError> {
        self.store
            .read(move |tx| Ok::<_, AppError>(tx.photo_versions(&users)?))
            .await
    }

    async fn remove_photo_bytes(&self, photo: &PhotoRecord) {
        let Ok(files) = self.files() else {
            return;
        };
        for key in [&photo.large_key, &photo.small_key] {
            if let Err(error) = files.delete(key).await {
                tracing::warn!(error = %error, "a photo's old bytes could not be removed");
            }
        }
    }
}

/// Where a user's photo is served, naming its version so a new photo gets a new
/// URL (and caches never mix them up).
pub fn photo_url(user: &UserId, version: &str) -> String {
    format!("/api/v1/users/{}/photo?v={version}", user.as_str())
}

/// Decodes the upload (within the limits), turns it upright, crops its middle
/// square and encodes the two renditions as baseline JPEGs.
fn render(bytes: &[u8], format: ImageFormat) -> Result<(Vec<u8>, Vec<u8>), PhotoRefusal> {
    let mut limits = Limits::default();
    limits.max_image_width = Some(PHOTO_MAX_SIDE);
    limits.max_image_height = Some(PHOTO_MAX_SIDE);
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(refusal)?;
    let (width, height) = decoder.dimensions();
    if width == 0 || height == 0 {
        return Err(PhotoRefusal::Undecodable);
    }
    if u64::from(width) * u64::from(height) > PHOTO_MAX_PIXELS {
        return Err(PhotoRefusal::TooBig);
    }
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let mut image = DynamicImage::from_decoder(decoder).map_err(refusal)?;
    image.apply_orientation(orientation);
    let side = image.width().min(image.height());
    let square = image.crop_imm(
        (image.width() - side) / 2,
        (image.height() - side) / 2,
        side,
        side,
    );
    let large = square.resize_exact(256, 256, FilterType::CatmullRom);
    let small = large.resize_exact(64, 64, FilterType::CatmullRom);
    Ok((jpeg(&large)?, jpeg(&small)?))
}

fn refusal(error: image::ImageError) -> PhotoRefusal {
    match error {
        image::ImageError::Limits(_) => PhotoRefusal::TooBig,
        _ => PhotoRefusal::Undecodable,
    }
}

/// A JPEG of `image`, transparent parts laid on white (JPEG has no alpha).
fn jpeg(image: &DynamicImage) -> Result<Vec<u8>, PhotoRefusal> {
    let rgba = image.to_rgba8();
    let rgb = RgbImage::from_fn(rgba.width(), rgba.height(), |x, y| {
        let [r, g, b, a] = rgba.get_pixel(x, y).0;
        let over_white = |c: u8| {
            let (c, a) = (u16::from(c), u16::from(a));
            // Exact in u16: at most 255 * 255 + 255 * 255.
            u8::try_from((c * a + 255 * (255 - a)) / 255).unwrap_or(u8::MAX)
        };
        image::Rgb([over_white(r), over_white(g), over_white(b)])
    });
    let mut out = Vec::new();
    rgb.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
        .map_err(|_| PhotoRefusal::Undecodable)?;
    Ok(out)
}

/// 128 random bits in two levels, as attachments' keys.
fn photo_key() -> String {
    let key = hex(&random_bytes::<16>());
    format!("photos/{}/{}.jpg", &key[..2], key)
}
