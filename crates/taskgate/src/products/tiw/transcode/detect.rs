//! What a downloaded document is, read from its content (never its URL's extension): PDF,
//! an Office Open XML package (PPTX, DOCX, XLSX) or an OLE2 compound file (PPT, DOC, XLS), the
//! formats CreateTranscode documents. Every read is bounded: the ZIP directory by its entry
//! count before it is parsed, the rest by the file size cap of the download.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// A document format transcoding accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pdf,
    Ppt,
    Pptx,
    Doc,
    Docx,
    Xls,
    Xlsx,
}

impl Format {
    /// The extension LibreOffice picks its import filter by.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Ppt => "ppt",
            Format::Pptx => "pptx",
            Format::Doc => "doc",
            Format::Docx => "docx",
            Format::Xls => "xls",
            Format::Xlsx => "xlsx",
        }
    }

    /// A presentation, which becomes an HTML5 deck unless `IsStaticPPT`.
    pub fn is_presentation(self) -> bool {
        matches!(self, Format::Ppt | Format::Pptx)
    }

    pub fn is_spreadsheet(self) -> bool {
        matches!(self, Format::Xls | Format::Xlsx)
    }
}

/// What the content is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detection {
    Document(Format),
    /// An encrypted Office package (password to open); PDFs are checked by `pdfinfo`.
    Encrypted,
    /// Nothing transcoding accepts; the text says what it looks like, for the tenant.
    Unsupported(&'static str),
}

/// Most entries a ZIP may list to be read as an Office package (real ones hold hundreds).
const MAX_ZIP_ENTRIES: u64 = 10_000;
/// PDF readers accept the header within the first KiB.
const PDF_HEADER_WINDOW: usize = 1024;
const OLE2_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Reads the start of the file at `path` (and, for containers, their directory).
pub fn detect(path: &Path) -> std::io::Result<Detection> {
    let mut file = std::fs::File::open(path)?;
    let mut head = Vec::with_capacity(PDF_HEADER_WINDOW);
    (&mut file).take(PDF_HEADER_WINDOW as u64).read_to_end(&mut head)?;
    if head.windows(5).any(|w| w == b"%PDF-") {
        return Ok(Detection::Document(Format::Pdf));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Ok(office_open_xml(file));
    }
    if head.starts_with(&OLE2_MAGIC) {
        return Ok(compound_file(file));
    }
    Ok(Detection::Unsupported(describe(&head)))
}

/// A ZIP: one of the three OOXML documents by its main part, anything else unsupported.
fn office_open_xml(mut file: std::fs::File) -> Detection {
    match zip_entry_count(&mut file) {
        Some(count) if count <= MAX_ZIP_ENTRIES => {}
        _ => return Detection::Unsupported("a ZIP archive that is not an Office document"),
    }
    let Ok(archive) = zip::ZipArchive::new(file) else {
        return Detection::Unsupported("a damaged ZIP archive");
    };
    let has = |name: &str| archive.index_for_name(name).is_some();
    if !has("[Content_Types].xml") {
        return Detection::Unsupported("a ZIP archive that is not an Office document");
    }
    if has("ppt/presentation.xml") {
        Detection::Document(Format::Pptx)
    } else if has("word/document.xml") {
        Detection::Document(Format::Docx)
    } else if has("xl/workbook.xml") {
        Detection::Document(Format::Xlsx)
    } else {
        Detection::Unsupported("an Office Open XML package that is not a presentation, document or workbook")
    }
}

/// The entry count the ZIP's end-of-central-directory record declares, read before the
/// directory itself so that a crafted archive cannot make the parser hold millions of entries.
/// `None` when there is no such record or it points to a ZIP64 record (Office never needs one).
fn zip_entry_count(file: &mut std::fs::File) -> Option<u64> {
    const EOCD: [u8; 4] = [0x50, 0x4B, 0x05, 0x06];
    let len = file.seek(SeekFrom::End(0)).ok()?;
    let window = len.min(22 + u64::from(u16::MAX));
    file.seek(SeekFrom::Start(len - window)).ok()?;
    let mut tail = Vec::new();
    file.take(window).read_to_end(&mut tail).ok()?;
    let at = tail.windows(4).rposition(|w| w == EOCD)?;
    let record = tail.get(at..at + 22)?;
    let count = u16::from_le_bytes([record[10], record[11]]);
    (count != u16::MAX).then_some(u64::from(count))
}

