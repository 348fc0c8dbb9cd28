//! Choosing the next token from logits.
//!
//! The pipeline, in the order vLLM and llama.cpp apply it:
//!
//! 1. penalties from the history (repetition over prompt + generated tokens, frequency and
//!    presence over generated tokens only);
//! 2. temperature 0 → greedy: the highest penalised logit, lowest id on ties;
//! 3. temperature scaling and softmax (in `f64`);
//! 4. top-k, then top-p (nucleus) on the distribution renormalised over the top-k set, then
//!    min-p;
//! 5. a draw from the renormalised survivors with a seeded [`StdRng`].

use std::collections::{HashMap, HashSet};
use std::fmt;

use claude_tensors::kernels::lanes::{LANES, highest};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Top-p tolerance: a cumulative probability within this of `top_p` counts as reaching it, so
/// that `f32` rounding of the logits and of `top_p` cannot add a spurious extra token.
const TOP_P_EPSILON: f64 = 1e-6;

/// How to pick tokens.
///
/// Missing fields deserialize to their [`Default`] values. [`SamplingParams::validate`] checks
/// the documented ranges; the sampler itself never panics on out-of-range values (it treats a
/// non-positive or NaN temperature as greedy and ignores penalties and filters it cannot apply).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplingParams {
    /// Softmax temperature, finite and in `[0, 100]`; 0 picks the most likely token (after
    /// penalties) and ignores the filters below.
    pub temperature: f32,
    /// Keep only the `top_k` most likely tokens (ties broken towards the lower id); 0 = off.
    pub top_k: usize,
    /// Nucleus sampling, in `(0, 1]`; 1 = off. Keeps the smallest set of most likely tokens
    /// (ordered by descending probability, then ascending id) whose cumulative probability
    /// reaches `top_p`, computed on the distribution renormalised over the top-k survivors.
    pub top_p: f32,
    /// In `[0, 1]`; 0 = off. Keeps the tokens whose probability is at least `min_p` times the
    /// probability of the most likely token.
    pub min_p: f32,
    /// Finite, in `(0, 10]`; 1 = off. CTRL / Hugging Face rule over the prompt *and* the
    /// generated tokens: a seen token's logit `l` becomes `l / penalty` if `l > 0`, else
    /// `l * penalty` (once per distinct token, whatever its count).
    pub repetition_penalty: f32,
    /// Finite, in `[-2, 2]`; 0 = off. OpenAI rule over the *generated* tokens only:
    /// `l -= count * frequency_penalty`.
    pub frequency_penalty: f32,
    /// Finite, in `[-2, 2]`; 0 = off. OpenAI rule over the *generated* tokens only:
    /// `l -= presence_penalty` for every token generated at least once.
    pub presence_penalty: f32,
    /// Seed of the random generator ([`StdRng::seed_from_u64`]).
    pub seed: u64,
}

impl Default for SamplingParams {
    /// [`SamplingParams::NANOGPT`].
    fn default() -> Self {
        SamplingParams::NANOGPT
    }
}

impl SamplingParams {
    /// nanoGPT's `sample.py`: temperature 0.8, top-k 200, seed 1337, nothing else. The default,
    /// and what `claude-rust generate` samples with unless told otherwise.
    pub const NANOGPT: SamplingParams = SamplingParams {
        temperature: 0.8,
        top_k: 200,
        top_p: 1.0,
        min_p: 0.0,
        repetition_penalty: 1.0,
        frequency_penalty: 0.0,
        presence_penalty: 0.0,
        seed: 1337,
    };

    /// OpenAI's API defaults, for a request that names no sampling field: temperature 1, top-p 1,
    /// no top-k, min-p or penalties. The server starts every request from these.
    pub const OPENAI: SamplingParams = SamplingParams {
        temperature: 1.0,
        top_k: 0,
        top_p: 1.0,
        ..SamplingParams::NANOGPT
    };

    /// Checks every field against its documented range (NaN is always rejected); the error
    /// names the first bad field and its value.
    pub fn validate(&self) -> Result<(), InvalidSamplingParam> {
        fn check(
            field: &'static str,
            value: f32,
            ok: bool,
            range: &str,
        ) -> Result<(), InvalidSamplingParam> {
            if ok {
                Ok(())
            } else {
                Err(InvalidSamplingParam {
                    field,
                    message: format!("must be {range}, got {value}"),
                })
            }
        }
        let t = self.temperature;
        check("temperature", t, (0.0..=100.0).contains(&t), "in [0, 100]")?;
        let p = self.top_p;
        check("top_p", p, p > 0.0 && p <= 1.0, "in (0, 1]")?;
        let m = self.min_p;
        check("min_p", m, (0.0..=1.0).contains(&m), "in [0, 1]")?;
        let r = self.repetition_penalty;
        check("repetition_penalty", r, r > 0.0 && r <= 10.0, "in (0, 10]")?;
        let f = self.frequency_penalty;
        check(
            "frequency_penalty",
            f,
            (-2.0..=2.0).contains(&f),
            "in [-2, 2]",
        )?;
        let pr = self.presence_penalty;
        check(
            "presence_penalty",
            pr,
            (-2.0..=2.0).contains(&pr),
            "in [-2, 2]",
        )?;
        Ok(())
    }
}

