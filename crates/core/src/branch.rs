//! A block's branch (attention or MLP) as its projections see it: the first one normalises the
//! residual stream on its way in, the last one adds the branch's output back to it. On packed
//! weights on the CPU both are fused into those products ([`Projection::forward_normed`],
//! [`Projection::forward_added_to`]): a decode step then spends no operation of its own on a
//! block's two norms and two residual additions.

use burn::prelude::*;

use crate::norm::Norm;
use crate::projection::Projection;

/// The input side of a branch: the residual stream `x`, the norm the branch sees it through,
/// and whether the branch's last product may add its output to `x` itself.
pub(crate) struct Branch<'a> {
    x: Tensor<3>,
    norm: &'a Norm,
    joins: bool,
}

/// What a branch gives back to its block.
pub(crate) enum BranchOutput {
    /// The residual stream with the branch's output added.
    Joined(Tensor<3>),
    /// The branch's output, for the block to finish (post-norm, dropout) and add.
    Apart(Tensor<3>),
}

impl<'a> Branch<'a> {
    /// The branch on the residual stream `x` through `norm`. Its output joins `x` inside the
    /// last product unless the block has a post-norm between them (`post_norm`) or `x` is
    /// being trained (dropout would come between, and the fused kernels have no backward step).
    pub(crate) fn new(x: Tensor<3>, norm: &'a Norm, post_norm: bool) -> Self {
        let joins = !post_norm && !x.is_autodiff();
        Branch { x, norm, joins }
    }

    /// `first(norm(x))`: the branch's first product, of the normalised residual stream.
    pub(crate) fn input(&self, first: &Projection) -> Tensor<3> {
        first.forward_normed(self.x.clone(), self.norm)
    }

    /// `last(h)`, added to the residual stream where the branch joins it.
    pub(crate) fn output(self, last: &Projection, h: Tensor<3>) -> BranchOutput {
        match self.joins {
            true => BranchOutput::Joined(last.forward_added_to(h, self.x)),
            false => BranchOutput::Apart(last.forward(h)),
        }
    }
}

impl BranchOutput {
    /// The residual stream `x` after the branch, `finish` applied to an output that is apart.
    pub(crate) fn join(
        self,
        x: Tensor<3>,
        finish: impl FnOnce(Tensor<3>) -> Tensor<3>,
    ) -> Tensor<3> {
        match self {
            BranchOutput::Joined(joined) => joined,
            BranchOutput::Apart(y) => x + finish(y),
        }
    }

    /// `finish` applied to an output that is apart (the attention's dropout), a joined one as
    /// it is.
    pub(crate) fn map_apart(self, finish: impl FnOnce(Tensor<3>) -> Tensor<3>) -> Self {
        match self {
            BranchOutput::Apart(y) => BranchOutput::Apart(finish(y)),
            joined => joined,
        }
    }
}
