//! LoRA (Hu et al., 2021, "LoRA: Low-Rank Adaptation of Large Language Models"): beside a frozen
//! projection `x W`, a trainable low-rank update `s · dropout(x) A B` with `A` `[d_in, r]`, `B`
//! `[r, d_out]` and `s = alpha / r`. `B` starts at zero, so an adapted model starts as its base.
//!
//! Our attention fuses the query, key and value projections into one matrix (`c_attn`) and a
//! gated MLP fuses gate and up (`c_fc`); adapters follow the per-module layout every other tool
//! uses (PEFT, llama.cpp's `--lora`): one adapter per target module, each covering its columns of
//! the fused output ([`LoraSlice::start`]). That is why these are our own rather than burn's
//! `Module::apply_lora`, which adapts a whole parameter tensor, and materialises the dense
//! `W + s A B` (and its gradient) at every step.
//!
//! The base may be float (LoRA) or packed in its GGML blocks (QLoRA): only the adapters train
//! either way, the activations' gradient passing back through the packed product.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::prelude::*;
use burn::tensor::Distribution;
use claude_tensors::kernels::dropout;
use serde::{Deserialize, Serialize};

use crate::config::ModelConfig;
use crate::projection::Projection;
use crate::rows::matmul_rows;
use crate::transformer::Gpt;

/// A module an adapter can be attached to, by its role (named as in Hugging Face's Llama).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoraTarget {
    /// The query projection (`q_proj`).
    Q,
    /// The key projection (`k_proj`).
    K,
    /// The value projection (`v_proj`).
    V,
    /// The attention output projection (`o_proj`).
    O,
    /// The gate projection of a gated MLP (`gate_proj`).
    Gate,
    /// The up projection of the MLP (`up_proj`; the whole input projection of an ungated one).
    Up,
    /// The MLP's output projection (`down_proj`).
    Down,
}

impl LoraTarget {
    /// Every target, in the order of a block's computation.
    pub const ALL: [LoraTarget; 7] = [
        LoraTarget::Q,
        LoraTarget::K,
        LoraTarget::V,
        LoraTarget::O,
        LoraTarget::Gate,
        LoraTarget::Up,
        LoraTarget::Down,
    ];

    /// The module's name in Hugging Face's Llama-family checkpoints and PEFT's adapters
    /// (`q_proj`, ..., `down_proj`).
    pub fn hf_module(self) -> &'static str {
        match self {
            LoraTarget::Q => "q_proj",
            LoraTarget::K => "k_proj",
            LoraTarget::V => "v_proj",
            LoraTarget::O => "o_proj",
            LoraTarget::Gate => "gate_proj",
            LoraTarget::Up => "up_proj",
            LoraTarget::Down => "down_proj",
        }
    }

    /// The module's path under a Llama layer in Hugging Face's checkpoints (`self_attn.q_proj`,
    /// `mlp.down_proj`...).
    pub fn hf_path(self) -> String {
        let parent = match self {
            LoraTarget::Q | LoraTarget::K | LoraTarget::V | LoraTarget::O => "self_attn",
            LoraTarget::Gate | LoraTarget::Up | LoraTarget::Down => "mlp",
        };
        format!("{parent}.{}", self.hf_module())
    }

    /// The tensor's name in a llama.cpp GGUF file (`attn_q`, ..., `ffn_down`).
    pub fn gguf_name(self) -> &'static str {
        match self {
            LoraTarget::Q => "attn_q",
            LoraTarget::K => "attn_k",
            LoraTarget::V => "attn_v",
            LoraTarget::O => "attn_output",
            LoraTarget::Gate => "ffn_gate",
            LoraTarget::Up => "ffn_up",
            LoraTarget::Down => "ffn_down",
        }
    }
}

/// How adapters are shaped: rank, scale and the modules they adapt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoraSettings {
    /// The rank `r` of `A B`.
    pub rank: usize,
    /// `alpha`: the update is scaled by `alpha / r`.
    pub alpha: f64,
    /// Dropout on the adapters' input while training.
    #[serde(default)]
    pub dropout: f64,
    /// The modules adapted in every layer.
    pub targets: Vec<LoraTarget>,
}

