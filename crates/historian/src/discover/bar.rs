//! The progress bar of a discovery on a terminal: addresses and unit ids done of those
//! known, requests sent, and what is being scanned. Nothing is drawn when standard error
//! is not a terminal (a pipe or a log file gets only the summary).

use historian_modbus::discover::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

/// A bar redrawn from the shared counters until finished.
#[derive(Debug)]
pub struct Bar {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

/// Starts a bar for `progress` on standard error, or nothing when it is not a terminal.
pub fn start(progress: Arc<Progress>) -> Option<Bar> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{elapsed_precise} [{wide_bar}] {percent:>3}% {msg}")
    {
        bar.set_style(style);
    }
    let shown = bar.clone();
    let task = tokio::spawn(async move {
        loop {
            shown.set_length(progress.total().max(1));
            shown.set_position(progress.done());
            shown.set_message(format!(
                "{} requests, {}",
                progress.requests(),
                progress.phase()
            ));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    Some(Bar { bar, task })
}

impl Bar {
    /// Stops redrawing and clears the bar, leaving the terminal to the summary.
    pub fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}
