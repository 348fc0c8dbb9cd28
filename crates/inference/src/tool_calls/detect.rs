//! [`ToolCallFormat::detect`]: a template's tool-call format from the markers its text holds.

use super::ToolCallFormat;

impl ToolCallFormat {
    /// The tool-call format a Jinja chat template teaches, from the markers in its source;
    /// `None` when the template renders no tool calls or uses a markup not supported here.
    pub fn detect(template_source: &str) -> Option<ToolCallFormat> {
        let has = |marker: &str| template_source.contains(marker);
        // MiniMax M3 prefixes its markers with a namespace token: not supported.
        if has("]<]minimax[>[") {
            return None;
        }
        let format = if has("tool▁calls▁begin") {
            if has("```json") {
                Self::DeepSeekR1
            } else {
                Self::DeepSeekV31
            }
        } else if has("<|tool_calls_section_begin|>") {
            Self::KimiK2
        } else if has("[TOOL_CALLS]") {
            if has("[ARGS]") {
                Self::MistralArgs
            } else {
                Self::MistralJsonList
            }
        } else if has("<seed:tool_call>") {
            Self::SeedXml
        } else if has("<minimax:tool_call>") {
            Self::MiniMaxXml
        } else if has("<function=") && has("<|python_tag|>") {
            Self::FunctionaryV31
        } else if has("<function=") && has("<tool_call>") {
            Self::QwenXml
        } else if has("<arg_key>") && has("<tool_call>") {
            Self::Glm
        } else if has("<tool_calls>") {
            // Apriel and MiniMax M1 (checked before Hermes: Apriel 1.5's prompt names both).
            Self::ToolCallsTag
        } else if has("<tool_call>") {
            Self::Hermes
        } else if has("<|tool_call|>") {
            Self::GraniteJsonList
        } else if has("functools[") {
            Self::FireFunction
        } else if has("'>>>'") {
            Self::FunctionaryV32
        } else if has("<|python_tag|>") || (has("<|start_header_id|>") && has("\"parameters\": ")) {
            Self::Llama3Json
        } else {
            return None;
        };
        Some(format)
    }
}
