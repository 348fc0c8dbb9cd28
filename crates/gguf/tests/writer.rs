//! Writing GGUF files and reading them back: every value type, nested arrays, aligned tensor
//! data, atomic replacement.

use claude_gguf::{Array, GgufFile, GgufWriter, Value};

fn values() -> Vec<(&'static str, Value)> {
    vec![
        ("general.architecture", "llama".into()),
        ("general.name", "tiny ünïcode 🦙".into()),
        ("v.u8", 200u8.into()),
        ("v.i8", (-100i8).into()),
        ("v.u16", 60000u16.into()),
        ("v.i16", (-30000i16).into()),
        ("v.u32", 4_000_000_000u32.into()),
        ("v.i32", (-2_000_000_000i32).into()),
        ("v.u64", u64::MAX.into()),
        ("v.i64", i64::MIN.into()),
        ("v.f32", 1e-5f32.into()),
        ("v.f64", std::f64::consts::PI.into()),
        ("v.bool", false.into()),
        ("v.empty_string", "".into()),
        ("a.u8", vec![1u8, 2, 255].into()),
        ("a.i8", vec![-1i8, 0, 1].into()),
        ("a.u16", vec![1u16, 65535].into()),
        ("a.i16", vec![-1i16].into()),
        ("a.u32", vec![7u32; 100].into()),
        ("a.i32", vec![1i32, 3, 6].into()),
        ("a.u64", vec![u64::MAX, 0].into()),
        ("a.i64", vec![i64::MIN].into()),
        ("a.f32", vec![0.5f32, -0.25].into()),
        ("a.f64", vec![1.5f64].into()),
        ("a.bool", vec![true, false, true].into()),
        ("a.string", vec!["Ġthe", "", "▁Hello"].into()),
        ("a.empty", Value::Array(Array::I32(vec![]))),
        (
            "a.nested",
            Value::Array(Array::Array(vec![
                Array::String(vec!["en".into(), "fr".into()]),
                Array::Array(vec![Array::U8(vec![1, 2]), Array::Array(vec![])]),
                Array::F64(vec![]),
            ])),
        ),
    ]
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

#[test]
fn writes_and_reads_back_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("all.gguf");
    let weights = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let half = vec![0x3cu8; 8];
    let q8: Vec<u8> = (0..68).map(|i| i as u8).collect();
    let odd = vec![9u8; 5];
    let mut writer = GgufWriter::new();
    for (key, value) in values() {
        writer.set(key, value);
    }
    writer
        .add_tensor("w", &[3, 2], 0, weights.as_slice())
        .add_tensor("h", &[4], 1, half.clone())
        .add_tensor("q", &[32, 2], 8, q8.as_slice())
        .add_tensor("i", &[5], 24, odd.as_slice())
        .add_tensor("scalar", &[], 0, f32_bytes(&[7.0]));
    writer.write(&path).unwrap();

    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.version(), 3);
    assert_eq!(file.alignment(), 32);
    let read: Vec<(&str, &Value)> = file.metadata().iter().collect();
    let written = values();
    assert_eq!(read.len(), written.len());
    for ((key, value), (k, v)) in read.iter().zip(&written) {
        assert_eq!(key, k);
        assert_eq!(*value, v, "{key}");
    }
    assert_eq!(file.metadata().get_u64("v.u64").unwrap(), u64::MAX);
    assert_eq!(
        file.metadata().get_str("general.name").unwrap(),
        "tiny ünïcode 🦙"
    );

    assert_eq!(file.data_offset() % 32, 0);
    let names: Vec<&str> = file.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["w", "h", "q", "i", "scalar"]);
    for t in file.tensors() {
        assert_eq!(t.offset % 32, 0, "{}", t.name);
    }
    assert_eq!(file.tensor_data("w").unwrap(), weights.as_slice());
    assert_eq!(file.tensor_data("h").unwrap(), half.as_slice());
    assert_eq!(file.tensor_data("q").unwrap(), q8.as_slice());
    assert_eq!(file.tensor_data("i").unwrap(), odd.as_slice());
    assert_eq!(
        file.tensor_data("scalar").unwrap(),
        f32_bytes(&[7.0]).as_slice()
    );
    let q = file.tensor("q").unwrap();
    assert_eq!(
        (q.dims.as_slice(), q.ggml_type, q.n_elements()),
        (&[32u64, 2][..], 8, 64)
    );
    assert_eq!(q.type_name(), "Q8_0");
    // Nothing but the file itself is left in the directory.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn custom_alignment_pads_every_tensor() {
    let mut writer = GgufWriter::new();
    writer
        .set("general.alignment", 64u32)
        .add_tensor("a", &[3], 24, vec![1u8, 2, 3])
        .add_tensor("b", &[2], 0, f32_bytes(&[0.5, 0.25]));
    let bytes = writer.to_bytes("mem.gguf").unwrap();
    let header = claude_gguf::Header::parse(&bytes, "mem.gguf".as_ref()).unwrap();
    assert_eq!(header.alignment, 64);
    assert_eq!(header.data_offset % 64, 0);
    assert_eq!(header.tensors[1].offset, 64);
    assert_eq!(bytes.len() as u64, header.data_offset + 128);
}

