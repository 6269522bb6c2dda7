//! Writing the trained linear model as a standard ONNX graph (opset 13), with the protobuf
//! types tract-onnx generates from the ONNX schema.

use prost::Message;
use tract_onnx::pb;

/// The trained parameters.
pub struct LinearModel {
    /// `[buckets]` inverse document frequencies.
    pub idf: Vec<f32>,
    /// `[buckets, classes]` row-major weights.
    pub weights: Vec<f32>,
    /// `[classes]`.
    pub bias: Vec<f32>,
    /// Softmax temperature (calibration).
    pub temperature: f32,
    /// Number of classes.
    pub classes: usize,
    /// Input length.
    pub max_features: usize,
}

const FLOAT: i32 = pb::tensor_proto::DataType::Float as i32;
const INT64: i32 = pb::tensor_proto::DataType::Int64 as i32;

fn tensor_f32(name: &str, dims: &[i64], data: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: FLOAT,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn tensor_i64(name: &str, dims: &[i64], data: &[i64]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.to_vec(),
        data_type: INT64,
        raw_data: data.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn value_info(name: &str, elem_type: i32, dims: &[i64]) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{Dimension, dimension};
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type,
                shape: Some(pb::TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| Dimension {
                            value: Some(dimension::Value::DimValue(*d)),
                            ..Default::default()
                        })
                        .collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn node(
    op: &str,
    inputs: &[&str],
    output: &str,
    attributes: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        op_type: op.into(),
        name: output.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute: attributes,
        ..Default::default()
    }
}

fn int_attribute(name: &str, value: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: pb::attribute_proto::AttributeType::Int as i32,
        i: value,
        ..Default::default()
    }
}

impl LinearModel {
    /// The model as ONNX bytes. `metadata` goes into the model's metadata_props.
    pub fn to_onnx(&self, metadata: &[(&str, String)]) -> Vec<u8> {
        let buckets = self.idf.len() as i64;
        let classes = self.classes as i64;
        let n = self.max_features as i64;
        let graph = pb::GraphProto {
            name: "intent_classifier".into(),
            input: vec![
                value_info("ids", INT64, &[n]),
                value_info("values", FLOAT, &[n]),
            ],
            output: vec![value_info("probs", FLOAT, &[1, classes])],
            initializer: vec![
                tensor_f32("idf", &[buckets], &self.idf),
                tensor_f32("weights", &[buckets, classes], &self.weights),
                tensor_f32("bias", &[classes], &self.bias),
                tensor_f32("inv_temperature", &[1], &[1.0 / self.temperature]),
                tensor_f32("eps", &[1], &[1e-12]),
                tensor_i64("axis0", &[1], &[0]),
            ],
            node: vec![
                node(
                    "Gather",
                    &["idf", "ids"],
                    "idf_of_ids",
                    vec![int_attribute("axis", 0)],
                ),
                node("Mul", &["values", "idf_of_ids"], "tfidf", vec![]),
                node("Mul", &["tfidf", "tfidf"], "squares", vec![]),
                node(
                    "ReduceSum",
                    &["squares", "axis0"],
                    "sum_squares",
                    vec![int_attribute("keepdims", 1)],
                ),
                node("Sqrt", &["sum_squares"], "norm", vec![]),
                node("Max", &["norm", "eps"], "safe_norm", vec![]),
                node("Div", &["tfidf", "safe_norm"], "unit", vec![]),
                node("Unsqueeze", &["unit", "axis0"], "row", vec![]),
                node(
                    "Gather",
                    &["weights", "ids"],
                    "rows",
                    vec![int_attribute("axis", 0)],
                ),
                node("MatMul", &["row", "rows"], "scores", vec![]),
                node("Add", &["scores", "bias"], "logits", vec![]),
                node("Mul", &["logits", "inv_temperature"], "calibrated", vec![]),
                node(
                    "Softmax",
                    &["calibrated"],
                    "probs",
                    vec![int_attribute("axis", -1)],
                ),
            ],
            ..Default::default()
        };
        let model = pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: 13,
            }],
            producer_name: "edge-chatbot trainer".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(graph),
            metadata_props: metadata
                .iter()
                .map(|(k, v)| pb::StringStringEntryProto {
                    key: (*k).into(),
                    value: v.clone(),
                })
                .collect(),
            ..Default::default()
        };
        model.encode_to_vec()
    }
}
