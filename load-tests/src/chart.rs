//! A run's shape over time: latency percentiles and throughput per second of the run, kept while
//! it runs and drawn as an SVG chart (plotters) for docs/bench/, so a reader sees the tail and the
//! stalls, not only the medians.

use crate::report::histogram;
use hdrhistogram::Histogram;
use plotters::prelude::*;
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

/// Per-second latency histograms (by the second an operation was meant to start) and completions
/// (by the second it finished).
pub struct Timeline {
    start: Instant,
    seconds: Mutex<Vec<(Histogram<u64>, u64)>>,
}

/// One second of a run: completions, and latency percentiles in milliseconds.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Second {
    pub second: u32,
    pub done: u64,
    /// Operations meant to start in this second (0: no latency to draw).
    pub samples: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
}

impl Timeline {
    pub fn new(start: Instant) -> Self {
        Timeline { start, seconds: Mutex::new(Vec::new()) }
    }

    fn slot(&self, at: Instant, f: impl FnOnce(&mut (Histogram<u64>, u64))) {
        let i = at.saturating_duration_since(self.start).as_secs() as usize;
        if let Ok(mut s) = self.seconds.lock() {
            while s.len() <= i {
                s.push((histogram(), 0));
            }
            f(&mut s[i]);
        }
    }

    /// An operation meant to start at `intended` took `micros`; it finished at `done`.
    pub fn record(&self, intended: Instant, done: Instant, micros: u64) {
        self.slot(intended, |(h, _)| {
            let _ = h.record(micros.clamp(1, 600_000_000));
        });
        self.slot(done, |(_, n)| *n += 1);
    }

    /// The whole run's latency percentiles (every second's samples together).
    pub fn percentiles(&self) -> crate::report::Percentiles {
        self.percentiles_since(0)
    }

    /// Latency percentiles of the operations meant to start from second `first` of the run on.
    pub fn percentiles_since(&self, first: usize) -> crate::report::Percentiles {
        let mut all = histogram();
        if let Ok(s) = self.seconds.lock() {
            for (h, _) in s.iter().skip(first) {
                let _ = all.add(h);
            }
        }
        crate::report::percentiles(&all)
    }

    pub fn seconds(&self) -> Vec<Second> {
        let ms = |us: u64| us as f64 / 1000.0;
        self.seconds
            .lock()
            .map(|s| {
                s.iter()
                    .enumerate()
                    .map(|(i, (h, done))| Second {
                        second: i as u32,
                        done: *done,
                        samples: h.len(),
                        p50_ms: ms(h.value_at_quantile(0.5)),
                        p90_ms: ms(h.value_at_quantile(0.9)),
                        p99_ms: ms(h.value_at_quantile(0.99)),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

type ChartError = Box<dyn std::error::Error + Send + Sync>;
/// A latency line: its legend, colour and value.
type Series = (&'static str, RGBColor, fn(&Second) -> f64);

fn fail(e: impl std::fmt::Display) -> ChartError {
    e.to_string().into()
}

/// Draws latency (p50, p90, p99 per second) above throughput (completions per second).
pub fn draw(path: &Path, title: &str, unit: &str, seconds: &[Second]) -> Result<(), ChartError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let root = SVGBackend::new(path, (960, 600)).into_drawing_area();
    root.fill(&WHITE).map_err(fail)?;
    let (top, bottom) = root.split_vertically(360);
    let last = seconds.len().max(2) as u32;
    let worst = seconds.iter().map(|s| s.p99_ms).fold(1.0, f64::max) * 1.1;
    let mut latency = ChartBuilder::on(&top)
        .caption(format!("{title}: latency by second"), ("sans-serif", 18))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0u32..last, 0f64..worst)
        .map_err(fail)?;
    latency.configure_mesh().x_desc("second of the run").y_desc("ms").draw().map_err(fail)?;
    let series: [Series; 3] = [
        ("p50", RGBColor(31, 122, 92), |s| s.p50_ms),
        ("p90", RGBColor(43, 95, 179), |s| s.p90_ms),
        ("p99", RGBColor(179, 38, 30), |s| s.p99_ms),
    ];
    for (label, color, value) in series {
        latency
            .draw_series(LineSeries::new(
                seconds.iter().filter(|s| s.samples > 0).map(|s| (s.second, value(s))),
                color.stroke_width(2),
            ))
            .map_err(fail)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2)));
    }
    latency.configure_series_labels().background_style(WHITE.mix(0.85)).border_style(BLACK).draw().map_err(fail)?;
    let busiest = seconds.iter().map(|s| s.done).max().unwrap_or(1).max(1) as f64 * 1.1;
    let mut throughput = ChartBuilder::on(&bottom)
        .caption(format!("{unit} per second"), ("sans-serif", 16))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .build_cartesian_2d(0u32..last, 0f64..busiest)
        .map_err(fail)?;
    throughput.configure_mesh().x_desc("second of the run").draw().map_err(fail)?;
    throughput
        .draw_series(seconds.iter().map(|s| {
            Rectangle::new([(s.second, 0.0), (s.second + 1, s.done as f64)], RGBColor(43, 95, 179).mix(0.6).filled())
        }))
        .map_err(fail)?;
    root.present().map_err(fail)?;
    Ok(())
}
