//! The normalisation layer: LayerNorm or RMSNorm.

use burn::module::Param;
use burn::nn::{Initializer, RmsNorm, RmsNormConfig};
use burn::prelude::*;
use claude_tensors::kernels::Normalization;

use crate::config::{ModelConfig, NormKind};

/// LayerNorm, `(x - mean) / √(var + eps) · gamma + beta`, run by our kernel on the CPU. burn's
/// `LayerNorm` keeps its epsilon private, and the forward pass needs it.
#[derive(Module, Debug)]
pub struct LayerNorm {
    /// Scale, `[features]`.
    pub gamma: Param<Tensor<1>>,
    /// Shift, `[features]`, when the model has biases.
    pub beta: Option<Param<Tensor<1>>>,
    #[module(skip)]
    eps: f64,
}

/// LayerNorm (GPT-2) or RMSNorm (Llama), as the config says.
#[derive(Module, Debug)]
pub enum Norm {
    /// `(x - mean) / std * gamma + beta`.
    Layer(LayerNorm),
    /// `x / rms(x) * gamma`.
    Rms(RmsNorm),
}

impl Norm {
    /// A fresh norm over `config.d_model` features (gamma 1, beta 0).
    pub fn new(config: &ModelConfig, device: &Device) -> Self {
        match config.norm {
            NormKind::Layernorm => Norm::Layer(LayerNorm {
                gamma: Initializer::Ones.init([config.d_model], device),
                beta: config
                    .bias
                    .then(|| Initializer::Zeros.init([config.d_model], device)),
                eps: config.norm_eps,
            }),
            NormKind::Rmsnorm => Norm::rms(config.d_model, config.norm_eps, device),
        }
    }

    /// An RMSNorm over the last `width` values, with weights of one (the per-head query and key
    /// norms, whatever the model's own norm kind).
    pub fn rms(width: usize, eps: f64, device: &Device) -> Self {
        Norm::Rms(RmsNormConfig::new(width).with_epsilon(eps).init(device))
    }

    /// Normalises the last dimension (through our kernels where there are some).
    ///
    /// # Shapes
    /// - x: `[batch, seq, d_model]` -> `[batch, seq, d_model]`
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        self.normalization().forward(x)
    }

    /// The norm's parameters as our kernels take them (a product fused with the norm before
    /// it reads them too).
    pub fn normalization(&self) -> Normalization {
        match self {
            Norm::Layer(norm) => Normalization {
                gamma: norm.gamma.val(),
                beta: norm.beta.as_ref().map(|beta| beta.val()),
                eps: norm.eps,
                centred: true,
            },
            Norm::Rms(norm) => Normalization {
                gamma: norm.gamma.val(),
                beta: None,
                eps: norm.epsilon,
                centred: false,
            },
        }
    }

    /// The norm over each head of queries or keys (the last dimension).
    ///
    /// # Shapes
    /// - x: `[batch, heads, seq, head_dim]` -> the same
    pub fn forward_heads(&self, x: Tensor<4>) -> Tensor<4> {
        let [batch, heads, seq, head_dim] = x.dims();
        self.forward(x.reshape([batch, heads * seq, head_dim]))
            .reshape([batch, heads, seq, head_dim])
    }
}

#[cfg(test)]
mod tests {
    //! Known answers. The numbers between the markers come from
    //! `python3 crates/core/tests/data/known_answers.py norm` (float64 numpy, independent of
    //! burn); the script also checks that every mistake named below moves some output by at least
    //! ten times the tolerance.

    use burn::module::Param;

    use super::*;
    use crate::known_answers::{assert_close, tensor};

