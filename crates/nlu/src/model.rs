//! The intent model: a linear classifier over TF-IDF-weighted hashed features, stored as a
//! standard ONNX graph and run with tract (the plan is optimized and built once).
//!
//! The ONNX file is the contract. Inputs: `ids` (int64, `[max_features]`, bucket ids, 0 for
//! padding) and `values` (float, `[max_features]`, `1 + ln(count)`, 0 for padding). Output:
//! `probs` (float, `[1, labels]`), calibrated probabilities. Inside: per-bucket IDF
//! (Gather), L2 normalization, a Gather of the weight rows, MatMul, bias, temperature and
//! Softmax.

use crate::Error;
use crate::features::{FeatureConfig, Features};
use serde::{Deserialize, Serialize};
use tract_onnx::prelude::*;

/// Settings stored beside the ONNX file (`config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// How features are extracted.
    pub features: FeatureConfig,
    /// The label meaning "no intent applies", if the model has one.
    pub out_of_scope_label: Option<String>,
    /// Below this top in-scope probability the message counts as out of scope.
    pub out_of_scope_threshold: f32,
}

/// The ONNX input arrays for one text's features, padded to `max_features`.
pub fn model_inputs(config: &FeatureConfig, features: &Features) -> (Vec<i64>, Vec<f32>) {
    let n = config.max_features as usize;
    let mut ids = vec![0i64; n];
    let mut values = vec![0f32; n];
    for (i, (id, count)) in features
        .ids
        .iter()
        .zip(&features.counts)
        .take(n)
        .enumerate()
    {
        ids[i] = i64::from(*id);
        values[i] = 1.0 + count.ln();
    }
    (ids, values)
}

type Plan = std::sync::Arc<TypedRunnableModel>;

/// A loaded, optimized model.
#[derive(Debug)]
pub struct IntentModel {
    plan: Plan,
    /// Labels in output order.
    pub labels: Vec<String>,
    /// The settings it was trained with.
    pub config: ModelConfig,
}

impl IntentModel {
    /// Loads `model.onnx` bytes with its labels and config, and builds the runnable plan.
    ///
    /// # Errors
    ///
    /// An ONNX file tract cannot load, or one whose output size differs from the labels.
    pub fn load(onnx: &[u8], labels: Vec<String>, config: ModelConfig) -> Result<Self, Error> {
        let n = config.features.max_features as usize;
        let plan = tract_onnx::onnx()
            .model_for_read(&mut std::io::Cursor::new(onnx))
            .and_then(|m| m.with_input_fact(0, i64::fact([n]).into()))
            .and_then(|m| m.with_input_fact(1, f32::fact([n]).into()))
            .and_then(|m| m.into_optimized())
            .and_then(|m| m.into_runnable())
            .map_err(|e| Error::model(format!("cannot load the ONNX model: {e}")))?;
        let model = Self {
            plan,
            labels,
            config,
        };
        let probs = model.run(&Features::default())?;
        if probs.len() != model.labels.len() {
            return Err(Error::model(format!(
                "the model has {} outputs but labels.json lists {} labels",
                probs.len(),
                model.labels.len()
            )));
        }
        Ok(model)
    }

    /// Class probabilities for the features of one text, in label order.
    ///
    /// # Errors
    ///
    /// Only if tract fails to run the plan, which a loaded model does not.
    pub fn run(&self, features: &Features) -> Result<Vec<f32>, Error> {
        let (ids, values) = model_inputs(&self.config.features, features);
        let n = ids.len();
        let run = || -> TractResult<Vec<f32>> {
            let ids = Tensor::from_shape(&[n], &ids)?;
            let values = Tensor::from_shape(&[n], &values)?;
            let outputs = self.plan.run(tvec!(ids.into(), values.into()))?;
            Ok(outputs[0]
                .to_plain_array_view::<f32>()?
                .iter()
                .copied()
                .collect())
        };
        run().map_err(|e| Error::model(format!("model run failed: {e}")))
    }
}
