//! Prints a GGUF file's header: version, metadata (long arrays summarised) and tensor index.
//!
//! ```sh
//! cargo run -p claude-gguf --example inspect -- model.gguf
//! ```

use claude_gguf::{Array, GgufFile, Value};

fn show(value: &Value) -> String {
    match value {
        Value::String(s) if s.len() > 120 => format!(
            "{:?}... ({} bytes)",
            &s[..s.floor_char_boundary(120)],
            s.len()
        ),
        Value::Array(a) if a.len() > 8 => format!("[{} x {}]", a.len(), a.element_type()),
        Value::Array(Array::String(v)) => format!("{v:?}"),
        other => format!("{other:?}"),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args().nth(1).ok_or("usage: inspect FILE.gguf")?;
    let file = GgufFile::open(&path)?;
    println!(
        "{path}: GGUF v{}, alignment {}, data at {}",
        file.version(),
        file.alignment(),
        file.data_offset()
    );
    for (key, value) in file.metadata().iter() {
        println!("  {key} = {}", show(value));
    }
    for t in file.tensors() {
        println!(
            "  tensor {} {:?} {} @{}",
            t.name,
            t.dims,
            t.type_name(),
            t.offset
        );
    }
    Ok(())
}
