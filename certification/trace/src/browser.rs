//! Opening the HTML report in a real browser: headless Chromium (Debian's `chromium`
//! package) takes a screenshot and dumps the DOM after layout, and this module checks that
//! the screenshot is not blank and that the report's own render check saw its tables and
//! goal tree laid out with a size.
//!
//! [`ensure_chromium`] installs the browser with apt when it is missing and the process runs
//! as root (as in CI); otherwise it fails with the command to run. The test suite calls
//! [`check_html`] through `tests/browser.rs`, so the check runs wherever the tests run.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::apt;
use crate::error::Error;

/// Browser executables tried, in order (`BULKHEAD_CHROMIUM` overrides).
const CANDIDATES: &[&str] = &["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/// Window size for the screenshot.
pub const WINDOW: (u32, u32) = (1280, 1600);

/// What the report's render-check script measured.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Deserialize)]
pub struct RenderFacts {
    /// Report tables in the document.
    pub tables: u32,
    /// Of which laid out with a height.
    pub laid_out_tables: u32,
    /// Goal-tree nodes in the SVG.
    pub goal_tree_nodes: u32,
    /// The goal tree's rendered width in pixels.
    pub goal_tree_width: u32,
    /// Its rendered height.
    pub goal_tree_height: u32,
}

/// What the browser check saw.
#[derive(Clone, Debug, PartialEq)]
pub struct BrowserCheck {
    /// The browser's version line.
    pub browser: String,
    /// The screenshot.
    pub screenshot: PathBuf,
    /// Its width and height.
    pub size: (u32, u32),
    /// Distinct colours in it (counted up to 4096).
    pub distinct_colours: usize,
    /// The share of pixels that differ from the most common (background) colour.
    pub foreground_fraction: f64,
    /// The render-check script's measurements from the dumped DOM.
    pub render: RenderFacts,
}

/// The Chromium executable, if one is installed.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("BULKHEAD_CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    CANDIDATES.iter().find_map(|name| {
        std::env::split_paths(&path).map(|directory| directory.join(name)).find(|candidate| candidate.is_file())
    })
}

/// Whether the process runs as root.
/// Finds Chromium, installing Debian's `chromium` package with apt when missing and root.
pub fn ensure_chromium() -> Result<PathBuf, Error> {
    if let Some(path) = find_chromium() {
        return Ok(path);
    }
    let install = apt::install_command("chromium");
    if !apt::is_root() {
        return Err(Error::Tool {
            program: "chromium".to_owned(),
            message: format!("not installed; run `sudo {install}`"),
        });
    }
    if !apt::install("chromium", "headless browser for the report's rendering check") {
        return Err(Error::Tool { program: "apt-get".to_owned(), message: format!("`{install}` failed") });
    }
    find_chromium().ok_or_else(|| Error::Tool {
        program: "chromium".to_owned(),
        message: "installed but not found on PATH".to_owned(),
    })
}

/// Runs Chromium headless on `html` with the flags that keep it offline and quiet.
fn chromium(browser: &Path, profile: &Path, extra: &[String], html: &Path) -> Result<std::process::Output, Error> {
    let url = format!("file://{}", html.display());
    Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .output()
        .map_err(|error| Error::Tool { program: browser.display().to_string(), message: error.to_string() })
}

/// Screenshots `html` into `work_dir` and dumps its DOM; returns what was seen.
pub fn check_html(browser: &Path, html: &Path, work_dir: &Path) -> Result<BrowserCheck, Error> {
    let html = std::fs::canonicalize(html).map_err(|error| Error::io(html, error))?;
    std::fs::create_dir_all(work_dir).map_err(|error| Error::io(work_dir, error))?;
    let profile = work_dir.join("chromium-profile");
    let screenshot = work_dir.join("report.png");
    let _ = std::fs::remove_file(&screenshot);
    let version = Command::new(browser)
        .arg("--version")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        .unwrap_or_default();
    let shot = chromium(
        browser,
        &profile,
        &[format!("--screenshot={}", screenshot.display()), format!("--window-size={},{}", WINDOW.0, WINDOW.1)],
        &html,
    )?;
    if !screenshot.exists() {
        return Err(Error::Tool {
            program: browser.display().to_string(),
            message: format!(
                "no screenshot written: {}",
                String::from_utf8_lossy(&shot.stderr).lines().last().unwrap_or_default()
            ),
        });
    }
    let dump = chromium(browser, &profile, &["--dump-dom".to_owned()], &html)?;
    let dom = String::from_utf8_lossy(&dump.stdout);
    let render = render_facts(&dom).ok_or_else(|| Error::Tool {
        program: browser.display().to_string(),
        message: "the dumped DOM has no render-check result (scripts did not run?)".to_owned(),
    })?;
    let bytes = std::fs::read(&screenshot).map_err(|error| Error::io(&screenshot, error))?;
    let image = decode_png(&bytes).map_err(|message| Error::Tool { program: "png".to_owned(), message })?;
    let (distinct_colours, foreground_fraction) = colour_statistics(&image);
    Ok(BrowserCheck {
        browser: version,
        screenshot,
        size: (image.width, image.height),
        distinct_colours,
        foreground_fraction,
        render,
    })
}

