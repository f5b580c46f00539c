//! Windows of a realtime node, by event time (`dtEventTimeStamp`, ms).
//!
//! Rows are kept in *panes* of `count_freq` seconds, so a row is stored once whatever the
//! window type; a window is a run of panes:
//! - `scroll`: each window is one pane, `[k·f, (k+1)·f)`.
//! - `slide`: windows of `window_time` minutes ending at every multiple of `f`.
//! - `accumulate`: within each period of `window_time` minutes, an output at every multiple of
//!   `f`, covering the period's start up to that point.
//! - `none`: no window; every batch of rows goes through the SQL as it arrives.
//!
//! A window ending at `e` is emitted once the watermark (the greatest event time seen minus
//! `waiting_time`) reaches `e`. A row whose every window has been emitted is late.
use crate::FlowError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WindowType {
    None,
    Scroll,
    Slide,
    Accumulate,
}

/// The window settings of a realtime node, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowConf {
    pub kind: WindowType,
    /// Pane length and output period (`count_freq`).
    pub freq_ms: i64,
    /// Window length (`window_time`) for slide and accumulate; `freq_ms` for scroll.
    pub len_ms: i64,
    /// Allowed lateness before a window closes (`waiting_time`).
    pub wait_ms: i64,
}

impl WindowConf {
    /// From a node's fields as BKData sends them: `count_freq` and `waiting_time` in seconds,
    /// `window_time` in minutes.
    pub fn new(
        kind: WindowType,
        count_freq_s: Option<i64>,
        window_time_min: Option<i64>,
        waiting_time_s: Option<i64>,
    ) -> Result<Self, FlowError> {
        let wait_ms = waiting_time_s.unwrap_or(0);
        if !(0..=86_400).contains(&wait_ms) {
            return Err(FlowError::config(
                "waiting_time",
                format!("must be 0..86400 seconds, got {wait_ms}"),
            ));
        }
        let wait_ms = wait_ms * 1000;
        if kind == WindowType::None {
            return Ok(WindowConf {
                kind,
                freq_ms: 0,
                len_ms: 0,
                wait_ms,
            });
        }
        let freq = count_freq_s.ok_or_else(|| {
            FlowError::config("count_freq", "is required for a windowed node (seconds)")
        })?;
        if !(1..=86_400).contains(&freq) {
            return Err(FlowError::config(
                "count_freq",
                format!("must be 1..86400 seconds, got {freq}"),
            ));
        }
        let freq_ms = freq * 1000;
        let len_ms = match kind {
            WindowType::Scroll => freq_ms,
            _ => {
                let w = window_time_min.ok_or_else(|| {
                    FlowError::config(
                        "window_time",
                        "is required for slide and accumulate (minutes)",
                    )
                })?;
                let len = w * 60_000;
                if !(1..=7 * 24 * 60).contains(&w) || len % freq_ms != 0 {
                    return Err(FlowError::config(
                        "window_time",
                        format!(
                            "must be 1 minute to 7 days and a multiple of count_freq ({freq} s), got {w} min"
                        ),
                    ));
                }
                len
            }
        };
        Ok(WindowConf {
            kind,
            freq_ms,
            len_ms,
            wait_ms,
        })
    }

    /// The pane holding event time `t`.
    pub fn pane(&self, t: i64) -> i64 {
        t.div_euclid(self.freq_ms) * self.freq_ms
    }

    /// The first pane of the window ending at `end` (a multiple of `freq_ms`).
    pub fn window_start(&self, end: i64) -> i64 {
        match self.kind {
            WindowType::None | WindowType::Scroll => end - self.freq_ms,
            WindowType::Slide => end - self.len_ms,
            // The period holding the output's last pane.
            WindowType::Accumulate => (end - self.freq_ms).div_euclid(self.len_ms) * self.len_ms,
        }
    }

    /// The last window end that takes the pane starting at `pane`: a pane is needed until
    /// that window has been emitted.
    pub fn last_end_of(&self, pane: i64) -> i64 {
        match self.kind {
            WindowType::None | WindowType::Scroll => pane + self.freq_ms,
            WindowType::Slide => pane + self.len_ms,
            WindowType::Accumulate => (pane.div_euclid(self.len_ms) + 1) * self.len_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(kind: WindowType, freq: i64, len_min: Option<i64>) -> WindowConf {
        WindowConf::new(kind, Some(freq), len_min, Some(10)).unwrap()
    }

    #[test]
    fn panes_and_window_bounds() {
        let s = conf(WindowType::Scroll, 300, None);
        assert_eq!(s.pane(299_999), 0);
        assert_eq!(s.pane(300_000), 300_000);
        assert_eq!(s.pane(-1), -300_000);
        assert_eq!(s.window_start(600_000), 300_000);
        assert_eq!(s.last_end_of(300_000), 600_000);
        assert_eq!(s.wait_ms, 10_000);

        // A 10-minute window sliding every minute: ten panes, each in ten windows.
        let sl = conf(WindowType::Slide, 60, Some(10));
        assert_eq!(sl.window_start(900_000), 300_000);
        assert_eq!(sl.last_end_of(300_000), 900_000);

        // Accumulating over 10 minutes, an output every minute: the output at 7 min covers
        // 0..7, at 10 min 0..10, at 11 min 10..11.
        let a = conf(WindowType::Accumulate, 60, Some(10));
        assert_eq!(a.window_start(420_000), 0);
        assert_eq!(a.window_start(600_000), 0);
        assert_eq!(a.window_start(660_000), 600_000);
        assert_eq!(a.last_end_of(540_000), 600_000);
        assert_eq!(a.last_end_of(600_000), 1_200_000);
    }

    #[test]
    fn bad_settings_name_the_field() {
        let e = WindowConf::new(WindowType::Scroll, None, None, None).unwrap_err();
        assert!(e.to_string().contains("count_freq"), "{e}");
        let e = WindowConf::new(WindowType::Slide, Some(60), None, None).unwrap_err();
        assert!(e.to_string().contains("window_time"), "{e}");
        let e = WindowConf::new(WindowType::Slide, Some(7), Some(1), None).unwrap_err();
        assert!(e.to_string().contains("multiple of count_freq"), "{e}");
        let e = WindowConf::new(WindowType::Scroll, Some(60), None, Some(-1)).unwrap_err();
        assert!(e.to_string().contains("waiting_time"), "{e}");
        assert!(WindowConf::new(WindowType::None, None, None, None).is_ok());
    }
}
