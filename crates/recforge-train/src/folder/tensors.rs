//! Named tensors in and out of a burn module, and the `model.safetensors` file.
//!
//! A module's float parameters are named by their path in the module tree, dots between the
//! parts (`mlp.hidden.0.weight`); [`dense_tensors`] collects them and [`load_dense`] puts
//! saved values back into a freshly built module, checking every name and shape. burn's
//! `Linear` stores its weight as `[d_input, d_output]` (`y = x W + b`), and so does the file.
//! The file is written with the `safetensors` crate (little-endian f32); burn-store's own
//! safetensors support is not used because enabling it rebuilds burn.

use std::collections::HashMap;
use std::path::Path;

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::prelude::*;
use safetensors::tensor::{Dtype, TensorView};

/// One tensor: its shape and row-major values.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

/// Tracks the module path while burn walks a module.
#[derive(Default)]
struct PathStack {
    parts: Vec<String>,
}

impl PathStack {
    /// The current path, dot-joined, without the enum variant burn puts first for `Ranker`.
    fn name(&self, skip: usize) -> String {
        self.parts.iter().skip(skip).cloned().collect::<Vec<_>>().join(".")
    }
}

struct Collect {
    path: PathStack,
    skip: usize,
    out: Vec<(String, NamedTensor)>,
}

impl ModuleVisitor for Collect {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.parts.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.parts.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        let tensor = param.val();
        let shape = tensor.dims().to_vec();
        let values = tensor.into_data().convert::<f32>().try_to_vec::<f32>().unwrap_or_default();
        self.out.push((self.path.name(self.skip), NamedTensor { shape, values }));
    }
}

/// Every float parameter of `module` by path; `skip` leading path parts are dropped (1 for an
/// enum such as `Ranker`, whose variant name burn puts first).
pub fn dense_tensors<M: Module>(module: &M, skip: usize) -> Vec<(String, NamedTensor)> {
    let mut collect = Collect { path: PathStack::default(), skip, out: Vec::new() };
    module.visit(&mut collect);
    collect.out
}

struct Load<'a> {
    path: PathStack,
    skip: usize,
    prefix: &'a str,
    tensors: &'a HashMap<String, NamedTensor>,
    errors: Vec<String>,
    used: usize,
}

impl ModuleMapper for Load<'_> {
    fn enter_module(&mut self, name: &str, _container_type: &str) {
        self.path.parts.push(name.to_string());
    }

    fn exit_module(&mut self, _name: &str, _container_type: &str) {
        self.path.parts.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let name = format!("{}{}", self.prefix, self.path.name(self.skip));
        let Some(saved) = self.tensors.get(&name) else {
            self.errors.push(format!("tensor \"{name}\" is missing"));
            return param;
        };
        let expected = param.val().dims().to_vec();
        if saved.shape != expected || saved.values.len() != expected.iter().product::<usize>() {
            self.errors.push(format!("tensor \"{name}\" has shape {:?}, the model expects {expected:?}", saved.shape));
            return param;
        }
        self.used += 1;
        let values = saved.values.clone();
        param.map(|tensor| {
            let device = tensor.device();
            let dims: [usize; D] = tensor.dims();
            Tensor::from_data(TensorData::new(values, dims), &device)
        })
    }
}

/// Load the tensors named `prefix + path` into `module` (built with the right shapes).
/// Errors list every missing or misshapen tensor.
pub fn load_dense<M: Module>(
    module: M,
    skip: usize,
    prefix: &str,
    tensors: &HashMap<String, NamedTensor>,
) -> Result<M, String> {
    let mut load = Load { path: PathStack::default(), skip, prefix, tensors, errors: Vec::new(), used: 0 };
    let module = module.map(&mut load);
    if load.errors.is_empty() { Ok(module) } else { Err(load.errors.join("; ")) }
}

/// Write `tensors` (and string `metadata` in the header) to a safetensors file.
pub fn write_safetensors(
    path: &Path,
    tensors: &[(String, NamedTensor)],
    metadata: HashMap<String, String>,
) -> Result<(), String> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| (name.clone(), t.shape.clone(), t.values.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let views = bytes
        .iter()
        .map(|(name, shape, data)| {
            TensorView::new(Dtype::F32, shape.clone(), data).map(|view| (name.clone(), view)).map_err(|e| format!("{name}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    safetensors::serialize_to_file(views, Some(metadata), path).map_err(|e| e.to_string())
}

/// Read every f32 tensor of a safetensors file, with the header's metadata.
pub fn read_safetensors(path: &Path) -> Result<(HashMap<String, NamedTensor>, HashMap<String, String>), String> {
    let bytes = std::fs::read(path).map_err(|e| e.to_string())?;
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| e.to_string())?;
    let metadata = header.metadata().clone().unwrap_or_default();
    let file = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| e.to_string())?;
    let mut out = HashMap::new();
    for (name, view) in file.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(format!("tensor \"{name}\" is {:?}; recforge writes f32", view.dtype()));
        }
        let values = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        out.insert(name, NamedTensor { shape: view.shape().to_vec(), values });
    }
    Ok((out, metadata))
}

#[cfg(test)]
mod tests {
    use super::*;
    use recforge_data::{FeatureLayout, SparseFeature};
    use recforge_models::ModelConfig;
    use recforge_models::ranking::DcnV2Config;

    #[test]
    fn a_module_round_trips_through_named_tensors_and_the_file() {
        let device = Device::default();
        let layout = FeatureLayout {
            sparse: vec![SparseFeature { name: "a".into(), cardinality: 5, bag: false, max_len: None }],
            dense: vec!["x".into(), "y".into()],
        };
        let config = ModelConfig::DcnV2(DcnV2Config { embedding_dim: 4, hidden: vec![8], low_rank: Some(2), ..Default::default() });
        let model = config.init(&layout, &device);
        let tensors = dense_tensors(&model, 1);
        let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"cross.layers.0.down.weight"), "{names:?}");
        assert!(names.contains(&"cross_head.bias") && names.contains(&"deep.output.weight"), "{names:?}");
        let (_, w) = tensors.iter().find(|(n, _)| n == "deep.hidden.0.weight").unwrap();
        assert_eq!(w.shape, vec![6, 8], "Linear weights are [d_input, d_output]");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.safetensors");
        write_safetensors(&path, &tensors, HashMap::from([("k".to_string(), "v".to_string())])).unwrap();
        let (back, meta) = read_safetensors(&path).unwrap();
        assert_eq!(meta.get("k").map(String::as_str), Some("v"));
        let fresh = config.init(&layout, &device);
        let loaded = load_dense(fresh, 1, "", &back).unwrap();
        assert_eq!(dense_tensors(&loaded, 1), tensors);

        let mut broken = back.clone();
        broken.remove("deep.output.bias");
        let err = load_dense(config.init(&layout, &device), 1, "", &broken).unwrap_err();
        assert!(err.contains("\"deep.output.bias\" is missing"), "{err}");
    }
}
