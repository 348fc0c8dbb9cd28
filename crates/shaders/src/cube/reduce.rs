//! Reductions across the units of a cube, each with two paths chosen at compile time: a tree in
//! shared memory (every device; lavapipe has no subgroup operations) and plane (subgroup)
//! operations within each plane with the planes' results combined in shared memory, where the
//! device reports plane ops. Every unit of the cube must call them (they hold barriers), and
//! every unit gets the result.

use burn_cubecl::cubecl::{self, prelude::*};

/// The sum of every unit's `value`, in every unit. `units` is the cube's size, a power of two.
#[cube]
pub(crate) fn reduce_sum<F: Float>(
    value: F,
    #[comptime] units: usize,
    #[comptime] use_plane: bool,
) -> F {
    reduce::<F>(value, units, use_plane, false)
}

/// The largest of every unit's `value`, in every unit. `units` is the cube's size, a power of
/// two.
#[cube]
pub(crate) fn reduce_max<F: Float>(
    value: F,
    #[comptime] units: usize,
    #[comptime] use_plane: bool,
) -> F {
    reduce::<F>(value, units, use_plane, true)
}

/// Planes in the cube: at least one, since a cube smaller than a plane runs as one partial
/// plane.
#[cube]
#[allow(clippy::manual_div_ceil)] // The `#[cube]` expansion has no `div_ceil`.
pub(crate) fn planes_in_cube() -> usize {
    (CUBE_DIM_X as usize + PLANE_DIM as usize - 1) / PLANE_DIM as usize
}

/// `a + b`, or the larger of the two for a maximum.
#[cube]
fn combine<F: Float>(a: F, b: F, #[comptime] max: bool) -> F {
    if max { F::max(a, b) } else { a + b }
}

#[cube]
fn reduce<F: Float>(
    value: F,
    #[comptime] units: usize,
    #[comptime] use_plane: bool,
    #[comptime] max: bool,
) -> F {
    let total = if use_plane {
        reduce_in_planes::<F>(value, units, max)
    } else {
        reduce_in_tree::<F>(value, units, max)
    };
    // Every unit has read the result before the shared memory can be written again.
    sync_cube();
    total
}

/// Each plane's result by a plane operation, then the planes' results from shared memory.
#[cube]
fn reduce_in_planes<F: Float>(value: F, #[comptime] units: usize, #[comptime] max: bool) -> F {
    let mut partial = Shared::<[F]>::new_slice(units);
    let own = if max {
        plane_max(value)
    } else {
        plane_sum(value)
    };
    if UNIT_POS_PLANE == 0 {
        partial[UNIT_POS_X as usize / PLANE_DIM as usize] = own;
    }
    sync_cube();
    let planes = planes_in_cube();
    let mut total = partial[0];
    for p in 1..planes {
        let other = partial[p];
        total = combine::<F>(total, other, max);
    }
    total
}

/// A tree in shared memory, halving the active units each step.
#[cube]
fn reduce_in_tree<F: Float>(value: F, #[comptime] units: usize, #[comptime] max: bool) -> F {
    let unit = UNIT_POS_X as usize;
    let mut partial = Shared::<[F]>::new_slice(units);
    partial[unit] = value;
    sync_cube();
    let mut stride = CUBE_DIM_X as usize / 2;
    while stride > 0 {
        if unit < stride {
            // Elements read into values first: a cube function takes values, not places.
            let mine = partial[unit];
            let other = partial[unit + stride];
            partial[unit] = combine::<F>(mine, other, max);
        }
        sync_cube();
        stride /= 2;
    }
    partial[0]
}
