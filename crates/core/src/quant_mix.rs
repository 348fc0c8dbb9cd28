//! Which format each weight takes when a model is quantized: one format for every projection,
//! or llama.cpp's K-quant mixtures (`Q4_K_M`, `Q5_K_M`), which keep more bits where the model is
//! most sensitive. The rules are llama.cpp's (`llama_tensor_get_type`, for dense models without
//! an importance matrix), so our mixtures match `llama-quantize`'s tensor for tensor:
//!
//! | tensor | `Q4_K_M` | `Q5_K_M` |
//! |---|---|---|
//! | output head (or a tied token table) | Q6_K | Q6_K |
//! | value projection, layer `i` of `n` | Q6_K where [`more_bits`]`(i, n)`, else Q4_K | Q6_K / Q5_K |
//! | MLP down projection, layer `i` of `n` | Q6_K where [`more_bits`]`(i, n)`, else Q4_K | Q6_K / Q5_K |
//! | fused query/key/value (`attn_qkv`) | Q5_K | Q6_K |
//! | everything else, the token table included | Q4_K | Q5_K |
//!
//! A K-quant needs rows that are whole blocks of 256; a matrix whose rows are not falls back as
//! llama.cpp's does: Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0 (an output head to Q8_0).

use std::str::FromStr;

use claude_quant::{GgmlType, QK_K, RowFormat};

/// How the weights of a model are quantized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuantScheme {
    /// Every projection (and the token table when asked) in one format; K-quant rows that are
    /// not whole blocks of 256 fall back as in a mixture.
    Uniform(RowFormat),
    /// llama.cpp's `Q4_K_M`: Q4_K, with Q6_K for the output head, half the value and down
    /// projections; the token table is always quantized.
    Q4KM,
    /// llama.cpp's `Q5_K_M`: as [`QuantScheme::Q4KM`] with Q5_K for the base.
    Q5KM,
}

/// What a weight is to the model, which decides its format in a mixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TensorRole {
    /// The token table, when the output head is separate.
    TokenTable,
    /// The output head, or the token table that doubles as it.
    Output,
    /// The query, key and value projections fused in one stored tensor (`attn_qkv`).
    AttentionQkv,
    /// The value projection of layer `layer` (of `layers`).
    AttentionValue {
        /// The layer.
        layer: usize,
        /// Layers in the model.
        layers: usize,
    },
    /// The MLP's down projection of layer `layer` (of `layers`).
    FeedForwardDown {
        /// The layer.
        layer: usize,
        /// Layers in the model.
        layers: usize,
    },
    /// Any other projection (queries, keys, the attention output, gate and up).
    Other,
}

/// llama.cpp's `use_more_bits`: the first and last eighth of the layers, and every third one
/// between them.
pub fn more_bits(layer: usize, layers: usize) -> bool {
    let eighth = layers / 8;
    layer < eighth || layer >= 7 * layers / 8 || (layer - eighth) % 3 == 2
}

impl QuantScheme {
    /// The names [`FromStr`] takes, for messages.
    pub const NAMES: &'static str =
        "int8, q8_0, q4_0, q4_1, q5_0, q5_1, q4_k, q5_k, q6_k, q4_k_m, q5_k_m";

    /// Whether the token table is quantized even when not asked (the mixtures do, as
    /// `llama-quantize` does).
    pub fn quantizes_token_table(self) -> bool {
        !matches!(self, QuantScheme::Uniform(_))
    }

    /// The format of a weight of role `role` whose rows hold `cols` values.
    pub fn format_for(self, role: TensorRole, cols: usize) -> RowFormat {
        let (base, high) = match self {
            QuantScheme::Uniform(format) => return fall_back(format, cols),
            QuantScheme::Q4KM => (GgmlType::Q4_K, GgmlType::Q5_K),
            QuantScheme::Q5KM => (GgmlType::Q5_K, GgmlType::Q6_K),
        };
        let ty = match role {
            TensorRole::Output if !cols.is_multiple_of(QK_K) => GgmlType::Q8_0,
            TensorRole::Output => GgmlType::Q6_K,
            TensorRole::AttentionQkv => high,
            TensorRole::AttentionValue { layer, layers }
            | TensorRole::FeedForwardDown { layer, layers }
                if more_bits(layer, layers) =>
            {
                GgmlType::Q6_K
            }
            _ => base,
        };
        fall_back(RowFormat::Ggml(ty), cols)
    }
}

