//! A small PDF 1.4 writer for carebook's own documents (prescriptions): A4 pages of
//! left-aligned text in the base-14 Helvetica fonts, so no font is embedded and no
//! dependency is needed.
//!
//! Text is encoded in WinAnsi (Windows-1252), which the base-14 fonts carry: ASCII,
//! Latin-1 and the typographic extras (€, ‘’“”, –—, …). A character outside it is
//! written as `?`; the original text stays in the database, the PDF is a rendering.
//! String literals escape `\`, `(` and `)`, and write every byte outside printable
//! ASCII as an octal escape, so no input can end a string or inject an operator.

/// A4 in points.
const PAGE_WIDTH: f32 = 595.0;
const PAGE_HEIGHT: f32 = 842.0;
const MARGIN: f32 = 56.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Font {
    Regular,
    Bold,
}

impl Font {
    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
        }
    }
}

/// Widths of Helvetica's glyphs for bytes 32..=126, in 1/1000 of the font size
/// (Adobe's Helvetica AFM). Bold is wider; 10% more is close enough for wrapping.
const HELVETICA_WIDTHS: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 278, 260, 278, 584,
];

fn glyph_width(byte: u8, font: Font, size: f32) -> f32 {
    let units = match byte {
        32..=126 => HELVETICA_WIDTHS[usize::from(byte - 32)],
        _ => 556,
    };
    let units = f32::from(units) * if font == Font::Bold { 1.1 } else { 1.0 };
    units * size / 1000.0
}

/// The WinAnsi byte of `c`, or `?`.
pub fn win_ansi(c: char) -> u8 {
    let code = c as u32;
    match code {
        0x20..=0x7e => code as u8,
        0xa0..=0xff => code as u8,
        _ => match c {
            '€' => 0x80,
            '‚' => 0x82,
            'ƒ' => 0x83,
            '„' => 0x84,
            '…' => 0x85,
            '†' => 0x86,
            '‡' => 0x87,
            'ˆ' => 0x88,
            '‰' => 0x89,
            'Š' => 0x8a,
            '‹' => 0x8b,
            'Œ' => 0x8c,
            'Ž' => 0x8e,
            '‘' => 0x91,
            '’' => 0x92,
            '“' => 0x93,
            '”' => 0x94,
            '•' => 0x95,
            '–' => 0x96,
            '—' => 0x97,
            '˜' => 0x98,
            '™' => 0x99,
            'š' => 0x9a,
            '›' => 0x9b,
            'œ' => 0x9c,
            'ž' => 0x9e,
            'Ÿ' => 0x9f,
            // Tabs and line breaks inside a line read as spaces.
            '\t' | '\n' | '\r' => b' ',
            _ => b'?',
        },
    }
}

