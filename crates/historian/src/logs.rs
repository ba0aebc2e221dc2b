//! Where log lines go and what they look like: plain text (coloured only on a terminal) or
//! one JSON object a line, filtered by `--log`, `-v`, `RUST_LOG`, or the command's default.

use std::io::IsTerminal;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines; ANSI colour only when stderr is a terminal and `NO_COLOR` is
    /// unset.
    #[default]
    Text,
    /// One JSON object a line (for journald, Loki, Elastic).
    Json,
}

/// What the log filter is made from, highest precedence first.
#[derive(Debug, Clone, Copy, Default)]
pub struct FilterInputs<'a> {
    /// `--log` / `HISTORIAN_LOG`: a level or tracing directive, taken as written.
    pub explicit: Option<&'a str>,
    /// How many `-v` were given: 1 info, 2 debug, 3 or more trace.
    pub verbose: u8,
    /// `RUST_LOG`, the usual variable of Rust programs.
    pub rust_log: Option<&'a str>,
    /// True for commands that keep running (run, demo, simulate, bench): they log at info
    /// by default; one-shot commands only warn, so their output is the answer alone.
    pub long_running: bool,
}

impl FilterInputs<'_> {
    /// The tracing directive in force.
    pub fn directive(&self) -> String {
        if let Some(d) = self.explicit.filter(|d| !d.trim().is_empty()) {
            return d.to_string();
        }
        match self.verbose {
            0 => {}
            1 => return "info".into(),
            2 => return "debug".into(),
            _ => return "trace".into(),
        }
        if let Some(d) = self.rust_log.filter(|d| !d.trim().is_empty()) {
            return d.to_string();
        }
        if self.long_running { "info" } else { "warn" }.into()
    }
}

/// Installs the process's log subscriber, writing to stderr. A directive that does not
/// parse falls back to `info`, and says so, since logging must not stop the program.
pub fn init(inputs: FilterInputs<'_>, format: LogFormat) {
    let directive = inputs.directive();
    let (filter, bad) = match tracing_subscriber::EnvFilter::try_new(&directive) {
        Ok(f) => (f, None),
        Err(e) => (tracing_subscriber::EnvFilter::new("info"), Some(e)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.with_ansi(colour_wanted()).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .init(),
    }
    if let Some(e) = bad {
        tracing::warn!(directive, error = %e, "log filter not understood; logging at info");
    }
}

/// Colour codes only help a person at a terminal; in a file, a pipe or the journal they
/// are noise.
fn colour_wanted() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_filter_follows_its_precedence() {
        let one_shot = FilterInputs::default();
        assert_eq!(one_shot.directive(), "warn");
        let service = FilterInputs {
            long_running: true,
            ..FilterInputs::default()
        };
        assert_eq!(service.directive(), "info");
        let rust_log = FilterInputs {
            rust_log: Some("debug"),
            ..one_shot
        };
        assert_eq!(rust_log.directive(), "debug");
        let verbose = FilterInputs {
            verbose: 1,
            ..rust_log
        };
        assert_eq!(verbose.directive(), "info");
        assert_eq!(
            FilterInputs {
                verbose: 5,
                ..one_shot
            }
            .directive(),
            "trace"
        );
        let explicit = FilterInputs {
            explicit: Some("error"),
            ..verbose
        };
        assert_eq!(explicit.directive(), "error");
        let blank = FilterInputs {
            explicit: Some(" "),
            ..service
        };
        assert_eq!(blank.directive(), "info");
    }
}
