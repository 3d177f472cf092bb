//! What an uploaded file may be: its type is read from its first bytes, never from
//! its name or the client's `Content-Type`, and its name is cleaned before it is kept.

use serde::Serialize;

use crate::validation::ValidationErrors;

/// The file types a clinic accepts: lab reports and scans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    Pdf,
    Png,
    Jpeg,
}

impl FileType {
    pub fn media_type(self) -> &'static str {
        match self {
            FileType::Pdf => "application/pdf",
            FileType::Png => "image/png",
            FileType::Jpeg => "image/jpeg",
        }
    }

    pub fn parse_media_type(value: &str) -> Option<FileType> {
        [FileType::Pdf, FileType::Png, FileType::Jpeg]
            .into_iter()
            .find(|t| t.media_type() == value)
    }

    pub fn extension(self) -> &'static str {
        match self {
            FileType::Pdf => "pdf",
            FileType::Png => "png",
            FileType::Jpeg => "jpg",
        }
    }

    /// The type the bytes themselves declare, by their signature.
    ///
    /// PDF readers accept the `%PDF-` header anywhere in the first 1,024 bytes, but a
    /// file that hides something else in front of it is exactly what this check is
    /// for, so the header must come first.
    pub fn sniff(bytes: &[u8]) -> Option<FileType> {
        const PNG: &[u8] = b"\x89PNG\r\n\x1a\n";
        if bytes.starts_with(b"%PDF-") {
            Some(FileType::Pdf)
        } else if bytes.starts_with(PNG) {
            Some(FileType::Png)
        } else if bytes.len() >= 4 && bytes.starts_with(b"\xFF\xD8\xFF") {
            Some(FileType::Jpeg)
        } else {
            None
        }
    }
}

pub const MAX_FILE_NAME_CHARS: usize = 200;

/// A file name fit to show and to send back in `Content-Disposition`: the last path
/// segment, without control characters, quotes or backslashes, at most
/// [`MAX_FILE_NAME_CHARS`], and ending in the extension of the type the bytes have
/// (so a PNG uploaded as `report.pdf` is offered back as `report.pdf.png`).
pub fn clean_file_name(raw: &str, file_type: FileType) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let mut name: String = last
        .chars()
        .filter(|c| !c.is_control() && !matches!(c, '"' | '\\' | ';'))
        .collect::<String>()
        .trim()
        .trim_start_matches('.')
        .to_owned();
    if name.is_empty() {
        name = "file".to_owned();
    }
    let extension = file_type.extension();
    let has_extension = name.rsplit_once('.').is_some_and(|(_, ext)| {
        ext.eq_ignore_ascii_case(extension)
            || (file_type == FileType::Jpeg && ext.eq_ignore_ascii_case("jpeg"))
    });
    let budget = MAX_FILE_NAME_CHARS
        - if has_extension {
            0
        } else {
            extension.len() + 1
        };
    if name.chars().count() > budget {
        name = name.chars().take(budget).collect();
    }
    if !has_extension {
        name.push('.');
        name.push_str(extension);
    }
    name
}

/// Checks an upload before anything is stored: not empty, within `max_bytes`, and of
/// an accepted type.
pub fn check_upload(bytes: &[u8], max_bytes: usize) -> Result<FileType, UploadRefusal> {
    if bytes.len() > max_bytes {
        return Err(UploadRefusal::TooLarge { max_bytes });
    }
    if bytes.is_empty() {
        return Err(UploadRefusal::Invalid(ValidationErrors::single(
            "file",
            "the file is empty",
        )));
    }
    FileType::sniff(bytes).ok_or(UploadRefusal::UnsupportedType)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UploadRefusal {
    TooLarge {
        max_bytes: usize,
    },
    /// Not a PDF, PNG or JPEG by its bytes, whatever it is called.
    UnsupportedType,
    Invalid(ValidationErrors),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(FileType::sniff(b"%PDF-1.7\n..."), Some(FileType::Pdf));
        assert_eq!(
            FileType::sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"),
            Some(FileType::Png)
        );
        assert_eq!(
            FileType::sniff(b"\xFF\xD8\xFF\xE0\0\x10JFIF"),
            Some(FileType::Jpeg)
        );
        // An executable named report.pdf, a script, HTML, text with a PDF header later on.
        assert_eq!(FileType::sniff(b"MZ\x90\0\x03\0\0\0"), None);
        assert_eq!(FileType::sniff(b"\x7fELF\x02\x01\x01"), None);
        assert_eq!(FileType::sniff(b"#!/bin/sh\nrm -rf /"), None);
        assert_eq!(FileType::sniff(b"<html><script>"), None);
        assert_eq!(FileType::sniff(b" %PDF-1.4"), None);
        assert_eq!(FileType::sniff(b"\xFF\xD8\xFF"), None);
        assert_eq!(FileType::sniff(b""), None);
    }

    #[test]
    fn uploads_are_checked_for_size_then_type() {
        assert_eq!(check_upload(b"%PDF-1.4", 8), Ok(FileType::Pdf));
        assert_eq!(
            check_upload(b"%PDF-1.4x", 8),
            Err(UploadRefusal::TooLarge { max_bytes: 8 })
        );
        assert_eq!(
            check_upload(b"MZ\x90\0", 8),
            Err(UploadRefusal::UnsupportedType)
        );
        assert!(matches!(
            check_upload(b"", 8),
            Err(UploadRefusal::Invalid(_))
        ));
    }

    #[test]
    fn file_names_are_cleaned_and_match_their_type() {
        let cases = [
            ("lab report.pdf", FileType::Pdf, "lab report.pdf"),
            ("LAB.PDF", FileType::Pdf, "LAB.PDF"),
            ("scan.jpeg", FileType::Jpeg, "scan.jpeg"),
            ("scan.png", FileType::Jpeg, "scan.png.jpg"),
            ("../../etc/passwd", FileType::Pdf, "passwd.pdf"),
            ("C:\\Users\\x\\result.pdf", FileType::Pdf, "result.pdf"),
            ("a\"b;c\r\nd.pdf", FileType::Pdf, "abcd.pdf"),
            ("", FileType::Png, "file.png"),
            ("...", FileType::Png, "file.png"),
            (".hidden.png", FileType::Png, "hidden.png"),
        ];
        for (raw, file_type, expected) in cases {
            assert_eq!(clean_file_name(raw, file_type), expected, "{raw:?}");
        }
        let long = "x".repeat(500);
        let cleaned = clean_file_name(&long, FileType::Pdf);
        assert_eq!(cleaned.chars().count(), MAX_FILE_NAME_CHARS);
        assert!(cleaned.ends_with(".pdf"));
    }
}
