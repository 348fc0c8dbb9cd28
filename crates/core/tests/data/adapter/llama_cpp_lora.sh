#!/usr/bin/env bash
# Checks our GGUF LoRA files in llama.cpp: builds greedy_lora.cpp against a built llama.cpp
# (LLAMA_SRC, LLAMA_BUILD), has the Rust test write the adapter files of two real models
# (SmolLM2-135M: llama; Qwen2.5-Coder-0.5B: qwen2, NeoX rows), runs libllama's greedy
# continuation with and without each adapter, and saves the tokens in llama_cpp_greedy.json,
# which `real_gguf_adapters_continue_as_in_llama_cpp` compares with ours (merged adapters).
# Run from the repository root.
set -euo pipefail
here=crates/core/tests/data/adapter
src=${LLAMA_SRC:-/work/peers/src/llama_cpp_python-0.3.36/vendor/llama.cpp}
build=${LLAMA_BUILD:-/work/peers/build}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
g++ -O2 -std=c++17 -I"$src/include" -I"$src/ggml/include" "$here/greedy_lora.cpp" \
    "$build/src/libllama.a" "$build/ggml/src/libggml.a" "$build/ggml/src/libggml-cpu.a" \
    "$build/ggml/src/libggml-base.a" -fopenmp -lpthread -o "$out/greedy_lora"
mv -f "$here/llama_cpp_greedy.json" "$out/previous.json" 2>/dev/null || true
CLAUDE_ADAPTER_OUT="$out" cargo test -p claude-core --test main \
    adapter::real_gguf_adapters_continue_as_in_llama_cpp -- --nocapture 2>&1 | grep -E "base|skipping" | tee "$out/ours.txt"
models=${CLAUDE_RUST_MODELS:-$HOME/.cache/claude-rust/models}
declare -A path=(
    [smollm2-135m]=../shared/data/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf
    [qwen2.5-coder-0.5b]=$models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf
)
[ -f "${path[smollm2-135m]}" ] || path[smollm2-135m]=/work/shared/data/models/smollm2-135m-instruct-q4_1/SmolLM2-135M-Instruct.Q4_1.gguf
declare -A prompt=([smollm2-135m]="504 3575 282 4649 314" [qwen2.5-coder-0.5b]="785 6722 315 9625 374")
{
    echo "{"
    echo "  \"tool\": \"greedy_lora.cpp against libllama ($(cd "$src" && git rev-parse --short HEAD 2>/dev/null || echo "$src")), 16 greedy tokens, adapter scale 1\","
    first=1
    for name in smollm2-135m qwen2.5-coder-0.5b; do
        [ -f "$out/$name-lora.gguf" ] || continue
        base=$("$out/greedy_lora" "${path[$name]}" - 16 ${prompt[$name]})
        lora=$("$out/greedy_lora" "${path[$name]}" "$out/$name-lora.gguf" 16 ${prompt[$name]})
        [ $first = 1 ] || echo "  ,"
        first=0
        echo "  \"$name\": {\"prompt\": [${prompt[$name]// /, }], \"base\": $base, \"lora\": $lora}"
    done
    echo "}"
} > "$here/llama_cpp_greedy.json"
cat "$here/llama_cpp_greedy.json"
