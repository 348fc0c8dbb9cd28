//! [`Gpt`]: token embedding, position information, the blocks, a final norm and the output
//! projection to logits. Field names follow GPT-2's checkpoints (`wte`, `h.{i}`, `ln_f`).

use burn::nn::loss::CrossEntropyLossConfig;
use burn::nn::{Dropout, DropoutConfig, RotaryEncoding};
use burn::prelude::*;
use burn::tensor::activation::log_softmax;
use burn::tensor::{DType, FloatDType};
use claude_tensors::kernels::dropout;
use claude_tensors::kernels::packed_matmul::PackedArithmetic;

use crate::block::Block;
use crate::config::ModelConfig;
use crate::embedding::TokenEmbedding;
use crate::init::{INIT_STD, embedding, linear};
use crate::kv_cache::{DecodeStep, KvCache, KvCacheType, LayerCache};
use crate::norm::Norm;
use crate::position::PositionEmbedding;
use crate::projection::Projection;

/// The projections of a block, as their tensor names spell them.
const PROJECTION_NAMES: [&str; 4] = ["attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"];

/// The token table's tensor name.
pub(crate) const TOKEN_TABLE_NAME: &str = "wte.weight";

/// A decoder-only Transformer language model.
#[derive(Module, Debug)]
pub struct Gpt {
    /// Token embedding, `[vocab, d_model]`.
    pub wte: TokenEmbedding,
    /// Position information.
    pub wpe: PositionEmbedding,
    /// Dropout on the embeddings (training only).
    pub drop: Dropout,
    /// The blocks.
    pub h: Vec<Block>,
    /// Final norm.
    pub ln_f: Norm,
    /// Output projection `[d_model, vocab]`; `None` when tied to `wte`.
    pub lm_head: Option<Projection>,
    /// The rotary positions of the sliding-window layers, when they have their own base.
    pub local_rope: Option<RotaryEncoding>,
    /// The configuration the model was built from.
    #[module(skip)]
    config: ModelConfig,
    /// What the key/value caches it makes hold.
    #[module(skip)]
    kv_cache_type: KvCacheType,
}

impl Gpt {
    pub(crate) fn new(config: &ModelConfig, device: &Device) -> Self {
        Gpt {
            wte: TokenEmbedding::Float(embedding(config.vocab_size, config.d_model, device)),
            wpe: PositionEmbedding::new(config, device),
            drop: DropoutConfig::new(config.dropout).init(),
            h: (0..config.n_layer)
                .map(|layer| Block::new(config, layer, device))
                .collect(),
            ln_f: Norm::new(config, device),
            lm_head: (!config.tie_embeddings)
                .then(|| linear(config.d_model, config.vocab_size, false, INIT_STD, device)),
            local_rope: PositionEmbedding::local_rope(config, device),
            config: config.clone(),
            kv_cache_type: KvCacheType::default(),
        }
    }

    /// The configuration the model was built from.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// Sets what the key/value caches made from now on ([`prefill`](Self::prefill)) hold:
    /// [`KvCacheType::F32`] (the default) or [`KvCacheType::F16`].
    pub fn set_kv_cache_type(&mut self, kind: KvCacheType) {
        self.kv_cache_type = kind;
    }

    /// The longest sequence the model accepts.
    pub fn context_length(&self) -> usize {
        self.config.context_length
    }

    /// Sets how packed (quantized) weights meet the activations: [`PackedArithmetic::Fast`]
    /// (the default, llama.cpp's 8-bit activations) or [`PackedArithmetic::Exact`] (f32).
    /// Float weights ignore it.
    pub fn set_packed_arithmetic(&mut self, arithmetic: PackedArithmetic) {
        self.wte.set_arithmetic(arithmetic);
        for (_, layer) in self.projections_mut() {
            layer.set_arithmetic(arithmetic);
        }
    }