/// A [`SamplingParams`] field outside its range; displays as e.g.
/// `top_p must be in (0, 1], got 1.5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidSamplingParam {
    /// The offending field's name, as spelled in [`SamplingParams`].
    pub field: &'static str,
    /// What is wrong, without the field name (e.g. `must be in (0, 1], got 1.5`).
    pub message: String,
}

impl fmt::Display for InvalidSamplingParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.message)
    }
}

impl std::error::Error for InvalidSamplingParam {}

/// One candidate token during filtering.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    id: u32,
    /// Penalised logit (NaN replaced by -inf, +inf by `f32::MAX`).
    logit: f32,
    /// Unnormalised probability, `exp((logit - max) / temperature)`; the best has weight 1.
    weight: f64,
}

/// Descending logit, then ascending id: a total order, so selections are deterministic.
fn by_logit(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    b.logit.total_cmp(&a.logit).then(a.id.cmp(&b.id))
}

/// Descending weight, then ascending id.
fn by_weight(a: &Candidate, b: &Candidate) -> std::cmp::Ordering {
    b.weight.total_cmp(&a.weight).then(a.id.cmp(&b.id))
}

/// A seeded next-token sampler that remembers the prompt and what it generated, for the
/// penalties.
#[derive(Debug, Clone)]
pub struct Sampler {
    params: SamplingParams,
    rng: StdRng,
    /// Distinct tokens of the prompt and of the generated text (repetition penalty).
    seen: HashSet<u32>,
    /// How often each token was generated (frequency and presence penalties).
    generated: HashMap<u32, u32>,
    /// Reused candidate buffer.
    scratch: Vec<Candidate>,
}

impl Sampler {
    /// A sampler with no prompt history, its generator seeded from `params.seed`.
    pub fn new(params: SamplingParams) -> Self {
        Self::with_prompt(params, &[])
    }

    /// A sampler whose repetition penalty also covers the `prompt` tokens (the frequency and
    /// presence penalties only ever count generated tokens).
    pub fn with_prompt(params: SamplingParams, prompt: &[u32]) -> Self {
        let rng = StdRng::seed_from_u64(params.seed);
        Sampler {
            params,
            rng,
            seen: prompt.iter().copied().collect(),
            generated: HashMap::new(),
            scratch: Vec::new(),
        }
    }

    /// Picks the next token from one position's logits (`logits.len()` = vocabulary size),
    /// applying the penalties from the history, and records the pick as generated.
    ///
    /// Non-finite logits are tolerated (NaN counts as -inf); if every logit is -inf the
    /// lowest id is returned.
    ///
    /// # Panics
    /// If `logits` is empty.
    pub fn sample(&mut self, logits: &[f32]) -> u32 {
        assert!(!logits.is_empty(), "cannot sample from empty logits");
        let mut candidates = std::mem::take(&mut self.scratch);
        let total = self.filter(logits, &mut candidates);
        let id = if candidates.len() == 1 {
            candidates[0].id
        } else {
            let mut draw = self.rng.random::<f64>() * total;
            let mut pick = candidates.last().map_or(0, |c| c.id);
            for c in &candidates {
                if draw < c.weight {
                    pick = c.id;
                    break;
                }
                draw -= c.weight;
            }
            pick
        };
        self.scratch = candidates;
        self.accept(id);
        id
    }

    /// Records `token` as generated without sampling it (e.g. a token the caller forced);
    /// [`Sampler::sample`] does this for its own picks.
    pub fn accept(&mut self, token: u32) {
        self.seen.insert(token);
        *self.generated.entry(token).or_insert(0) += 1;
    }

    /// Whether [`apply_penalties`](Self::apply_penalties) changes anything for these
    /// parameters.
    fn has_penalties(&self) -> bool {
        self.repetition_penalty().is_some() || self.count_penalties().is_some()
    }

    /// The repetition penalty, where it changes anything (finite, positive, not 1).
    fn repetition_penalty(&self) -> Option<f32> {
        let rep = self.params.repetition_penalty;
        (rep.is_finite() && rep > 0.0 && rep != 1.0).then_some(rep)
    }