/// `format`, or llama.cpp's fallback for it when rows of `cols` values are not whole K-quant
/// blocks.
fn fall_back(format: RowFormat, cols: usize) -> RowFormat {
    let RowFormat::Ggml(ty) = format else {
        return format;
    };
    if cols.is_multiple_of(ty.block_size()) {
        return format;
    }
    RowFormat::Ggml(match ty {
        GgmlType::Q4_K => GgmlType::Q5_0,
        GgmlType::Q5_K => GgmlType::Q5_1,
        GgmlType::Q6_K => GgmlType::Q8_0,
        GgmlType::Q2_K | GgmlType::Q3_K => GgmlType::Q4_0,
        GgmlType::IQ4_XS => GgmlType::IQ4_NL,
        other => other,
    })
}

impl From<RowFormat> for QuantScheme {
    fn from(format: RowFormat) -> Self {
        QuantScheme::Uniform(format)
    }
}

impl FromStr for QuantScheme {
    type Err = claude_quant::Error;

    /// `q4_k_m`, `q5_k_m`, or a [`RowFormat`] (`int8`, a GGML type name), any ASCII case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("q4_k_m") {
            Ok(QuantScheme::Q4KM)
        } else if s.eq_ignore_ascii_case("q5_k_m") {
            Ok(QuantScheme::Q5KM)
        } else {
            s.parse().map(QuantScheme::Uniform)
        }
    }
}

impl std::fmt::Display for QuantScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QuantScheme::Uniform(format) => f.write_str(format.name()),
            QuantScheme::Q4KM => f.write_str("Q4_K_M"),
            QuantScheme::Q5KM => f.write_str("Q5_K_M"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The layers of a 24-layer model that take Q6_K value projections in a `Q4_K_M` file, as
    /// in the Qwen2.5 0.5B file llama.cpp's tools wrote (12 of them).
    #[test]
    fn more_bits_picks_llama_cpp_layers() {
        let picked: Vec<usize> = (0..24).filter(|&i| more_bits(i, 24)).collect();
        assert_eq!(picked, [0, 1, 2, 5, 8, 11, 14, 17, 20, 21, 22, 23]);
    }

    #[test]
    fn mixtures_follow_llama_cpp() {
        let q4 = QuantScheme::Q4KM;
        let ggml = RowFormat::Ggml;
        let v = |layer| TensorRole::AttentionValue { layer, layers: 24 };
        assert_eq!(q4.format_for(v(0), 1024), ggml(GgmlType::Q6_K));
        assert_eq!(q4.format_for(v(3), 1024), ggml(GgmlType::Q4_K));
        // Rows of 896 are not whole K blocks: Qwen2.5 0.5B's fallbacks.
        assert_eq!(q4.format_for(v(0), 896), ggml(GgmlType::Q8_0));
        assert_eq!(q4.format_for(v(3), 896), ggml(GgmlType::Q5_0));
        assert_eq!(q4.format_for(TensorRole::Output, 896), ggml(GgmlType::Q8_0));
        assert_eq!(q4.format_for(TensorRole::Output, 768), ggml(GgmlType::Q6_K));
        assert_eq!(
            q4.format_for(TensorRole::AttentionQkv, 768),
            ggml(GgmlType::Q5_K)
        );
        let q5 = QuantScheme::Q5KM;
        assert_eq!(q5.format_for(TensorRole::Other, 768), ggml(GgmlType::Q5_K));
        assert_eq!(q5.format_for(TensorRole::Other, 896), ggml(GgmlType::Q5_1));
        let down = TensorRole::FeedForwardDown {
            layer: 23,
            layers: 24,
        };
        assert_eq!(q5.format_for(down, 4864), ggml(GgmlType::Q6_K));
    }

    #[test]
    fn names_parse() {
        assert_eq!("Q4_K_M".parse::<QuantScheme>().unwrap(), QuantScheme::Q4KM);
        assert_eq!(
            "q6_k".parse::<QuantScheme>().unwrap(),
            QuantScheme::Uniform(RowFormat::Ggml(GgmlType::Q6_K))
        );
        assert!("q9_z".parse::<QuantScheme>().is_err());
    }
}
