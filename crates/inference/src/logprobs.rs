//! Log-probabilities of generated tokens, as OpenAI's `logprobs` / `top_logprobs` report them.

/// The most alternatives a request may ask for (OpenAI's limit for `top_logprobs`).
pub const MAX_TOP_LOGPROBS: usize = 20;

/// The model's log-probabilities at one generated token.
///
/// They describe the MODEL's distribution: the log-softmax of the raw logits, before
/// temperature, penalties, top-k / top-p / min-p and any constraint's mask (as OpenAI reports
/// them). So a token a constraint forced may have a low logprob, and with sampling the chosen
/// token need not be `top[0]`.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprobs {
    /// The chosen token.
    pub token: u32,
    /// Its natural-log probability (at most 0; -inf if the model gave it none).
    pub logprob: f32,
    /// The `k` most likely tokens with their logprobs, most likely first (ties: lower id
    /// first).
    pub top: Vec<(u32, f32)>,
}

impl TokenLogprobs {
    /// Logprobs of `token` and the `k` most likely tokens under `logits` (one pass for the
    /// normaliser, one for the top `k`; NaN counts as -inf).
    pub fn from_logits(logits: &[f32], token: u32, k: usize) -> Self {
        let log_normalizer = log_normalizer(logits);
        let logprob = |id: usize| clean(logits[id]) - log_normalizer;
        TokenLogprobs {
            token,
            logprob: logits
                .get(token as usize)
                .map_or(f32::NEG_INFINITY, |_| logprob(token as usize)),
            top: top_k(logits, k)
                .into_iter()
                .map(|id| (id as u32, logprob(id)))
                .collect(),
        }
    }
}

/// NaN as -inf.
fn clean(logit: f32) -> f32 {
    if logit.is_nan() {
        f32::NEG_INFINITY
    } else {
        logit
    }
}

/// `ln(sum(exp(logits)))`, computed stably (in f64).
fn log_normalizer(logits: &[f32]) -> f32 {
    let max = logits
        .iter()
        .copied()
        .map(clean)
        .fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return max;
    }
    let sum: f64 = logits
        .iter()
        .map(|&l| (f64::from(clean(l)) - f64::from(max)).exp())
        .sum();
    (f64::from(max) + sum.ln()) as f32
}

/// Ids of the `k` largest logits, largest first (ties: lower id first).
fn top_k(logits: &[f32], k: usize) -> Vec<usize> {
    let k = k.min(logits.len());
    let mut best: Vec<usize> = Vec::with_capacity(k + 1);
    if k == 0 {
        return best;
    }
    let better = |a: usize, b: usize| clean(logits[a]) > clean(logits[b]);
    for id in 0..logits.len() {
        if best.len() == k && !better(id, best[k - 1]) {
            continue;
        }
        // Insert after every entry at least as good (earlier ids win ties).
        let at = best.partition_point(|&kept| !better(id, kept));
        best.insert(at, id);
        best.truncate(k);
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_distribution_sums_to_one() {
        let logits = [2.0, -1.0, 0.5, 3.0, f32::NEG_INFINITY, 0.0];
        let all = TokenLogprobs::from_logits(&logits, 3, logits.len());
        let total: f64 = all.top.iter().map(|&(_, l)| f64::from(l).exp()).sum();
        assert!((total - 1.0).abs() < 1e-6, "{total}");
        assert!(all.top.iter().all(|&(_, l)| l <= 0.0));
        let ids: Vec<u32> = all.top.iter().map(|&(id, _)| id).collect();
        assert_eq!(ids, [3, 0, 2, 5, 1, 4]);
        assert_eq!(all.logprob, all.top[0].1);
    }

    #[test]
    fn large_logits_stay_finite() {
        let logits = [1000.0, 999.0, f32::NAN];
        let lp = TokenLogprobs::from_logits(&logits, 1, 3);
        assert!((lp.logprob - (-1.0 - (1.0 + (-1.0f32).exp()).ln())).abs() < 1e-4);
        assert_eq!(lp.top[2], (2, f32::NEG_INFINITY));
    }

    #[test]
    fn ties_keep_the_lower_id_first_and_k_zero_lists_nothing() {
        let logits = [1.0, 1.0, 1.0, 0.0];
        let lp = TokenLogprobs::from_logits(&logits, 2, 2);
        assert_eq!(lp.top.iter().map(|&(id, _)| id).collect::<Vec<_>>(), [0, 1]);
        assert!(TokenLogprobs::from_logits(&logits, 2, 0).top.is_empty());
    }
}