/// An OLE2 compound file: PowerPoint, Word or Excel 97–2003 by their main stream, or an
/// encrypted OOXML package (its `EncryptedPackage` stream).
fn compound_file(file: std::fs::File) -> Detection {
    let Ok(compound) = cfb::CompoundFile::open(file) else {
        return Detection::Unsupported("a damaged OLE2 compound file");
    };
    let has = |name: &str| compound.is_stream(format!("/{name}"));
    if has("EncryptedPackage") {
        Detection::Encrypted
    } else if has("PowerPoint Document") {
        Detection::Document(Format::Ppt)
    } else if has("WordDocument") {
        Detection::Document(Format::Doc)
    } else if has("Workbook") || has("Book") {
        Detection::Document(Format::Xls)
    } else {
        Detection::Unsupported("an OLE2 compound file that is not a PowerPoint, Word or Excel document")
    }
}

/// A few words on what an unsupported file looks like.
fn describe(head: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(head).trim_start().to_ascii_lowercase();
    if text.starts_with("<!doctype html") || text.starts_with("<html") || text.contains("<head") {
        "an HTML page"
    } else if head.starts_with(b"\x89PNG") || head.starts_with(b"\xFF\xD8\xFF") || head.starts_with(b"GIF8") {
        "an image"
    } else if head.is_empty() {
        "an empty file"
    } else {
        "not a PDF, PowerPoint, Word or Excel document"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_with(bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("taskgate-detect-{}", uuid::Uuid::new_v4()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn zip_with(names: &[&str]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        for name in names {
            writer.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
            writer.write_all(b"<x/>").unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    fn compound_with(stream: &str) -> Vec<u8> {
        let mut compound = cfb::CompoundFile::create(std::io::Cursor::new(Vec::new())).unwrap();
        compound.create_stream(format!("/{stream}")).unwrap().write_all(b"data").unwrap();
        compound.flush().unwrap();
        compound.into_inner().into_inner()
    }

    #[test]
    fn a_pdf_is_found_by_its_header_even_after_leading_bytes() {
        assert_eq!(detect(&file_with(b"%PDF-1.7\n")).unwrap(), Detection::Document(Format::Pdf));
        assert_eq!(detect(&file_with(b"\n\n  %PDF-1.4\n")).unwrap(), Detection::Document(Format::Pdf));
    }

    #[test]
    fn office_open_xml_packages_are_told_apart_by_their_main_part() {
        for (part, format) in [
            ("ppt/presentation.xml", Format::Pptx),
            ("word/document.xml", Format::Docx),
            ("xl/workbook.xml", Format::Xlsx),
        ] {
            let path = file_with(&zip_with(&["[Content_Types].xml", part]));
            assert_eq!(detect(&path).unwrap(), Detection::Document(format), "{part}");
        }
    }

    #[test]
    fn a_plain_zip_is_unsupported() {
        let path = file_with(&zip_with(&["photo.jpg"]));
        assert!(matches!(detect(&path).unwrap(), Detection::Unsupported(_)));
    }

    #[test]
    fn a_zip_declaring_more_entries_than_the_bound_is_not_parsed() {
        let mut bytes = zip_with(&["[Content_Types].xml", "ppt/presentation.xml"]);
        let at = bytes.windows(4).rposition(|w| w == [0x50, 0x4B, 0x05, 0x06]).unwrap();
        bytes[at + 10..at + 12].copy_from_slice(&60_000u16.to_le_bytes());
        assert!(matches!(detect(&file_with(&bytes)).unwrap(), Detection::Unsupported(_)));
    }

    #[test]
    fn legacy_office_files_are_told_apart_by_their_main_stream() {
        for (stream, format) in
            [("PowerPoint Document", Format::Ppt), ("WordDocument", Format::Doc), ("Workbook", Format::Xls)]
        {
            assert_eq!(detect(&file_with(&compound_with(stream))).unwrap(), Detection::Document(format), "{stream}");
        }
    }

    #[test]
    fn an_encrypted_office_package_is_recognised() {
        assert_eq!(detect(&file_with(&compound_with("EncryptedPackage"))).unwrap(), Detection::Encrypted);
    }

    #[test]
    fn an_html_page_is_unsupported_and_said_to_be_one() {
        let detection = detect(&file_with(b"<!DOCTYPE html><html><body>404</body></html>")).unwrap();
        assert_eq!(detection, Detection::Unsupported("an HTML page"));
    }
}