/// The JSON in `data-render="…"` of the dumped DOM.
pub fn render_facts(dom: &str) -> Option<RenderFacts> {
    let start = dom.find("data-render=\"")? + "data-render=\"".len();
    let end = start + dom[start..].find('"')?;
    let json = dom[start..end].replace("&quot;", "\"").replace("&amp;", "&");
    serde_json::from_str(&json).ok()
}

/// A decoded image: RGBA pixels.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// `width * height` RGBA values.
    pub pixels: Vec<u32>,
}

/// Decodes an 8-bit, non-interlaced RGB or RGBA PNG (what Chromium writes; PNG
/// specification, ISO/IEC 15948, sections 11.2.2 IHDR, 9 filtering and 10 compression).
pub fn decode_png(bytes: &[u8]) -> Result<Image, String> {
    const SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";
    if !bytes.starts_with(SIGNATURE) {
        return Err("not a PNG file".to_owned());
    }
    let mut offset = SIGNATURE.len();
    let mut header = None;
    let mut compressed = Vec::new();
    while offset + 8 <= bytes.len() {
        let length =
            u32::from_be_bytes([bytes[offset], bytes[offset + 1], bytes[offset + 2], bytes[offset + 3]]) as usize;
        let kind = &bytes[offset + 4..offset + 8];
        let data = bytes.get(offset + 8..offset + 8 + length).ok_or("truncated chunk")?;
        match kind {
            b"IHDR" if data.len() >= 13 => {
                header = Some((
                    u32::from_be_bytes([data[0], data[1], data[2], data[3]]),
                    u32::from_be_bytes([data[4], data[5], data[6], data[7]]),
                    data[8],
                    data[9],
                    data[12],
                ))
            }
            b"IDAT" => compressed.extend_from_slice(data),
            b"IEND" => break,
            _ => {}
        }
        offset += 12 + length;
    }
    let (width, height, depth, colour_type, interlace) = header.ok_or("no IHDR chunk")?;
    let channels = match (depth, colour_type, interlace) {
        (8, 2, 0) => 3,
        (8, 6, 0) => 4,
        _ => return Err(format!("unsupported PNG: depth {depth}, colour type {colour_type}, interlace {interlace}")),
    };
    let raw = miniz_oxide::inflate::decompress_to_vec_zlib(&compressed)
        .map_err(|error| format!("bad image data: {error:?}"))?;
    let stride = width as usize * channels;
    if raw.len() < (stride + 1) * height as usize {
        return Err("image data too short".to_owned());
    }
    let mut previous = vec![0u8; stride];
    let mut pixels = Vec::with_capacity(width as usize * height as usize);
    for row in 0..height as usize {
        let line = &raw[row * (stride + 1)..(row + 1) * (stride + 1)];
        let filter = line[0];
        let mut current = line[1..].to_vec();
        for index in 0..stride {
            let left = if index >= channels { current[index - channels] } else { 0 };
            let up = previous[index];
            let up_left = if index >= channels { previous[index - channels] } else { 0 };
            let predictor = match filter {
                0 => 0,
                1 => left,
                2 => up,
                3 => ((u16::from(left) + u16::from(up)) / 2) as u8,
                4 => paeth(left, up, up_left),
                other => return Err(format!("unknown filter type {other}")),
            };
            current[index] = current[index].wrapping_add(predictor);
        }
        for pixel in current.chunks(channels) {
            let alpha = if channels == 4 { pixel[3] } else { 255 };
            pixels.push(u32::from_be_bytes([pixel[0], pixel[1], pixel[2], alpha]));
        }
        previous = current;
    }
    Ok(Image { width, height, pixels })
}