    /// The frequency and presence penalties (a non-finite one as 0), where either is not 0.
    fn count_penalties(&self) -> Option<(f32, f32)> {
        let finite = |x: f32| if x.is_finite() { x } else { 0.0 };
        let p = &self.params;
        let (freq, presence) = (finite(p.frequency_penalty), finite(p.presence_penalty));
        (freq != 0.0 || presence != 0.0).then_some((freq, presence))
    }

    /// Applies the repetition, frequency and presence penalties of the current history to
    /// `logits` in place (ids beyond `logits.len()` are ignored). This is step 1 of
    /// [`Sampler::sample`].
    pub fn apply_penalties(&self, logits: &mut [f32]) {
        if let Some(rep) = self.repetition_penalty() {
            for &id in &self.seen {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l = if *l > 0.0 { *l / rep } else { *l * rep };
                }
            }
        }
        if let Some((freq, presence)) = self.count_penalties() {
            for (&id, &count) in &self.generated {
                if let Some(l) = logits.get_mut(id as usize) {
                    *l -= count as f32 * freq;
                    if count > 0 {
                        *l -= presence;
                    }
                }
            }
        }
    }

    /// The distribution [`Sampler::sample`] would draw from for these logits, without drawing
    /// or recording anything: the surviving `(id, probability)` pairs, probabilities summing to
    /// 1, sorted by descending probability then ascending id. With temperature 0 it is the
    /// single greedy pick with probability 1.
    ///
    /// # Panics
    /// If `logits` is empty.
    pub fn filtered_distribution(&self, logits: &[f32]) -> Vec<(u32, f64)> {
        assert!(!logits.is_empty(), "cannot sample from empty logits");
        let mut candidates = Vec::new();
        let total = self.filter(logits, &mut candidates);
        candidates.sort_unstable_by(by_weight);
        candidates
            .iter()
            .map(|c| (c.id, c.weight / total))
            .collect()
    }

    /// Runs steps 1–4 into `out` (non-empty, in no particular order) and returns the sum of
    /// the survivors' weights.
    fn filter(&self, logits: &[f32], out: &mut Vec<Candidate>) -> f64 {
        out.clear();
        let p = &self.params;
        // Greedy (temperature 0, or anything not a positive number): one pass, no candidate
        // list the size of the vocabulary, and no copy of the logits without penalties.
        if p.temperature.is_nan() || p.temperature <= 0.0 {
            let best = match self.has_penalties() {
                true => {
                    let mut penalised = logits.to_vec();
                    self.apply_penalties(&mut penalised);
                    best_of(&penalised)
                }
                false => best_of(logits),
            };
            out.push(Candidate {
                weight: 1.0,
                ..best
            });
            return 1.0;
        }
        let mut penalised = logits.to_vec();
        self.apply_penalties(&mut penalised);
        out.extend(penalised.iter().enumerate().map(|(i, &l)| candidate(i, l)));

        // Top-k on the logits: no sort, one selection.
        if p.top_k > 0 && p.top_k < out.len() {
            out.select_nth_unstable_by(p.top_k - 1, by_logit);
            out.truncate(p.top_k);
        }

        // Softmax weights relative to the best logit.
        let max = out
            .iter()
            .map(|c| c.logit)
            .fold(f32::NEG_INFINITY, f32::max);
        if max == f32::NEG_INFINITY {
            return keep_only_greedy(out);
        }
        let temperature = f64::from(p.temperature);
        for c in out.iter_mut() {
            c.weight = ((f64::from(c.logit) - f64::from(max)) / temperature).exp();
        }
        out.retain(|c| c.weight > 0.0);
        // Normaliser of the top-k distribution: top-p is measured against it.
        let total: f64 = out.iter().map(|c| c.weight).sum();

        // Min-p: the best token has weight exactly 1, so the threshold is `min_p` itself.
        // Top-p and min-p each keep a prefix of the same (weight desc, id asc) order, so
        // applying min-p first and then top-p against the top-k normaliser keeps exactly the
        // shorter prefix: the same set as top-p followed by min-p.
        if p.min_p > 0.0 {
            let threshold = f64::from(p.min_p.min(1.0));
            out.retain(|c| c.weight >= threshold);
        }

        if p.top_p < 1.0 {
            top_p_cut(out, (f64::from(p.top_p) - TOP_P_EPSILON) * total);
        }
        out.iter().map(|c| c.weight).sum()
    }
}

/// Highest logit, lowest id on ties.
/// Leaves only the greedy choice in `out`, with all the weight; returns that total weight.
fn keep_only_greedy(out: &mut Vec<Candidate>) -> f64 {
    let best = greedy(out);
    out.clear();
    out.push(Candidate {
        weight: 1.0,
        ..best
    });
    1.0
}

