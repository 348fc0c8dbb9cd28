//! llama2.c checkpoints (Karpathy's `run.c` format, float32, little-endian): seven `i32` sizes
//! (`dim`, `hidden_dim`, `n_layers`, `n_heads`, `n_kv_heads`, `vocab_size`, `seq_len`; a negative
//! `vocab_size` means a separate output matrix follows the weights), then every weight of one
//! kind for all layers together, each matrix `[out][in]` as `run.c`'s `matmul` reads it:
//! `token_embedding [vocab][dim]`, `rms_att [L][dim]`, `wq [L][dim][dim]`, `wk` and
//! `wv [L][kv_dim][dim]`, `wo [L][dim][dim]`, `rms_ffn [L][dim]`, `w1 [L][hidden][dim]` (gate),
//! `w2 [L][dim][hidden]` (down), `w3 [L][hidden][dim]` (up), `rms_final [dim]`, the legacy RoPE
//! tables `[seq_len][head_size / 2]` twice (skipped), and `wcls [vocab][dim]` when unshared.
//!
//! `run.c` rotates adjacent pairs with base 10000 and normalises with RMSNorm, eps 1e-5.

use std::path::Path;

use burn::prelude::*;

use super::weights::{Matrix, set_embedding, set_linear, set_norm};
use super::{InvalidModelFile, ModelFileError, init_capped};
use crate::config::{Activation, ModelConfig, NormKind, Positions};
use crate::transformer::Gpt;

/// Bytes of the header: seven `i32`.
pub(super) const HEADER_BYTES: usize = 7 * 4;

/// Loads the llama2.c checkpoint `path`.
pub(super) fn load(
    path: &Path,
    device: &Device,
    context: Option<usize>,
) -> Result<Gpt, ModelFileError> {
    let bytes = std::fs::read(path).map_err(|e| ModelFileError::io(path, e))?;
    let (config, shared_classifier) = config(&bytes, path)?;
    let floats: Vec<f32> = bytes[HEADER_BYTES..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let mut weights = Weights {
        floats: &floats,
        offset: 0,
        path,
    };
    let (dim, hidden, layers) = (config.d_model, config.mlp_hidden(), config.n_layer);
    let kv_dim = config.kv_heads() * config.head_dim();
    let vocab = config.vocab_size;
    let embedding = weights.take(vocab, dim)?;
    let rms_att = weights.per_layer(layers, 1, dim)?;
    let wq = weights.per_layer(layers, dim, dim)?;
    let wk = weights.per_layer(layers, kv_dim, dim)?;
    let wv = weights.per_layer(layers, kv_dim, dim)?;
    let wo = weights.per_layer(layers, dim, dim)?;
    let rms_ffn = weights.per_layer(layers, 1, dim)?;
    let w1 = weights.per_layer(layers, hidden, dim)?;
    let w2 = weights.per_layer(layers, dim, hidden)?;
    let w3 = weights.per_layer(layers, hidden, dim)?;
    let rms_final = weights.take(1, dim)?;
    let half_head = config.head_dim() / 2;
    weights.take(2 * config.context_length, half_head)?;
    let classifier = if shared_classifier {
        None
    } else {
        Some(weights.take(vocab, dim)?)
    };
    if weights.offset != floats.len() || bytes.len() % 4 != 0 {
        return Err(ModelFileError::invalid(
            path,
            InvalidModelFile::Llama2cTrailingBytes {
                bytes: bytes.len() - HEADER_BYTES - 4 * weights.offset,
            },
        ));
    }

    let mut model = init_capped(&config, context, device);
    set_embedding(&mut model.wte, embedding, device);
    let norms = rms_att.into_iter().zip(rms_ffn);
    for ((i, block), (rms_att, rms_ffn)) in model.h.iter_mut().enumerate().zip(norms) {
        set_norm(&mut block.ln_1, rms_att.data, None, device);
        set_linear(&mut block.attn.c_attn, &[&wq[i], &wk[i], &wv[i]], device);
        set_linear(&mut block.attn.c_proj, &[&wo[i]], device);
        set_norm(&mut block.ln_2, rms_ffn.data, None, device);
        set_linear(&mut block.mlp.c_fc, &[&w1[i], &w3[i]], device);
        set_linear(&mut block.mlp.c_proj, &[&w2[i]], device);
    }
    set_norm(&mut model.ln_f, rms_final.data, None, device);
    if let (Some(head), Some(classifier)) = (&mut model.lm_head, classifier) {
        set_linear(head, &[&classifier], device);
    }
    Ok(model)
}

/// The model config of the header, and whether the output matrix is the token embedding.
fn config(bytes: &[u8], path: &Path) -> Result<(ModelConfig, bool), ModelFileError> {
    if bytes.len() < HEADER_BYTES {
        return Err(ModelFileError::invalid(
            path,
            InvalidModelFile::Llama2cShortHeader { len: bytes.len() },
        ));
    }
    let field = |i: usize| i32::from_le_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    let names = [
        "dim",
        "hidden_dim",
        "n_layers",
        "n_heads",
        "n_kv_heads",
        "vocab_size",
        "seq_len",
    ];
    let mut sizes = [0usize; 7];
    for (i, name) in names.into_iter().enumerate() {
        let value = field(i);
        let size = if i == 5 {
            value.unsigned_abs()
        } else {
            value as u32
        };
        if value == 0 || (i != 5 && value < 0) || size > 1 << 24 {
            return Err(ModelFileError::invalid(
                path,
                InvalidModelFile::Llama2cHeaderField { field: name, value },
            ));
        }
        sizes[i] = size as usize;
    }
    let [dim, hidden, layers, heads, kv_heads, vocab, seq_len] = sizes;
    let shared = field(5) > 0;
    let config = ModelConfig {
        vocab_size: vocab,
        context_length: seq_len,
        n_layer: layers,
        n_head: heads,
        n_kv_head: (kv_heads != heads).then_some(kv_heads),
        d_model: dim,
        d_ff: Some(hidden),
        positions: Positions::Rope,
        activation: Activation::Swiglu,
        norm: NormKind::Rmsnorm,
        bias: false,
        tie_embeddings: shared,
        dropout: 0.0,
        rope_theta: 10_000.0,
        norm_eps: 1e-5,
        ..ModelConfig::default()
    };
    config.validate().map_err(|cause| ModelFileError::Config {
        path: path.to_path_buf(),
        cause,
    })?;
    Ok((config, shared))
}

/// Cuts consecutive matrices out of the float32 body.
struct Weights<'a> {
    floats: &'a [f32],
    offset: usize,
    path: &'a Path,
}

impl Weights<'_> {
    /// The next `rows x cols` matrix.
    fn take(&mut self, rows: usize, cols: usize) -> Result<Matrix, ModelFileError> {
        let len = rows * cols;
        let end = self.offset + len;
        let Some(data) = self.floats.get(self.offset..end) else {
            return Err(ModelFileError::invalid(
                self.path,
                InvalidModelFile::Llama2cTruncated {
                    floats: self.floats.len(),
                },
            ));
        };
        self.offset = end;
        Ok(Matrix {
            data: data.to_vec(),
            rows,
            cols,
        })
    }

    /// The next `layers` matrices of `rows x cols` each.
    fn per_layer(
        &mut self,
        layers: usize,
        rows: usize,
        cols: usize,
    ) -> Result<Vec<Matrix>, ModelFileError> {
        (0..layers).map(|_| self.take(rows, cols)).collect()
    }
}