    /// Repacks every packed weight for the CPU's integer kernels now
    /// ([`PackedMatrix::repack`](claude_quant::PackedMatrix::repack)) rather than on the first
    /// token: a server's first request then waits for the model, not for this. The rows as
    /// stored then leave memory
    /// ([`PackedMatrix::page_out_rows`](claude_quant::PackedMatrix::page_out_rows)): mapped
    /// from the model file, they are read again only where still needed, so the model is not
    /// held twice. Float weights are untouched.
    pub fn repack_for_decoding(&self) {
        let projections = self.projections();
        let packed = (projections.iter()).filter_map(|(_, layer)| match layer {
            Projection::Packed(packed) => Some(&packed.weight),
            Projection::Float(_) => None,
        });
        // The table takes part in products only as the tied output head; otherwise only its
        // looked-up rows are read.
        let table = match (&self.wte, &self.lm_head) {
            (TokenEmbedding::Packed(packed), None) => Some(&packed.table),
            _ => None,
        };
        for weight in packed.chain(table) {
            weight.repack();
            weight.page_out_rows();
        }
    }

    /// Every projection with its weight's tensor name in a model file (`h.0.attn.c_attn.weight`,
    /// ..., `lm_head.weight`).
    pub fn projections(&self) -> Vec<(String, &Projection)> {
        let mut layers = Vec::with_capacity(4 * self.h.len() + 1);
        for (i, block) in self.h.iter().enumerate() {
            let [c_attn, c_proj, c_fc, mlp_proj] =
                PROJECTION_NAMES.map(|part| format!("h.{i}.{part}.weight"));
            layers.push((c_attn, &block.attn.c_attn));
            layers.push((c_proj, &block.attn.c_proj));
            layers.push((c_fc, &block.mlp.c_fc));
            layers.push((mlp_proj, &block.mlp.c_proj));
        }
        if let Some(head) = &self.lm_head {
            layers.push(("lm_head.weight".to_string(), head));
        }
        layers
    }

    /// [`Gpt::projections`], mutably.
    pub fn projections_mut(&mut self) -> Vec<(String, &mut Projection)> {
        let mut layers = Vec::with_capacity(4 * self.h.len() + 1);
        for (i, block) in self.h.iter_mut().enumerate() {
            let [c_attn, c_proj, c_fc, mlp_proj] =
                PROJECTION_NAMES.map(|part| format!("h.{i}.{part}.weight"));
            layers.push((c_attn, &mut block.attn.c_attn));
            layers.push((c_proj, &mut block.attn.c_proj));
            layers.push((c_fc, &mut block.mlp.c_fc));
            layers.push((mlp_proj, &mut block.mlp.c_proj));
        }
        if let Some(head) = &mut self.lm_head {
            layers.push(("lm_head.weight".to_string(), head));
        }
        layers
    }

    /// Caps the context at `positions` (at least 1, at most the model's own), as llama.cpp's
    /// `-c` does: KV caches, generators and servers then work within it.
    pub fn limit_context(&mut self, positions: usize) {
        self.config.context_length = self.config.context_length.min(positions.max(1));
    }

    /// Next-token logits for every position.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]` with `seq <= context_length` -> `[batch, seq, vocab]`
    ///
    /// # Panics
    ///
    /// If `seq` exceeds the context length.
    pub fn forward(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.project(self.final_states(tokens))
    }

    /// The final hidden states (after the last norm, before the head): what an embedding
    /// pools. Causal, so a row's states do not depend on padding after it.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]` with `seq <= context_length` -> `[batch, seq, d_model]`
    ///
    /// # Panics
    /// If `seq` exceeds the context length.
    pub fn final_states(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.ln_f.forward(self.hidden_states(tokens, None))
    }

    /// Runs the prompts `tokens` from position 0 and caches every layer's keys and values, for
    /// [`decode`](Self::decode) to continue from: the same pass as [`forward`](Self::forward).
    /// Returns the next-token logits of each row's last position and the cache.
    ///
    /// # Shapes
    /// - tokens: `[rows, seq]` with `1 <= seq <= context_length` -> `[rows, vocab]`
    ///
    /// # Panics
    /// If `seq` is 0 or exceeds the context length.
    pub fn prefill(&self, tokens: Tensor<2, Int>) -> (Tensor<2>, KvCache) {
        let [rows, seq] = tokens.dims();
        assert!(seq > 0, "prefill needs at least one token");
        let device = tokens.device();
        let (kv_heads, head_dim) = (self.config.kv_heads(), self.config.head_dim());
        let context = self.context_length();
        let mut layers: Vec<LayerCache> = (self.h.iter())
            .map(|block| {
                let sizes = (seq, context, block.attn.window());
                LayerCache::zeros(
                    rows,
                    kv_heads,
                    sizes,
                    head_dim,
                    (self.kv_cache_type, &device),
                )
            })
            .collect();
        let x = self.hidden_states(tokens, Some(&mut layers));
        let logits = self.last_logits(x.slice(s![.., seq - 1..seq, ..]));
        (logits, KvCache::new(layers, vec![seq; rows], context))
    }