/// The highest logit, the lowest id among ties.
fn greedy(candidates: &[Candidate]) -> Candidate {
    candidates
        .iter()
        .copied()
        .reduce(better)
        .expect("candidates")
}

/// Token `id` with logit `l` as a candidate: NaN as minus infinity, infinity as the largest
/// finite logit.
fn candidate(id: usize, l: f32) -> Candidate {
    Candidate {
        id: id as u32,
        logit: if l.is_nan() {
            f32::NEG_INFINITY
        } else {
            l.min(f32::MAX)
        },
        weight: 0.0,
    }
}

/// The greedy pick from `logits`, as [`Sampler::sample`] makes it at temperature 0 without
/// penalties: the highest logit, the lowest id among equal ones, NaN never unless every logit
/// is NaN (then id 0).
///
/// # Panics
/// If `logits` is empty.
pub fn greedy_token(logits: &[f32]) -> u32 {
    assert!(!logits.is_empty(), "cannot pick from empty logits");
    best_of(logits).id
}

/// The best of `logits` as [`better`] ranks their [`candidate`]s (highest logit, lowest id on a
/// tie, NaN last), without a candidate list or a copy: the best rank in one pass over lanes
/// that the compiler keeps in vector registers, then the first logit of that rank. A branch per
/// logit had made greedy picking 2% of a served 8-sequence decode step on SmolLM2 (its
/// vocabulary is 49,152).
fn best_of(logits: &[f32]) -> Candidate {
    let best = best_rank(logits);
    let id = first_of_rank(logits, best);
    candidate(id, logits[id])
}

/// A logit's rank as its [`candidate`] has it.
#[inline(always)]
fn rank(l: f32) -> f32 {
    if l.is_nan() {
        f32::NEG_INFINITY
    } else {
        l.min(f32::MAX)
    }
}

/// The highest rank among `logits`: the rank of the highest logit that is not NaN (ranking
/// keeps order, and a NaN ranks last).
fn best_rank(logits: &[f32]) -> f32 {
    rank(highest(logits))
}

/// The first index whose logit has rank `best` (0 if none has: `best` comes from these logits).
fn first_of_rank(logits: &[f32], best: f32) -> usize {
    let chunk = (logits.chunks(LANES))
        .position(|chunk| chunk.iter().fold(false, |hit, &l| hit | (rank(l) == best)))
        .unwrap_or(0);
    let within = logits[chunk * LANES..]
        .iter()
        .position(|&l| rank(l) == best);
    chunk * LANES + within.unwrap_or(0)
}

/// The greedy pick of two: the higher logit, the lower id on a tie.
fn better(best: Candidate, c: Candidate) -> Candidate {
    match c.logit > best.logit || (c.logit == best.logit && c.id < best.id) {
        true => c,
        false => best,
    }
}

