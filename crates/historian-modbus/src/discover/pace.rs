//! How fast discovery may talk to a device: a pause after every request and a ceiling on
//! requests per second, whichever leaves the longer gap.

use std::time::Duration;
use tokio::time::Instant;

/// The spacing of requests on one link.
#[derive(Debug, Clone)]
pub struct Pace {
    gap: Duration,
    next: Option<Instant>,
}

impl Pace {
    /// Requests at least `pause` apart and at most `max_per_second` a second (`None` or 0:
    /// no ceiling).
    pub fn new(pause: Duration, max_per_second: Option<u32>) -> Self {
        let ceiling = max_per_second
            .filter(|&n| n > 0)
            .map_or(Duration::ZERO, |n| Duration::from_secs(1) / n);
        Self {
            gap: pause.max(ceiling),
            next: None,
        }
    }

    /// The smallest gap between the starts of two requests.
    pub fn gap(&self) -> Duration {
        self.gap
    }

    /// Waits until the next request may start, and books the slot after it.
    pub async fn wait(&mut self) {
        if let Some(at) = self.next {
            tokio::time::sleep_until(at).await;
        }
        self.next = Some(Instant::now() + self.gap);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longer_of_pause_and_rate_wins() {
        assert_eq!(Pace::new(Duration::ZERO, None).gap(), Duration::ZERO);
        assert_eq!(
            Pace::new(Duration::from_millis(5), Some(10)).gap(),
            Duration::from_millis(100)
        );
        assert_eq!(
            Pace::new(Duration::from_millis(300), Some(10)).gap(),
            Duration::from_millis(300)
        );
        assert_eq!(Pace::new(Duration::ZERO, Some(0)).gap(), Duration::ZERO);
    }

    #[tokio::test]
    async fn requests_are_spaced_at_least_by_the_gap() {
        let mut pace = Pace::new(Duration::from_millis(20), None);
        let start = Instant::now();
        for _ in 0..4 {
            pace.wait().await;
        }
        assert!(
            start.elapsed() >= Duration::from_millis(60),
            "{:?}",
            start.elapsed()
        );
    }
}
