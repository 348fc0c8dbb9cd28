// Greedy continuation of a prompt given as token ids, with an optional LoRA adapter, through
// libllama: prints the ids as one JSON line. Built and run by llama_cpp_lora.sh.
// usage: greedy_lora MODEL.gguf LORA.gguf|- N_NEW ID ID ...
#include "llama.h"
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

static void fill(llama_batch_ext * batch, const std::vector<llama_token> & ids, llama_pos first) {
    llama_batch_ext_clear(batch);
    for (size_t i = 0; i < ids.size(); i++) {
        const int32_t at = llama_batch_ext_add_token(batch, 0, ids[i]);
        const llama_pos pos = first + (llama_pos) i;
        llama_batch_ext_set_pos(batch, at, &pos);
    }
    llama_batch_ext_set_output_logits(batch, (int32_t) ids.size() - 1, true);
}

static void quiet(enum ggml_log_level, const char *, void *) {}

int main(int argc, char ** argv) {
    if (argc < 5) { fprintf(stderr, "usage: %s MODEL LORA|- N_NEW IDS...\n", argv[0]); return 2; }
    if (!getenv("VERBOSE")) llama_log_set(quiet, nullptr);
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "model load failed\n"); return 1; }
    const int n_new = atoi(argv[3]);
    std::vector<llama_token> prompt;
    for (int i = 4; i < argc; i++) prompt.push_back(atoi(argv[i]));
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = prompt.size() + n_new + 8;
    cp.n_batch = prompt.size();
    cp.n_threads = cp.n_threads_batch = 2;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) return 1;
    if (std::string_view(argv[2]) != "-") {
        llama_adapter_lora * lora = llama_adapter_lora_init(model, argv[2]);
        if (!lora) { fprintf(stderr, "lora load failed\n"); return 1; }
        float scale = 1.0f;
        if (llama_set_adapters_lora(ctx, &lora, 1, &scale) != 0) { fprintf(stderr, "set lora failed\n"); return 1; }
    }
    const int n_vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
    llama_batch_ext * batch = llama_batch_ext_init(ctx);
    fill(batch, prompt, 0);
    llama_pos pos = prompt.size();
    printf("[");
    for (int step = 0; step < n_new; step++) {
        if (llama_process(ctx, LLAMA_PROCESS_TYPE_DECODE, batch)) { fprintf(stderr, "decode failed\n"); return 1; }
        const float * logits = llama_get_logits_ith(ctx, -1);
        int best = 0;
        for (int v = 1; v < n_vocab; v++) if (logits[v] > logits[best]) best = v;
        printf("%s%d", step ? "," : "", best);
        fill(batch, {best}, pos);
        pos += 1;
    }
    printf("]\n");
    llama_batch_ext_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