/// The Paeth predictor (PNG specification 9.4).
fn paeth(left: u8, up: u8, up_left: u8) -> u8 {
    let estimate = i16::from(left) + i16::from(up) - i16::from(up_left);
    let distance = |value: u8| (estimate - i16::from(value)).abs();
    if distance(left) <= distance(up) && distance(left) <= distance(up_left) {
        left
    } else if distance(up) <= distance(up_left) {
        up
    } else {
        up_left
    }
}

/// Distinct colours (up to 4096) and the share of non-background pixels.
pub fn colour_statistics(image: &Image) -> (usize, f64) {
    let mut counts: HashMap<u32, usize> = HashMap::new();
    for pixel in &image.pixels {
        if counts.len() < 4096 || counts.contains_key(pixel) {
            *counts.entry(*pixel).or_default() += 1;
        }
    }
    let background = counts.values().copied().max().unwrap_or(0);
    let total = image.pixels.len().max(1);
    let as_float = |count: usize| crate::display_f64(u64::try_from(count).unwrap_or(u64::MAX));
    let fraction = as_float(total - background) / as_float(total);
    (counts.len(), fraction)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG of `width`×`height` RGB pixels from `pixel(x, y)`, every row with filter `filter`.
    fn png(width: u32, height: u32, filter: u8, pixel: impl Fn(u32, u32) -> [u8; 3]) -> Vec<u8> {
        let mut raw = Vec::new();
        let mut previous = vec![0u8; width as usize * 3];
        for y in 0..height {
            raw.push(filter);
            let row: Vec<u8> = (0..width).flat_map(|x| pixel(x, y)).collect();
            for (index, byte) in row.iter().enumerate() {
                let left = if index >= 3 { row[index - 3] } else { 0 };
                let predictor = match filter {
                    1 => left,
                    2 => previous[index],
                    3 => ((u16::from(left) + u16::from(previous[index])) / 2) as u8,
                    4 => paeth(left, previous[index], if index >= 3 { previous[index - 3] } else { 0 }),
                    _ => 0,
                };
                raw.push(byte.wrapping_sub(predictor));
            }
            previous = row;
        }
        let chunk = |kind: &[u8], data: &[u8], out: &mut Vec<u8>| {
            out.extend_from_slice(&u32::try_from(data.len()).unwrap().to_be_bytes());
            out.extend_from_slice(kind);
            out.extend_from_slice(data);
            out.extend_from_slice(&[0, 0, 0, 0]);
        };
        let mut bytes = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut header = width.to_be_bytes().to_vec();
        header.extend_from_slice(&height.to_be_bytes());
        header.extend_from_slice(&[8, 2, 0, 0, 0]);
        chunk(b"IHDR", &header, &mut bytes);
        chunk(b"IDAT", &miniz_oxide::deflate::compress_to_vec_zlib(&raw, 6), &mut bytes);
        chunk(b"IEND", &[], &mut bytes);
        bytes
    }

    #[test]
    fn every_filter_type_decodes_to_the_same_pixels() {
        let pattern = |x: u32, y: u32| [(x * 40) as u8, (y * 70) as u8, ((x + y) * 13) as u8];
        let reference = decode_png(&png(5, 4, 0, pattern)).unwrap();
        assert_eq!(reference.pixels[6], u32::from_be_bytes([40, 70, 26, 255]));
        for filter in 1..=4 {
            assert_eq!(decode_png(&png(5, 4, filter, pattern)).unwrap(), reference, "filter {filter}");
        }
    }

    #[test]
    fn a_blank_page_has_one_colour_and_no_foreground() {
        let blank = decode_png(&png(8, 8, 0, |_, _| [255, 255, 255])).unwrap();
        assert_eq!(colour_statistics(&blank), (1, 0.0));
        let drawn = decode_png(&png(8, 8, 2, |x, y| if x == y { [0, 0, 0] } else { [255, 255, 255] })).unwrap();
        let (colours, fraction) = colour_statistics(&drawn);
        assert_eq!(colours, 2);
        assert!((fraction - 0.125).abs() < 1e-9);
        assert!(decode_png(b"GIF89a").is_err());
    }

    #[test]
    fn render_facts_are_read_from_the_dumped_dom() {
        let dom = r#"<p id="render-check" data-render="{&quot;tables&quot;:9,&quot;laid_out_tables&quot;:9,&quot;goal_tree_nodes&quot;:12,&quot;goal_tree_width&quot;:900,&quot;goal_tree_height&quot;:400}">"#;
        let facts = render_facts(dom).unwrap();
        assert_eq!((facts.tables, facts.goal_tree_nodes, facts.goal_tree_width), (9, 12, 900));
        assert_eq!(render_facts("<p>nothing</p>"), None);
    }
}