impl LoraSettings {
    /// The scale of the update, `alpha / r`.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank as f64
    }
}

/// Why adapters cannot be attached.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LoraError {
    /// The rank is 0.
    #[error("lora.rank must be at least 1")]
    ZeroRank,
    /// No target module was named.
    #[error("lora.targets names no module")]
    NoTargets,
    /// The model has no such module (a gate on an ungated MLP).
    #[error("lora target {0:?}: the model has no such module (its MLP is not gated)")]
    MissingModule(LoraTarget),
    /// An adapter's shape does not fit its module.
    #[error("adapter for layer {layer} {target:?}: {what}")]
    Shape {
        /// The layer.
        layer: usize,
        /// The module.
        target: LoraTarget,
        /// What does not fit.
        what: String,
    },
}

/// The adapters of one projection.
#[derive(Module, Debug)]
pub struct Lora {
    /// One adapter per adapted module, each on its own columns of the output.
    pub slices: Vec<LoraSlice>,
    /// Dropout on the adapters' input (training only).
    pub dropout: Dropout,
}

/// One module's adapter: `scale · x a b` on output columns `start..start + width`.
#[derive(Module, Debug)]
pub struct LoraSlice {
    /// `A`, `[d_in, r]`.
    pub a: Param<Tensor<2>>,
    /// `B`, `[r, width]`.
    pub b: Param<Tensor<2>>,
    /// The module it adapts.
    #[module(skip)]
    pub target: LoraTarget,
    /// Its first output column in the (fused) projection.
    #[module(skip)]
    pub start: usize,
    /// The update's scale, `alpha / r`.
    #[module(skip)]
    pub scale: f64,
}

impl LoraSlice {
    /// The output columns it covers.
    pub fn width(&self) -> usize {
        self.b.dims()[1]
    }

    /// Its dense update `scale · A B`, `[d_in, width]`.
    pub fn delta(&self) -> Tensor<2> {
        self.a.val().matmul(self.b.val()) * self.scale
    }
}