/// `text` as a PDF string literal, parentheses included.
fn literal(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('(');
    for &b in bytes {
        match b {
            b'\\' | b'(' | b')' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push(')');
    out
}

/// Splits `bytes` into lines no wider than `width` at spaces (a word longer than
/// the line is cut).
fn wrap(bytes: &[u8], font: Font, size: f32, width: f32) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut line: Vec<u8> = Vec::new();
    let mut line_width = 0.0;
    for word in bytes.split(|&b| b == b' ').filter(|w| !w.is_empty()) {
        let word_width: f32 = word.iter().map(|&b| glyph_width(b, font, size)).sum();
        let space = glyph_width(b' ', font, size);
        if !line.is_empty() && line_width + space + word_width <= width {
            line.push(b' ');
            line.extend_from_slice(word);
            line_width += space + word_width;
            continue;
        }
        if !line.is_empty() {
            lines.push(std::mem::take(&mut line));
        }
        line_width = 0.0;
        for &b in word {
            let w = glyph_width(b, font, size);
            if line_width + w > width && !line.is_empty() {
                lines.push(std::mem::take(&mut line));
                line_width = 0.0;
            }
            line.push(b);
            line_width += w;
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

/// Lays out text top to bottom over as many pages as it needs.
pub struct Document {
    title: String,
    pages: Vec<String>,
    y: f32,
}

impl Document {
    pub fn new(title: &str) -> Document {
        Document {
            title: title.to_owned(),
            pages: vec![String::new()],
            y: PAGE_HEIGHT - MARGIN,
        }
    }

    fn ensure_room(&mut self, height: f32) {
        if self.y - height < MARGIN {
            self.pages.push(String::new());
            self.y = PAGE_HEIGHT - MARGIN;
        }
    }

    /// Writes a paragraph, wrapped, indented by `indent` points.
    pub fn text(&mut self, text: &str, font: Font, size: f32, indent: f32) {
        let bytes: Vec<u8> = text.chars().map(win_ansi).collect();
        let leading = size * 1.35;
        for line in wrap(&bytes, font, size, PAGE_WIDTH - 2.0 * MARGIN - indent) {
            self.ensure_room(leading);
            self.y -= leading;
            let page = self.pages.last_mut().expect("a page");
            page.push_str(&format!(
                "BT /{} {size:.1} Tf {:.1} {:.1} Td {} Tj ET\n",
                font.resource(),
                MARGIN + indent,
                self.y,
                literal(&line)
            ));
        }
    }

    /// Vertical space.
    pub fn gap(&mut self, points: f32) {
        self.y -= points;
    }

    /// A horizontal rule across the text width.
    pub fn rule(&mut self) {
        self.ensure_room(8.0);
        self.y -= 6.0;
        let page = self.pages.last_mut().expect("a page");
        page.push_str(&format!(
            "0.5 w {MARGIN:.1} {y:.1} m {:.1} {y:.1} l S\n",
            PAGE_WIDTH - MARGIN,
            y = self.y
        ));
        self.y -= 2.0;
    }

    /// The finished file.
    pub fn finish(self) -> Vec<u8> {
        let page_count = self.pages.len();
        // Objects: 1 catalog, 2 page tree, 3 and 4 fonts, 5 info, then a page and its
        // content stream for each page.
        let first_page = 6;
        let mut objects: Vec<String> = Vec::new();
        objects.push("<< /Type /Catalog /Pages 2 0 R >>".to_owned());
        let kids: Vec<String> = (0..page_count)
            .map(|i| format!("{} 0 R", first_page + 2 * i))
            .collect();
        objects.push(format!(
            "<< /Type /Pages /Kids [{}] /Count {page_count} >>",
            kids.join(" ")
        ));
        for base in ["Helvetica", "Helvetica-Bold"] {
            objects.push(format!(
                "<< /Type /Font /Subtype /Type1 /BaseFont /{base} /Encoding /WinAnsiEncoding >>"
            ));
        }
        let title: Vec<u8> = self.title.chars().map(win_ansi).collect();
        objects.push(format!(
            "<< /Title {} /Producer (carebook) >>",
            literal(&title)
        ));
        for (i, content) in self.pages.iter().enumerate() {
            let content_id = first_page + 2 * i + 1;
            objects.push(format!(
                "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_WIDTH:.0} {PAGE_HEIGHT:.0}] \
                 /Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {content_id} 0 R >>"
            ));
            objects.push(format!(
                "<< /Length {} >>\nstream\n{content}endstream",
                content.len()
            ));
        }
        let mut out: Vec<u8> = b"%PDF-1.4\n".to_vec();
        let mut offsets = Vec::with_capacity(objects.len());
        for (i, object) in objects.iter().enumerate() {
            offsets.push(out.len());
            out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
        }
        let xref = out.len();
        out.extend_from_slice(format!("xref\n0 {}\n", objects.len() + 1).as_bytes());
        out.extend_from_slice(b"0000000000 65535 f \n");
        for offset in offsets {
            out.extend_from_slice(format!("{offset:010} 00000 n \n").as_bytes());
        }
        out.extend_from_slice(
            format!(
                "trailer\n<< /Size {} /Root 1 0 R /Info 5 0 R >>\nstartxref\n{xref}\n%%EOF\n",
                objects.len() + 1
            )
            .as_bytes(),
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_what_could_end_them() {
        assert_eq!(literal(b"a(b)c\\d"), "(a\\(b\\)c\\\\d)");
        assert_eq!(literal(&[0xe9, b'x', 0x0a]), "(\\351x\\012)");
    }

    #[test]
    fn text_is_win_ansi_or_a_question_mark() {
        let bytes: Vec<u8> = "Zoë – 5 €, 日".chars().map(win_ansi).collect();
        assert_eq!(
            bytes,
            [
                b'Z', b'o', 0xeb, b' ', 0x96, b' ', b'5', b' ', 0x80, b',', b' ', b'?'
            ]
        );
    }

    #[test]
    fn long_text_wraps_within_the_width() {
        let text = "word ".repeat(200);
        let lines = wrap(text.as_bytes(), Font::Regular, 10.0, 200.0);
        assert!(lines.len() > 5);
        for line in &lines {
            let width: f32 = line
                .iter()
                .map(|&b| glyph_width(b, Font::Regular, 10.0))
                .sum();
            assert!(width <= 200.0, "{width}");
        }
        let long_word = "x".repeat(500);
        assert!(wrap(long_word.as_bytes(), Font::Regular, 10.0, 100.0).len() > 1);
    }

    #[test]
    fn the_file_has_a_header_a_valid_xref_and_pages() {
        let mut doc = Document::new("Test");
        for i in 0..200 {
            doc.text(&format!("line {i}"), Font::Regular, 11.0, 0.0);
        }
        let pdf = doc.finish();
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.starts_with("%PDF-1.4"));
        assert!(text.ends_with("%%EOF\n"));
        assert!(text.contains("/Count 5 "), "200 lines take 5 pages");
        // Every xref offset points at its object.
        let xref_at: usize = text
            .rsplit("startxref\n")
            .next()
            .and_then(|t| t.lines().next())
            .and_then(|n| n.parse().ok())
            .unwrap();
        let table = &text[xref_at..];
        for (i, entry) in table
            .lines()
            .skip(3)
            .take_while(|l| l.ends_with(" n "))
            .enumerate()
        {
            let offset: usize = entry[..10].parse().unwrap();
            assert!(text[offset..].starts_with(&format!("{} 0 obj", i + 1)));
        }
    }
}
