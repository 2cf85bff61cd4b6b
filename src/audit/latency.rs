//! Latency percentiles in bounded memory: a report over a month of a busy issuer's
//! pulls had kept every latency (8 bytes a pull, tens of millions of pulls). Values
//! below 64 µs are counted exactly; above, in 64 buckets per power of two, so a
//! percentile is within 1% of the exact one, in at most ~30 KiB a doc type and month.

const EXACT: u64 = 64;
const SUB_BITS: u32 = 6;

#[derive(Default)]
pub(super) struct Latencies {
    counts: Vec<u64>,
    total: u64,
}

pub(super) fn bucket(us: u64) -> usize {
    if us < EXACT {
        return us as usize;
    }
    let power = 63 - us.leading_zeros(); // ≥ SUB_BITS
    let shift = power - SUB_BITS;
    let sub = (us >> shift) & (EXACT - 1);
    (EXACT + u64::from(shift) * EXACT + sub) as usize
}

/// The middle of a bucket's values, in µs.
fn value(bucket: usize) -> f64 {
    let b = bucket as u64;
    if b < EXACT {
        return b as f64;
    }
    let shift = (b - EXACT) / EXACT;
    let sub = (b - EXACT) % EXACT;
    let low = (EXACT + sub) << shift;
    low as f64 + ((1u64 << shift) as f64 - 1.0) / 2.0
}

impl Latencies {
    pub fn add(&mut self, us: i64) {
        self.add_counted(bucket(us.max(0) as u64), 1);
    }

    /// `n` latencies counted in bucket `b` (as the running counts hold it).
    pub fn add_counted(&mut self, b: usize, n: u64) {
        // A bucket past any real latency (a row's latency_us is its own): capped rather
        // than grown to it.
        let b = b.min(bucket(u64::MAX >> 1));
        if self.counts.len() <= b {
            self.counts.resize(b + 1, 0);
        }
        self.counts[b] += n;
        self.total += n;
    }

    /// The `p` quantile in ms (the value at rank round((n - 1) * p), as the report
    /// had it from the sorted latencies); 0 when there are none.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((self.total as f64 - 1.0) * p).round() as u64;
        let mut seen = 0;
        for (b, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen > rank {
                return value(b) / 1000.0;
            }
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(sorted: &[i64], p: f64) -> f64 {
        let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
        sorted[i] as f64 / 1000.0
    }

    #[test]
    fn percentiles_are_within_one_percent_of_the_exact_ones() {
        // Latencies from 1 µs to minutes, spread over every power of two.
        let mut all: Vec<i64> = (0..200_000u64)
            .map(|i| ((i * 2_654_435_761) % 1_000_003) as i64 * ((i % 97) as i64 + 1))
            .collect();
        let mut h = Latencies::default();
        for &v in &all {
            h.add(v);
        }
        all.sort_unstable();
        for p in [0.0, 0.01, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let (got, want) = (h.percentile_ms(p), exact(&all, p));
            assert!(
                (got - want).abs() <= want * 0.01 + 0.0005,
                "p{p}: {got} against {want}"
            );
        }
    }

    #[test]
    fn small_latencies_are_exact_and_none_give_zero() {
        assert_eq!(Latencies::default().percentile_ms(0.5), 0.0);
        let mut h = Latencies::default();
        for v in [5, 7, 9, 63] {
            h.add(v);
        }
        assert_eq!(h.percentile_ms(0.0), 0.005);
        assert_eq!(h.percentile_ms(1.0), 0.063);
        // Every bucket's middle lies in it.
        for b in 0..(EXACT as usize + 57 * EXACT as usize) {
            assert_eq!(bucket(value(b).floor() as u64), b, "bucket {b}");
        }
    }
}
