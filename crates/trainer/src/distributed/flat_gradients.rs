//! Data-parallel training across processes (and machines): every rank computes the gradient of
//! its share of each micro-batch's rows, the gradients and losses are summed over the ranks with
//! MPI's all-reduce ([`super::Group`]), and every rank then takes the same optimizer step,
//! so the replicas stay bit-identical without ever sending weights.

use std::ops::Range;

use burn::module::{ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::prelude::*;
use burn::tensor::DType;

use super::Group;
use crate::error::{Error, Result};

/// The rows of every `batch_size`-row micro-batch that `rank` of `world_size` computes.
pub fn rank_rows(batch_size: usize, rank: usize, world_size: usize) -> Range<usize> {
    rank * batch_size / world_size..(rank + 1) * batch_size / world_size
}

/// Where a gradient lived and its type, to rebuild it from the flat buffer (its id and shape are
/// the parameter's).
struct Slot {
    device: Device,
    dtype: DType,
}

/// Moves every trained parameter's gradient (zeros for one without) into one `f32` buffer, in
/// the model's parameter order. Frozen parameters (a fine-tuned model's base) are skipped: they
/// have no gradient, and the optimizer must not see one for them.
struct Flatten<'a> {
    grads: &'a mut GradientsParams,
    values: Vec<f32>,
    slots: Vec<Slot>,
    failure: Option<String>,
}

impl ModuleVisitor for Flatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !trained(param) {
            return;
        }
        let (device, dtype) = match self.grads.remove::<D>(param.id) {
            Some(grad) => {
                let (device, dtype) = (grad.device(), grad.dtype());
                match grad.try_into_vec_as::<f32>() {
                    Ok(values) => self.values.extend(values),
                    Err(e) => {
                        self.failure
                            .get_or_insert(format!("reading a gradient: {e}"));
                    }
                }
                (device, dtype)
            }
            None => {
                let numel = param.shape().num_elements();
                self.values.extend(std::iter::repeat_n(0.0, numel));
                let val = param.val();
                (val.device().inner(), val.dtype())
            }
        };
        self.slots.push(Slot { device, dtype });
    }
}

/// Whether `param` trains (takes part in autodiff).
fn trained<const D: usize>(param: &Param<Tensor<D>>) -> bool {
    param.val().is_require_grad()
}

/// Walks the parameters again in the same order, rebuilding each gradient from its slot.
struct Unflatten<'a> {
    grads: &'a mut GradientsParams,
    values: &'a [f32],
    slots: std::slice::Iter<'a, Slot>,
    offset: usize,
}

impl ModuleVisitor for Unflatten<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if !trained(param) {
            return;
        }
        let slot = self
            .slots
            .next()
            .expect("the same parameters in the same order");
        let shape = param.shape();
        let numel = shape.num_elements();
        let values = self.values[self.offset..self.offset + numel].to_vec();
        let grad = Tensor::from_data(TensorData::new(values, shape), (&slot.device, slot.dtype));
        self.grads.register::<D>(param.id, grad);
        self.offset += numel;
    }
}

/// Sums `grads` and `loss` of step `step` over every rank of `group`, and tells whether any rank
/// asked to `stop` (Ctrl-C); returns the same sums and answer on every rank.
pub fn all_reduce_gradients<M: Module>(
    group: &mut Group,
    model: &M,
    mut grads: GradientsParams,
    loss: f64,
    stop: bool,
    step: usize,
) -> Result<(GradientsParams, f64, bool)> {
    if group.world_size() == 1 {
        return Ok((grads, loss, stop));
    }
    let mut flat = Flatten {
        grads: &mut grads,
        values: Vec::new(),
        slots: Vec::new(),
        failure: None,
    };
    model.visit(&mut flat);
    let Flatten {
        mut values,
        slots,
        failure,
        ..
    } = flat;
    if let Some(failure) = failure {
        return Err(Error::Distributed(format!("step {step}: {failure}")));
    }
    values.push(loss as f32);
    values.push(if stop { 1.0 } else { 0.0 });
    group.all_reduce_sum(&mut values, step);
    let stop = values.pop().expect("the stop votes were pushed") > 0.0;
    let loss = f64::from(values.pop().expect("the loss was pushed"));
    let mut summed = GradientsParams::new();
    model.visit(&mut Unflatten {
        grads: &mut summed,
        values: &values,
        slots: slots.iter(),
        offset: 0,
    });
    Ok((summed, loss, stop))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_split_the_rows_without_overlap_or_gap() {
        for batch in [4, 7, 12] {
            for world in 1..=batch {
                let rows: Vec<usize> = (0..world)
                    .flat_map(|rank| rank_rows(batch, rank, world))
                    .collect();
                assert_eq!(
                    rows,
                    (0..batch).collect::<Vec<_>>(),
                    "{batch} rows, {world} ranks"
                );
            }
        }
    }
}
