// user.dsl — imports shared.dsl relative to itself, spelled through .. (see import_twice.dsl).
import "../lib/shared.dsl"
fn quad(x: f32[N]) -> f32[N] { return twice(twice(x)) }
