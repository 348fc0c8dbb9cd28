//! Device strings (`cpu`, `wgpu`, `wgpu:1`, `cuda:0`) -> burn devices.

use burn::tensor::Device;

/// A device named on the command line, before it is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    /// burn's Flex CPU backend (always compiled in).
    Cpu,
    /// A wgpu adapter: the default one, or the N-th discrete GPU.
    Wgpu(Option<usize>),
    /// The N-th CUDA GPU.
    Cuda(usize),
}

/// Why a device string cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    /// The string names no backend.
    #[error("unknown device {0:?} (expected cpu, wgpu, wgpu:N, cuda or cuda:N)")]
    Unknown(String),
    /// The backend exists but this binary was built without it.
    #[error(
        "device {device:?} needs the `{feature}` backend, which this binary was built without \
         (rebuild with `--features {feature}`; compiled in: {compiled})"
    )]
    NotCompiled {
        /// The device string.
        device: String,
        /// The cargo feature that would enable it.
        feature: &'static str,
        /// The backends that are compiled in.
        compiled: String,
    },
}

impl std::str::FromStr for DeviceSpec {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        let (name, index) = match lower.split_once(':') {
            Some((name, index)) => {
                let index = index
                    .parse::<usize>()
                    .map_err(|_| DeviceError::Unknown(s.into()))?;
                (name, Some(index))
            }
            None => (lower.as_str(), None),
        };
        match (name, index) {
            ("cpu" | "flex", None) => Ok(DeviceSpec::Cpu),
            ("wgpu" | "vulkan" | "gpu", index) => Ok(DeviceSpec::Wgpu(index)),
            ("cuda", index) => Ok(DeviceSpec::Cuda(index.unwrap_or(0))),
            _ => Err(DeviceError::Unknown(s.into())),
        }
    }
}

/// The backends compiled into this binary, by feature name.
pub fn compiled_backends() -> Vec<&'static str> {
    [
        (true, "flex"),
        (cfg!(feature = "wgpu"), "wgpu"),
        (cfg!(feature = "cuda"), "cuda"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect()
}

impl DeviceSpec {
    /// The cargo feature this device needs.
    pub fn feature(self) -> &'static str {
        match self {
            DeviceSpec::Cpu => "flex",
            DeviceSpec::Wgpu(_) => "wgpu",
            DeviceSpec::Cuda(_) => "cuda",
        }
    }

    /// Opens the device, or says which feature is missing.
    pub fn open(self) -> Result<Device, DeviceError> {
        let not_compiled = || DeviceError::NotCompiled {
            device: self.to_string(),
            feature: self.feature(),
            compiled: compiled_backends().join(", "),
        };
        match self {
            DeviceSpec::Cpu => Ok(Device::flex()),
            #[cfg(feature = "wgpu")]
            DeviceSpec::Wgpu(index) => {
                use burn::tensor::DeviceKind;
                Ok(Device::wgpu(match index {
                    Some(i) => DeviceKind::DiscreteGpu(i),
                    None => DeviceKind::DefaultDevice,
                }))
            }
            #[cfg(feature = "cuda")]
            DeviceSpec::Cuda(index) => Ok(Device::cuda(index)),
            #[allow(unreachable_patterns)]
            _ => Err(not_compiled()),
        }
    }
}

impl std::fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceSpec::Cpu => write!(f, "cpu"),
            DeviceSpec::Wgpu(None) => write!(f, "wgpu"),
            DeviceSpec::Wgpu(Some(i)) => write!(f, "wgpu:{i}"),
            DeviceSpec::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

/// Parses and opens a device string in one step.
pub fn parse_device(s: &str) -> Result<Device, DeviceError> {
    s.parse::<DeviceSpec>()?.open()
}

/// Parses and opens a comma-separated list of devices (`cuda:0,cuda:1`, `cpu,wgpu`) for data
/// parallel training; the first is the main device. A device may appear twice (two workers
/// sharing it).
pub fn parse_devices(s: &str) -> Result<Vec<Device>, DeviceError> {
    s.split(',').map(parse_device).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_lists_are_comma_separated() {
        assert_eq!(parse_devices("cpu").unwrap().len(), 1);
        assert_eq!(parse_devices("cpu, cpu").unwrap().len(), 2);
        assert!(matches!(
            parse_devices("cpu,"),
            Err(DeviceError::Unknown(_))
        ));
    }

    #[test]
    fn parses_device_strings() {
        assert_eq!("cpu".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cpu);
        assert_eq!("CUDA:1".parse::<DeviceSpec>().unwrap(), DeviceSpec::Cuda(1));
        assert_eq!(
            "wgpu".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Wgpu(None)
        );
        assert_eq!(
            "wgpu:2".parse::<DeviceSpec>().unwrap(),
            DeviceSpec::Wgpu(Some(2))
        );
        assert!(matches!(
            "tpu".parse::<DeviceSpec>(),
            Err(DeviceError::Unknown(_))
        ));
        assert!(matches!(
            "cuda:x".parse::<DeviceSpec>(),
            Err(DeviceError::Unknown(_))
        ));
    }

    #[test]
    fn a_backend_that_is_not_compiled_in_is_a_clear_error() {
        if cfg!(feature = "cuda") {
            return;
        }
        let err = parse_device("cuda:0").unwrap_err();
        assert!(
            err.to_string().contains("rebuild with `--features cuda`"),
            "{err}"
        );
    }

    #[test]
    fn cpu_opens_by_default() {
        assert!(parse_device("cpu").is_ok());
    }
}
