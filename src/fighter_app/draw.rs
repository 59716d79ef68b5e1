//! Hands [`Shape`]s to macroquad, and saves screenshots. The only drawing code that needs a
//! window.

use std::path::Path;

use macroquad::prelude::{
    draw_circle, draw_line, draw_rectangle, draw_rectangle_lines, draw_text, measure_text, Color,
};

use super::render::{Align, Rgba, Shape};

fn color(c: Rgba) -> Color {
    Color::from_rgba(c.0, c.1, c.2, c.3)
}

/// Draws the shapes in order.
pub fn draw(shapes: &[Shape]) {
    for shape in shapes {
        match shape {
            Shape::Rect {
                x,
                y,
                w,
                h,
                color: c,
            } => draw_rectangle(*x, *y, *w, *h, color(*c)),
            Shape::Outline {
                x,
                y,
                w,
                h,
                thickness,
                color: c,
            } => draw_rectangle_lines(*x, *y, *w, *h, *thickness, color(*c)),
            Shape::Circle { x, y, r, color: c } => draw_circle(*x, *y, *r, color(*c)),
            Shape::Line {
                x0,
                y0,
                x1,
                y1,
                thickness,
                color: c,
            } => draw_line(*x0, *y0, *x1, *y1, *thickness, color(*c)),
            Shape::Text {
                x,
                y,
                size,
                align,
                color: c,
                text,
            } => {
                let left = match align {
                    Align::Left => *x,
                    Align::Center | Align::Right => {
                        let w = measure_text(text, None, *size as u16, 1.0).width;
                        if *align == Align::Center {
                            x - w / 2.0
                        } else {
                            x - w
                        }
                    }
                };
                draw_text(text, left, *y, *size, color(*c));
            }
        }
    }
}

/// Writes the frame drawn so far (call before `next_frame`) as a PNG.
pub fn screenshot(path: &Path) -> Result<(), String> {
    let image = macroquad::texture::get_screen_data();
    let (w, h) = (usize::from(image.width), usize::from(image.height));
    let row = w * 4;
    if image.bytes.len() < row * h {
        return Err(format!("screen data too short for {w}x{h}"));
    }
    // OpenGL rows run bottom-up: flip them
    let mut flipped = Vec::with_capacity(row * h);
    for y in (0..h).rev() {
        flipped.extend_from_slice(&image.bytes[y * row..(y + 1) * row]);
    }
    // the window has no alpha channel: make the PNG opaque
    for px in flipped.chunks_exact_mut(4) {
        px[3] = 255;
    }
    image::save_buffer(
        path,
        &flipped,
        u32::from(image.width),
        u32::from(image.height),
        image::ColorType::Rgba8,
    )
    .map_err(|e| format!("screenshot {}: {e}", path.display()))
}
