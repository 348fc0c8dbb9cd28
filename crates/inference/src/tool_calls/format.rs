//! [`ToolCallFormat`]: the tool-call markups that chat templates teach.

/// How a model family writes tool calls (what its chat template renders for an assistant
/// message with `tool_calls`, so what the model learned to emit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolCallFormat {
    /// Hermes, Qwen 2.5, Qwen3, QwQ, Granite 4, Bielik, MiMo, Reka:
    /// `<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>`, one block per call.
    Hermes,
    /// Llama 3.1 / 3.2 / 3.3: a bare `{"name": ..., "parameters": {...}}` object as the whole
    /// reply, or `<|python_tag|>` followed by such objects separated by `;` (`"arguments"` is
    /// accepted too).
    Llama3Json,
    /// Mistral v3 / Nemo: `[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]`.
    MistralJsonList,
    /// Newer Mistral (Devstral, Mistral Small 3.2, Ministral 3):
    /// `[TOOL_CALLS]name[ARGS]{...}` per call, with an optional `[CALL_ID]id` before `[ARGS]`.
    MistralArgs,
    /// Qwen3-Coder, Qwen3.5, Nemotron 3, Step 3.5: `<tool_call>\n<function=NAME>\n
    /// <parameter=KEY>\nVALUE\n</parameter>\n</function>\n</tool_call>` (a value is JSON when it
    /// parses as JSON, else a string).
    QwenXml,
    /// ByteDance Seed-OSS: [`ToolCallFormat::QwenXml`]'s markup inside
    /// `<seed:tool_call>...</seed:tool_call>`.
    SeedXml,
    /// GLM 4.5+ and its followers (Ling, Laguna, Spark):
    /// `<tool_call>NAME\n<arg_key>KEY</arg_key>\n<arg_value>VALUE</arg_value>\n</tool_call>`.
    Glm,
    /// MiniMax M2: `<minimax:tool_call>\n<invoke name="NAME">\n<parameter name="KEY">VALUE
    /// </parameter>\n</invoke>\n</minimax:tool_call>`.
    MiniMaxXml,
    /// IBM Granite 3.x: `<|tool_call|>[{"name": ..., "arguments": {...}}, ...]`.
    GraniteJsonList,
    /// Fireworks firefunction v2: `functools[{"name": ..., "arguments": {...}}, ...]`.
    FireFunction,
    /// Apriel and MiniMax M1: `<tool_calls>[{...}, ...]</tool_calls>` or JSON objects one per line
    /// inside `<tool_calls>...</tool_calls>`.
    ToolCallsTag,
    /// Functionary v3.1: `<function=NAME>{...}</function>`.
    FunctionaryV31,
    /// Functionary v3.2: the prompt ends with `>>>`; the model writes `NAME\n{...}` per call,
    /// `>>>` between calls, and `all\n` before ordinary text.
    FunctionaryV32,
    /// DeepSeek R1 (and its distills): `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function
    /// <｜tool▁sep｜>NAME\n```json\n{...}\n```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜>`.
    DeepSeekR1,
    /// DeepSeek V3.1: `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{...}
    /// <｜tool▁call▁end｜>...<｜tool▁calls▁end｜>`.
    DeepSeekV31,
    /// Kimi K2: `<|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:0
    /// <|tool_call_argument_begin|>{...}<|tool_call_end|>...<|tool_calls_section_end|>`.
    KimiK2,
}

impl ToolCallFormat {
    /// Every format, in declaration order.
    pub const ALL: [ToolCallFormat; 16] = [
        Self::Hermes,
        Self::Llama3Json,
        Self::MistralJsonList,
        Self::MistralArgs,
        Self::QwenXml,
        Self::SeedXml,
        Self::Glm,
        Self::MiniMaxXml,
        Self::GraniteJsonList,
        Self::FireFunction,
        Self::ToolCallsTag,
        Self::FunctionaryV31,
        Self::FunctionaryV32,
        Self::DeepSeekR1,
        Self::DeepSeekV31,
        Self::KimiK2,
    ];
}