impl Lora {
    /// The update of every output column (zero where no adapter is), for the projection's
    /// `d_out` outputs.
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_in]` -> `[batch, seq, d_out]`
    pub fn forward_columns(&self, x: Tensor<3>, d_out: usize) -> Tensor<3> {
        let [batch, seq, _] = x.dims();
        let x = dropout(&self.dropout, x);
        let device = x.device();
        let zeros = |width: usize| Tensor::<3>::zeros([batch, seq, width], (&device, x.dtype()));
        let mut parts = Vec::with_capacity(2 * self.slices.len() + 1);
        let mut column = 0;
        for slice in &self.slices {
            if slice.start > column {
                parts.push(zeros(slice.start - column));
            }
            let update = matmul_rows(matmul_rows(x.clone(), slice.a.val()), slice.b.val());
            parts.push(update * slice.scale);
            column = slice.start + slice.width();
        }
        if column < d_out {
            parts.push(zeros(d_out - column));
        }
        // One adapter on all the outputs (o, down, an ungated up) needs no concatenation.
        match parts.len() {
            1 => parts.pop().expect("one part"),
            _ => Tensor::cat(parts, 2),
        }
    }
}

/// Where each target sits in a block: the projection and its columns.
fn placement(config: &ModelConfig, target: LoraTarget) -> Option<(Site, usize, usize)> {
    let head_dim = config.head_dim();
    let (q, kv) = (config.n_head * head_dim, config.kv_heads() * head_dim);
    let hidden = config.mlp_hidden();
    let gated = config.activation.is_gated();
    Some(match target {
        LoraTarget::Q => (Site::Attention, 0, q),
        LoraTarget::K => (Site::Attention, q, kv),
        LoraTarget::V => (Site::Attention, q + kv, kv),
        LoraTarget::O => (Site::AttentionOut, 0, config.d_model),
        LoraTarget::Gate if gated => (Site::MlpIn, 0, hidden),
        LoraTarget::Gate => return None,
        LoraTarget::Up if gated => (Site::MlpIn, hidden, hidden),
        LoraTarget::Up => (Site::MlpIn, 0, hidden),
        LoraTarget::Down => (Site::MlpOut, 0, config.d_model),
    })
}

/// The four projections of a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Site {
    Attention,
    AttentionOut,
    MlpIn,
    MlpOut,
}

/// One attached adapter, as files name it.
#[derive(Debug)]
pub struct Adapter<'a> {
    /// The block.
    pub layer: usize,
    /// The adapter and its module.
    pub slice: &'a LoraSlice,
}

impl Gpt {
    /// Freezes every weight of the model and attaches fresh adapters as `settings` say (`A` as
    /// PEFT draws it, uniform in `±1/sqrt(d_in)`; `B` zero): afterwards only the adapters train.
    pub fn with_lora(self, settings: &LoraSettings, device: &Device) -> Result<Gpt, LoraError> {
        if settings.rank == 0 {
            return Err(LoraError::ZeroRank);
        }
        if settings.targets.is_empty() {
            return Err(LoraError::NoTargets);
        }
        let mut model = self.no_grad();
        let mut targets = settings.targets.clone();
        targets.sort();
        targets.dedup();
        for layer in 0..model.h.len() {
            for &target in &targets {
                let (_, start, width) =
                    placement(model.config(), target).ok_or(LoraError::MissingModule(target))?;
                let d_in = model.lora_site(layer, target).dims().0;
                let bound = 1.0 / (d_in as f64).sqrt();
                let a = Tensor::random(
                    [d_in, settings.rank],
                    Distribution::Uniform(-bound, bound),
                    device,
                );
                let b = Tensor::zeros([settings.rank, width], device);
                let slice = LoraSlice {
                    a: Param::from_tensor(a),
                    b: Param::from_tensor(b),
                    target,
                    start,
                    scale: settings.scale(),
                };
                model.attach(layer, slice, settings.dropout);
            }
        }
        Ok(model)
    }

    /// Attaches a trained adapter for `target` of block `layer`: `a` `[d_in, r]`, `b`
    /// `[r, width]`, scaled by `scale` (what adapter files hold). The model's own weights are
    /// left as they are.
    pub fn set_adapter(
        &mut self,
        layer: usize,
        target: LoraTarget,
        a: Tensor<2>,
        b: Tensor<2>,
        scale: f64,
    ) -> Result<(), LoraError> {
        let shape_error = |what: String| LoraError::Shape {
            layer,
            target,
            what,
        };
        if layer >= self.h.len() {
            return Err(shape_error(format!(
                "the model has {} layers",
                self.h.len()
            )));
        }
        let (_, start, width) =
            placement(self.config(), target).ok_or(LoraError::MissingModule(target))?;
        let d_in = self.lora_site(layer, target).dims().0;
        let ([a_in, rank], [b_rank, b_width]) = (a.dims(), b.dims());
        if a_in != d_in || b_rank != rank || b_width != width {
            return Err(shape_error(format!(
                "A is {a_in}x{rank} and B {b_rank}x{b_width}; the module needs A {d_in}xr and B rx{width}"
            )));
        }
        let slice = LoraSlice {
            a: Param::from_tensor(a),
            b: Param::from_tensor(b),
            target,
            start,
            scale,
        };
        self.attach(layer, slice, 0.0);
        Ok(())
    }

    /// Every attached adapter, block by block in the order of [`LoraTarget::ALL`].
    pub fn adapters(&self) -> Vec<Adapter<'_>> {
        let mut adapters = Vec::new();
        for (layer, block) in self.h.iter().enumerate() {
            for projection in [
                &block.attn.c_attn,
                &block.attn.c_proj,
                &block.mlp.c_fc,
                &block.mlp.c_proj,
            ] {
                for slice in projection.lora().map_or(&[][..], |lora| &lora.slices) {
                    adapters.push(Adapter { layer, slice });
                }
            }
        }
        adapters
    }

    /// The model without its adapters (its own weights as they are).
    pub fn without_adapters(mut self) -> Gpt {
        for (_, layer) in self.projections_mut() {
            *layer.lora_mut() = None;
        }
        self
    }

    /// Every projection's adapters, cloned, in the order of [`Gpt::projections`] (an empty
    /// entry where a projection has none): the trainable part of an adapted model, to save
    /// (a checkpoint's resume file) and restore with [`Gpt::set_adapter_modules`].
    pub fn adapter_modules(&self) -> Vec<Option<Lora>> {
        (self.projections().into_iter())
            .map(|(_, layer)| layer.lora().cloned())
            .collect()
    }

    /// Puts back adapters taken by [`Gpt::adapter_modules`] (of a model of the same shape).
    ///
    /// # Panics
    /// If `modules` does not have one entry per projection.
    pub fn set_adapter_modules(&mut self, modules: Vec<Option<Lora>>) {
        let mut layers = self.projections_mut();
        assert_eq!(layers.len(), modules.len(), "one entry per projection");
        for ((_, layer), lora) in layers.iter_mut().zip(modules) {
            *layer.lora_mut() = lora;
        }
    }

    /// Whether any adapter is attached.
    pub fn has_adapters(&self) -> bool {
        !self.adapters().is_empty()
    }

    /// Folds every adapter into its projection's weight (`W + s A B`) and detaches it: a plain
    /// model again, to save or quantize. A packed projection with adapters is decoded to f32
    /// first (on `device`).
    pub fn merge_lora(&mut self, device: &Device) {
        self.dequantize_adapted(device);
        for (_, layer) in self.projections_mut() {
            let Some(lora) = layer.lora_mut().take() else {
                continue;
            };
            let Projection::Float(linear) = layer else {
                unreachable!("adapted projections were decoded above");
            };
            let mut weight = linear.weight.val();
            for slice in &lora.slices {
                let [d_in, _] = weight.dims();
                let columns = slice.start..slice.start + slice.width();
                let merged = weight.clone().slice(s![0..d_in, columns.clone()]) + slice.delta();
                weight = weight.slice_assign(s![0..d_in, columns], merged);
            }
            linear.weight = Param::from_tensor(weight.detach());
        }
    }

    /// The projection of block `layer` that `target` sits in.
    fn lora_site(&self, layer: usize, target: LoraTarget) -> &Projection {
        let block = &self.h[layer];
        match placement(self.config(), target).map(|(site, _, _)| site) {
            Some(Site::Attention) => &block.attn.c_attn,
            Some(Site::AttentionOut) => &block.attn.c_proj,
            Some(Site::MlpIn) | None => &block.mlp.c_fc,
            Some(Site::MlpOut) => &block.mlp.c_proj,
        }
    }

    /// Adds `slice` to its projection's adapters (replacing one for the same module), keeping
    /// them in column order.
    fn attach(&mut self, layer: usize, slice: LoraSlice, dropout: f64) {
        let site = placement(self.config(), slice.target)
            .map(|(site, _, _)| site)
            .expect("placed by the caller");
        let block = &mut self.h[layer];
        let projection = match site {
            Site::Attention => &mut block.attn.c_attn,
            Site::AttentionOut => &mut block.attn.c_proj,
            Site::MlpIn => &mut block.mlp.c_fc,
            Site::MlpOut => &mut block.mlp.c_proj,
        };
        let lora = projection.lora_mut().get_or_insert_with(|| Lora {
            slices: Vec::new(),
            dropout: DropoutConfig::new(dropout).init(),
        });
        lora.slices.retain(|other| other.target != slice.target);
        lora.slices.push(slice);
        lora.slices.sort_by_key(|slice| slice.start);
    }
}