    /// The residual stream after the last block, from position 0; fills `caches` (one per
    /// layer) when given.
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]` -> `[batch, seq, d_model]`
    fn hidden_states(
        &self,
        tokens: Tensor<2, Int>,
        caches: Option<&mut [LayerCache]>,
    ) -> Tensor<3> {
        let [_, seq] = tokens.dims();
        assert!(
            seq <= self.context_length(),
            "sequence of {seq} tokens exceeds the context length {}",
            self.context_length()
        );
        let mut x = dropout(&self.drop, self.wpe.add_to(self.embed(tokens), 0));
        let mut caches = caches.map(|caches| caches.iter_mut());
        for block in &self.h {
            let cache = caches.as_mut().and_then(Iterator::next);
            x = block.forward(x, self.rope_of(block), cache);
        }
        x
    }

    /// The token embeddings of `tokens` (scaled by `sqrt(d_model)` where the model says so).
    ///
    /// # Shapes
    /// - tokens: `[batch, seq]` -> `[batch, seq, d_model]`
    fn embed(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        let x = self.wte.forward(tokens);
        match self.config.scale_embeddings {
            true => x * (self.config.d_model as f64).sqrt(),
            false => x,
        }
    }

    /// The rotary positions `block` uses: the local ones on a sliding-window layer that has
    /// them, else the model's.
    fn rope_of(&self, block: &Block) -> Option<&RotaryEncoding> {
        match (block.attn.window(), &self.local_rope) {
            (Some(_), Some(local)) => Some(local),
            _ => self.wpe.rope(),
        }
    }

    /// Feeds one new token per row of `cache` (each at its row's own position), extends the
    /// cache, and returns the next-token logits. Rows of different lengths advance together.
    ///
    /// # Shapes
    /// - tokens: `[rows]` -> `[rows, vocab]`
    ///
    /// # Panics
    /// If `tokens` and `cache` have different numbers of rows, or a row is full
    /// ([`KvCache::is_full`]).
    pub fn decode(&self, tokens: Tensor<1, Int>, cache: &mut KvCache) -> Tensor<2> {
        let [rows] = tokens.dims();
        assert_eq!(rows, cache.rows(), "one token per cached row");
        let device = tokens.device();
        let kv_heads = self.config.kv_heads();
        let group = self.config.n_head / kv_heads;
        let step = DecodeStep::new(cache, (kv_heads, group), &device);
        let x = self.embed(tokens.reshape([rows, 1]));
        let mut x = dropout(&self.drop, self.wpe.add_at(x, &step.position_ids));
        for (block, layer) in self.h.iter().zip(&mut cache.layers) {
            x = block.forward_decode(x, self.rope_of(block), &step, layer);
        }
        cache.advance_by(1);
        self.last_logits(x)
    }

    /// Whether [`extend`](Self::extend) can bring a sequence to `len` tokens: always, unless a
    /// sliding-window layer's window is shorter (its cache would wrap).
    pub fn extends_to(&self, len: usize) -> bool {
        len <= self.context_length()
            && (self.h.iter()).all(|block| block.attn.window().is_none_or(|window| len <= window))
    }

    /// Feeds `tokens` after the tokens a one-row `cache` holds (a cached prompt prefix, or the
    /// chunks of a long prompt before them), extends the cache, and returns the next-token
    /// logits after the last one: what [`prefill`](Self::prefill) of all the tokens gives, up
    /// to rounding.
    ///
    /// # Shapes
    /// - tokens: `[1, seq]` -> `[1, vocab]`
    ///
    /// # Panics
    /// If `seq` is 0, the cache has more than one row, or [`extends_to`](Self::extends_to) the
    /// new length is false.
    pub fn extend(&self, tokens: Tensor<2, Int>, cache: &mut KvCache) -> Tensor<2> {
        let [rows, seq] = tokens.dims();
        assert!(seq > 0, "extend needs at least one token");
        assert!(rows == 1 && cache.rows() == 1, "extend takes one sequence");
        let start = cache.lengths()[0];
        assert!(
            self.extends_to(start + seq),
            "{} tokens cannot extend a cache of {start} (context {}, or a sliding window)",
            seq,
            self.context_length()
        );
        let mut x = self
            .drop
            .forward(self.wpe.add_to(self.embed(tokens), start));
        for (block, layer) in self.h.iter().zip(&mut cache.layers) {
            x = block.forward_extend(x, self.rope_of(block), start, layer);
        }
        cache.advance_by(seq);
        self.last_logits(x.slice(s![.., seq - 1..seq, ..]))
    }

    /// Logits of one position per row.
    ///
    /// # Shapes
    /// - x: `[rows, 1, d_model]` -> `[rows, vocab]`
    fn last_logits(&self, x: Tensor<3>) -> Tensor<2> {
        let logits = self.project(self.ln_f.forward(x));
        let [rows, _, vocab] = logits.dims();
        logits.reshape([rows, vocab])
    }

    /// Logits from the final hidden states, through `lm_head` or the tied embedding.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> `[batch, seq, vocab]`
    fn project(&self, x: Tensor<3>) -> Tensor<3> {
        match &self.lm_head {
            Some(head) => head.forward(x),
            None => self.wte.project_out(x),
        }
    }

    /// Cross-entropy of predicting `targets`, averaged over the positions whose `weights` are
    /// 1 (fine-tuning on chat data: the assistant's tokens; 0 for the prompt and padding).
    /// Other weights count each position that much: the loss is `Σ w·(−log p) / max(Σ w, 1)`.
    /// The weights are host data, one per position in row-major order: they decide which
    /// positions get logits before anything runs on the device.
    ///
    /// Only the positions with a weight get logits: the head is the largest product of a
    /// small model, and in chat data most positions are the prompt's.
    ///
    /// # Shapes
    /// - inputs, targets: `[batch, seq]`, weights: `batch * seq` values -> `[1]`
    ///
    /// # Panics
    /// If `weights` does not hold one value per position.
    pub fn masked_loss(
        &self,
        inputs: Tensor<2, Int>,
        targets: Tensor<2, Int>,
        weights: &[f32],
    ) -> Tensor<1> {
        let [batch, seq] = inputs.dims();
        assert_eq!(weights.len(), batch * seq, "one weight per position");
        let (counted, kept): (Vec<i64>, Vec<f32>) = (weights.iter().enumerate())
            .filter(|&(_, &weight)| weight != 0.0)
            .map(|(position, &weight)| (position as i64, weight))
            .unzip();
        let count = weights.iter().sum::<f32>().max(1.0);
        let states = self.final_states(inputs);
        if counted.is_empty() {
            // Nothing counts: a zero that still depends on the model, as the sum over no terms.
            return states.sum() * 0.0;
        }
        let [_, _, width] = states.dims();
        let device = states.device();
        let rows = counted.len();
        let index = Tensor::<1, Int>::from_data(TensorData::new(counted, [rows]), &device);
        let states = (states
            .reshape([batch * seq, width])
            .select(0, index.clone()))
        .reshape([1, rows, width]);
        let logits = self.project(states);
        let vocab = logits.dims()[2];
        let mut logits = logits.reshape([rows, vocab]);
        if logits.dtype() != DType::F32 {
            logits = logits.cast(FloatDType::F32);
        }
        let targets = targets.reshape([batch * seq]).select(0, index);
        let picked = log_softmax(logits, 1)
            .gather(1, targets.reshape([rows, 1]))
            .reshape([rows]);
        let kept = Tensor::<1>::from_data(TensorData::new(kept, [rows]), &device);
        -(picked * kept).sum() / count
    }

    /// Mean cross-entropy of predicting `targets` (the inputs shifted by one).
    ///
    /// # Shapes
    /// - inputs, targets: `[batch, seq]` -> `[1]`
    pub fn loss(&self, inputs: Tensor<2, Int>, targets: Tensor<2, Int>) -> Tensor<1> {
        let mut logits = self.forward(inputs);
        // Softmax and log in f32 whatever the activations' type (as autocast does): a 16-bit
        // log-probability cannot tell apart losses that differ in the third digit.
        if logits.dtype() != DType::F32 {
            logits = logits.cast(FloatDType::F32);
        }
        let [batch, seq, vocab] = logits.dims();
        let device = logits.device();
        CrossEntropyLossConfig::new().init(&device).forward(
            logits.reshape([batch * seq, vocab]),
            targets.reshape([batch * seq]),
        )
    }
}