/// Truncates `candidates` to the shortest prefix, in (weight desc, id asc) order, whose weight
/// sum reaches `need` (all of them if none does). Sorts only a head that is large enough:
/// grows it fourfold until it holds `need`.
fn top_p_cut(candidates: &mut Vec<Candidate>, need: f64) {
    let n = candidates.len();
    let mut m = n.min(64);
    loop {
        if m < n {
            candidates.select_nth_unstable_by(m - 1, by_weight);
        }
        let head = &mut candidates[..m];
        let sum: f64 = head.iter().map(|c| c.weight).sum();
        if sum >= need || m == n {
            head.sort_unstable_by(by_weight);
            let mut cumulative = 0.0;
            let mut cut = m;
            for (i, c) in head.iter().enumerate() {
                cumulative += c.weight;
                if cumulative >= need {
                    cut = i + 1;
                    break;
                }
            }
            candidates.truncate(cut);
            return;
        }
        m = (m * 4).min(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(temperature: f32) -> SamplingParams {
        SamplingParams {
            temperature,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
            seed: 1,
        }
    }

    fn ln(probs: &[f64]) -> Vec<f32> {
        probs.iter().map(|p| p.ln() as f32).collect()
    }

    fn ids(dist: &[(u32, f64)]) -> Vec<u32> {
        let mut ids: Vec<u32> = dist.iter().map(|d| d.0).collect();
        ids.sort_unstable();
        ids
    }

    #[test]
    fn presets_are_valid_and_match_the_documented_values() {
        let p = SamplingParams::default();
        assert_eq!(p, SamplingParams::NANOGPT);
        assert_eq!(p.validate(), Ok(()));
        assert_eq!((p.temperature, p.top_k, p.seed), (0.8, 200, 1337));
        assert_eq!((p.top_p, p.min_p, p.repetition_penalty), (1.0, 0.0, 1.0));
        assert_eq!((p.frequency_penalty, p.presence_penalty), (0.0, 0.0));
        let o = SamplingParams::OPENAI;
        assert_eq!(o.validate(), Ok(()));
        assert_eq!(
            (o.temperature, o.top_k, o.top_p, o.min_p),
            (1.0, 0, 1.0, 0.0)
        );
        assert_eq!((o.repetition_penalty, o.frequency_penalty), (1.0, 0.0));
    }

    #[test]
    fn zero_temperature_is_argmax_with_lowest_id_on_ties() {
        let mut s = Sampler::new(params(0.0));
        assert_eq!(s.sample(&[0.1, 2.0, -1.0, 1.9]), 1);
        assert_eq!(s.sample(&[1.0, 3.0, 0.0, 3.0]), 1);
        assert_eq!(s.sample(&[f32::NAN, -5.0, f32::NEG_INFINITY]), 1);
        assert_eq!(s.sample(&[f32::NEG_INFINITY; 3]), 0);
        assert_eq!(s.filtered_distribution(&[0.0, 0.5, 0.4]), vec![(1, 1.0)]);
    }

    #[test]
    fn greedy_applies_penalties_first() {
        let mut p = params(0.0);
        p.repetition_penalty = 2.0;
        let mut s = Sampler::new(p);
        // 1.0 wins; once generated it becomes 0.5 < 0.9.
        assert_eq!(s.sample(&[1.0, 0.9]), 0);
        assert_eq!(s.sample(&[1.0, 0.9]), 1);
        // Both seen now: 0.5 vs 0.45.
        assert_eq!(s.sample(&[1.0, 0.9]), 0);
    }

    #[test]
    fn top_k_keeps_exactly_k() {
        let mut p = params(5.0);
        p.top_k = 2;
        let s = Sampler::new(p.clone());
        let logits = [0.0, 3.0, 0.5, 2.9, -1.0];
        assert_eq!(ids(&s.filtered_distribution(&logits)), vec![1, 3]);
        // Ties at the boundary go to the lower id.
        assert_eq!(
            ids(&s.filtered_distribution(&[1.0, 2.0, 2.0, 2.0])),
            vec![1, 2]
        );
        p.top_k = 3;
        let s = Sampler::new(p.clone());
        assert_eq!(ids(&s.filtered_distribution(&logits)), vec![1, 2, 3]);
        // k >= vocab keeps everything.
        p.top_k = 10;
        let s = Sampler::new(p);
        assert_eq!(s.filtered_distribution(&logits).len(), 5);
        // Draws never leave the set.
        let mut p = params(5.0);
        p.top_k = 2;
        let mut s = Sampler::new(p);
        for _ in 0..500 {
            let id = s.sample(&logits);
            assert!(id == 1 || id == 3, "{id}");
        }
    }

    #[test]
    fn top_k_renormalises() {
        let mut p = params(1.0);
        p.top_k = 2;
        let s = Sampler::new(p);
        let dist = s.filtered_distribution(&ln(&[0.4, 0.1, 0.2, 0.3]));
        assert_eq!(dist.iter().map(|d| d.0).collect::<Vec<_>>(), vec![0, 3]);
        assert!((dist[0].1 - 4.0 / 7.0).abs() < 1e-6, "{dist:?}");
        assert!((dist[1].1 - 3.0 / 7.0).abs() < 1e-6, "{dist:?}");
    }

    #[test]
    fn top_p_keeps_the_smallest_set_reaching_p() {
        let logits = ln(&[0.5, 0.3, 0.15, 0.05]);
        let kept = |top_p: f32| {
            let mut p = params(1.0);
            p.top_p = top_p;
            Sampler::new(p).filtered_distribution(&logits)
        };
        assert_eq!(ids(&kept(0.8)), vec![0, 1]);
        assert_eq!(ids(&kept(0.81)), vec![0, 1, 2]);
        assert_eq!(ids(&kept(0.95)), vec![0, 1, 2]);
        assert_eq!(ids(&kept(0.96)), vec![0, 1, 2, 3]);
        assert_eq!(ids(&kept(1.0)), vec![0, 1, 2, 3]);
        assert_eq!(ids(&kept(0.5)), vec![0]);
        assert_eq!(ids(&kept(0.01)), vec![0]);
        let d = kept(0.8);
        assert!(
            (d[0].1 - 0.625).abs() < 1e-6 && (d[1].1 - 0.375).abs() < 1e-6,
            "{d:?}"
        );
        // Order of ids in the vocabulary does not matter.
        let mut p = params(1.0);
        p.top_p = 0.8;
        let shuffled = ln(&[0.05, 0.5, 0.15, 0.3]);
        assert_eq!(
            ids(&Sampler::new(p).filtered_distribution(&shuffled)),
            vec![1, 3]
        );
    }

    #[test]
    fn top_p_ties_keep_the_lower_ids_even_in_a_large_vocab() {
        // 1000 equal tokens: the 64-wide head is too small twice before the cut is found.
        let mut p = params(1.0);
        p.top_p = 0.5;
        let dist = Sampler::new(p).filtered_distribution(&[0.25; 1000]);
        assert_eq!(ids(&dist), (0..500).collect::<Vec<u32>>());
        assert!(dist.iter().all(|d| (d.1 - 1.0 / 500.0).abs() < 1e-12));
    }

    #[test]
    fn top_p_applies_to_the_top_k_distribution() {
        // After top-k 2 the distribution is [0.625, 0.375]; top-p 0.6 keeps only token 0,
        // while over the full distribution 0.6 would need tokens 0 and 1 as well.
        let mut p = params(1.0);
        p.top_k = 2;
        p.top_p = 0.6;
        let logits = ln(&[0.5, 0.3, 0.15, 0.05]);
        assert_eq!(
            ids(&Sampler::new(p.clone()).filtered_distribution(&logits)),
            vec![0]
        );
        p.top_p = 0.7;
        assert_eq!(
            ids(&Sampler::new(p).filtered_distribution(&logits)),
            vec![0, 1]
        );
    }

    #[test]
    fn min_p_keeps_tokens_above_a_fraction_of_the_best() {
        let logits = ln(&[0.5, 0.3, 0.15, 0.05]);
        let kept = |min_p: f32| {
            let mut p = params(1.0);
            p.min_p = min_p;
            ids(&Sampler::new(p).filtered_distribution(&logits))
        };
        assert_eq!(kept(0.0), vec![0, 1, 2, 3]);
        assert_eq!(kept(0.09), vec![0, 1, 2, 3]);
        assert_eq!(kept(0.11), vec![0, 1, 2]);
        assert_eq!(kept(0.29), vec![0, 1, 2]);
        assert_eq!(kept(0.31), vec![0, 1]);
        assert_eq!(kept(0.61), vec![0]);
        assert_eq!(kept(1.0), vec![0]);
        // Combined with top-p the shorter of the two prefixes wins.
        let mut p = params(1.0);
        p.min_p = 0.11;
        p.top_p = 0.8;
        assert_eq!(
            ids(&Sampler::new(p).filtered_distribution(&logits)),
            vec![0, 1]
        );
        // Top-p is measured before min-p renormalises: 0.5 + 0.3 < 0.84 needs token 2, which
        // min-p 0.25 keeps (although 0.8 / 0.95 would reach 0.84 after min-p).
        let mut p = params(1.0);
        p.min_p = 0.25;
        p.top_p = 0.84;
        assert_eq!(
            ids(&Sampler::new(p).filtered_distribution(&logits)),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn temperature_scales_before_the_softmax() {
        // softmax([0, 2 ln 3] / 2) = [0.25, 0.75].
        let s = Sampler::new(params(2.0));
        let d = s.filtered_distribution(&[0.0, 2.0 * 3f32.ln()]);
        assert_eq!(d[0].0, 1);
        assert!(
            (d[0].1 - 0.75).abs() < 1e-6 && (d[1].1 - 0.25).abs() < 1e-6,
            "{d:?}"
        );
    }

    #[test]
    fn repetition_penalty_covers_prompt_and_generated_tokens() {
        let mut p = params(1.0);
        p.repetition_penalty = 2.0;
        let mut s = Sampler::with_prompt(p, &[0, 1, 1]);
        let mut logits = [2.0, -2.0, 3.0, 1.0, 0.0];
        s.apply_penalties(&mut logits);
        assert_eq!(logits, [1.0, -4.0, 3.0, 1.0, 0.0]);
        s.accept(3);
        s.accept(3);
        s.accept(4);
        s.accept(99); // beyond the vocabulary: ignored
        let mut logits = [2.0, -2.0, 3.0, 1.0, 0.0];
        s.apply_penalties(&mut logits);
        // Once per distinct token, whatever its count; 0 stays 0.
        assert_eq!(logits, [1.0, -4.0, 3.0, 0.5, 0.0]);
    }

    #[test]
    fn frequency_and_presence_penalties_count_generated_tokens_only() {
        let mut p = params(1.0);
        p.frequency_penalty = 0.5;
        p.presence_penalty = 0.25;
        let mut s = Sampler::with_prompt(p.clone(), &[0, 1]);
        s.accept(2);
        s.accept(2);
        s.accept(2);
        s.accept(3);
        let mut logits = [1.0, 1.0, 1.0, 1.0, 1.0];
        s.apply_penalties(&mut logits);
        assert_eq!(logits, [1.0, 1.0, 1.0 - 1.5 - 0.25, 1.0 - 0.5 - 0.25, 1.0]);

        // Frequency alone.
        p.presence_penalty = 0.0;
        let mut s = Sampler::new(p.clone());
        s.accept(1);
        s.accept(1);
        let mut logits = [1.0, 1.0];
        s.apply_penalties(&mut logits);
        assert_eq!(logits, [1.0, 0.0]);

        // Presence alone; negative values reward repetition.
        p.frequency_penalty = 0.0;
        p.presence_penalty = -1.5;
        let mut s = Sampler::new(p);
        s.accept(0);
        s.accept(0);
        let mut logits = [1.0, 1.0];
        s.apply_penalties(&mut logits);
        assert_eq!(logits, [2.5, 1.0]);
    }

    #[test]
    fn penalties_combine_repetition_first() {
        let mut p = params(1.0);
        p.repetition_penalty = 2.0;
        p.frequency_penalty = 0.5;
        p.presence_penalty = 0.25;
        let mut s = Sampler::new(p);
        s.accept(0);
        s.accept(0);
        s.accept(1);
        let mut logits = [3.0, -1.0, 3.0];
        s.apply_penalties(&mut logits);
        assert_eq!(logits, [3.0 / 2.0 - 1.0 - 0.25, -2.0 - 0.5 - 0.25, 3.0]);
    }

    #[test]
    fn sample_records_its_picks_for_the_penalties() {
        let mut p = params(0.0);
        p.frequency_penalty = 1.0;
        let mut s = Sampler::new(p);
        let logits = [2.5, 1.0, 0.0];
        // 2.5, then 1.5 > 1.0, then 0.5 < 1.0.
        assert_eq!(s.sample(&logits), 0);
        assert_eq!(s.sample(&logits), 0);
        assert_eq!(s.sample(&logits), 1);
        let mut l = logits;
        s.apply_penalties(&mut l);
        assert_eq!(l, [0.5, 0.0, 0.0]);
    }

    fn frequencies(s: &mut Sampler, logits: &[f32], n: usize) -> Vec<f64> {
        let mut counts = vec![0usize; logits.len()];
        for _ in 0..n {
            counts[s.sample(logits) as usize] += 1;
        }
        counts.iter().map(|&c| c as f64 / n as f64).collect()
    }

    #[test]
    fn frequencies_follow_the_softmax() {
        let n = 20_000;
        // softmax([ln 1, ln 3]) = [0.25, 0.75].
        let mut s = Sampler::new(params(1.0));
        let f = frequencies(&mut s, &[0.0, 3f32.ln()], n);
        assert!((f[1] - 0.75).abs() < 0.015, "{f:?}");
        // Three tokens, [1/8, 2/8, 5/8].
        let mut s = Sampler::new(SamplingParams {
            seed: 7,
            ..params(1.0)
        });
        let want = [0.125, 0.25, 0.625];
        let f = frequencies(&mut s, &ln(&want), n);
        for (got, want) in f.iter().zip(want) {
            assert!((got - want).abs() < 0.015, "{f:?}");
        }
        // Temperature 2 on [0, 2 ln 3] is [0.25, 0.75] too.
        let mut s = Sampler::new(params(2.0));
        let f = frequencies(&mut s, &[0.0, 2.0 * 3f32.ln()], n);
        assert!((f[1] - 0.75).abs() < 0.015, "{f:?}");
    }

    #[test]
    fn frequencies_follow_the_filtered_distribution() {
        // top-p 0.8 on [0.5, 0.3, 0.15, 0.05] → [0.625, 0.375, 0, 0].
        let mut p = params(1.0);
        p.top_p = 0.8;
        p.seed = 11;
        let mut s = Sampler::new(p);
        let f = frequencies(&mut s, &ln(&[0.5, 0.3, 0.15, 0.05]), 20_000);
        assert_eq!((f[2], f[3]), (0.0, 0.0));
        assert!((f[0] - 0.625).abs() < 0.015, "{f:?}");
    }

    #[test]
    fn same_seed_same_sequence_different_seed_different() {
        let logits = vec![0.0f32; 100];
        let run = |seed: u64| {
            let mut s = Sampler::new(SamplingParams {
                seed,
                ..params(1.0)
            });
            (0..200).map(|_| s.sample(&logits)).collect::<Vec<u32>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn large_vocab_with_a_peaked_nucleus() {
        // GPT-2-sized vocabulary; ten tokens hold almost all the mass.
        let mut logits = vec![0.0f32; 50_257];
        for (i, id) in (0..10).map(|i| i * 5_000 + 7).enumerate() {
            logits[id] = 20.0 - i as f32 * 0.1;
        }
        let mut p = params(1.0);
        p.top_p = 0.9;
        let mut s = Sampler::new(p);
        for _ in 0..50 {
            let id = s.sample(&logits) as usize;
            assert!(id % 5_000 == 7 && id < 50_000, "{id}");
        }
    }

    /// Sets one field of [`SamplingParams`] to a bad value.
    type Spoil = fn(&mut SamplingParams);

    #[test]
    fn validate_names_each_bad_field() {
        let cases: &[(&str, Spoil)] = &[
            ("temperature", |p| p.temperature = -0.1),
            ("temperature", |p| p.temperature = 100.5),
            ("temperature", |p| p.temperature = f32::NAN),
            ("temperature", |p| p.temperature = f32::INFINITY),
            ("top_p", |p| p.top_p = 0.0),
            ("top_p", |p| p.top_p = 1.5),
            ("top_p", |p| p.top_p = f32::NAN),
            ("min_p", |p| p.min_p = -0.01),
            ("min_p", |p| p.min_p = 1.01),
            ("min_p", |p| p.min_p = f32::NAN),
            ("repetition_penalty", |p| p.repetition_penalty = 0.0),
            ("repetition_penalty", |p| p.repetition_penalty = -1.0),
            ("repetition_penalty", |p| p.repetition_penalty = 10.5),
            ("repetition_penalty", |p| {
                p.repetition_penalty = f32::INFINITY
            }),
            ("repetition_penalty", |p| p.repetition_penalty = f32::NAN),
            ("frequency_penalty", |p| p.frequency_penalty = 2.5),
            ("frequency_penalty", |p| p.frequency_penalty = -2.1),
            ("frequency_penalty", |p| p.frequency_penalty = f32::NAN),
            ("presence_penalty", |p| p.presence_penalty = 2.01),
            ("presence_penalty", |p| {
                p.presence_penalty = f32::NEG_INFINITY
            }),
            ("presence_penalty", |p| p.presence_penalty = f32::NAN),
        ];
        for &(field, spoil) in cases {
            let mut p = SamplingParams::default();
            spoil(&mut p);
            let err = p.validate().expect_err(field);
            assert_eq!(err.field, field, "{err}");
            assert!(err.to_string().starts_with(field), "{err}");
        }
        let mut p = SamplingParams {
            top_p: 1.5,
            ..SamplingParams::default()
        };
        assert_eq!(
            p.validate().unwrap_err().to_string(),
            "top_p must be in (0, 1], got 1.5"
        );
        p.top_p = 1.0;
        p.temperature = f32::NAN;
        assert_eq!(
            p.validate().unwrap_err().to_string(),
            "temperature must be in [0, 100], got NaN"
        );
        // The edges of each range are accepted.
        let edges = SamplingParams {
            temperature: 100.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 1.0,
            repetition_penalty: 10.0,
            frequency_penalty: -2.0,
            presence_penalty: 2.0,
            seed: 0,
        };
        assert_eq!(edges.validate(), Ok(()));
        assert_eq!(
            SamplingParams {
                temperature: 0.0,
                min_p: 0.0,
                ..edges
            }
            .validate(),
            Ok(())
        );
    }

    #[test]
    fn the_one_pass_greedy_pick_ranks_as_the_candidates_do() {
        let (nan, inf) = (f32::NAN, f32::INFINITY);
        for logits in [
            vec![0.5, 2.0, -1.0, 2.0],
            vec![nan, -3.0, nan, -2.0],
            vec![nan, nan],
            vec![f32::NEG_INFINITY, nan, f32::NEG_INFINITY],
            vec![1.0, inf, 3.0, inf],
            vec![f32::MAX, inf],
            vec![7.0],
            vec![-0.0, 0.0, -1.0],
        ]
        .into_iter()
        .chain(long_logits())
        {
            let expected = (logits.iter().enumerate())
                .map(|(i, &l)| candidate(i, l))
                .reduce(better)
                .unwrap();
            assert_eq!(best_of(&logits).id, expected.id, "{logits:?}");
        }
    }

    /// Vocabulary-sized logits (and lengths around the lanes' width) with the best at the
    /// start, in the middle, in a partial last chunk, tied, infinite or among NaNs.
    fn long_logits() -> Vec<Vec<f32>> {
        let mut rng = StdRng::seed_from_u64(7);
        let mut cases = Vec::new();
        for len in [15, 16, 17, 33, 1000, 49_152, 49_153] {
            let base: Vec<f32> = (0..len).map(|_| rng.random_range(-8.0..8.0)).collect();
            for at in [0, len / 2, len - 1] {
                let mut best = base.clone();
                best[at] = 9.0;
                cases.push(best.clone());
                best[len - 1 - at / 2] = 9.0;
                cases.push(best.clone());
                best[at] = f32::INFINITY;
                cases.push(best.clone());
                best.iter_mut().step_by(3).for_each(|l| *l = f32::NAN);
                cases.push(best);
            }
        }
        cases
    }
}