#[test]
fn an_unknown_tensor_type_is_written_but_not_delimited() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("unknown.gguf");
    let mut writer = GgufWriter::new();
    writer.add_tensor("x", &[10], 1000, vec![0u8; 7]);
    writer.write(&path).unwrap();
    let file = GgufFile::open(&path).unwrap();
    let err = file.tensor_data("x").unwrap_err().to_string();
    assert!(
        err.contains("unknown.gguf") && err.contains("\"x\"") && err.contains("1000"),
        "{err}"
    );
}

#[test]
fn refuses_what_cannot_be_read_back_and_keeps_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.gguf");
    let mut good = GgufWriter::new();
    good.set("general.name", "first");
    good.write(&path).unwrap();

    let mut bad = GgufWriter::new();
    bad.add_tensor("w", &[3], 0, vec![0u8; 11]);
    let err = bad.write(&path).unwrap_err().to_string();
    assert!(
        err.contains("model.gguf") && err.contains("takes 12 bytes, but 11 were given"),
        "{err}"
    );
    let mut bad = GgufWriter::new();
    bad.add_tensor("w", &[4], 0, vec![0u8; 16])
        .add_tensor("w", &[4], 0, vec![0u8; 16]);
    assert!(
        bad.write(&path)
            .unwrap_err()
            .to_string()
            .contains("added twice")
    );
    let mut bad = GgufWriter::new();
    bad.add_tensor("w", &[1, 1, 1, 1, 1], 0, vec![0u8; 4]);
    assert!(
        bad.write(&path)
            .unwrap_err()
            .to_string()
            .contains("5 dimensions")
    );
    let mut bad = GgufWriter::new();
    bad.set("general.alignment", 48u32);
    assert!(
        bad.write(&path)
            .unwrap_err()
            .to_string()
            .contains("not a power of two")
    );
    let mut bad = GgufWriter::new();
    bad.set("general.alignment", 64u64);
    assert!(
        bad.write(&path)
            .unwrap_err()
            .to_string()
            .contains("must be a u32")
    );
    let mut deep = Array::U8(vec![1]);
    for _ in 0..16 {
        deep = Array::Array(vec![deep]);
    }
    let mut bad = GgufWriter::new();
    bad.set("deep", deep);
    assert!(
        bad.write(&path)
            .unwrap_err()
            .to_string()
            .contains("nest more than 16")
    );

    // The first file is intact, and no temporary file is left behind.
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.metadata().get_str("general.name").unwrap(), "first");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

    // Writing again replaces it.
    let mut second = GgufWriter::new();
    second.set("general.name", "second");
    second.write(&path).unwrap();
    let file = GgufFile::open(&path).unwrap();
    assert_eq!(file.metadata().get_str("general.name").unwrap(), "second");

    let err = second
        .write(dir.path().join("no/such/dir/x.gguf"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("x.gguf"), "{err}");
}