    // BEGIN known_answers.py output
    // shape 2x2x8
    #[rustfmt::skip]
    const X: [f32; 32] = [
        1.0, -2.0, 3.0, -4.0, 0.5, 0.25, -1.5, 2.0,
        2.0, 1.5, 1.0, 3.0, 2.5, 0.5, 1.0, 2.0,
        0.01171875, -0.01953125, 0.0078125, 0.015625,
        -0.00390625, 0.0234375, -0.01171875, 0.00390625,
        -0.75, 0.125, 4.0, -2.5, 1.25, -0.375, 0.0, 3.5,
    ];
    // shape 8
    #[rustfmt::skip]
    const GAMMA: [f32; 8] = [
        0.5, 1.0, 1.5, 2.0, -1.0, 0.25, 1.25, 0.75,
    ];
    // shape 8
    #[rustfmt::skip]
    const BETA: [f32; 8] = [
        0.125, -0.25, 0.375, 0.0, 0.5, -0.5, 0.25, -0.125,
    ];
    // shape 2x2x8
    #[rustfmt::skip]
    const RMS_EXPECTED: [f64; 32] = [
        0.2338818826, -0.9355275304, 2.1049369435, -3.7421101218,
        -0.2338818826, 0.0292352353, -0.8770570598, 0.7016456478,
        0.5369240702, 0.8053861053, 0.8053861053, 3.2215444214,
        -1.3423101756, 0.0671155088, 0.6711550878, 0.8053861053,
        0.4116103959, -1.3720346531, 0.8232207919, 2.1952554450,
        0.2744069306, 0.4116103959, -1.0290259899, 0.2058051980,
        -0.1748890210, 0.0582963403, 2.7982243361, -2.3318536134,
        -0.5829634034, -0.0437222553, 0.0000000000, 1.2242231470,
    ];
    // shape 2x2x8
    #[rustfmt::skip]
    const LAYER_EXPECTED: [f64; 32] = [
        0.3810546334, -1.1425332937, 2.5478064608, -3.6579233347,
        0.2219978266, -0.4597628433, -0.5730327503, 0.6102425903,
        0.3232613004, -0.4879135604, -0.9335245824, 3.3307898462,
        -0.5309587619, -0.8766964707, -0.8404371520, 0.1723919506,
        0.4253434117, -1.9107223943, 0.8520160069, 1.7667259514,
        1.0300177854, -0.1378211800, -1.1192126123, -0.0984991107,
        -0.2194456271, -0.5102478072, 2.8320454734, -3.0923562968,
        0.2091348038, -0.6262967299, -0.1518532316, 0.9198184023,
    ];
    // END known_answers.py output

    /// `Norm::forward` for RMSNorm: `x / sqrt(mean(x²) + 1e-5) * gamma`.
    ///
    /// Catches: a wrong eps (1e-6, 1e-4 or none: the third row is tiny, mean square ~2e-4, so eps
    /// moves it by ~2.5%), eps added outside the square root, a subtracted mean (LayerNorm; the
    /// second row is all positive), dividing by n - 1, and gamma not applied.
    #[test]
    fn rms_norm_matches_known_answers() {
        let device = Device::flex();
        let config = ModelConfig {
            d_model: 8,
            norm: NormKind::Rmsnorm,
            ..ModelConfig::default()
        };
        let mut norm = Norm::new(&config, &device);
        let Norm::Rms(rms) = &mut norm else {
            panic!("NormKind::Rmsnorm did not build Norm::Rms");
        };
        rms.gamma = Param::from_tensor(tensor(&GAMMA, [8], &device));
        let y = norm.forward(tensor(&X, [2, 2, 8], &device));
        assert_close(y, [2, 2, 8], &RMS_EXPECTED);
    }

    /// `Norm::forward` for LayerNorm (our kernel): `(x - mean) / sqrt(var + 1e-5) * gamma + beta`.
    ///
    /// Catches: the unbiased (n - 1) variance, a wrong eps (1e-6 or none), beta not applied, and
    /// the mean not subtracted (RMSNorm).
    #[test]
    fn layer_norm_matches_known_answers() {
        let device = Device::flex();
        let config = ModelConfig {
            d_model: 8,
            ..ModelConfig::default()
        };
        let mut norm = Norm::new(&config, &device);
        let Norm::Layer(layer) = &mut norm else {
            panic!("NormKind::Layernorm did not build Norm::Layer");
        };
        layer.gamma = Param::from_tensor(tensor(&GAMMA, [8], &device));
        layer.beta = Some(Param::from_tensor(tensor(&BETA, [8], &device)));
        let y = norm.forward(tensor(&X, [2, 2, 8], &device));
        assert_close(y, [2, 2, 8], &LAYER_EXPECTED);
    }
}
