//! A chart's SVG rasterised to PNG (`llmrank plot -o FILE.png`), with resvg: the same picture,
//! drawn at twice its size so it stays sharp in a report or a pull request. Text needs a font
//! installed on the machine; without one the answer is an error, never a chart with no labels.

use anyhow::{anyhow, bail, Context, Result};
use resvg::{tiny_skia, usvg};

/// Pixels per SVG unit.
pub const SCALE: f32 = 2.0;

/// Families tried, in order, for the charts' `sans-serif`; else the first installed face.
const SANS: [&str; 6] = [
    "DejaVu Sans",
    "Liberation Sans",
    "Noto Sans",
    "Arial",
    "Helvetica",
    "Roboto",
];

/// The SVG drawn as PNG bytes at [`SCALE`], in its light colours.
pub fn render(svg: &str) -> Result<Vec<u8>> {
    let mut opt = usvg::Options::default();
    let db = opt.fontdb_mut();
    db.load_system_fonts();
    let installed: Vec<String> = db
        .faces()
        .flat_map(|f| f.families.iter().map(|(name, _)| name.clone()))
        .collect();
    let Some(sans) = SANS
        .iter()
        .find(|s| installed.iter().any(|i| i == *s))
        .map(|s| s.to_string())
        .or_else(|| installed.first().cloned())
    else {
        bail!(
            "PNG output needs a font to draw the labels and this machine has none installed \
             (Debian: apt-get install fonts-dejavu-core); or write the chart as .svg"
        );
    };
    db.set_sans_serif_family(sans);
    let tree = usvg::Tree::from_str(&super::kit::for_print(svg), &opt)
        .context("the chart is not valid SVG")?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(SCALE)
        .ok_or_else(|| anyhow!("the chart is too large to draw"))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height())
        .ok_or_else(|| anyhow!("the chart has no area to draw"))?;
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(SCALE, SCALE),
        &mut pixmap.as_mut(),
    );
    pixmap.encode_png().context("failed to encode the PNG")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_the_svg_at_twice_its_size() {
        let svg = r##"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><rect width="40" height="20" fill="#ffffff"/><rect x="10" y="5" width="20" height="10" fill="#4e79a7"/></svg>"##;
        let png = render(svg).unwrap();
        let pix = tiny_skia::Pixmap::decode_png(&png).unwrap();
        assert_eq!((pix.width(), pix.height()), (80, 40));
        let at = |x: u32, y: u32| {
            let p = pix.pixel(x, y).unwrap();
            (p.red(), p.green(), p.blue())
        };
        assert_eq!(at(40, 20), (0x4e, 0x79, 0xa7));
        assert_eq!(at(5, 5), (255, 255, 255));
        assert!(render("<svg").is_err());
    }
}
