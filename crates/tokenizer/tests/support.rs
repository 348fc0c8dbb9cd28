//! Helpers shared by the test modules.

use std::path::{Path, PathBuf};

/// A llama.cpp tokenizer suite beside the vocabulary file `gguf`: the inputs of `<gguf>.inp`
/// (each followed by a `\n__ggml_vocab_test__\n` line, the last one too) with the expected ids of
/// the matching line of `<gguf>.out`, in file order.
pub fn llamacpp_cases(gguf: &Path) -> Vec<(String, Vec<u32>)> {
    let read = |ext: &str| {
        let path = PathBuf::from(format!("{}.{ext}", gguf.display()));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let inputs: Vec<String> = read("inp")
        .split_terminator("\n__ggml_vocab_test__\n")
        .map(str::to_owned)
        .collect();
    let outputs: Vec<Vec<u32>> = read("out")
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(|id| id.parse().unwrap())
                .collect()
        })
        .collect();
    assert_eq!(inputs.len(), outputs.len(), "one expected line per input");
    inputs.into_iter().zip(outputs).collect()
}
